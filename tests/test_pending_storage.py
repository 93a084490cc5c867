"""How pending records are stored: order within one millisecond, corrupt records, and two
threads that share a hash tag on Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import ormsgpack
import pytest
import redis
from langgraph.types import Command, Interrupt

from kortyx_langgraph import (
    DeserializationError,
    FrameworkAdapter,
    NothingPendingError,
    UnknownTokenError,
    create_redis_framework_adapter,
)
from kortyx_langgraph.redis import layout, operations
from tests.conftest import FakeClock
from tests.graphs import approval_graph
from tests.pending_truth import assert_agrees, config_of
from tests.redis_harness import RedisServer
from tests.test_pending_cases import _fan_graph

Counted = tuple[FrameworkAdapter, Callable[[str], int]]


@pytest.fixture
def counted(redis_standalone: RedisServer) -> Iterator[Counted]:
    """A Redis adapter, and how many times the server has run a command (``"hgetall"``),
    scripts' own calls included."""
    adapter = create_redis_framework_adapter(
        url=redis_standalone.url, prefix=f"kortyx-test-{uuid.uuid4().hex[:12]}:"
    )
    probe = redis.Redis.from_url(redis_standalone.url)

    def calls(command: str) -> int:
        stats = probe.info("commandstats").get(f"cmdstat_{command}", {})
        return int(stats.get("calls", 0))

    yield adapter, calls
    probe.close()
    adapter.close()


def _checkpoint(adapter: FrameworkAdapter, thread: str) -> dict[str, Any]:
    from langgraph.checkpoint.base import empty_checkpoint

    checkpoint = empty_checkpoint()
    return adapter.put(
        {"configurable": {"thread_id": thread, "checkpoint_ns": ""}},
        checkpoint,
        {"source": "loop", "step": 0, "parents": {}},
        {},
    )


def test_claim_next_takes_interrupts_in_the_order_they_were_recorded(
    make_adapter: Any,
) -> None:
    """Five interrupts recorded within one millisecond (the in-memory clock is frozen; on
    Redis, five calls in a row mostly share one): oldest first means recorded first."""
    adapter = make_adapter(clock=FakeClock())
    thread = f"t-{uuid.uuid4().hex}"
    config = _checkpoint(adapter, thread)
    for n in range(5):
        adapter.put_writes(
            config, [("__interrupt__", (Interrupt(value=n, id=f"i{n}"),))], f"task-{n}"
        )
    assert [p.value for p in adapter.pending.list(thread)] == [0, 1, 2, 3, 4]
    taken = [adapter.pending.claim_next(thread).value for _ in range(5)]
    assert taken == [0, 1, 2, 3, 4]
    with pytest.raises(NothingPendingError):
        adapter.pending.claim_next(thread)


def _framed(header: list[Any]) -> bytes:
    packed = ormsgpack.packb(header)
    return len(packed).to_bytes(4, "big") + packed


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x00\x00\x00\x09not msgpack",
        b"\xff" * 40,
        _framed(["id", "thread", "checkpoint"]),  # another shape: no tasks, times or order
    ],
)
@pytest.mark.redis
def test_a_corrupt_pending_record_is_a_typed_error_and_nothing_else_is_lost(
    redis_pair: tuple[FrameworkAdapter, Any], garbage: bytes
) -> None:
    adapter, client = redis_pair
    thread = f"t-{uuid.uuid4().hex}"
    graph = approval_graph(adapter)
    graph.invoke({"request": "x", "log": []}, config_of(thread))
    [pending] = adapter.pending.list(thread)
    key = layout.thread_keys(adapter.prefix, thread).pending  # type: ignore[attr-defined]
    client.hset(key, pending.token, garbage)

    with pytest.raises(DeserializationError):
        adapter.pending.get(pending.token)
    with pytest.raises(DeserializationError):
        adapter.pending.list(thread)
    with pytest.raises(DeserializationError):
        adapter.pending.claim_next(thread)
    assert adapter.get_tuple(config_of(thread)) is not None  # the run itself is intact
    assert graph.get_state(config_of(thread)).interrupts


