"""What a caller sees when Redis stops answering, and that the adapter recovers.

Each test runs its own ``redis-server`` (it is stopped with SIGSTOP or left full) so the
suite's shared servers are never disturbed. The adapter's timeouts are made short here;
their defaults are checked separately.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
import uuid
from typing import Any, TypedDict

import hiredis
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from kortyx_langgraph import (
    AlreadyClaimedError,
    ConfigurationError,
    PoolExhaustedError,
    RedisFrameworkAdapter,
    ResumeFailedError,
    RetryPolicy,
    StorageConnectionError,
    StorageReadOnlyError,
    StorageTimeoutError,
    WriteOutcomeUnknownError,
    create_agent,
    create_redis_framework_adapter,
    use_interrupt,
)
from kortyx_langgraph.redis import direct
from kortyx_langgraph.redis.client_options import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_SOCKET_TIMEOUT_S,
)
from kortyx_langgraph.redis.retry import classify
from tests.graphs import approval_graph
from tests.pending_truth import config_of
from tests.redis_harness import RedisServer, free_port

QUICK = RetryPolicy(attempts=2, backoff_base_ms=10, backoff_cap_ms=20)
"""Two attempts, almost no wait between them: a failure shows within two timeouts."""


def _adapter(server: RedisServer, **options: Any) -> RedisFrameworkAdapter:
    return create_redis_framework_adapter(
        url=server.url,
        ttl_ms=60_000,
        prefix=f"kortyx-fail-{uuid.uuid4().hex[:8]}:",
        retry=options.pop("retry", QUICK),
        client_options=options,
    )


def _paused(adapter: RedisFrameworkAdapter) -> tuple[Any, str, str]:
    graph = approval_graph(adapter)
    thread = f"t-{uuid.uuid4().hex[:8]}"
    graph.invoke({"request": "r", "log": []}, config_of(thread))
    [pending] = adapter.pending.list(thread)
    return graph, thread, pending.token


async def _apaused(server: RedisServer) -> tuple[RedisFrameworkAdapter, Any, str, str]:
    """An adapter with short timeouts, a thread paused through it, and this event loop's
    client connected."""
    adapter = _adapter(server, socket_timeout=0.3)
    graph, thread, token = _paused(adapter)
    await adapter.aget_tuple(config_of(thread))
    return adapter, graph, thread, token


# -- a server that stops answering (SIGSTOP) ---------------------------------------------


@pytest.mark.redis
def test_a_stopped_server_gives_typed_errors_within_the_timeout_then_the_adapter_recovers(
    server: RedisServer,
) -> None:
    adapter = _adapter(server, socket_timeout=0.3)
    graph, thread, token = _paused(adapter)
    with server.stopped():
        started = time.monotonic()
        with pytest.raises(StorageTimeoutError) as read:
            adapter.get_tuple(config_of(thread))
        with pytest.raises(WriteOutcomeUnknownError) as write:
            adapter.pending.claim(token, claim_id="worker-1")
        waited = time.monotonic() - started
    assert "get_tuple" in str(read.value)
    assert "2 attempts" in str(read.value)
    assert write.value.operation == "pending_claim"
    assert "may or may not have been applied" in str(write.value)
    # two operations, two attempts each at 0.3 s: nothing hangs (a generous bound)
    assert waited < 10
    # whether or not the lost claim ran, repeating it with the same claim id is safe
    claimed = adapter.pending.claim(token, claim_id="worker-1")
    assert claimed.claim_id == "worker-1"
    result = graph.invoke(Command(resume=claimed.resume_map("yes")), claimed.config)
    assert result["log"] == ["asked", "done:yes"]
    assert adapter.pending.list(thread) == []
    adapter.close()


@pytest.mark.redis
def test_a_claim_whose_outcome_is_unknown_carries_its_id_and_is_repeated_with_it(
    server: RedisServer,
) -> None:
    adapter = _adapter(server, socket_timeout=0.3)
    graph, _, token = _paused(adapter)
    with server.stopped(), pytest.raises(WriteOutcomeUnknownError) as lost:
        adapter.pending.claim(token)  # no id of the caller's: one is made for it
    made = lost.value.claim_id
    assert made is not None
    assert lost.value.operation == "pending_claim"
    assert "claim_id=error.claim_id" in str(lost.value)
    # the claim was applied once the server ran again: another claim is refused ...
    assert adapter.pending.get(token).claimed
    with pytest.raises(AlreadyClaimedError):
        adapter.pending.claim(token)
    # ... and the same claim, repeated with its id, is recognised as the caller's own
    claimed = adapter.pending.claim(token, claim_id=made)
    assert claimed.claim_id == made
    result = graph.invoke(Command(resume=claimed.resume_map("yes")), claimed.config)
    assert result["log"] == ["asked", "done:yes"]
    adapter.close()


@pytest.mark.redis
async def test_an_async_claim_next_whose_outcome_is_unknown_carries_its_id(
    server: RedisServer,
) -> None:
    adapter, _, thread, token = await _apaused(server)
    with server.stopped(), pytest.raises(WriteOutcomeUnknownError) as lost:
        await adapter.pending.aclaim_next(thread)
    assert lost.value.claim_id is not None
    again = await adapter.pending.aclaim_next(thread, claim_id=lost.value.claim_id)
    assert (again.token, again.claim_id) == (token, lost.value.claim_id)
    await adapter.aclose()


def _freezing_note(server: RedisServer, frozen: list[bool]) -> StateGraph[Any]:
    """One free-text question whose node, the first time it gets an answer, freezes the
    server (SIGSTOP) and raises: the run fails, and so does the release of its claim."""

    def ask(state: dict[str, Any]) -> dict[str, Any]:
        note = use_interrupt("text", "Any note?")
        if not frozen[0]:
            frozen[0] = True
            assert server.pid is not None
            os.kill(server.pid, signal.SIGSTOP)
            raise ConnectionError("the booking service is down")
        return {"note": note}

    builder: StateGraph[Any] = StateGraph(Note)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder


class Note(TypedDict, total=False):
    note: str


@pytest.mark.redis
def test_a_resume_whose_claim_cannot_be_released_says_so_and_is_repeated_with_its_id(
    server: RedisServer,
) -> None:
    adapter = _adapter(server, socket_timeout=0.3)
    frozen = [False]
    agent = create_agent(
        workflows={"note": _freezing_note(server, frozen)},
        default_workflow_id="note",
        framework_adapter=adapter,
    )
    [question] = agent.run({}).interrupts
    try:
        with pytest.raises(ResumeFailedError) as failed:
            agent.resume(question.token, "hi")
    finally:
        assert server.pid is not None
        os.kill(server.pid, signal.SIGCONT)
    assert frozen[0]
    error = failed.value
    assert (error.claim_released, error.token_still_pending) == (False, True)
    assert error.claim_id is not None
    assert "releasing the claim failed too" in str(error)
    # the claim still holds the interrupt: another resume is refused, the same one is not
    with pytest.raises(AlreadyClaimedError):
        agent.resume(question.token, "hi")
    result = agent.resume(question.token, "hi", claim_id=error.claim_id)
    assert (result.status, result.values["note"]) == ("completed", "hi")
    assert adapter.pending.list(result.thread_id) == []
    adapter.close()


@pytest.mark.redis
async def test_a_stopped_server_async_gives_typed_errors_then_recovers(
    server: RedisServer,
) -> None:
    adapter, graph, thread, token = await _apaused(server)
    with server.stopped():
        with pytest.raises(StorageTimeoutError):
            await adapter.aget_tuple(config_of(thread))
        with pytest.raises(WriteOutcomeUnknownError):
            await adapter.pending.aclaim(token, claim_id="worker-1")
    claimed = await adapter.pending.aclaim(token, claim_id="worker-1")
    result = await graph.ainvoke(Command(resume=claimed.resume_map("yes")), claimed.config)
    assert result["log"] == ["asked", "done:yes"]
    await adapter.aclose()


def _replicate(replica: RedisServer, primary: RedisServer) -> None:
    """Make ``replica`` a replica of ``primary`` and wait until it has its data."""
    replica.command("REPLICAOF", primary.host, str(primary.port))
    deadline = time.monotonic() + 10
    while replica.info("replication").get("master_link_status") != "up":
        assert time.monotonic() < deadline, "the replica never synced"
        time.sleep(0.05)


def _connection_ids(server: RedisServer, name: str) -> set[str]:
    reply = server.command("CLIENT", "LIST")
    listed = reply.decode() if isinstance(reply, bytes) else str(reply)
    return {
        field.split("=", 1)[1]
        for line in listed.splitlines()
        if f" name={name} " in f" {line} "
        for field in line.split()
        if field.startswith("id=")
    }


@pytest.mark.redis
@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_demoted_primary_gives_a_typed_error_and_the_adapter_reconnects(
    server: RedisServer, asynchronous: bool
) -> None:
    adapter = _adapter(server, client_name="kortyx-demoted")
    graph, thread, token = _paused(adapter)
    before = _connection_ids(server, "kortyx-demoted")
    with RedisServer() as other:
        # a failover: the other server takes the data and becomes the primary, this one
        # its replica, while the adapter's URL still names this one
        _replicate(other, server)
        other.command("REPLICAOF", "NO", "ONE")
        _replicate(server, other)
        claim = (
            (lambda: asyncio.run(adapter.pending.aclaim(token, claim_id="w")))
            if asynchronous
            else (lambda: adapter.pending.claim(token, claim_id="w"))
        )
        with pytest.raises(StorageReadOnlyError) as refused:
            claim()
        assert isinstance(refused.value, StorageConnectionError)
        assert "nothing was written" in str(refused.value)
        assert "2 attempts" in str(refused.value)  # QUICK: every attempt reconnected
        assert not adapter.pending.get(token).claimed  # reads still work, from the replica
        # the node is the primary again (the name it is reached by points at a primary)
        server.command("REPLICAOF", "NO", "ONE")
        claimed = claim()
    assert claimed.claim_id == "w"
    if not asynchronous:  # the sync client let go of the connections that were refused
        assert before and not before & _connection_ids(server, "kortyx-demoted")
    result = graph.invoke(Command(resume=claimed.resume_map("yes")), claimed.config)
    assert result["log"] == ["asked", "done:yes"]
    assert adapter.pending.list(thread) == []
    adapter.close()


@pytest.mark.redis
def test_an_exhausted_pool_waits_pool_timeout_then_raises(server: RedisServer) -> None:
    adapter = _adapter(server, socket_timeout=2.0, max_connections=1, pool_timeout=0.2)
    _, thread, _ = _paused(adapter)
    holder_failed: list[BaseException] = []

    def hold_the_only_connection() -> None:
        try:
            adapter.get_tuple(config_of(thread))
        except StorageConnectionError as exc:
            holder_failed.append(exc)

    holder = threading.Thread(target=hold_the_only_connection)
    try:
        with server.stopped():
            holder.start()
            time.sleep(0.3)  # the holder has sent and waits for its reply
            with pytest.raises(PoolExhaustedError) as caught:
                adapter.get_tuple(config_of(thread))
    finally:
        holder.join()
    assert "nothing was sent" in str(caught.value)
    assert "max_connections" in str(caught.value)
    assert adapter.get_tuple(config_of(thread)) is not None
    adapter.close()


@pytest.mark.redis
def test_a_server_that_is_not_there_is_unreachable_not_an_unknown_outcome(
    redis_binaries: tuple[str, str],
) -> None:
    adapter = create_redis_framework_adapter(
        url=f"redis://127.0.0.1:{free_port()}/0", ttl_ms=60_000, cluster=False, retry=QUICK
    )
    graph = approval_graph(adapter)
    with pytest.raises(StorageConnectionError) as caught:
        graph.invoke({"request": "r", "log": []}, config_of("nowhere"))
    assert not isinstance(caught.value, WriteOutcomeUnknownError)
    assert "cannot reach Redis" in str(caught.value)
    assert "2 attempts" in str(caught.value)


# -- a new adapter's first contact (is it a Cluster?) goes through the retry policy -------

PATIENT = RetryPolicy(attempts=8, backoff_base_ms=50, backoff_cap_ms=100)
"""Enough attempts to outlast a server frozen for 0.6 s at a 0.3 s socket timeout."""


def _fresh(server: RedisServer, retry: RetryPolicy) -> RedisFrameworkAdapter:
    """A new adapter that asks the server whether it is a Cluster on its first call."""
    return create_redis_framework_adapter(
        url=server.url,
        ttl_ms=60_000,
        prefix=f"kortyx-first-{uuid.uuid4().hex[:8]}:",
        retry=retry,
        client_options={"socket_timeout": 0.3, "socket_connect_timeout": 0.3},
    )


async def _first_read(adapter: RedisFrameworkAdapter, colour: str) -> Any:
    """The adapter's first call: ``get_tuple``, or ``aget_tuple`` for ``"async"``."""
    if colour == "sync":
        return adapter.get_tuple(config_of("first"))
    return await adapter.aget_tuple(config_of("first"))


