"""A thread that expires while its run goes on (a node slower than the time left, a human
who answered just before the TTL ran out): the run's next checkpoint is stored whole, with
the values of the channels the run did not change, never without them."""

from __future__ import annotations

import operator
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import pytest
import redis
import redis.cluster
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Durability, interrupt
from typing_extensions import TypedDict

from kortyx_langgraph import FrameworkAdapter, ThreadExpiredError, create_agent
from kortyx_langgraph.redis.layout import thread_keys
from tests.conftest import AdapterFactory, FakeClock
from tests.pending_truth import config_of

TTL_MS = 60_000


class State(TypedDict, total=False):
    order_id: str
    note: str
    count: int


def _graph(adapter: FrameworkAdapter, expire: Callable[[], None]) -> Any:
    """``first`` sets every channel, ``ask`` pauses, ``slow`` outlives the thread (it
    expires here) and changes only ``count``, ``last`` changes ``count`` again."""

    def first(state: State) -> State:
        return {"order_id": "ORD-123", "note": "n" * 2_000, "count": 1}

    def ask(state: State) -> State:
        return {"count": state["count"] + int(interrupt("go on?"))}

    def slow(state: State) -> State:
        expire()
        return {"count": state["count"] + 1}

    def last(state: State) -> State:
        return {"count": state["count"] + 1}

    builder = StateGraph(State)
    for name, node in (("first", first), ("ask", ask), ("slow", slow), ("last", last)):
        builder.add_node(name, node)
    builder.add_edge(START, "first")
    builder.add_edge("first", "ask")
    builder.add_edge("ask", "slow")
    builder.add_edge("slow", "last")
    builder.add_edge("last", END)
    return builder.compile(checkpointer=adapter)


def _expiring(request: pytest.FixtureRequest, adapter: Any, clock: FakeClock, thread: str) -> Any:
    """What lets ``thread`` expire now on ``adapter``'s backend."""
    if request.node.callspec.params["make_adapter"] == "in-memory":
        return lambda: clock.advance(TTL_MS + 1)
    url = adapter.connection._url
    cluster = request.node.callspec.params["make_adapter"] == "redis-cluster"

    def expire() -> None:
        # every key of the thread at once, as their TTLs (one deadline, set by one script)
        # run out for every script after it: one DEL, so that a put landing meanwhile from
        # LangGraph's background thread never sees half of the thread gone
        client: Any = (redis.cluster.RedisCluster if cluster else redis.Redis).from_url(url)
        try:
            client.delete(*thread_keys(adapter.prefix, thread))  # one hash tag: one slot
        finally:
            client.close()

    return expire


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_a_run_that_outlives_its_thread_stores_its_next_checkpoint_whole(
    request: pytest.FixtureRequest, make_adapter: AdapterFactory, durability: Durability
) -> None:
    clock = FakeClock()
    adapter = make_adapter(ttl_ms=TTL_MS, clock=clock)
    thread = f"t-{uuid.uuid4().hex}"
    graph = _graph(adapter, _expiring(request, adapter, clock, thread))
    graph.invoke({}, config_of(thread))
    [pending] = adapter.pending.list(thread)

    done = graph.invoke(
        Command(resume=pending.resume_map(1)), config_of(thread), durability=durability
    )

    assert done == {"order_id": "ORD-123", "note": "n" * 2_000, "count": 4}
    assert graph.get_state(config_of(thread)).values == done


class _Fork(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_an_agent_run_whose_thread_expired_before_its_pause_was_stored_says_so(
    request: pytest.FixtureRequest, make_adapter: AdapterFactory, durability: Durability
) -> None:
    """``ask`` pauses in the step in which its sibling ``slow`` outlives the thread: with
    ``sync`` or ``async`` durability the pause is written to a checkpoint that expired,
    and nothing of it is kept. The run says so instead of reporting a completed run with
    no values; with ``exit`` the pause is stored whole at the end, and listed."""
    clock = FakeClock()
    adapter = make_adapter(ttl_ms=TTL_MS, clock=clock)
    thread = f"t-{uuid.uuid4().hex}"
    expire = _expiring(request, adapter, clock, thread)

    def slow(state: _Fork) -> _Fork:
        if durability == "async":  # the step's checkpoint is stored in the background:
            deadline = time.monotonic() + 10  # let it land first, then the thread expires
            while (stored := adapter.get_tuple(config_of(thread))) is None or stored.metadata[
                "step"
            ] < 1:
                assert time.monotonic() < deadline, "the step's checkpoint was never stored"
                time.sleep(0.01)
        expire()
        return {"log": ["slow"]}

    builder: StateGraph[Any] = StateGraph(_Fork)
    builder.add_node("pre", lambda state: {"log": ["pre"]})
    builder.add_node("slow", slow)
    builder.add_node("ask", lambda state: {"log": [interrupt("approve?")]})
    builder.add_edge(START, "pre")
    builder.add_edge("pre", "slow")
    builder.add_edge("pre", "ask")
    agent = create_agent(
        workflows={"w": builder}, default_workflow_id="w", framework_adapter=adapter
    )

    if durability == "exit":
        paused = agent.run({}, thread_id=thread, durability=durability)
        assert paused.status == "interrupted" and paused.values["log"] == ["pre", "slow"]
        return
    with pytest.raises(ThreadExpiredError, match="holds no checkpoint") as caught:
        agent.run({}, thread_id=thread, durability=durability)
    assert thread in str(caught.value) and f"ttl_ms={TTL_MS}" in str(caught.value)
