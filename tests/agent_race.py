"""Worker processes that race ``agent.resume`` on shared tokens (see test_agent_concurrency).

Each worker builds its own agent on the same Redis, waits at a barrier shared by every
worker, then sends its resumes all at once from a thread pool. The node after the question
counts its runs in Redis, which is what the test checks: each ran exactly once.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import redis
import redis.cluster
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from kortyx_langgraph import (
    AlreadyClaimedError,
    UnknownTokenError,
    create_agent,
    create_redis_framework_adapter,
    use_interrupt,
)


class Order(TypedDict, total=False):
    answer: str


def client_for(url: str, cluster: bool) -> Any:
    """A plain client of the test server (for the side effect the test counts)."""
    if cluster:
        return redis.cluster.RedisCluster.from_url(url)
    return redis.Redis.from_url(url)


def counted_builder(url: str, cluster: bool, counter: str) -> StateGraph[Any]:
    """``ask`` (a question) then ``ship``, which counts its runs per thread in Redis."""
    client = client_for(url, cluster)

    def ask(state: Order) -> Order:
        return {"answer": use_interrupt("text", "ship it?")}

    def ship(state: Order, config: RunnableConfig) -> Order:
        key = f"{counter}{{{config['configurable']['thread_id']}}}"
        client.incr(key)
        client.pexpire(key, 120_000)
        return {}

    builder = StateGraph(Order)
    builder.add_node("ask", ask)
    builder.add_node("ship", ship)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "ship")
    builder.add_edge("ship", END)
    return builder


def make_agent(url: str, cluster: bool, prefix: str, counter: str) -> Any:
    """The agent every process builds: same server, same key prefix."""
    adapter = create_redis_framework_adapter(url=url, prefix=prefix, ttl_ms=120_000)
    return create_agent(
        workflows={"order": counted_builder(url, cluster, counter)},
        default_workflow_id="order",
        framework_adapter=adapter,
    )


@dataclass(frozen=True)
class RaceSetup:
    """Where the racing agents work: the server, its kind, the key prefix, the counters."""

    url: str
    cluster: bool
    prefix: str
    counter: str


def race(setup: RaceSetup, tokens: list[str], barrier: Any, results: Any) -> None:
    """Resume every token of ``tokens`` at once, after the barrier; put the outcome counts
    on the ``results`` queue."""
    agent = make_agent(setup.url, setup.cluster, setup.prefix, setup.counter)
    outcomes = {"won": 0, "claimed": 0, "gone": 0}

    def one(token: str) -> str:
        try:
            agent.resume(token, "yes")
        except AlreadyClaimedError:
            return "claimed"
        except UnknownTokenError:
            return "gone"  # the other caller won and finished first
        return "won"

    for token in tokens[:1]:
        agent.framework_adapter.pending.get(token)  # connect and load scripts first
    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        barrier.wait(timeout=60)
        for outcome in pool.map(one, tokens):
            outcomes[outcome] += 1
    agent.framework_adapter.close()
    results.put(outcomes)