@pytest.mark.redis
@pytest.mark.parametrize("colour", ["sync", "async"])
async def test_a_new_adapter_waits_for_a_server_that_comes_back_as_any_call_does(
    server: RedisServer, colour: str
) -> None:
    adapter = _fresh(server, PATIENT)
    frozen = threading.Event()

    def freeze() -> None:
        with server.stopped():
            frozen.set()
            time.sleep(0.6)

    thawing = threading.Thread(target=freeze)
    thawing.start()
    frozen.wait()
    started = time.monotonic()
    try:
        assert await _first_read(adapter, colour) is None
    finally:
        thawing.join()
    assert time.monotonic() - started >= 0.3  # it did meet the frozen server
    assert adapter.connection.cluster is False
    await adapter.aclose()


@pytest.mark.redis
@pytest.mark.parametrize("colour", ["sync", "async"])
async def test_a_new_adapter_that_never_gets_an_answer_says_so_after_its_attempts(
    server: RedisServer, colour: str
) -> None:
    adapter = _fresh(server, QUICK)
    with server.stopped(), pytest.raises(StorageTimeoutError) as caught:
        await _first_read(adapter, colour)
    assert "INFO cluster" in str(caught.value)
    assert "2 attempts" in str(caught.value)
    assert adapter.connection.cluster is None  # asked again on the next call
    assert adapter.get_tuple(config_of("first")) is None
    await adapter.aclose()


