"""Failover on a real Redis Cluster with replicas: paused runs survive a primary's loss.

Each test starts its own cluster of 3 primaries with one replica each on loopback (a short
node timeout, so an election takes seconds; ``cluster-require-full-coverage no``, so the
slots of a lost primary do not take the others down while it is replaced).
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.cluster
from langgraph.types import Command

from kortyx_langgraph import (
    RedisFrameworkAdapter,
    ReplicationError,
    RetryPolicy,
    create_redis_framework_adapter,
)
from kortyx_langgraph.redis.layout import thread_keys
from tests.gated_fan_out import GatedFanOut, check_paused, check_resumed
from tests.graphs import answer_all, approval_graph
from tests.pending_truth import config_of
from tests.redis_harness import RedisCluster, RedisServer

pytestmark = pytest.mark.redis

THREADS = 30


@pytest.fixture
def replicated(redis_binaries: tuple[str, str]) -> Iterator[RedisCluster]:
    """3 primaries, one replica each, elections after 2 s of silence."""
    with RedisCluster(
        replicas=1,
        node_timeout_ms=2000,
        extra_args=("--cluster-require-full-coverage", "no"),
    ) as cluster:
        yield cluster


def _adapter(cluster: RedisCluster) -> RedisFrameworkAdapter:
    return create_redis_framework_adapter(
        url=cluster.url,
        ttl_ms=600_000,
        prefix=f"kortyx-failover-{uuid.uuid4().hex[:6]}:",
        retry=RetryPolicy(attempts=4, backoff_base_ms=100, backoff_cap_ms=1000),
    )


def _pause(adapter: RedisFrameworkAdapter, cluster: RedisCluster) -> dict[int, list[str]]:
    """Pause ``THREADS`` runs; their tokens, by the port of the primary holding them."""
    graph = approval_graph(adapter)
    admin = redis.cluster.RedisCluster.from_url(cluster.url)
    by_port: dict[int, list[str]] = defaultdict(list)
    try:
        for n in range(THREADS):
            thread = f"run-{n}-{uuid.uuid4().hex[:6]}"
            graph.invoke({"request": str(n), "log": []}, config_of(thread))
            [pending] = adapter.pending.list(thread)
            node = admin.get_node_from_key(thread_keys(adapter.prefix, thread).idx)
            by_port[int(node.port)].append(pending.token)
    finally:
        admin.close()
    return by_port


def _victim(cluster: RedisCluster, by_port: dict[int, list[str]]) -> RedisServer:
    port = max(by_port, key=lambda p: len(by_port[p]))
    return next(node for node in cluster.nodes if node.port == port)


def test_a_killed_primary_is_replaced_and_its_paused_runs_resume_by_token(
    replicated: RedisCluster,
) -> None:
    adapter = _adapter(replicated)
    by_port = _pause(adapter, replicated)
    victim = _victim(replicated, by_port)
    replica = replicated.replica_of(victim)
    replicated.wait_replicated()
    lost = by_port.pop(victim.port)
    others = [token for tokens in by_port.values() for token in tokens]
    assert lost and others

    replicated.kill(victim)
    # while the replica is not yet elected, the other slots work as before
    assert answer_all(adapter, others) == len(others)
    replicated.wait_promoted(replica)
    # afterwards the client finds the new primary, loads its scripts again, and every
    # run paused (and replicated) before the failover resumes by token
    assert answer_all(adapter, lost) == len(lost)
    assert replica.errors_sent("NOSCRIPT") >= 1
    adapter.close()


def test_a_manual_failover_is_followed_by_redirections(replicated: RedisCluster) -> None:
    adapter = _adapter(replicated)
    by_port = _pause(adapter, replicated)
    victim = _victim(replicated, by_port)
    replica = replicated.replica_of(victim)
    replicated.manual_failover(replica)
    tokens = [token for tokens in by_port.values() for token in tokens]
    assert answer_all(adapter, tokens) == THREADS
    # the demoted primary answered MOVED and the client followed to the new one
    assert victim.errors_sent("MOVED") >= 1
    assert replica.errors_sent("NOSCRIPT") >= 1
    adapter.close()


async def test_the_async_client_follows_a_failover_too(replicated: RedisCluster) -> None:
    adapter = _adapter(replicated)
    graph = approval_graph(adapter)
    threads = [f"async-{n}-{uuid.uuid4().hex[:6]}" for n in range(9)]
    for thread in threads:
        await graph.ainvoke({"request": thread, "log": []}, config_of(thread))
    replicated.wait_replicated()
    victim = replicated.primary_nodes()[0]
    replica = replicated.replica_of(victim)
    replicated.kill(victim)
    replicated.wait_promoted(replica)
    for thread in threads:
        [pending] = await adapter.pending.alist(thread)
        claimed = await adapter.pending.aclaim(pending.token)
        result: Any = await graph.ainvoke(Command(resume=claimed.resume_map("ok")), claimed.config)
        assert result["log"] == ["asked", "done:ok"]
    await adapter.aclose()


async def test_the_async_client_follows_a_manual_failover_by_redirections(
    replicated: RedisCluster,
) -> None:
    adapter = _adapter(replicated)
    by_port = _pause(adapter, replicated)
    tokens = [token for tokens in by_port.values() for token in tokens]
    for token in tokens:  # each primary's connections are open before the failover
        assert await adapter.pending.aget(token) is not None
    # the asyncio Cluster client sends its scripts down a connection of the slot's primary
    [of_loop] = adapter.connection._node_clients.values()
    assert set(of_loop) == {f"127.0.0.1:{port}" for port in by_port}
    victim = _victim(replicated, by_port)
    replica = replicated.replica_of(victim)
    replicated.manual_failover(replica)
    graph = approval_graph(adapter)
    for token in tokens:
        claimed = await adapter.pending.aclaim(token)
        result: Any = await graph.ainvoke(Command(resume=claimed.resume_map("ok")), claimed.config)
        assert result["log"] == ["asked", "done:ok"]
    # the demoted primary answered MOVED, and the Cluster client followed to the new one
    assert victim.errors_sent("MOVED") >= 1
    await adapter.aclose()
    adapter.close()


def _holder(cluster: RedisCluster, adapter: RedisFrameworkAdapter, thread: str) -> RedisServer:
    admin = redis.cluster.RedisCluster.from_url(cluster.url)
    try:
        port = int(admin.get_node_from_key(thread_keys(adapter.prefix, thread).idx).port)
    finally:
        admin.close()
    return next(node for node in cluster.nodes if node.port == port)


@pytest.mark.parametrize("colour", ["sync", "async"])
async def test_replica_acks_on_a_cluster_wait_for_the_replica_of_the_thread_slot(
    replicated: RedisCluster, colour: str
) -> None:
    adapter = create_redis_framework_adapter(
        url=replicated.url,
        ttl_ms=600_000,
        prefix=f"kortyx-acks-{uuid.uuid4().hex[:6]}:",
        replica_acks=1,
        replica_ack_timeout_ms=300,
    )
    graph = approval_graph(adapter)
    thread = f"acked-{uuid.uuid4().hex[:6]}"
    if colour == "sync":
        graph.invoke({"request": "r", "log": []}, config_of(thread))
    else:
        await graph.ainvoke({"request": "r", "log": []}, config_of(thread))
    [pending] = adapter.pending.list(thread)
    replica = replicated.replica_of(_holder(replicated, adapter, thread))
    with replica.stopped(), pytest.raises(ReplicationError) as caught:
        if colour == "sync":
            adapter.pending.claim(pending.token, claim_id="w")
        else:
            await adapter.pending.aclaim(pending.token, claim_id="w")
    assert caught.value.acknowledged == 0
    claimed = adapter.pending.claim(pending.token, claim_id="w")
    result = graph.invoke(Command(resume=claimed.resume_map("ok")), claimed.config)
    assert result["log"] == ["asked", "done:ok"]
    await adapter.aclose()
    adapter.close()


@pytest.mark.parametrize("colour", ["sync", "async"])
async def test_a_retry_after_a_lost_node_reads_the_slot_map_again(
    replicated: RedisCluster, colour: str
) -> None:
    # redis-py refreshes its slot map after a connection error at most once per
    # topology_refresh_min_interval (1 s), longer than the policy's first backoffs; the
    # adapter names the node of each call from that map, so it must read the map itself
    adapter = create_redis_framework_adapter(
        url=replicated.url,
        prefix=f"kortyx-map-{uuid.uuid4().hex[:6]}:",
        retry=RetryPolicy(attempts=4, backoff_base_ms=20, backoff_cap_ms=100),
    )
    graph = approval_graph(adapter)
    thread = f"map-{uuid.uuid4().hex[:6]}"
    graph.invoke({"request": "x", "log": []}, config_of(thread))
    await adapter.pending.alist(thread)  # the asyncio client reads its map now, too
    victim = _holder(replicated, adapter, thread)
    replica = replicated.replica_of(victim)
    replicated.wait_replicated()
    replicated.manual_failover(replica)
    replicated.kill(victim)  # the adapter's map still names it for the thread's slot
    # redis-py's own refresh: not within this test (redis-py before 8.2 has no such pacing,
    # and refreshes at once after a connection error)
    for client in (adapter.connection.sync_client(), await adapter.connection.async_client()):
        if hasattr(client.nodes_manager, "_topology_refresh_min_interval"):
            client.nodes_manager._topology_refresh_min_interval = 3600.0
            client.nodes_manager._refresh_due_at = None
    if colour == "sync":
        [pending] = adapter.pending.list(thread)
        claimed = adapter.pending.claim(pending.token)
    else:
        [pending] = await adapter.pending.alist(thread)
        claimed = await adapter.pending.aclaim(pending.token)
    result: Any = graph.invoke(Command(resume=claimed.resume_map("ok")), claimed.config)
    assert result["log"] == ["asked", "done:ok"]
    await adapter.aclose()


@pytest.mark.parametrize("colour", ["sync", "async"])
async def test_a_fan_outs_writes_sent_after_a_manual_failover_are_each_stored_once(
    replicated: RedisCluster, colour: str
) -> None:
    # Every task of a fan-out waits while the thread's primary is failed over, then they
    # all write: the first write goes to the node the client's slot map still names, which
    # answers MOVED, and the client follows to the new primary with the rest.
    adapter = _adapter(replicated)
    fan_out = GatedFanOut(adapter, colour=colour)
    thread = f"fan-{uuid.uuid4().hex[:6]}"
    await fan_out.start(thread)  # the thread, on its primary
    victim = _holder(replicated, adapter, thread)
    await fan_out.run(thread, lambda: replicated.manual_failover(replicated.replica_of(victim)))
    assert victim.errors_sent("MOVED") >= 1
    resume = check_paused(fan_out, adapter, thread)
    await check_resumed(fan_out, adapter, thread, resume, before=[])
    await adapter.aclose()
    adapter.close()


def test_doctor_names_a_node_the_cluster_marked_failed(replicated: RedisCluster) -> None:
    """``CLUSTER SLOTS`` leaves a failed node out; ``doctor`` still says it was not checked,
    and ``--strict`` fails on it."""
    from kortyx_langgraph.redis.doctor import diagnose

    replica = replicated.replica_nodes()[0]
    replicated.kill(replica)
    seed = redis.Redis(port=replicated.primary_nodes()[0].port)
    deadline = time.monotonic() + 30
    while not _marked_failed(seed, replica.port):
        assert time.monotonic() < deadline, "the Cluster never marked the node failed"
        time.sleep(0.2)
    seed.close()
    [failed] = [f for f in diagnose(replicated.url) if f.check == "cluster"]
    assert failed.level == "warning"
    # the role is the one CLUSTER NODES gives (Redis 6.2 may still call a replica killed
    # this soon after the Cluster formed a primary)
    assert f"127.0.0.1:{replica.port} (" in failed.message
    assert "is marked failed by the Cluster" in failed.message


def _marked_failed(seed: redis.Redis, port: int) -> bool:
    """Whether ``CLUSTER NODES`` on ``seed`` flags the node on ``port`` as failed."""
    for line in seed.execute_command("CLUSTER", "NODES").decode().splitlines():
        fields = line.split()
        if fields[1].split("@")[0].endswith(f":{port}") and "fail" in fields[2].split(","):
            return True
    return False
