"""The sync pool of the clients the adapter creates (``redis/pool.py``).

A connection that ``redis/direct.py`` gave back after reading every reply, less than
``READY_FOR`` ago and with no failed call since, is handed out without redis-py's readiness
poll; every other one is checked as redis-py checks it. On a redis-py without a pool check
to leave out (``ensure_connection``, before 8.2), every one is checked.

The property drives one pooled connection through random calls against a real server, with
the pool's clock in the test's hands, and compares the polls with that rule. The other
tests close connections under the adapter (``CLIENT KILL``) and check that what it was
doing goes on.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.types import Command
from redis.backoff import NoBackoff
from redis.retry import Retry

from kortyx_langgraph import (
    RedisFrameworkAdapter,
    RetryPolicy,
    StorageConnectionError,
    WriteOutcomeUnknownError,
    create_redis_framework_adapter,
)
from kortyx_langgraph.redis import direct, pool
from kortyx_langgraph.redis.pool import ReadyPool, settle
from tests.graphs import approval_graph
from tests.pending_truth import config_of
from tests.redis_harness import RedisServer

SKIPS = hasattr(redis.BlockingConnectionPool, "ensure_connection")
"""Whether this redis-py has a pool check the adapter's pool can leave out."""


@pytest.fixture
def server(redis_binaries: tuple[str, str]) -> Iterator[RedisServer]:
    """A server of this test alone (its clients are killed)."""
    with RedisServer() as started:
        yield started


class _Clock:
    """``time.monotonic`` of the pool module, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now


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


def _quick_retrying(server: RedisServer) -> RedisFrameworkAdapter:
    """An adapter of ``server`` that sends a failed script once more, almost at once."""
    return create_redis_framework_adapter(
        url=server.url,
        ttl_ms=60_000,
        prefix=f"kortyx-pool-{uuid.uuid4().hex[:8]}:",
        retry=RetryPolicy(attempts=2, backoff_base_ms=1, backoff_cap_ms=2),
    )


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
def test_a_connection_skips_the_poll_only_when_given_back_whole_a_moment_ago(
    redis_standalone: Any, actions: list[str]
) -> None:
    """One connection, random calls: "direct" (redis/direct.py), "redis-py"
    (``execute_command``), "closed" (a direct call, after which the server closes the
    connection), and the pool's clock moving on by ``READY_FOR`` ("later") or a third of
    it ("soon")."""
    clock = _Clock()
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
            skipped = SKIPS and ready and idle < pool.READY_FOR
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
def test_a_failed_call_makes_the_pool_check_every_connection_marked_before_it(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready_pool = ReadyPool.from_url(server.url, max_connections=2)
    client = redis.Redis(connection_pool=ready_pool)
    first, second = (ready_pool.get_connection(*direct._LEND) for _ in range(2))
    for conn in (first, second):
        conn.connect()
        settle(ready_pool, conn, whole=True)
        ready_pool.release(conn)  # the second one is handed out first
    _kill_clients(server)
    polls = _Polls(monkeypatch)
    if SKIPS:  # the second one, not polled: the call fails, and it is closed
        with pytest.raises(redis.exceptions.ConnectionError):
            direct.call(client, ("PING",), fast=True)
        assert polls.count == 0
    else:  # polled, found closed, reconnected and polled again
        assert direct.call(client, ("PING",), fast=True) == b"PONG"
        assert polls.count == 2
    held = ready_pool.get_connection(*direct._LEND)  # the second again: connected anew and polled
    assert polls.count == (1 if SKIPS else 3)
    # the first was marked before the failure: it is polled, found closed, reconnected
    assert direct.call(client, ("PING",), fast=True) == b"PONG"
    assert polls.count == (3 if SKIPS else 5)
    ready_pool.release(held)
    client.close()


@pytest.mark.redis
def test_a_paused_run_resumes_by_token_after_the_server_closed_every_connection(
    server: RedisServer,
) -> None:
    adapter = _quick_retrying(server)
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
    assert polls.count <= (1 if SKIPS else 5)
    assert polls.count >= (0 if SKIPS else 5)


@pytest.mark.redis
def test_a_write_sent_unpolled_to_a_server_gone_since_may_have_run(server: RedisServer) -> None:
    adapter = _quick_retrying(server)
    config = config_of(f"t-{uuid.uuid4().hex[:8]}")
    stored = adapter.put(config, empty_checkpoint(), {}, {})  # its connection: marked ready
    server.stop()
    if SKIPS:  # sent down the closed connection: it may have run, as the error says
        with pytest.raises(WriteOutcomeUnknownError) as raised:
            adapter.put_writes(stored, [("a", 1)], "task")
        assert raised.value.operation == "put_writes"
    else:  # the poll found it closed, and nothing could be sent
        with pytest.raises(StorageConnectionError) as unreachable:
            adapter.put_writes(stored, [("a", 1)], "task")
        assert not isinstance(unreachable.value, WriteOutcomeUnknownError)
    server.start()  # empty: the test's servers keep nothing on disk
    again = adapter.put(config, empty_checkpoint(), {}, {})  # the same adapter works again
    adapter.put_writes(again, [("a", 1)], "task")
    stored_again = adapter.get_tuple(again)
    assert stored_again is not None
    assert stored_again.pending_writes == [("task", "a", 1)]
    adapter.close()
