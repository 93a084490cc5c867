"""The sync pool of the clients the adapter creates (``redis/pool.py``).

A connection that ``redis/direct.py`` gave back after reading every reply, less than
``READY_FOR`` ago and with no failed call since, is set aside and lent again without
redis-py's lend and its readiness poll; every other one is lent and checked as redis-py
does, with every supported redis-py.

The property drives one pooled connection through random calls against a real server, with
the pool's clock in the test's hands, and compares the polls with that rule. The other
tests close connections under the adapter (``CLIENT KILL``) and check that what it was
doing goes on.
"""

from __future__ import annotations

import concurrent.futures
import os
import time
import uuid
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.types import Command
from redis.backoff import NoBackoff
from redis.retry import Retry

from kortyx_langgraph import (
    WriteOutcomeUnknownError,
)
from kortyx_langgraph.redis import direct, pool
from kortyx_langgraph.redis.pool import ReadyPool, settle
from tests.graphs import approval_graph
from tests.pending_truth import config_of
from tests.pool_support import Clock, quick_retrying
from tests.redis_harness import RedisServer


class _Polls:
    """Counts the readiness checks (``can_read()``) of every connection."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        cls: Any = redis.connection.AbstractConnection
        original = cls.can_read

        def counted(conn: Any, *args: Any, **kwargs: Any) -> bool:
            self.count += 1
            return bool(original(conn, *args, **kwargs))

        monkeypatch.setattr(cls, "can_read", counted)


def _kill_clients(server: RedisServer) -> None:
    """Close every client connection of ``server`` but the one asking."""
    with redis.Redis.from_url(server.url) as admin:
        admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")


_ACTIONS = st.lists(
    st.sampled_from(["direct", "redis-py", "closed", "later", "soon"]), min_size=1, max_size=12
)


@pytest.mark.redis
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=_ACTIONS)
@example(actions=["direct", "later", "direct"])
@example(actions=["direct", "soon", "soon", "direct", "redis-py", "direct"])
@example(actions=["closed", "direct", "direct"])
@example(actions=["closed", "later", "direct"])
def test_a_connection_skips_the_poll_only_when_given_back_whole_a_moment_ago(
    redis_standalone: Any, actions: list[str]
) -> None:
    """One connection, random calls: "direct" (redis/direct.py), "redis-py"
    (``execute_command``), "closed" (a direct call, after which the server closes the
    connection), and the pool's clock moving on by ``READY_FOR`` ("later") or a third of
    it ("soon")."""
    clock = Clock()
    client = redis.Redis(
        connection_pool=ReadyPool.from_url(redis_standalone.url, max_connections=1),
        retry=Retry(NoBackoff(), 0),  # a failure shows, not redis-py's retry of it
    )
    ready = False  # whether the connection was given back whole (and marked)
    idle = 0.0  # seconds since it was given back
    closed = False  # whether the server has closed the pooled connection
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(pool, "time", clock)
        polls = _Polls(monkeypatch)
        for action in actions:
            if action in ("later", "soon"):
                step = pool.READY_FOR if action == "later" else pool.READY_FOR / 3
                clock.now += step
                idle += step
                continue
            skipped = ready and idle < pool.READY_FOR
            before = polls.count
            if skipped and closed:  # sent down a closed connection: it fails, and is closed
                with pytest.raises(redis.exceptions.ConnectionError):
                    if action == "redis-py":
                        client.execute_command("ECHO", "x")
                    else:
                        direct.call(client, ("ECHO", "x"), fast=True)
                assert polls.count == before
                ready = closed = False
                idle = 0.0
                continue
            # checked: a closed connection has "data" (its end), so it is reconnected and
            # checked again
            expected = 0 if skipped else 2 if closed else 1
            if action == "redis-py":
                assert client.execute_command("ECHO", "x") == b"x"
            elif action == "direct":
                assert direct.call(client, ("ECHO", "x"), fast=True) == b"x"
            else:  # another connection kills this one: closed before the kill is answered
                own = direct.call(client, ("CLIENT", "ID"), fast=True)
                assert redis_standalone.command("CLIENT", "KILL", "ID", str(own)) == 1
            assert polls.count - before == expected, (action, ready, closed)
            ready, closed = action != "redis-py", action == "closed"
            idle = 0.0
    client.close()


@pytest.mark.redis
def test_a_failed_call_makes_the_pool_check_every_connection_set_aside_before_it(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready_pool = ReadyPool.from_url(server.url, max_connections=2)
    client = redis.Redis(connection_pool=ready_pool)
    first, second = (ready_pool.get_connection(*direct._LEND) for _ in range(2))
    for conn in (first, second):
        conn.connect()
        if not settle(ready_pool, conn, whole=True):
            ready_pool.release(conn)  # both set aside, the second on top
    assert len(ready_pool._aside) == 2
    _kill_clients(server)
    polls = _Polls(monkeypatch)
    with pytest.raises(redis.exceptions.ConnectionError):  # the second, unchecked: closed
        direct.call(client, ("PING",), fast=True)
    assert polls.count == 0
    # the first was set aside before that failure: it goes back to redis-py's lend, which
    # polls it, finds it closed, connects it again and polls it again
    assert direct.call(client, ("PING",), fast=True) == b"PONG"
    assert polls.count == 2
    held = ready_pool.get_connection(*direct._LEND)  # given back whole since: lent unchecked
    assert polls.count == 2
    assert ready_pool._aside == []
    ready_pool.release(held)
    client.close()


@pytest.mark.redis
def test_a_paused_run_resumes_by_token_after_the_server_closed_every_connection(
    server: RedisServer,
) -> None:
    adapter = quick_retrying(server)
    assert isinstance(adapter.connection.sync_client().connection_pool, ReadyPool)
    graph = approval_graph(adapter)
    thread = f"t-{uuid.uuid4().hex[:8]}"
    graph.invoke({"request": "r", "log": []}, config_of(thread))
    [pending] = adapter.pending.list(thread)
    _kill_clients(server)  # the connections just given back are marked ready, and closed
    claimed = adapter.pending.claim(pending.token, claim_id="worker-1")
    _kill_clients(server)
    result = graph.invoke(Command(resume=claimed.resume_map("yes")), claimed.config)
    assert result["log"] == ["asked", "done:yes"]
    _kill_clients(server)
    assert adapter.pending.list(thread) == []
    assert graph.get_state(config_of(thread)).values["log"] == ["asked", "done:yes"]
    adapter.close()


@pytest.mark.redis
def test_the_adapter_sends_down_ready_pools_on_standalone_and_cluster(
    redis_pair: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter, _ = redis_pair
    graph = approval_graph(adapter)
    thread = f"t-{uuid.uuid4().hex[:8]}"
    graph.invoke({"request": "r", "log": []}, config_of(thread))
    client = adapter.connection.sync_client()
    if isinstance(client, redis.cluster.RedisCluster):
        pools = [node.redis_connection.connection_pool for node in client.get_primaries()]
    else:
        pools = [client.connection_pool]
    assert pools and all(isinstance(p, ReadyPool) for p in pools)
    polls = _Polls(monkeypatch)
    for _ in range(5):  # one after another: each gets the connection the last gave back
        assert adapter.get_tuple(config_of(thread)) is not None
    assert polls.count <= 1


@pytest.mark.redis
def test_a_write_sent_unpolled_to_a_server_gone_since_may_have_run(server: RedisServer) -> None:
    adapter = quick_retrying(server)
    config = config_of(f"t-{uuid.uuid4().hex[:8]}")
    stored = adapter.put(config, empty_checkpoint(), {}, {})  # its connection: marked ready
    server.stop()
    # sent down the closed connection: it may have run, as the error says
    with pytest.raises(WriteOutcomeUnknownError) as raised:
        adapter.put_writes(stored, [("a", 1)], "task")
    assert raised.value.operation == "put_writes"
    server.start()  # empty: the test's servers keep nothing on disk
    again = adapter.put(config, empty_checkpoint(), {}, {})  # the same adapter works again
    adapter.put_writes(again, [("a", 1)], "task")
    stored_again = adapter.get_tuple(again)
    assert stored_again is not None
    assert stored_again.pending_writes == [("task", "a", 1)]
    adapter.close()


@pytest.mark.redis
def test_a_thread_waiting_for_the_pool_gets_the_connection_a_direct_call_gives_back(
    server: RedisServer,
) -> None:
    """One connection: a direct call holds it (a blocking pop that times out), a redis-py
    command waits for it in redis-py's lend on another thread. The direct call must give it
    to the waiter, not set it aside, or the waiter would wait out the pool's timeout."""
    ready_pool = ReadyPool.from_url(server.url, max_connections=1, timeout=5)
    client = redis.Redis(connection_pool=ready_pool)
    key = f"k-{uuid.uuid4().hex[:8]}"
    with concurrent.futures.ThreadPoolExecutor(2) as threads:
        holding = threads.submit(direct.call, client, ("BLPOP", key, "0.3"), fast=True)
        time.sleep(0.05)  # the pop is sent: the one connection is in use
        waiting = threads.submit(client.execute_command, "PING")
        assert holding.result() is None  # timed out, the reply read: given back whole
        assert waiting.result() is True  # PONG
    assert ready_pool._aside == []  # handed to the waiter
    assert direct.call(client, ("PING",), fast=True) == b"PONG"  # no one waits: set aside
    assert len(ready_pool._aside) == 1
    client.close()