@pytest.mark.redis
def test_a_new_adapter_for_a_server_that_is_not_there_names_its_attempts(
    redis_binaries: tuple[str, str],
) -> None:
    adapter = create_redis_framework_adapter(
        url=f"redis://127.0.0.1:{free_port()}/0", ttl_ms=60_000, retry=QUICK
    )
    with pytest.raises(StorageConnectionError) as caught:
        adapter.get_tuple(config_of("nowhere"))
    assert "cannot reach Redis" in str(caught.value)
    assert "(INFO cluster, 2 attempts)" in str(caught.value)


# -- explicit client options --------------------------------------------------------------


def _connection_kwargs(adapter: RedisFrameworkAdapter) -> dict[str, Any]:
    client = adapter.connection.sync_client()
    assert isinstance(client, redis.Redis)
    return dict(client.connection_pool.connection_kwargs)


@pytest.mark.redis
def test_clients_from_a_url_get_explicit_timeouts_and_no_retries_of_their_own(
    server: RedisServer,
) -> None:
    kwargs = _connection_kwargs(_adapter(server))
    assert kwargs["socket_timeout"] == DEFAULT_SOCKET_TIMEOUT_S
    assert kwargs["socket_connect_timeout"] == DEFAULT_CONNECT_TIMEOUT_S
    assert kwargs["socket_keepalive"] is True
    assert kwargs["retry"]._retries == 0  # get_retries() is newer than redis-py 5

    overridden = _connection_kwargs(_adapter(server, socket_timeout=1.5))
    assert overridden["socket_timeout"] == 1.5


