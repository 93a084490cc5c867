"""Redis goes down in the middle of a run: what the caller sees under each durability mode.

LangGraph's ``durability`` decides when a step's checkpoint is written: ``"sync"`` waits
for it before the next step, ``"async"`` writes it in the background while the next steps
run. The first node stops the test's own server; the run then fails with a
``StorageConnectionError``: at once with ``"sync"``, at the end of the run (after the later
nodes ran) with ``"async"`` and ``"exit"``. Once Redis is back the thread continues from
what it saved (with ``"exit"``: nothing, so it runs again from its input).
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from kortyx_langgraph import RetryPolicy, StorageConnectionError, create_redis_framework_adapter
from tests.pending_truth import config_of
from tests.redis_harness import RedisServer

pytestmark = pytest.mark.redis


class Steps(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


@pytest.fixture
def server(redis_binaries: tuple[str, str]) -> Iterator[RedisServer]:
    with RedisServer(appendonly=True) as started:
        yield started


def _graph(adapter: Any, server: RedisServer, ran: list[str]) -> Any:
    def node(name: str) -> Any:
        def run(state: Steps) -> Steps:
            if name == "a" and not ran:
                server._terminate()  # Redis goes away while the first run is under way
            ran.append(name)
            return {"log": [name]}

        return run

    builder = StateGraph(Steps)
    for name in "abc":
        builder.add_node(name, node(name))
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", "c")
    builder.add_edge("c", END)
    return builder.compile(checkpointer=adapter)


@pytest.mark.parametrize(
    ("durability", "ran_before_the_error", "saved"),
    [
        ("sync", ["a"], True),
        ("async", ["a", "b", "c"], True),
        # "exit" writes one checkpoint, at the end: nothing of the run was saved
        ("exit", ["a", "b", "c"], False),
    ],
)
def test_redis_down_mid_run(
    server: RedisServer, durability: str, ran_before_the_error: list[str], saved: bool
) -> None:
    adapter = create_redis_framework_adapter(
        url=server.url,
        ttl_ms=60_000,
        prefix=f"kortyx-durable-{uuid.uuid4().hex[:6]}:",
        retry=RetryPolicy(attempts=2, backoff_base_ms=10, backoff_cap_ms=20),
    )
    ran: list[str] = []
    graph = _graph(adapter, server, ran)
    thread = config_of(f"down-{durability}")
    with pytest.raises(StorageConnectionError):
        graph.invoke({"log": []}, thread, durability=durability)
    assert ran == ran_before_the_error

    server.start()  # same port, same AOF
    ran.clear()
    ran.append("(restarted)")
    assert bool(graph.get_state(thread).values) is saved
    graph.invoke(None if saved else {"log": []}, thread, durability=durability)
    # the step that was running when Redis went away runs again: a node runs at least once
    assert graph.get_state(thread).values["log"] == ["a", "b", "c"]
    assert ran == ["(restarted)", "a", "b", "c"]
    adapter.close()
