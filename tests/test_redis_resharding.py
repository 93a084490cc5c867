"""Resharding a live Redis Cluster: a thread's slot migrates to another primary while its
runs write.

While a slot migrates, its old primary answers ``ASK`` for keys it has handed over and the
client sends the command on to the new one, without changing its slot map; a command on
several keys of which some do not exist yet answers ``TRYAGAIN`` there until the slot has
moved (Redis's rule for multi-key commands during a migration). Each test starts its own
cluster of 3 primaries on loopback, since it moves slots.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from langgraph.types import Command
from redis.crc import key_slot

from kortyx_langgraph import (
    RedisFrameworkAdapter,
    RetryPolicy,
    StorageConnectionError,
    WriteOutcomeUnknownError,
    create_redis_framework_adapter,
)
from kortyx_langgraph.redis import merged
from kortyx_langgraph.redis.layout import thread_keys
from kortyx_langgraph.redis.replication import is_redirect
from tests.gated_fan_out import GatedFanOut, check_paused, check_resumed
from tests.graphs import approval_graph
from tests.pending_truth import assert_agrees, config_of
from tests.redis_harness import RedisCluster, RedisServer

pytestmark = pytest.mark.redis


@pytest.fixture
def cluster(redis_binaries: tuple[str, str]) -> Iterator[RedisCluster]:
    """3 primaries of the test's own."""
    with RedisCluster() as started:
        yield started


def _adapter(cluster: RedisCluster) -> RedisFrameworkAdapter:
    """An adapter with the default retry policy: what it waits through is what users get."""
    return create_redis_framework_adapter(
        url=cluster.url, ttl_ms=600_000, prefix=f"kortyx-reshard-{uuid.uuid4().hex[:6]}:"
    )


class _Setting(NamedTuple):
    adapter: RedisFrameworkAdapter
    fan_out: GatedFanOut
    thread: str
    migration: Migration
    before: list[str]
    """What the first run of the thread added to its ``results``."""


async def _a_thread_to_migrate(cluster: RedisCluster, colour: str, items: int) -> _Setting:
    """A thread whose first run had ``items`` tasks, and the migration of its slot."""
    adapter = _adapter(cluster)
    fan_out = GatedFanOut(adapter, colour=colour)
    thread = f"fan-{uuid.uuid4().hex[:6]}"
    before = await fan_out.start(thread, items)
    return _Setting(adapter, fan_out, thread, Migration(cluster, adapter, thread), before)


def _text(node: RedisServer, *args: str) -> str:
    reply = node.command(*args)
    return reply.decode() if isinstance(reply, bytes) else str(reply)