def test_a_retry_policy_is_checked() -> None:
    for bad in ({"attempts": 0}, {"attempts": 1.5}, {"backoff_base_ms": -1}, {"attempts": True}):
        with pytest.raises(ConfigurationError, match="RetryPolicy"):
            RetryPolicy(**bad)
    with pytest.raises(ConfigurationError, match="retry must be a RetryPolicy"):
        create_redis_framework_adapter(url="redis://127.0.0.1:1/0", retry=3)  # type: ignore[arg-type]


@given(
    st.integers(min_value=1, max_value=10),
    st.integers(min_value=0, max_value=5_000),
    st.integers(min_value=0, max_value=5_000),
    st.integers(min_value=1, max_value=40),
)
def test_backoff_stays_under_its_exponential_ceiling(
    attempts: int, base: int, cap: int, failures: int
) -> None:
    policy = RetryPolicy(attempts=attempts, backoff_base_ms=base, backoff_cap_ms=cap)
    delay_ms = policy.delay_s(failures) * 1000
    assert 0 <= delay_ms <= min(cap, base * 2 ** (failures - 1)) + 1e-6


def test_what_is_retried_and_what_may_have_run() -> None:
    errors = redis.exceptions
    cases = [
        (errors.ConnectionError("Error 111 connecting to 127.0.0.1:1. Refused."), True, False),
        (errors.TimeoutError("Timeout connecting to server"), True, False),
        (errors.TimeoutError("Timeout reading from socket"), True, True),
        (errors.ConnectionError("Connection closed by server."), True, True),
        (errors.BusyLoadingError("Redis is loading the dataset in memory"), True, False),
        (errors.ClusterDownError("The cluster is down"), True, False),
        (errors.TryAgainError("TRYAGAIN Multiple keys request during rehashing"), True, False),
        (errors.ClusterError("TTL exhausted."), True, False),
        (errors.ConnectionError("No connection available."), False, False),
        (errors.RedisClusterException("Redis Cluster cannot be connected. ..."), True, True),
    ]
    for exc, retry, maybe_ran in cases:
        failure = classify(exc)
        assert failure is not None, exc
        assert (failure.retry, failure.maybe_ran) == (retry, maybe_ran), exc
    for never in (
        errors.AuthenticationError("invalid password"),
        errors.ResponseError("ERR wrong number of arguments"),
        errors.NoScriptError("NOSCRIPT"),
        errors.RedisClusterException("No way to dispatch this command to Redis Cluster."),
    ):
        assert classify(never) is None


