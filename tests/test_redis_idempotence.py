"""Every write script is safe to repeat: sending it twice has the effect of sending it once.

A client that times out does not know whether its script ran, and the adapter's retry
policy (or a caller who repeats the call) sends it again. Here the adapter's sender is
wrapped so that every thread write script of a whole scenario (pause, resume,
``update_state``, ``copy_thread``, ``delete_for_runs``, ``prune``, ``delete_thread``) is
sent twice in a row, exactly as built (the claim scripts have their own test). After each
pair the stored keys must be what the first send left, and the second reply the same as
the first; at the end the pending store must still agree with LangGraph.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from langgraph.types import Command

from kortyx_langgraph import RedisFrameworkAdapter
from kortyx_langgraph.redis import scripts
from kortyx_langgraph.redis.operations import Call
from tests.graphs import approval_graph, parallel_graph
from tests.pending_truth import assert_agrees, config_of
from tests.redis_snapshot import stored

pytestmark = pytest.mark.redis

WRITE_SCRIPTS = {
    s.name
    for s in vars(scripts).values()
    if isinstance(s, scripts.Script)
    and s.writes
    and not s.name.startswith("pending_")
    and s is not scripts.PUT_WRITES_MANY
}
"""The thread's write scripts. The claim scripts renew a lease when repeated (by design:
the lease ends later and the reply carries the server's time); tests/test_pending_retries.py
checks them by what they mean. Merged writes go only in pipelines, never through the
sender wrapped here; tests/test_redis_merged_writes.py sends them twice."""


class TwiceSender:
    """Sends every write script twice and checks that the second send changed nothing.

    LangGraph writes from background threads; one lock keeps every send of the adapter
    out of the way of a pair and its snapshots, the pipelines of writes the group commit
    merged included (sent once: they never come here).
    """

    def __init__(self, adapter: RedisFrameworkAdapter, admin: Any) -> None:
        self.admin = admin
        self.prefix = adapter.prefix
        self.sent: list[str] = []
        self._lock = threading.RLock()
        connection = adapter.connection
        self._send = connection._send
        connection._send = self  # type: ignore[method-assign]
        self._send_pipeline = connection._send_pipeline
        connection._send_pipeline = self._pipeline  # type: ignore[method-assign]

    def _pipeline(self, client: Any, steps: Any) -> Any:
        with self._lock:
            return self._send_pipeline(client, steps)

    def __call__(self, client: Any, step: Any) -> Any:
        with self._lock:
            if not (isinstance(step, Call) and step.script.name in WRITE_SCRIPTS):
                return self._send(client, step)
            return self._pair(client, step)

    def _pair(self, client: Any, step: Call) -> Any:
        first = self._send(client, step)
        once = stored(self.admin, self.prefix)
        second = self._send(client, step)
        twice = stored(self.admin, self.prefix)
        name = step.script.name
        assert twice == once, f"{name} sent again changed what is stored"
        assert second == first, f"{name} sent again answered {second!r}, not {first!r}"
        self.sent.append(name)
        return second


@pytest.fixture
def twice(
    redis_pair: tuple[RedisFrameworkAdapter, Any],
) -> tuple[RedisFrameworkAdapter, TwiceSender]:
    adapter, admin = redis_pair
    return adapter, TwiceSender(adapter, admin)


def _run(thread: str, run_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread, "run_id": run_id}}


def test_every_write_script_sent_twice_is_sent_once(
    twice: tuple[RedisFrameworkAdapter, TwiceSender],
) -> None:
    adapter, sender = twice
    graph = approval_graph(adapter)
    fan = parallel_graph(adapter)
    thread, other, copy = (f"{n}-{uuid.uuid4().hex[:6]}" for n in ("a", "b", "c"))

    # pause; a second run pauses the thread again; deleting that run brings the first
    # interrupt back (put, put_writes, delete_checkpoints, rebuild_pending)
    graph.invoke({"request": "x", "log": []}, _run(thread, str(uuid.uuid4())))
    second_run = str(uuid.uuid4())
    graph.invoke({"request": "again", "log": []}, _run(thread, second_run))
    adapter.delete_for_runs([second_run])
    assert_agrees(graph, adapter, thread)
    [waiting] = adapter.pending.list(thread)
    assert waiting.value == {"question": "approve x?"}

    # claim, release, claim again, resume
    held = adapter.pending.claim(waiting.token)
    assert held.claim_id is not None
    adapter.pending.release(waiting.token, held.claim_id)
    held = adapter.pending.claim(waiting.token)
    graph.invoke(Command(resume=held.resume_map("yes")), held.config)
    assert_agrees(graph, adapter, thread)
    assert adapter.pending.list(thread) == []

    # two parallel interrupts, claim_next, update_state, copy_thread (write_thread)
    fan.invoke({"request": "y", "log": []}, config_of(other))
    adapter.pending.claim_next(other)
    fan.update_state(config_of(other), {"log": ["edited"]})
    assert_agrees(fan, adapter, other)
    adapter.copy_thread(other, copy)
    assert_agrees(fan, adapter, copy)

    # prune keeps the latest checkpoint; delete_thread and prune("delete") drop threads
    adapter.prune([other], strategy="keep_latest")
    assert_agrees(fan, adapter, other)
    adapter.delete_thread(copy)
    adapter.prune([thread], strategy="delete")
    assert adapter.pending.list(copy) == []
    assert adapter.pending.list(thread) == []
    assert graph.get_state(config_of(thread)).values == {}

    assert set(sender.sent) == WRITE_SCRIPTS, "the scenario must send every write script"