@pytest.mark.redis
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_never_gets_a_connection_its_parent_set_aside(
    server: RedisServer,
) -> None:
    ready_pool = ReadyPool.from_url(server.url, max_connections=2)
    client = redis.Redis(connection_pool=ready_pool)
    parents = direct.call(client, ("CLIENT", "ID"), fast=True)
    assert len(ready_pool._aside) == 1
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child: its own connection, never the parent's socket
        code = 1
        try:
            os.write(write_end, b"%d" % direct.call(client, ("CLIENT", "ID"), fast=True))
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as answer:
        childs = int(answer.read() or b"0")
    assert os.waitpid(child, 0)[1] == 0
    assert childs not in (0, parents)
    assert direct.call(client, ("CLIENT", "ID"), fast=True) == parents  # the parent's, still
    client.close()


@pytest.mark.redis
def test_a_connection_redis_py_marked_to_reconnect_is_not_lent_from_the_stack(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py marks connections to be connected again on a server's maintenance notice
    (``should_reconnect``, redis-py 7 and later; set by hand here): such a connection,
    set aside before the notice, goes back to redis-py's lend."""
    ready_pool = ReadyPool.from_url(server.url, max_connections=2)
    client = redis.Redis(connection_pool=ready_pool)
    assert direct.call(client, ("PING",), fast=True) == b"PONG"
    [(conn, _, _)] = ready_pool._aside
    conn.should_reconnect = lambda: True
    polls = _Polls(monkeypatch)
    assert direct.call(client, ("PING",), fast=True) == b"PONG"
    assert polls.count >= 1  # lent by redis-py's lend, which checks it
    client.close()