@pytest.mark.parametrize("colour", ["sync", "async"])
async def test_a_cluster_that_is_not_there_is_a_typed_error(colour: str) -> None:
    adapter = create_redis_framework_adapter(
        url=f"redis://127.0.0.1:{free_port()}/0", ttl_ms=60_000, cluster=True, retry=QUICK
    )
    with pytest.raises(StorageConnectionError, match="cannot reach"):
        if colour == "sync":
            adapter.get_tuple(config_of("nowhere"))
        else:
            await adapter.aget_tuple(config_of("nowhere"))


# -- scripts sent down a pooled connection (redis/direct.py) ----------------------------


@pytest.mark.redis
async def test_an_async_call_cancelled_mid_reply_leaves_nothing_on_the_pooled_connection(
    server: RedisServer,
) -> None:
    # One connection in the pool: the call after the cancelled one gets the same
    # connection, and would read the cancelled call's late reply if it were left there.
    adapter = _adapter(server, socket_timeout=5.0, max_connections=1)
    _, first, _ = _paused(adapter)
    _, second, _ = _paused(adapter)
    wanted = {t: adapter.get_tuple(config_of(t)) for t in (first, second)}
    assert wanted[first] is not None and wanted[second] is not None
    assert await adapter.aget_tuple(config_of(first)) == wanted[first]
    with server.stopped():
        task = asyncio.create_task(adapter.aget_tuple(config_of(first)))
        await asyncio.sleep(0.3)  # sent; the reply comes after SIGCONT
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    for _ in range(3):
        assert await adapter.aget_tuple(config_of(second)) == wanted[second]
        assert await adapter.aget_tuple(config_of(first)) == wanted[first]
    await adapter.aclose()
    adapter.close()