@pytest.mark.redis
def test_two_threads_sharing_a_hash_tag_stay_apart(
    redis_pair: tuple[FrameworkAdapter, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Force a tag collision (a 64-bit digest makes a real one unlikely, not impossible):
    both threads' records then share one pending hash, and each must still see only its own."""
    adapter, _ = redis_pair
    monkeypatch.setattr(layout, "thread_tag", lambda thread_id: "00000000deadbeef")
    monkeypatch.setattr(operations, "thread_tag", lambda thread_id: "00000000deadbeef")
    layout.thread_keys.cache_clear()
    try:
        graph = approval_graph(adapter)
        first, second = f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"
        for thread in (first, second):
            graph.invoke({"request": thread, "log": []}, config_of(thread))
        [mine] = adapter.pending.list(first)
        [theirs] = adapter.pending.list(second)
        assert mine.token.split(".")[0] == theirs.token.split(".")[0] == "00000000deadbeef"
        assert mine.thread_id == first and theirs.thread_id == second

        claimed = adapter.pending.claim(mine.token)
        graph.invoke(Command(resume=claimed.resume_map("ok")), claimed.config)
        assert adapter.pending.list(first) == []
        assert adapter.pending.list(second) == [theirs]

        graph.invoke({"request": "again", "log": []}, config_of(first))
        adapter.delete_thread(first)
        assert adapter.pending.list(first) == []
        assert adapter.pending.get(theirs.token) == theirs
        other = adapter.pending.claim(theirs.token)
        graph.invoke(Command(resume=other.resume_map("ok")), other.config)
        assert adapter.pending.list(second) == []
        with pytest.raises(UnknownTokenError):
            adapter.pending.get(theirs.token)
    finally:
        layout.thread_keys.cache_clear()


_INDEX = (b"=:", b">:", b"%:", b"<:", b"_:", b"^:")
"""The pending hash's index fields (see ``redis/layout.py``); the first three were the
index's first form (``%:`` ``'1'``), the last three came with its order (``'2'``)."""


def _index_fields(client: Any, key: str, kinds: tuple[bytes, ...] = _INDEX) -> list[bytes]:
    return [f for f in client.hkeys(key) if f[:2] in kinds]


def test_records_stored_without_the_index_are_indexed_once_and_keep_tokens_and_claims(
    redis_pair: tuple[FrameworkAdapter, Any],
) -> None:
    """A thread paused by an earlier version has records but no index: the next write
    indexes them, so interrupts raised again keep their tokens and claims (without, each
    would get a second record) and an answered one is no longer pending."""
    adapter, client = redis_pair
    graph = _fan_graph(adapter, {})
    thread = f"t-{uuid.uuid4().hex}"
    graph.invoke({"items": ["a", "b", "c"]}, config_of(thread))
    key = layout.thread_keys(adapter.prefix, thread).pending
    client.hdel(key, *_index_fields(client, key))  # as an earlier version stored it
    before = {p.value["item"]: p for p in adapter.pending.list(thread)}
    claimed = adapter.pending.claim(before["a"].token, claim_id="worker-a")
    answered = adapter.pending.claim(before["b"].token)

    graph.invoke(Command(resume=answered.resume_map("yes")), answered.config)

    assert_agrees(graph, adapter, thread)
    after = {p.value["item"]: p for p in adapter.pending.list(thread)}
    assert sorted(after) == ["a", "c"]
    assert after["a"].token == before["a"].token and after["c"].token == before["c"].token
    assert after["a"].lease_expires_at == claimed.lease_expires_at is not None  # still claimed
    assert {p.value["attempt"] for p in after.values()} == {2}  # raised again, new values
    assert _index_fields(client, key) != []


@pytest.mark.redis
def test_an_interrupt_write_reads_no_record_but_its_own(counted: Counted) -> None:
    """With many interrupts waiting at a checkpoint, a task's write finds its own records
    through the index: no script reads the whole pending hash, so the write's cost does not
    grow with the interrupts already waiting."""
    adapter, calls = counted
    config = _checkpoint(adapter, "many")
    for n in range(60):
        raised = (Interrupt(value=n, id=f"id-{n}"),)
        adapter.put_writes(config, [("__interrupt__", raised)], f"task-{n}", "")
    before = calls("hgetall")
    adapter.put_writes(config, [("__interrupt__", (Interrupt(value=0, id="id-x"),))], "new", "")
    adapter.put_writes(config, [("__interrupt__", (Interrupt(value=1, id="id-0"),))], "new", "")
    adapter.put_writes(config, [("answer", 1)], "task-7", "")  # task-7 finished
    assert calls("hgetall") == before
    listed = {p.interrupt_id: p for p in adapter.pending.list("many")}
    assert len(listed) == 59  # id-x came and went for "new"; id-7 went with task-7
    assert "id-7" not in listed and "id-x" not in listed
    assert listed["id-0"].value == 1  # the latest value raised for it


@pytest.mark.redis
def test_claim_next_reads_only_the_records_before_the_first_free_one(counted: Counted) -> None:
    """claim_next walks the thread's records in order from its mark: it neither reads the
    whole pending hash nor every record, so a fleet draining a thread of many interrupts by
    claim_next does not cost O(n) per claim (before, 51 ms of server time per claim at
    4,000 waiting)."""
    adapter, calls = counted
    config = _checkpoint(adapter, "many")
    for n in range(200):
        raised = (Interrupt(value=n, id=f"id-{n}"),)
        adapter.put_writes(config, [("__interrupt__", raised)], f"task-{n}", "")
    first = adapter.pending.claim_next("many", claim_id="w-0")
    adapter.put_writes(config, [("answer", 1)], "task-1", "")  # id-1 answered: a gap
    hgetall, hmget = calls("hgetall"), calls("hmget")
    taken = [adapter.pending.claim_next("many", claim_id=f"w-{n}") for n in (1, 2, 3)]
    again = adapter.pending.claim_next("many", claim_id="w-2")  # a retry: the same one
    assert calls("hgetall") == hgetall
    # a few order reads and one read of each record passed over, not 200 of either
    assert calls("hmget") - hmget < 20
    assert [first.value, *(t.value for t in taken)] == [0, 2, 3, 4]
    assert again.token == taken[1].token and again.claimed_at == taken[1].claimed_at
    # a listing reads the records through their order too, not the whole hash
    listed = adapter.pending.list("many")
    assert calls("hgetall") == hgetall
    assert [p.value for p in listed] == [n for n in range(200) if n != 1]


@pytest.mark.redis
def test_records_indexed_before_the_order_are_ordered_once_and_keep_their_claims(
    redis_pair: tuple[FrameworkAdapter, Any],
) -> None:
    """A thread whose records an earlier version indexed without their order: the next
    claim_next adds it, takes the oldest free record, and a claim that claim_next made
    before is found again by its retry."""
    adapter, client = redis_pair
    graph = _fan_graph(adapter, {})
    thread = f"t-{uuid.uuid4().hex}"
    graph.invoke({"items": ["a", "b", "c", "d"]}, config_of(thread))
    listed = adapter.pending.list(thread)
    held = adapter.pending.claim_next(thread, claim_id="worker-1")
    assert held.token == listed[0].token
    key = layout.thread_keys(adapter.prefix, thread).pending
    client.hdel(key, *_index_fields(client, key, (b"<:", b"_:", b"^:")))
    client.hset(key, f"%:{thread}", "1")  # as the earlier version marked its index

    assert adapter.pending.claim_next(thread, claim_id="worker-1").token == held.token
    assert adapter.pending.claim_next(thread, claim_id="worker-2").token == listed[1].token
    assert _index_fields(client, key, (b"<:",)) != []
    assert client.hget(key, f"%:{thread}") == b"2"
    claimed = adapter.pending.claim(listed[2].token)
    graph.invoke(Command(resume=claimed.resume_map("yes")), claimed.config)
    assert adapter.pending.claim_next(thread, claim_id="worker-3").token == listed[3].token
    assert_agrees(graph, adapter, thread)


def test_claim_next_takes_a_record_whose_lease_ran_out_before_newer_ones(
    make_adapter: Any,
) -> None:
    """On Redis claim_next remembers how far the records are all held and until when;
    what frees one of them early (a lease renewed shorter, a short lease) must not let a
    newer record be taken before it."""
    adapter = make_adapter()
    thread = f"t-{uuid.uuid4().hex}"
    config = _checkpoint(adapter, thread)
    for n in range(6):
        adapter.put_writes(
            config, [("__interrupt__", (Interrupt(value=n, id=f"i{n}"),))], f"task-{n}"
        )
    first, _, _ = (adapter.pending.claim_next(thread, claim_id=f"w{n}") for n in range(3))
    adapter.pending.claim(first.token, claim_id="w0", lease_ms=1)  # renewed, shorter
    time.sleep(0.05)
    assert adapter.pending.claim_next(thread, claim_id="w3").value == 0
    short = adapter.pending.claim_next(thread, claim_id="w4", lease_ms=1)
    assert short.value == 3
    time.sleep(0.05)
    assert adapter.pending.claim_next(thread, claim_id="w5").value == 3
    assert adapter.pending.claim_next(thread, claim_id="w6").value == 4


@pytest.mark.redis
def test_a_listing_whose_records_are_far_apart_reads_the_whole_hash_and_is_right(
    counted: Counted,
) -> None:
    """One record of long ago below 1,200 asked and answered since: walking the order
    fields would pass 1,200 sequence numbers for one record, so the listing reads the whole
    hash instead, with the same answer."""
    adapter, calls = counted
    config = _checkpoint(adapter, "far")
    for n in range(1_202):
        raised = (Interrupt(value=n, id=f"id-{n}"),)
        adapter.put_writes(config, [("__interrupt__", raised)], f"task-{n}", "")
    for n in range(1, 1_201):
        adapter.put_writes(config, [("answer", n)], f"task-{n}", "")  # answered
    before = calls("hgetall")
    listed = [p.value for p in adapter.pending.list("far")]
    assert listed == [0, 1_201]
    assert calls("hgetall") == before + 1  # the walk gave up for the whole hash
