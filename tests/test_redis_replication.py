"""``replica_acks``: a write returns once the replicas hold it, or says they do not.

A primary and a replica run on loopback for each test; the replica is stopped with
SIGSTOP to make it fall behind.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from kortyx_langgraph import (
    ConfigurationError,
    RedisFrameworkAdapter,
    ReplicationError,
    create_redis_framework_adapter,
)
from tests.graphs import approval_graph, parallel_graph
from tests.pending_truth import config_of
from tests.redis_harness import RedisServer, replicas_acknowledge
from tests.redis_snapshot import stored

pytestmark = pytest.mark.redis


@pytest.fixture
def pair(redis_binaries: tuple[str, str]) -> Iterator[tuple[RedisServer, RedisServer]]:
    """A primary and its replica, in sync."""
    with RedisServer() as primary:
        replica = RedisServer(extra_args=["--replicaof", "127.0.0.1", str(primary.port)])
        with replica:
            deadline = time.monotonic() + 10
            while not replicas_acknowledge(primary, 1):
                assert time.monotonic() < deadline, "the replica never synced"
                time.sleep(0.05)
            yield primary, replica


def _adapter(server: RedisServer, **kwargs: Any) -> RedisFrameworkAdapter:
    return create_redis_framework_adapter(
        url=server.url, ttl_ms=60_000, prefix=f"kortyx-acks-{uuid.uuid4().hex[:8]}:", **kwargs
    )


def _keys(server: RedisServer, prefix: str) -> dict[bytes, Any]:
    client = redis.Redis.from_url(server.url)
    try:
        return stored(client, prefix)
    finally:
        client.close()


def test_every_write_is_on_the_replica_when_the_call_returns(
    pair: tuple[RedisServer, RedisServer],
) -> None:
    primary, replica = pair
    adapter = _adapter(primary, replica_acks=1, replica_ack_timeout_ms=5000)
    approval_graph(adapter).invoke({"request": "r", "log": []}, config_of("acked"))
    [pending] = adapter.pending.list("acked")
    # the replica is stopped for 0.3 s: the claim returns only once it caught up
    assert replica.pid is not None
    os.kill(replica.pid, signal.SIGSTOP)
    wake = threading.Timer(0.3, os.kill, (replica.pid, signal.SIGCONT))
    wake.start()
    try:
        adapter.pending.claim(pending.token, claim_id="w")
        # the primary's own view, read at once: the replica acknowledged all it was sent
        replication = primary.info("replication")
    finally:
        wake.join()
    fields = dict(part.split("=", 1) for part in replication["slave0"].split(","))
    # WAIT itself then puts REPLCONF GETACK * into the stream, after the write
    getack = len(b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n")
    assert int(fields["offset"]) >= int(replication["master_repl_offset"]) - getack
    assert _keys(replica, adapter.prefix) == _keys(primary, adapter.prefix)
    adapter.close()


def test_a_replica_that_falls_behind_is_a_replication_error_and_the_write_stands(
    pair: tuple[RedisServer, RedisServer],
) -> None:
    primary, replica = pair
    adapter = _adapter(primary, replica_acks=1, replica_ack_timeout_ms=200)
    approval_graph(adapter).invoke({"request": "r", "log": []}, config_of("behind"))
    [pending] = adapter.pending.list("behind")
    with replica.stopped(), pytest.raises(ReplicationError) as caught:
        adapter.pending.claim(pending.token, claim_id="w")
    assert (caught.value.acknowledged, caught.value.wanted) == (0, 1)
    assert "pending_claim was applied on the primary" in str(caught.value)
    # applied on the primary; repeating the same claim is safe and now acknowledged
    assert adapter.pending.get(pending.token).claimed
    assert adapter.pending.claim(pending.token, claim_id="w").claim_id == "w"
    adapter.close()


def test_a_claim_the_replicas_did_not_acknowledge_carries_its_claim_id(
    pair: tuple[RedisServer, RedisServer],
) -> None:
    """A claim made without an id of the caller's is applied under one made for it: the
    error says which, so the caller can go on with the claim, or release it."""
    primary, replica = pair
    adapter = _adapter(primary, replica_acks=1, replica_ack_timeout_ms=200)
    graph = parallel_graph(adapter)
    graph.invoke({"log": []}, config_of("unacked"))
    first, second = adapter.pending.list("unacked")
    with replica.stopped(), pytest.raises(ReplicationError) as by_token:
        adapter.pending.claim(first.token)
    with replica.stopped(), pytest.raises(ReplicationError) as next_one:
        adapter.pending.claim_next("unacked")
    assert by_token.value.claim_id and next_one.value.claim_id
    assert "claim_id=error.claim_id" in str(by_token.value)
    again = adapter.pending.claim(first.token, claim_id=by_token.value.claim_id)
    assert again.claim_id == by_token.value.claim_id  # the applied claim, renewed
    assert adapter.pending.claim_next("unacked", claim_id=next_one.value.claim_id).token == (
        second.token
    )  # the interrupt it took, not another
    assert not adapter.pending.release(second.token, next_one.value.claim_id).claimed
    adapter.close()


async def test_async_writes_wait_for_the_replica_too(
    pair: tuple[RedisServer, RedisServer],
) -> None:
    primary, replica = pair
    adapter = _adapter(primary, replica_acks=1, replica_ack_timeout_ms=200)
    await approval_graph(adapter).ainvoke({"request": "r", "log": []}, config_of("async"))
    assert _keys(replica, adapter.prefix) == _keys(primary, adapter.prefix)
    [pending] = await adapter.pending.alist("async")
    with replica.stopped(), pytest.raises(ReplicationError):
        await adapter.pending.aclaim(pending.token, claim_id="w")
    await adapter.aclose()


def test_reads_do_not_wait(pair: tuple[RedisServer, RedisServer]) -> None:
    primary, replica = pair
    adapter = _adapter(primary, replica_acks=1, replica_ack_timeout_ms=200)
    approval_graph(adapter).invoke({"request": "r", "log": []}, config_of("reads"))
    with replica.stopped():
        assert adapter.get_tuple(config_of("reads")) is not None
        assert len(adapter.pending.list("reads")) == 1
    adapter.close()


def test_replica_acks_values_are_checked() -> None:
    for bad in ({"replica_acks": -1}, {"replica_acks": 1.5}, {"replica_ack_timeout_ms": 0}):
        name = next(iter(bad))
        with pytest.raises(ConfigurationError, match=name) as caught:
            create_redis_framework_adapter(url="redis://127.0.0.1:1/0", **bad)  # type: ignore[arg-type]
        assert caught.value.variable == name


def test_the_replica_acks_benchmark_measures_all_three_savers(
    redis_binaries: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks.replica_acks import main

    assert main(["--rounds", "1", "--threads", "1", "--steps", "2"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == [
        "| InMemorySaver",
        "| redis",
        "| redis, replica_acks=1",
    ]


@pytest.mark.parametrize("read_only", ["yes", "no"])
def test_doctor_fails_a_replica_even_a_writable_one(
    pair: tuple[RedisServer, RedisServer], read_only: str
) -> None:
    """What a writable replica (replica-read-only no) takes is dropped at its next sync
    and never reaches the primary, so the adapter must not be pointed at it either."""
    from kortyx_langgraph.redis.doctor import diagnose

    primary, replica = pair
    replica.command("CONFIG", "SET", "replica-read-only", read_only)
    findings = diagnose(replica.url)
    [mode] = [f for f in findings if f.check == "mode"]
    assert mode.level == "error", mode
    assert f"a replica of 127.0.0.1:{primary.port}" in mode.message
    assert {f.check: f.level for f in diagnose(primary.url)}["mode"] == "ok"
