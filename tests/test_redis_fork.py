"""A child forked from a process that uses the adapter (a worker pool forked while the
parent's threads run graphs, ``multiprocessing`` with the fork start method): the child
neither waits for what the parent's other threads had in flight nor shares a socket
with the parent."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis

from kortyx_langgraph import create_redis_framework_adapter
from kortyx_langgraph.redis.layout import thread_keys
from tests.graphs import approval_graph
from tests.pending_truth import config_of
from tests.redis_harness import RedisServer


def _in_child(work: Callable[[], bytes], seconds: int = 20) -> bytes:
    """Run ``work`` in a forked child under an alarm; what it returned, or fail."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            signal.alarm(seconds)  # a hang ends the child, and the test fails
            os.write(write_end, work())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as answer:
        said = answer.read()
    status = os.waitpid(child, 0)[1]
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child status {status}"
    return said


@pytest.mark.redis
def test_a_child_forked_while_a_thread_was_written_reads_that_thread(
    server: RedisServer,
) -> None:
    """At the fork, another thread of the parent was writing the run's thread: a write of
    it carried in the group commit, not sent yet, and the group commit's lock held. The
    child has no such thread; before, its read of that thread waited for it forever."""
    adapter = create_redis_framework_adapter(
        url=server.url, prefix=f"kortyx-fork-{uuid.uuid4().hex[:8]}:"
    )
    graph = approval_graph(adapter)
    thread = f"t-{uuid.uuid4().hex}"
    graph.invoke({"request": "r", "log": []}, config_of(thread))
    group = adapter.connection._group  # type: ignore[attr-defined]
    key = thread_keys(adapter.prefix, thread).idx  # type: ignore[attr-defined]
    holding, done = threading.Event(), threading.Event()

    def writer() -> None:  # in the parent, as a thread in the middle of a write
        with group._lock:
            group._owed[key] = 1  # what a carried write owes until it is sent
            holding.set()
            done.wait()
        with group._lock:
            del group._owed[key]

    busy = threading.Thread(target=writer)
    busy.start()
    holding.wait()
    try:
        said = _in_child(lambda: b"%d" % len(adapter.pending.list(thread)))
        assert said == b"1"
    finally:
        done.set()
        busy.join()
    assert len(adapter.pending.list(thread)) == 1  # the parent, as before
    adapter.close()


@pytest.mark.redis
def test_an_event_loop_used_again_in_a_forked_child_gets_connections_of_its_own(
    server: RedisServer,
) -> None:
    """asyncio does not support a loop used across a fork, but a module-level loop driven
    with ``run_until_complete`` does just that: its client's sockets are the parent's, so
    the two processes would read each other's replies. The child gets its own."""
    name = f"fork-{uuid.uuid4().hex[:8]}"
    adapter = create_redis_framework_adapter(
        url=server.url,
        prefix=f"kortyx-fork-{uuid.uuid4().hex[:8]}:",
        client_options={"client_name": name},
    )
    loop = asyncio.new_event_loop()
    loop.run_until_complete(adapter.pending.alist("t"))
    admin = redis.Redis.from_url(server.url)

    def named() -> int:
        return sum(1 for c in admin.client_list() if c.get("name") == name)

    assert named() == 1

    def child() -> bytes:
        loop.run_until_complete(adapter.pending.alist("t"))
        return b"%d" % named()

    try:
        assert _in_child(child) == b"2"  # the parent's, and one of the child's own
        assert loop.run_until_complete(adapter.pending.alist("t")) == []
    finally:
        loop.run_until_complete(adapter.aclose())
        loop.close()
        admin.close()
        adapter.close()


def test_a_loop_that_another_thread_let_go_of_first_is_no_error() -> None:
    """Threads that start event loops at once each let go of the closed ones: the loop
    one of them listed may be gone when it comes to it."""
    from kortyx_langgraph.redis import loops

    closed = asyncio.new_event_loop()
    closed.close()

    class Raced(dict[Any, Any]):
        def __iter__(self) -> Any:  # listed, then taken by another thread
            yield closed

    assert loops.forget_closed(Raced()) == []
