"""The write-with-put what-if: a regular put_writes is held and sent with its thread's next
put, in one pipeline; what a graph stores is the same, and the change is undone after."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from benchmarks.graphs import agent_input, agent_loop_graph, approval_graph, thread_config
from benchmarks.write_with_put import writes_held
from kortyx_langgraph import create_redis_framework_adapter
from kortyx_langgraph.redis import connection
from tests.redis_harness import RedisServer

pytestmark = pytest.mark.redis

STEPS = 6


def _adapter(server: RedisServer) -> Any:
    return create_redis_framework_adapter(
        url=server.url, ttl_ms=60_000, prefix=f"kortyx-wwp-{uuid.uuid4().hex[:6]}:"
    )


def _contents(graph: Any, config: Any) -> list[str]:
    return [m.content for m in graph.get_state(config).values["messages"]]


def test_held_writes_go_with_the_next_put_and_the_thread_stores_the_same(
    redis_standalone: RedisServer,
) -> None:
    shipped = connection.RedisConnection._send_step
    adapter = _adapter(redis_standalone)
    config = thread_config("wwp-loop", STEPS)
    try:
        graph = agent_loop_graph(adapter, STEPS)
        with writes_held() as found:
            graph.invoke(agent_input(), config)
        reference = agent_loop_graph(InMemorySaver(), STEPS)
        reference.invoke(agent_input(), config)
        assert connection.RedisConnection._send_step is shipped
        # LangGraph sends a step's writes and the next checkpoint from threads of its own, so
        # a write can come after its put: it then waits for the thread's next call, and the
        # run's last one may wait for none. Each held write is counted once, wherever it went.
        assert found.held >= STEPS
        assert found.sent_with_put >= 1
        assert found.sent_with_put + found.sent_before_other + found.left() == found.held
        assert _contents(graph, config) == _contents(reference, config)
        assert len(list(adapter.list(config))) == len(list(reference.checkpointer.list(config)))
    finally:
        adapter.close()


def test_an_interrupt_s_writes_are_never_held(redis_standalone: RedisServer) -> None:
    adapter = _adapter(redis_standalone)
    config: Any = {"configurable": {"thread_id": "wwp-approval"}}
    try:
        graph = approval_graph(adapter)
        with writes_held() as found:
            graph.invoke({"request": "refund"}, config)
            waiting = graph.get_state(config).interrupts
            listed = adapter.pending.list("wwp-approval")
            graph.invoke(Command(resume="yes"), config)
        assert [p.interrupt_id for p in listed] == [i.id for i in waiting]
        assert len(waiting) == 1
        assert graph.get_state(config).values["answer"] == "yes!"
        assert found.sent_with_put + found.sent_before_other + found.left() == found.held
    finally:
        adapter.close()