class Migration:
    """One slot moving from ``source`` to ``target``, step by step, as ``redis-cli --cluster
    reshard`` moves it."""

    def __init__(self, cluster: RedisCluster, adapter: RedisFrameworkAdapter, thread: str) -> None:
        self.cluster = cluster
        self.keys = thread_keys(adapter.prefix, thread)
        self.slot = key_slot(self.keys.idx.encode())
        self.source = next(n for n in cluster.primary_nodes() if self._serves(n))
        self.target = next(n for n in cluster.primary_nodes() if n is not self.source)

    def _serves(self, node: RedisServer) -> bool:
        myid = _text(node, "CLUSTER", "MYID")
        for line in _text(node, "CLUSTER", "NODES").splitlines():
            fields = line.split()
            if fields[0] != myid:
                continue
            for part in fields[8:]:
                low, _, high = part.partition("-")
                if low.isdigit() and int(low) <= self.slot <= int(high or low):
                    return True
        return False

    def begin(self) -> None:
        """Mark the slot importing on the target and migrating on the source."""
        slot = str(self.slot)
        source_id = _text(self.source, "CLUSTER", "MYID")
        target_id = _text(self.target, "CLUSTER", "MYID")
        assert _text(self.target, "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id) == "OK"
        assert _text(self.source, "CLUSTER", "SETSLOT", slot, "MIGRATING", target_id) == "OK"

    def move_keys(self) -> None:
        """``MIGRATE`` every key of the slot to the target."""
        while True:
            keys = self.source.command("CLUSTER", "GETKEYSINSLOT", str(self.slot), "100")
            assert isinstance(keys, list)
            if not keys:
                return
            self.move([k.decode() if isinstance(k, bytes) else str(k) for k in keys])

    def move(self, names: list[str]) -> None:
        """``MIGRATE`` the keys ``names`` to the target, in one call (a batch of
        ``redis-cli``'s, which moves a slot's keys in batches of its own size)."""
        port = str(self.target.port)
        reply = _text(self.source, "MIGRATE", "127.0.0.1", port, "", "0", "5000", "KEYS", *names)
        assert reply == "OK", reply

    def end(self) -> None:
        """Give the slot to the target on every primary, the target and source first."""
        target_id = _text(self.target, "CLUSTER", "MYID")
        others = [n for n in self.cluster.primary_nodes() if n not in (self.target, self.source)]
        for node in (self.target, self.source, *others):
            assert _text(node, "CLUSTER", "SETSLOT", str(self.slot), "NODE", target_id) == "OK"


class _RedirectedMerges:
    """Counts merged calls (``redis/merged.py``) that a node answered as a whole with a
    redirection."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = merged.replies

        def replies(runs: list[list[int]], answers: list[Any]) -> list[Any]:
            self.count += sum(
                1
                for run, answer in zip(runs, answers, strict=True)
                if len(run) > 1 and isinstance(answer, BaseException) and is_redirect(answer)
            )
            return real(runs, answers)

        monkeypatch.setattr(merged, "replies", replies)


@pytest.mark.parametrize("colour", ["sync", "async"])
async def test_writes_sent_while_their_slot_migrates_follow_asks_and_are_each_stored_once(
    cluster: RedisCluster, colour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every key of the thread exists before its slot migrates (a first run of two tasks
    # made them all), so the new primary runs each script it is asked to. The client keeps
    # its slot map through ASK: the fan-out's first write goes to the old primary and is
    # redirected, and so are the writes group commit sends after it together, as merged
    # calls, each of which then goes again on its own.
    adapter, fan_out, thread, migration, before = await _a_thread_to_migrate(cluster, colour, 2)
    assert len(_keys_in_slot(migration)) == len(migration.keys)
    redirected = _RedirectedMerges(monkeypatch)

    def migrate() -> None:
        migration.begin()
        migration.move_keys()

    await fan_out.run(thread, migrate)
    assert migration.source.errors_sent("ASK") >= 1
    assert redirected.count >= 1, "no merged call was redirected"
    assert migration.target.errors_sent("TRYAGAIN") == 0
    resume = check_paused(fan_out, adapter, thread)
    migration.end()
    await check_resumed(fan_out, adapter, thread, resume, before=before)
    await adapter.aclose()
    adapter.close()


@pytest.mark.parametrize("colour", ["sync", "async"])
async def test_writes_wait_for_a_migration_that_their_keys_make_them_wait_for(
    cluster: RedisCluster, colour: str
) -> None:
    # The thread has no "wr" key yet when its slot migrates, so the new primary answers
    # TRYAGAIN to every write script (Redis cannot tell whether the missing key is still
    # on the old one) until the slot has moved. Moved once the first TRYAGAIN was sent, as
    # a resharding tool moves it meanwhile, the writes must land within the default retry
    # policy (which waits 0.35-0.45 s in all here; docs/redis.md).
    adapter, fan_out, thread, migration, _ = await _a_thread_to_migrate(cluster, colour, 0)
    assert migration.keys.wr not in _keys_in_slot(migration)
    ending: list[threading.Thread] = []

    def end_after_the_first_tryagain() -> None:
        deadline = time.monotonic() + 60
        while migration.target.errors_sent("TRYAGAIN") == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        migration.end()

    def migrate() -> None:
        migration.begin()
        migration.move_keys()
        ending.append(threading.Thread(target=end_after_the_first_tryagain))
        ending[0].start()

    await fan_out.run(thread, migrate)
    ending[0].join()
    assert migration.target.errors_sent("TRYAGAIN") >= 1
    resume = check_paused(fan_out, adapter, thread)
    await check_resumed(fan_out, adapter, thread, resume, before=[])
    await adapter.aclose()
    adapter.close()


@pytest.mark.parametrize("colour", ["sync", "async"])
async def test_a_migration_that_outlasts_the_retry_policy_is_a_typed_error_and_writes_nothing(
    cluster: RedisCluster, colour: str
) -> None:
    adapter, _, thread, migration, _ = await _a_thread_to_migrate(cluster, colour, 0)
    saved = adapter.get_tuple(config_of(thread))
    assert saved is not None
    migration.begin()
    migration.move_keys()
    write = [("results", ["late"])]
    with pytest.raises(StorageConnectionError) as caught:
        if colour == "sync":
            adapter.put_writes(saved.config, write, "task-late", "")
        else:
            await adapter.aput_writes(saved.config, write, "task-late", "")
    assert not isinstance(caught.value, WriteOutcomeUnknownError)
    assert "migrated" in str(caught.value) and "nothing was written" in str(caught.value)
    migration.end()
    stored = adapter.get_tuple(saved.config)
    assert stored is not None and stored.pending_writes == []
    adapter.put_writes(saved.config, write, "task-late", "")  # the same call, once it moved
    stored = adapter.get_tuple(saved.config)
    assert stored is not None and stored.pending_writes == [("task-late", "results", ["late"])]
    await adapter.aclose()
    adapter.close()


def _keys_in_slot(migration: Migration) -> set[str]:
    keys = migration.source.command("CLUSTER", "GETKEYSINSLOT", str(migration.slot), "100")
    assert isinstance(keys, list)
    return {k.decode() if isinstance(k, bytes) else str(k) for k in keys}


def _paused(adapter: RedisFrameworkAdapter, name: str) -> tuple[Any, str, Any]:
    """An approval graph run to its question on a new thread: (graph, thread, pending)."""
    graph = approval_graph(adapter)
    thread = f"{name}-{uuid.uuid4().hex[:6]}"
    graph.invoke({"request": "r", "log": []}, config_of(thread))
    [pending] = adapter.pending.list(thread)
    return graph, thread, pending


async def _claim(adapter: RedisFrameworkAdapter, token: str, colour: str) -> Any:
    """Claim ``token`` as ``w``, through the sync or the async method."""
    if colour == "sync":
        return adapter.pending.claim(token, claim_id="w")
    return await adapter.pending.aclaim(token, claim_id="w")


def _answered(graph: Any, thread: str, claimed: Any) -> None:
    """Resume the claimed question with ``yes``: the graph runs to its end."""
    done = graph.invoke(Command(resume=claimed.resume_map("yes")), config_of(thread))
    assert done["log"][-1] == "done:yes"


@pytest.mark.parametrize("colour", ["sync", "async"])
@pytest.mark.parametrize("moved_first", ["pending hash", "thread's keys"])
async def test_a_token_read_while_its_slot_is_half_moved_waits_and_loses_nothing(
    cluster: RedisCluster, colour: str, moved_first: str
) -> None:
    """A token's scripts name its pending hash alone (a token knows no thread), and read
    its thread's keys too: while a migration has moved one and not the other, a lookup
    must wait for it, never take the thread for gone and drop the record."""
    adapter = create_redis_framework_adapter(
        url=cluster.url,
        ttl_ms=600_000,
        prefix=f"kortyx-half-{uuid.uuid4().hex[:6]}:",
        retry=RetryPolicy(attempts=3, backoff_base_ms=20, backoff_cap_ms=50),
    )
    graph, thread, pending = _paused(adapter, "half")
    migration = Migration(cluster, adapter, thread)
    keys = migration.keys
    migration.begin()
    if moved_first == "pending hash":
        migration.move([keys.pending])
    else:
        migration.move([k for k in _keys_in_slot(migration) if k != keys.pending])
    with pytest.raises(StorageConnectionError, match="migrated"):
        if colour == "sync":
            adapter.pending.claim(pending.token, claim_id="w")
        else:
            await adapter.pending.aget(pending.token)
    migration.move_keys()
    migration.end()
    assert_agrees(graph, adapter, thread)
    claimed = await _claim(adapter, pending.token, colour)
    assert claimed.interrupt_id == pending.interrupt_id
    _answered(graph, thread, claimed)
    await adapter.aclose()
    adapter.close()


@pytest.mark.parametrize("colour", ["sync", "async"])
async def test_an_acknowledged_write_while_its_slot_migrates_waits_and_writes_once(
    redis_binaries: tuple[str, str], colour: str
) -> None:
    """With ``replica_acks`` a write and its ``WAIT`` go down one connection of the slot's
    primary, which answers ``ASK`` while the slot migrates: the retry policy sends it again
    (a typed error, nothing written, once it gives up), and once the slot has moved it is
    written once and acknowledged."""
    with RedisCluster(replicas=1) as replicated:
        adapter = create_redis_framework_adapter(
            url=replicated.url,
            ttl_ms=600_000,
            prefix=f"kortyx-acked-{uuid.uuid4().hex[:6]}:",
            replica_acks=1,
            retry=RetryPolicy(attempts=3, backoff_base_ms=20, backoff_cap_ms=50),
        )
        graph, thread, pending = _paused(adapter, "acked")
        migration = Migration(replicated, adapter, thread)
        migration.begin()
        migration.move_keys()
        with pytest.raises(StorageConnectionError, match="nothing was written") as caught:
            await _claim(adapter, pending.token, colour)
        assert not isinstance(caught.value, WriteOutcomeUnknownError)
        migration.end()
        assert not adapter.pending.get(pending.token).claimed  # nothing was written
        _answered(graph, thread, await _claim(adapter, pending.token, colour))
        await adapter.aclose()
        adapter.close()


@pytest.mark.parametrize("colour", ["sync", "async"])
async def test_a_node_that_left_the_cluster_and_still_runs_is_routed_around(
    redis_binaries: tuple[str, str], colour: str
) -> None:
    """A node removed from the Cluster (``redis-cli --cluster del-node`` resets it, and it
    runs on) answers ``CLUSTERDOWN`` for the slots it served: a client whose slot map still
    names it must read the map again, not send there until the policy gives up."""
    with RedisCluster(extra_args=("--cluster-require-full-coverage", "no")) as started:
        adapter = create_redis_framework_adapter(
            url=started.url, ttl_ms=600_000, prefix=f"kortyx-left-{uuid.uuid4().hex[:6]}:"
        )
        graph, thread, pending = _paused(adapter, "left")
        if colour == "async":
            await adapter.pending.aget(pending.token)  # the async client's map, made now
        migration = Migration(started, adapter, thread)
        migration.begin()
        migration.move_keys()
        migration.end()  # the adapter was not told: its map still names the old node
        assert _text(migration.source, "CLUSTER", "RESET", "SOFT") == "OK"
        claimed = await _claim(adapter, pending.token, colour)
        assert claimed.interrupt_id == pending.interrupt_id
        _answered(graph, thread, claimed)
        await adapter.aclose()
        adapter.close()
