"""Redis goes down in the middle of a run: what the caller sees under each durability mode.

LangGraph's ``durability`` decides when a step's checkpoint is written: ``"sync"`` waits
for it before the next step, ``"async"`` writes it in the background while the next steps
run. The first node stops the test's own server; the run then fails with a
``StorageConnectionError``: at once with ``"sync"``, at the end of the run (after the later
nodes ran) with ``"async"`` and ``"exit"``. Once Redis is back the thread continues from
what it saved (with ``"exit"``: nothing, so it runs again from its input).
"""

from __future__ import annotations

import asyncio
import operator
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph

from kortyx_langgraph import RetryPolicy, StorageConnectionError, create_redis_framework_adapter
from kortyx_langgraph.redis.layout import checkpoint_member
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


@pytest.mark.parametrize(
    ("call", "durability"), [("invoke", "async"), ("invoke", "sync"), ("ainvoke", "async")]
)
def test_a_write_failure_kept_from_an_earlier_run_does_not_fail_the_next_run(
    server: RedisServer, call: str, durability: str
) -> None:
    # An earlier run's carried write of task a failed and was kept for the save after it,
    # which never came (that run stopped). The next run reads the thread, runs a again,
    # and LangGraph may send its save before a's write (it does not order them): the
    # kept failure must not fail that save. Here a's write is held back to make it so.
    adapter = create_redis_framework_adapter(
        url=server.url, ttl_ms=60_000, prefix=f"kortyx-kept-{uuid.uuid4().hex[:6]}:"
    )
    ran = ["(no server stop)"]
    graph = _graph(adapter, server, ran)
    thread = config_of(f"kept-{call}-{durability}")
    graph.invoke({"log": []}, thread, interrupt_before=["a"])
    state = graph.get_state(thread)
    [task] = state.tasks
    key = adapter._ops._keys(thread["configurable"]["thread_id"])[0]
    member = checkpoint_member("", state.config["configurable"]["checkpoint_id"])
    kept = StorageConnectionError("an earlier run's write of task a failed")
    adapter._connection._group._keep((key, (member, task.id)), kept)

    if call == "invoke":
        put_writes = adapter.put_writes

        def write(*args: Any, **kwargs: Any) -> Any:
            time.sleep(0.3)
            return put_writes(*args, **kwargs)

        adapter.put_writes = write  # type: ignore[method-assign]
        graph.invoke(None, thread, durability=durability)
    else:
        aput_writes = adapter.aput_writes

        async def awrite(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0.3)
            return await aput_writes(*args, **kwargs)

        adapter.aput_writes = awrite  # type: ignore[method-assign]
        asyncio.run(graph.ainvoke(None, thread, durability=durability))
    assert graph.get_state(thread).values["log"] == ["a", "b", "c"]
    assert ran[1:] == ["a", "b", "c"]
    assert adapter._connection._group._failed == {}
    adapter.close()