@pytest.fixture(params=[True, False], ids=["timeout-context", "redis-py-send"])
def write_bound(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Each asyncio write test runs with the direct path's own bounded write and with
    redis-py's ``send_packed_command``: both must behave alike."""
    monkeypatch.setattr(direct, "_TIMEOUT_CONTEXT", direct._TIMEOUT_CONTEXT and request.param)
    return bool(request.param)


_LARGE = b"v" * (64 << 20)
"""More than a stopped server's socket buffers take: a write of it waits to drain."""


async def _one_connection(server: RedisServer, timeout: float) -> tuple[Any, str, Any, int]:
    """An asyncio client of one pooled connection, connected, and a key it set to
    ``before``: the client, the key, the connection and its id on the server."""
    client = redis.asyncio.Redis.from_url(server.url, socket_timeout=timeout, max_connections=1)
    key = f"kortyx-write-{uuid.uuid4().hex[:8]}"
    assert await direct.acall(client, ("SET", key, "before"), fast=True) in (True, b"OK")
    [conn] = client.connection_pool._available_connections
    return client, key, conn, int(await direct.acall(client, ("CLIENT", "ID"), fast=True))


async def _server_dropped(server: RedisServer, client_id: int) -> None:
    """Wait until the server has closed connection ``client_id``: by then it has read and
    run whatever of the connection's writes reached it."""
    deadline = time.monotonic() + 20
    while f"id={client_id} " in str(server.command("CLIENT", "LIST")):
        assert time.monotonic() < deadline, "the server kept the connection"
        await asyncio.sleep(0.02)


@pytest.mark.redis
async def test_an_async_write_the_server_does_not_take_times_out_and_closes_the_connection(
    server: RedisServer, write_bound: bool
) -> None:
    client, key, conn, client_id = await _one_connection(server, timeout=0.3)
    with server.stopped():
        started = time.monotonic()
        # writing; reading where the event loop buffers the write without waiting (3.12.1)
        with pytest.raises(redis.exceptions.TimeoutError, match=r"writing|reading"):
            await asyncio.wait_for(direct.acall(client, ("SET", key, _LARGE), fast=True), 20)
        waited = time.monotonic() - started
    assert waited < 10  # bounded by the socket timeout, not by the server coming back
    assert not conn.is_connected  # a write cut short is never continued by the next call
    await _server_dropped(server, client_id)
    assert await direct.acall(client, ("GET", key), fast=True) == b"before"  # it never ran
    await client.aclose()


@pytest.mark.redis
async def test_an_async_write_cancelled_midway_closes_the_connection(
    server: RedisServer, write_bound: bool
) -> None:
    client, key, conn, client_id = await _one_connection(server, timeout=30)
    with server.stopped():
        task = asyncio.create_task(direct.acall(client, ("SET", key, _LARGE), fast=True))
        await asyncio.sleep(0.3)  # the write waits for a server that reads nothing
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not conn.is_connected
    await _server_dropped(server, client_id)  # the rest of the cut write never reaches it
    for _ in range(3):  # each call gets its own reply, none of the cut write's
        assert await direct.acall(client, ("GET", key), fast=True) == b"before"
    await client.aclose()


class _CountingRedis(redis.Redis):
    """A caller's client whose ``execute_command`` counts the commands it sends."""

    sent: int = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        type(self).sent += 1
        return super().execute_command(*args, **options)


@pytest.mark.redis
def test_a_client_passed_in_sends_every_script_through_its_own_execute_command(
    server: RedisServer,
) -> None:
    client = _CountingRedis.from_url(server.url)
    adapter = create_redis_framework_adapter(
        client=client, ttl_ms=60_000, prefix=f"kortyx-own-{uuid.uuid4().hex[:8]}:"
    )
    _, thread, _ = _paused(adapter)
    before = _CountingRedis.sent
    assert adapter.get_tuple(config_of(thread)) is not None
    assert _CountingRedis.sent == before + 1  # hooks and retries of the caller's client apply
    client.close()


@pytest.mark.redis
def test_only_pooled_standalone_clients_send_down_a_connection_packed_by_hiredis_for_utf8(
    server: RedisServer,
) -> None:
    pooled = redis.Redis.from_url(server.url)
    single = redis.Redis.from_url(server.url, single_connection_client=True)
    assert direct.sends_directly(pooled)
    assert not direct.sends_directly(single)
    assert direct.packer(pooled)
    assert not direct.packer(redis.Redis.from_url(server.url, encoding="latin-1"))
    assert not direct.packer(redis.Redis.from_url(server.url, encoding_errors="replace"))
    single.close()
    pooled.close()
    # without hiredis's packer, the connection's own packs the same commands
    adapter = _adapter(server, encoding_errors="replace")
    graph, thread, token = _paused(adapter)
    assert adapter.connection._direct_fast is False
    claimed = adapter.pending.claim(token, claim_id="worker-1")
    result = graph.invoke(Command(resume=claimed.resume_map("yes")), claimed.config)
    assert result["log"] == ["asked", "done:yes"]
    assert adapter.pending.list(thread) == []
    adapter.close()


@pytest.mark.redis
@pytest.mark.parametrize("fast", [True, False], ids=["hiredis", "connection"])
async def test_a_pipeline_sent_down_a_connection_gives_a_reply_or_an_error_per_call(
    server: RedisServer, fast: bool
) -> None:
    key = f"kortyx-pipe-{uuid.uuid4().hex[:8]}"
    commands = [("SET", key, "x"), ("INCR", key), ("APPEND", key, "yz"), ("GET", key)]
    sync = redis.Redis.from_url(server.url, max_connections=1)
    replies = direct.call_many(sync, commands, fast=fast)
    assert replies[0] is True or replies[0] == b"OK"
    assert isinstance(replies[1], redis.exceptions.ResponseError)  # not an integer
    assert replies[2:] == [3, b"xyz"]  # the calls after an error reply still ran
    assert direct.call(sync, ("GET", key), fast=fast) == b"xyz"  # the connection is clean
    asynchronous = redis.asyncio.Redis.from_url(server.url, max_connections=1)
    replies = await direct.acall_many(asynchronous, commands, fast=fast)
    assert isinstance(replies[1], redis.exceptions.ResponseError)
    assert replies[2:] == [3, b"xyz"]
    assert await direct.acall(asynchronous, ("GET", key), fast=fast) == b"xyz"
    await asynchronous.aclose()
    sync.close()


_ARG = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=20),
    st.integers(-(2**62), 2**62),
    st.sampled_from([b"L" * (direct.LARGE + 1), b"M" * (3 * direct.LARGE)]),
)


@given(st.lists(st.lists(_ARG, min_size=1, max_size=8), min_size=1, max_size=3))
def test_large_arguments_are_sent_as_they_are_in_the_bytes_hiredis_packs(
    commands: list[list[Any]],
) -> None:
    packed = direct._packed_many(None, commands, True)
    assert b"".join(packed) == b"".join(hiredis.pack_command(tuple(c)) for c in commands)
    large = [arg for command in commands for arg in command if isinstance(arg, bytes)]
    large = [arg for arg in large if len(arg) > direct.LARGE]
    # each large argument is a chunk of its own, the very object passed (not a copy)
    assert [chunk for chunk in packed if len(chunk) > direct.LARGE] == large
    assert all(any(chunk is arg for chunk in packed) for arg in large)


@pytest.mark.redis
async def test_large_values_round_trip_down_a_connection(server: RedisServer) -> None:
    key = f"kortyx-large-{uuid.uuid4().hex[:8]}"
    value = bytes(range(256)) * (direct.LARGE // 64)
    commands = [("SET", key, value), ("APPEND", key, "é"), ("STRLEN", key), ("GET", key)]
    sync = redis.Redis.from_url(server.url, max_connections=1)
    replies = direct.call_many(sync, commands, fast=True)
    assert replies[2] == len(value) + 2
    assert replies[3] == value + "é".encode()
    asynchronous = redis.asyncio.Redis.from_url(server.url, max_connections=1)
    replies = await direct.acall_many(asynchronous, commands, fast=True)
    assert replies[3] == value + "é".encode()
    await asynchronous.aclose()
    sync.close()


@pytest.mark.redis
def test_a_command_goes_out_in_one_write_and_what_a_write_leaves_through_redis_py(
    server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[int] = []
    sendall = socket.socket.sendall

    def counted(sock: socket.socket, data: Any, *args: Any) -> None:
        sent.append(len(data))
        sendall(sock, data, *args)

    monkeypatch.setattr(socket.socket, "sendall", counted)
    key = f"kortyx-write-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(server.url, socket_timeout=5, max_connections=1)
    client.ping()  # connected: the handshake is redis-py's
    sent.clear()
    assert direct.call(client, ("SET", key, "v", "PX", 60_000), fast=True) in (True, b"OK")
    assert sent == []  # one write of its own: redis-py's sendall never ran
    # 10 MB in one buffer, to a server that reads nothing for a while: a socket with a
    # small send buffer takes part of it at once, so one write sends only that part (with a
    # server reading as fast as it is written to, one write could send it all)
    conn = client.connection_pool.get_connection(*direct._LEND)
    conn._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    client.connection_pool.release(conn)
    values = [bytes([i]) * 50_000 for i in range(200)]
    commands = [("SET", f"{key}:{i}", v, "PX", 60_000) for i, v in enumerate(values)]
    assert server.pid is not None
    os.kill(server.pid, signal.SIGSTOP)
    resume = threading.Timer(0.5, os.kill, (server.pid, signal.SIGCONT))
    resume.start()
    try:
        replies = direct.call_many(client, commands, fast=True)
    finally:
        resume.join()
    assert all(r in (True, b"OK") for r in replies)
    assert sent and sum(sent) < sum(len(v) for v in values)  # the rest, through sendall
    read = direct.call_many(client, [("GET", f"{key}:{i}") for i in range(200)], fast=True)
    assert read == values
    client.close()


@pytest.mark.redis
def test_a_write_cut_short_closes_the_connection_so_nothing_follows_half_a_command(
    server: RedisServer,
) -> None:
    client = redis.Redis.from_url(server.url, socket_timeout=5, max_connections=1)
    conn = client.connection_pool.get_connection(*direct._LEND)
    conn.connect()
    fd = conn._sock.fileno()
    client.connection_pool.release(conn)
    write = direct.os.write

    def interrupted(target: int, data: Any) -> int:
        if target != fd:
            return write(target, data)
        write(target, bytes(data)[:10])  # part of the command went out
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(direct.os, "write", interrupted)
        with pytest.raises(KeyboardInterrupt):
            direct.call(client, ("SET", "kortyx-cut", "x" * 100, "PX", 60_000), fast=True)
    assert conn._sock is None  # closed: the next command cannot complete the half one
    assert direct.call(client, ("ECHO", "whole"), fast=True) == b"whole"
    client.close()
