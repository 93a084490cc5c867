"""Group commit of concurrent ``put_writes`` (``redis/batching/``): who sends what, each
caller's own outcome, no caller left waiting, and fan-outs stored exactly as
``InMemorySaver`` stores them, on real Redis servers."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from benchmarks.graphs import thread_config
from benchmarks.workloads.fanout import fanout_graph
from kortyx_langgraph import create_redis_framework_adapter
from kortyx_langgraph.errors import StorageError
from kortyx_langgraph.redis import connection as connection_module
from kortyx_langgraph.redis import scripts
from kortyx_langgraph.redis.batching import AsyncGroupCommit, GroupCommit


class Abandoned(Exception):
    pass


class Refused(Exception):
    pass


def _resolve(call: Any, exc: BaseException) -> BaseException | None:
    return None if "again" in str(exc) else Refused(f"{call}: {exc}")


def _abandoned(call: Any) -> BaseException:
    return Abandoned(str(call))


class FakeServer:
    """Records what was sent; ``send_one`` can be held until released."""

    def __init__(self, pipeline_replies: dict[str, Any] | None = None) -> None:
        self.sent: list[tuple[str, list[Any]]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        self.pipeline_replies = pipeline_replies or {}
        self.pipeline_fails: BaseException | None = None

    def send_one(self, call: Any) -> Any:
        self.entered.set()
        self.hold.wait(5)
        self.sent.append(("one", [call]))
        return f"ok {call}"

    def send_many(self, calls: Sequence[Any]) -> list[Any]:
        self.sent.append(("many", list(calls)))
        if self.pipeline_fails is not None:
            raise self.pipeline_fails
        return [self.pipeline_replies.get(c, f"ok {c}") for c in calls]


def _queued(group: GroupCommit, key: str, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(group._queues.get(key, [])) < count:
        assert time.monotonic() < deadline, "calls did not queue"
        time.sleep(0.001)


def test_a_lone_call_is_sent_on_its_own() -> None:
    server = FakeServer()
    group = GroupCommit(_resolve, _abandoned)
    assert group.send("t", "a", server.send_one, server.send_many) == "ok a"
    assert group.send("t", "b", server.send_one, server.send_many) == "ok b"
    assert server.sent == [("one", ["a"]), ("one", ["b"])]
    assert group._queues == {}


def _overlapping(
    server: FakeServer, group: GroupCommit, calls: list[tuple[str, str]], carry: bool = False
) -> list[Any]:
    """The first call holds the line while the others queue behind it; every outcome."""
    server.hold.clear()

    def send(key_call: tuple[str, str]) -> Any:
        try:
            return group.send(*key_call, server.send_one, server.send_many, carry=carry)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        first = pool.submit(send, calls[0])
        assert server.entered.wait(5)
        rest = []
        for n, call in enumerate(calls[1:], 1):
            rest.append(pool.submit(send, call))
            if call[0] == calls[0][0]:
                _queued(group, call[0], sum(1 for k, _ in calls[1 : n + 1] if k == call[0]))
        time.sleep(0.05)  # calls of other keys go out on their own meanwhile
        server.hold.set()
        return [first.result(5), *(f.result(5) for f in rest)]


@pytest.mark.parametrize("carry", [False, True])
def test_calls_arriving_while_one_is_in_flight_go_out_together(carry: bool) -> None:
    server = FakeServer()
    group = GroupCommit(_resolve, _abandoned)
    calls = [("t", "a"), ("t", "b"), ("t", "c"), ("u", "x")]
    outcomes = _overlapping(server, group, calls, carry)
    # carried, b and c return at once; a returns once they are sent
    assert outcomes == ["ok a", None, None, "ok x"] if carry else ["ok a", "ok b", "ok c", "ok x"]
    assert ("one", ["a"]) in server.sent
    assert ("one", ["x"]) in server.sent  # another key is never held up by this one
    assert ("many", ["b", "c"]) in server.sent
    assert server.sent.index(("one", ["a"])) < server.sent.index(("many", ["b", "c"]))
    assert len(server.sent) == 3
    assert group._queues == {}
    assert group._owed == {}


def test_each_waiting_call_gets_its_own_error_and_some_go_again_alone() -> None:
    server = FakeServer({"b": Exception("CORRUPT b"), "c": Exception("send again")})
    group = GroupCommit(_resolve, _abandoned)
    outcomes = _overlapping(server, group, [("t", "a"), ("t", "b"), ("t", "c"), ("t", "d")])
    assert outcomes[0] == "ok a"
    assert isinstance(outcomes[1], Refused)
    assert "CORRUPT b" in str(outcomes[1])
    assert outcomes[2:] == ["ok c", "ok d"]
    assert server.sent[-2:] == [("many", ["b", "c", "d"]), ("one", ["c"])]


def test_the_call_in_flight_raises_the_first_error_of_the_calls_it_carried() -> None:
    server = FakeServer({"b": Exception("CORRUPT b"), "c": Exception("send again")})
    group = GroupCommit(_resolve, _abandoned)
    calls = [("t", "a"), ("t", "b"), ("t", "c"), ("t", "d")]
    outcomes = _overlapping(server, group, calls, carry=True)
    assert isinstance(outcomes[0], Refused)
    assert "CORRUPT b" in str(outcomes[0])
    assert outcomes[1:] == [None, None, None]
    assert server.sent[-2:] == [("many", ["b", "c", "d"]), ("one", ["c"])]
    assert group._owed == {}


@pytest.mark.parametrize("carry", [False, True])
def test_a_pipeline_that_fails_as_a_whole_is_sent_again_call_by_call(carry: bool) -> None:
    server = FakeServer()
    server.pipeline_fails = ConnectionError("reset")
    group = GroupCommit(_resolve, _abandoned)
    outcomes = _overlapping(server, group, [("t", "a"), ("t", "b"), ("t", "c")], carry)
    assert outcomes == ["ok a", None, None] if carry else ["ok a", "ok b", "ok c"]
    assert server.sent[1:] == [("many", ["b", "c"]), ("one", ["b"]), ("one", ["c"])]


def test_other_operations_on_the_keys_of_a_carried_call_wait_until_it_is_sent() -> None:
    server = FakeServer()
    group = GroupCommit(_resolve, _abandoned)
    server.hold.clear()
    with ThreadPoolExecutor(2) as pool:
        leader = pool.submit(group.send, "t", "a", server.send_one, server.send_many, ["p"])
        assert server.entered.wait(5)
        assert group.send("t", "b", server.send_one, server.send_many, ["p"], carry=True) is None
        assert group.owes(["p"]) and group.owes(["t"]) and not group.owes(["u"])
        group.wait_settled(["u"])  # other keys do not wait
        reader = pool.submit(group.wait_settled, ["x", "p"])
        time.sleep(0.05)
        assert not reader.done()  # b is not sent yet
        server.hold.set()
        reader.result(5)
        assert ("one", ["b"]) in server.sent
        assert leader.result(5) == "ok a"
    assert group._owed == {}


def test_the_call_in_flight_sends_what_queues_while_it_sends_the_last_batch() -> None:
    server = FakeServer()
    group = GroupCommit(_resolve, _abandoned)
    later: list[Any] = []

    def send_one(call: Any) -> Any:
        if call == "b":  # c arrives while the batch of b is on the wire
            later.append(group.send("t", "c", send_one, server.send_many, carry=True))
        return server.send_one(call)

    server.hold.clear()
    with ThreadPoolExecutor(1) as pool:
        leader = pool.submit(group.send, "t", "a", send_one, server.send_many)
        assert server.entered.wait(5)
        assert group.send("t", "b", send_one, server.send_many, carry=True) is None
        server.hold.set()
        assert leader.result(5) == "ok a"
    assert later == [None]
    assert server.sent == [("one", ["a"]), ("one", ["b"]), ("one", ["c"])]
    assert group._queues == {} and group._owed == {}


@pytest.mark.parametrize("fails", [False, True])
def test_a_save_goes_after_the_calls_carried_before_it_and_not_past_a_failed_one(
    fails: bool,
) -> None:
    server = FakeServer({"c": Exception("CORRUPT c")} if fails else {})
    group = GroupCommit(_resolve, _abandoned)
    server.hold.clear()
    with ThreadPoolExecutor(2) as pool:
        leader = pool.submit(group.send, "t", "a", server.send_one, server.send_many)
        assert server.entered.wait(5)
        for call in "bc":
            assert group.send("t", call, server.send_one, server.send_many, carry=True) is None
        saved = pool.submit(group.save, ["t"], "S", server.send_one)
        _queued(group, "t", 3)
        assert group.send("t", "d", server.send_one, server.send_many, carry=True) is None
        server.hold.set()
        if fails:
            with pytest.raises(Refused, match="CORRUPT c"):
                saved.result(5)
            with pytest.raises(Refused, match="CORRUPT c"):
                leader.result(5)
        else:
            assert saved.result(5) == "ok S"
            assert leader.result(5) == "ok a"
    sends = list(server.sent)
    assert sends[:2] == [("one", ["a"]), ("many", ["b", "c"])]
    assert ("one", ["S"]) in sends if not fails else ("one", ["S"]) not in sends
    assert sends[-1] == ("one", ["d"])  # calls after the save go after it
    assert group._queues == {} and group._owed == {}
    # the failure was told to the save; a later save of the key goes out
    assert group.save(["t"], "T", server.send_one) == "ok T"


def _carried_behind(
    server: FakeServer, group: GroupCommit, slots: dict[str, tuple[str, str]], key: str = "t"
) -> Any:
    """``a`` holds ``key``'s line while ``slots``' calls are carried behind it; a's outcome."""
    server.entered.clear()
    server.hold.clear()
    with ThreadPoolExecutor(1) as pool:
        leader = pool.submit(group.send, key, "a", server.send_one, server.send_many)
        assert server.entered.wait(5)
        for call, slot in slots.items():
            sent = group.send(key, call, server.send_one, server.send_many, carry=True, slot=slot)
            assert sent is None
        server.hold.set()
        try:
            return leader.result(5)
        except Refused as exc:
            return exc


@pytest.mark.parametrize("then", ["nothing", "written again", "a save on another checkpoint"])
def test_a_failure_no_save_met_is_told_to_the_next_save_past_its_checkpoint(then: str) -> None:
    server = FakeServer({"b": Exception("CORRUPT b")})
    group = GroupCommit(_resolve, _abandoned)
    slots = {"b": ("cp 1", "task b"), "c": ("cp 1", "task c")}
    assert isinstance(_carried_behind(server, group, slots), Refused)
    assert group.save(["u"], "U", server.send_one, "cp 1") == "ok U"  # other keys: never
    if then == "written again":  # the task whose write was lost ran again, and wrote it
        sent = group.send("t", "b2", server.send_one, server.send_many, slot=("cp 1", "task b"))
        assert sent == "ok b2"
    elif then == "a save on another checkpoint":  # new input, from the checkpoint before
        assert group.save(["t"], "S0", server.send_one, "cp 0") == "ok S0"
        with pytest.raises(Refused, match="CORRUPT b"):  # still kept for cp 1
            group.save(["t"], "S", server.send_one, "cp 1")
    else:
        with pytest.raises(Refused, match="CORRUPT b"):
            group.save(["t"], "S", server.send_one, "cp 1")
    assert group.save(["t"], "S", server.send_one, "cp 1") == "ok S"  # told once at most
    assert group._failed == {}


def test_a_save_waits_a_while_for_the_failed_slot_of_its_checkpoint_to_be_written_again() -> None:
    # The next run writes the slot again, but LangGraph may send its save first.
    server = FakeServer({"b": Exception("CORRUPT b")})
    group = GroupCommit(_resolve, _abandoned)
    slots = {"b": ("cp 1", "task b"), "c": ("cp 1", "task c")}
    assert isinstance(_carried_behind(server, group, slots), Refused)
    with ThreadPoolExecutor(1) as pool:
        save = pool.submit(group.save, ["t"], "S", server.send_one, "cp 1")
        time.sleep(0.2)
        assert not save.done()  # waiting for the slot
        assert group.send("t", "b2", _refusing, _refusing, slot=("cp 1", "task b")) == "ok b2"
        assert save.result(5) == "ok S"
    assert group._failed == {}


def test_a_save_whose_failed_slot_is_not_written_again_raises_after_the_wait() -> None:
    server = FakeServer({"b": Exception("CORRUPT b")})
    group = GroupCommit(_resolve, _abandoned)
    group.REWRITE_WAIT_S = 0.3
    slots = {"b": ("cp 1", "task b"), "c": ("cp 1", "task c")}
    assert isinstance(_carried_behind(server, group, slots), Refused)
    started = time.monotonic()
    with pytest.raises(Refused, match="CORRUPT b"):
        group.save(["t"], "S", server.send_one, "cp 1")
    assert time.monotonic() - started >= 0.3
    assert group.save(["t"], "S", server.send_one, "cp 1") == "ok S"  # told once


def test_a_call_in_flight_cut_short_does_not_make_up_for_a_failure_of_its_slot() -> None:
    server = FakeServer({"b": Exception("CORRUPT b")})
    group = GroupCommit(_resolve, _abandoned)
    slots = {"b": ("cp 1", "task b"), "c": ("cp 1", "task c")}
    assert isinstance(_carried_behind(server, group, slots), Refused)

    def interrupted(call: Any) -> Any:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # task b again, but it never got an outcome
        group.send("t", "b2", interrupted, server.send_many, slot=("cp 1", "task b"))
    with pytest.raises(Refused, match="CORRUPT b"):
        group.save(["t"], "S", server.send_one, "cp 1")


def test_at_most_so_many_failures_are_kept_the_oldest_dropped() -> None:
    server = FakeServer({f"b{n}": Exception(f"CORRUPT b{n}") for n in range(6)})
    group = GroupCommit(_resolve, _abandoned)
    group.FAILURES_KEPT = 3
    slots = {f"b{n}": ("cp 1", f"task {n}") for n in range(6)}
    assert isinstance(_carried_behind(server, group, slots), Refused)
    assert len(group._failed) == 3
    with pytest.raises(Refused, match="CORRUPT b3"):  # b0..b2 were dropped
        group.save(["t"], "S", server.send_one, "cp 1")
    assert group._failed == {}


def _refusing(call: Any) -> Any:
    if str(call).startswith("bad"):
        raise Refused(call)
    return f"ok {call}"


def test_a_write_sent_at_once_reports_its_own_failure_and_is_not_kept() -> None:
    # Nothing in flight to carry it: its caller gets the error, as from any saver, and
    # LangGraph's wait for it decides what comes next (for DeltaChannel writes, no save).
    group = GroupCommit(_resolve, _abandoned)
    with pytest.raises(Refused):
        group.send("t", "bad b", _refusing, _refusing, carry=True, slot=("cp 1", "task b"))
    assert group._failed == {}
    assert group.save(["t"], "S", _refusing, "cp 1") == "ok S"


@pytest.mark.parametrize("again", ["by a thread", "by asyncio"])
def test_writing_the_slot_again_makes_up_for_a_carried_failure(again: str) -> None:
    server = FakeServer({"b": Exception("CORRUPT b")})
    group = GroupCommit(_resolve, _abandoned)
    slots = {"b": ("cp 1", "task b"), "c": ("cp 1", "task c")}  # two: one pipeline
    assert isinstance(_carried_behind(server, group, slots), Refused)
    group.written("t", ("cp 1", "task d"))  # nothing kept there: nothing happens
    assert list(group._failed) == [("t", ("cp 1", "task b"))]
    if again == "by a thread":
        assert group.send("t", "b2", _refusing, _refusing, slot=("cp 1", "task b")) == "ok b2"
    else:  # sent by the asyncio group commit, which tells this one what it wrote
        group.written("t", ("cp 1", "task b"))
    assert group._failed == {}
    assert group.save(["t"], "S", _refusing, "cp 1") == "ok S"


class _Payload:
    """A carried call's arguments, which nothing should keep alive once it failed."""


def test_a_kept_failure_does_not_keep_the_arguments_of_the_call_that_failed() -> None:
    hold, entered = threading.Event(), threading.Event()

    def send_one(call: Any) -> Any:
        if call == "a":
            entered.set()
            hold.wait(5)
            return "ok a"
        raise Refused("CORRUPT b")  # this frame holds the call while the error is raised

    group = GroupCommit(_resolve, _abandoned)
    payload = _Payload()
    alive = weakref.ref(payload)
    with ThreadPoolExecutor(1) as pool:
        leader = pool.submit(group.send, "t", "a", send_one, send_one)
        assert entered.wait(5)
        group.send("t", payload, send_one, send_one, carry=True, slot=("cp 1", "task b"))
        del payload
        hold.set()
        with pytest.raises(Refused, match="CORRUPT b"):
            leader.result(5)
    gc.collect()
    assert alive() is None
    with pytest.raises(Refused, match="CORRUPT b") as told:  # the failure is still told
        group.save(["t"], "S", _refusing, "cp 1")
    assert "send_one" in "".join(traceback.format_tb(told.value.__traceback__))


def test_the_failure_dropped_when_too_many_are_kept_is_the_oldest_of_any_thread() -> None:
    server = FakeServer({"a": Exception("CORRUPT a"), "b": Exception("CORRUPT b")})
    group = GroupCommit(_resolve, _abandoned)
    group.FAILURES_KEPT = 3

    def fail(key: str, writer: str) -> None:
        slots = {call: ("cp 1", f"{key} {call}") for call in (writer, "pad")}  # one pipeline
        assert isinstance(_carried_behind(server, group, slots, key), Refused)

    for key, writer in [("t", "a"), ("u", "a"), ("t", "b"), ("u", "b"), ("t", "a")]:
        fail(key, writer)  # the fourth drops t's first, the fifth u's first (not t's b)
    assert list(group._failed) == [
        ("t", ("cp 1", "t b")),
        ("u", ("cp 1", "u b")),
        ("t", ("cp 1", "t a")),
    ]
    with pytest.raises(Refused, match="CORRUPT b"):
        group.save(["t"], "S", _refusing, "cp 1")
    with pytest.raises(Refused, match="CORRUPT b"):
        group.save(["u"], "S", _refusing, "cp 1")
    assert group._failed == {}


@pytest.mark.parametrize("carry", [False, True])
def test_a_batch_cut_short_answers_or_frees_every_queued_call(carry: bool) -> None:
    server = FakeServer()
    server.pipeline_fails = KeyboardInterrupt()
    group = GroupCommit(_resolve, _abandoned)
    outcomes: list[Any] = []

    def send(call: str) -> None:
        try:
            outcomes.append(group.send("t", call, server.send_one, server.send_many, carry=carry))
        except BaseException as exc:  # the call in flight sees the interrupt itself
            outcomes.append(exc)

    server.hold.clear()
    threads = [threading.Thread(target=send, args=(c,)) for c in "abc"]
    threads[0].start()
    assert server.entered.wait(5)
    for n, thread in enumerate(threads[1:], 1):
        thread.start()
        _queued(group, "t", n)
    server.hold.set()
    for thread in threads:
        thread.join(5)
    group.wait_settled(["t"])  # returns: nothing is owed for calls no one will send
    kinds = sorted(type(o).__name__ for o in outcomes)
    queued = ["NoneType", "NoneType"] if carry else ["Abandoned", "Abandoned"]
    assert kinds == sorted(["KeyboardInterrupt", *queued])
    assert group._queues == {} and group._owed == {}
    server.pipeline_fails = None
    if carry:  # the carried calls were lost: the next save says so
        with pytest.raises(Abandoned):
            group.save(["t"], "S", server.send_one)
    assert group.send("t", "d", server.send_one, server.send_many) == "ok d"


async def _async_send_one(server: FakeServer, release: asyncio.Event, call: Any) -> Any:
    server.entered.set()
    await release.wait()
    server.sent.append(("one", [call]))
    return f"ok {call}"


async def _async_send_many(server: FakeServer, calls: Sequence[Any]) -> list[Any]:
    return server.send_many(calls)


def test_asyncio_calls_of_one_thread_share_a_pipeline_and_a_cancelled_one_frees_its_turn() -> None:
    async def scenario() -> None:
        server = FakeServer()
        group = AsyncGroupCommit(_resolve, _abandoned)
        release = asyncio.Event()

        def send(call: str) -> asyncio.Task[Any]:
            return asyncio.create_task(
                group.send(
                    "t",
                    call,
                    lambda c: _async_send_one(server, release, c),
                    lambda cs: _async_send_many(server, cs),
                )
            )

        first = send("a")
        await asyncio.sleep(0)
        waiting = [send(c) for c in "bcd"]
        await asyncio.sleep(0)
        waiting[0].cancel()  # gives up while queued
        await asyncio.sleep(0)
        release.set()
        assert await first == "ok a"
        assert await asyncio.gather(*waiting[1:]) == ["ok c", "ok d"]
        with pytest.raises(asyncio.CancelledError):
            await waiting[0]
        assert server.sent == [("one", ["a"]), ("many", ["c", "d"])]
        assert group._queues == {}

        # the call that was to send the next batch is cancelled: the one after it does
        release.clear()
        first = send("e")
        await asyncio.sleep(0)
        second, third = send("f"), send("g")
        await asyncio.sleep(0)
        release.set()
        await asyncio.sleep(0)
        second.cancel()
        assert await first == "ok e"
        outcome = await asyncio.gather(second, return_exceptions=True)
        assert isinstance(outcome[0], (asyncio.CancelledError, str))
        assert await asyncio.wait_for(third, 5) == "ok g"
        assert group._queues == {}

    asyncio.run(scenario())


def test_every_asyncio_call_that_succeeded_is_told_even_if_its_task_was_cancelled() -> None:
    async def scenario() -> list[Any]:
        server = FakeServer({"c": Exception("CORRUPT c")})
        landed: list[Any] = []
        group = AsyncGroupCommit(_resolve, _abandoned, landed.append)
        release, pipeline_entered, pipeline_release = (asyncio.Event() for _ in range(3))

        async def send_many(calls: Sequence[Any]) -> list[Any]:
            pipeline_entered.set()
            await pipeline_release.wait()
            return server.send_many(calls)

        def send(call: str) -> asyncio.Task[Any]:
            return asyncio.create_task(
                group.send("t", call, lambda c: _async_send_one(server, release, c), send_many)
            )

        first = send("a")
        await asyncio.sleep(0)
        batch = [send(c) for c in "bcd"]  # b sends b, c and d as one pipeline
        await asyncio.sleep(0)
        release.set()
        assert await first == "ok a"
        await asyncio.wait_for(pipeline_entered.wait(), 5)
        batch[2].cancel()  # d gives up while its pipeline is under way; d is stored all the same
        await asyncio.sleep(0)
        pipeline_release.set()
        assert await batch[0] == "ok b"
        with pytest.raises(Refused, match="CORRUPT c"):
            await batch[1]
        with pytest.raises(asyncio.CancelledError):
            await batch[2]
        assert server.sent == [("one", ["a"]), ("many", ["b", "c", "d"])]
        return landed

    assert asyncio.run(scenario()) == ["a", "b", "d"]


# -- on real servers ----------------------------------------------------------------------


def _count_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    for name in ("_send_pipeline", "_asend_pipeline"):
        original = getattr(connection_module.RedisConnection, name)

        def counting(self: Any, client: Any, steps: Any, _original: Any = original) -> Any:
            sizes.append(len(steps))
            return _original(self, client, steps)

        monkeypatch.setattr(connection_module.RedisConnection, name, counting)
    return sizes


def _stored(saver: Any, thread_id: str) -> list[Any]:
    """Every checkpoint of the thread with its pending writes, as the saver lists them."""
    out = []
    for found in saver.list(thread_config(thread_id)):
        writes = sorted((channel, repr(value)) for _, channel, value in found.pending_writes)
        out.append((found.checkpoint["channel_values"], found.metadata["step"], writes))
    return out


@pytest.mark.redis
@pytest.mark.parametrize("backend", ["redis", "redis-cluster"])
@pytest.mark.parametrize("colour", ["sync", "async"])
def test_a_fan_out_is_stored_as_in_memory_saver_stores_it_in_fewer_round_trips(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    colour: str,
) -> None:
    from tests.conftest import redis_url_for

    sizes = _count_batches(monkeypatch)
    adapter = create_redis_framework_adapter(
        url=redis_url_for(request, backend), prefix=f"group-{uuid.uuid4().hex[:8]}:"
    )
    baseline = InMemorySaver()
    tasks = 300
    try:
        for saver in (adapter, baseline):
            graph = fanout_graph(saver)
            config = thread_config("fan", tasks)
            if colour == "sync":
                result = graph.invoke({"tasks": tasks}, config)
            else:
                result = asyncio.run(graph.ainvoke({"tasks": tasks}, config))
            assert result["joined"] == tasks
        assert _stored(adapter, "fan") == _stored(baseline, "fan")
        assert sum(sizes) > tasks / 2, "most of the writes should have shared a pipeline"
        assert len(sizes) < sum(sizes)
    finally:
        adapter.close()


@pytest.mark.redis
def test_calls_of_a_pipeline_that_meets_an_emptied_script_cache_go_again_alone(
    redis_standalone: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    client = redis.Redis.from_url(redis_standalone.url)
    flushed: list[Any] = []  # the calls of the pipeline that met the emptied cache
    alone: list[Any] = []  # every call sent on its own
    send_pipeline = connection_module.RedisConnection._send_pipeline
    send = connection_module.RedisConnection._send

    def flush_first(self: Any, sync_client: Any, steps: Any) -> Any:
        if not flushed:  # as after a restart or a failover: every EVALSHA is NOSCRIPT
            client.script_flush()
            flushed.extend(steps)
        return send_pipeline(self, sync_client, steps)

    def record(self: Any, sync_client: Any, step: Any) -> Any:
        alone.append(step)
        return send(self, sync_client, step)

    monkeypatch.setattr(connection_module.RedisConnection, "_send_pipeline", flush_first)
    monkeypatch.setattr(connection_module.RedisConnection, "_send", record)
    adapter = create_redis_framework_adapter(
        url=redis_standalone.url, prefix=f"group-{uuid.uuid4().hex[:8]}:"
    )
    baseline = InMemorySaver()
    try:
        assert fanout_graph(adapter).invoke({"tasks": 10}, thread_config("warm"))["joined"] == 10
        # as if merged writes (redis/merged.py) had loaded their script before it was lost,
        # so that every call of the pipeline meets the emptied cache
        connection = adapter.connection
        connection._loaded.add((id(connection.sync_client()), scripts.PUT_WRITES_MANY.sha))
        flushed.clear()
        for saver in (adapter, baseline):
            result = fanout_graph(saver).invoke({"tasks": 200}, thread_config("fan"))
            assert result["joined"] == 200
        assert _stored(adapter, "fan") == _stored(baseline, "fan")
        assert flushed, "some writes should have shared a pipeline"
        # every call of that pipeline was sent again on its own, and each was stored once
        sent_alone = {id(step) for step in alone}
        assert all(id(step) in sent_alone for step in flushed)
    finally:
        client.close()
        adapter.close()


@pytest.mark.redis
@pytest.mark.parametrize("backend", ["redis", "redis-cluster"])
def test_a_writer_whose_call_was_carried_reads_its_own_write(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    # Threads write to one checkpoint at once; most calls are carried and return before
    # they are sent (each pipeline is slowed down here). Each thread then reads the
    # checkpoint and must find its own write there.
    from tests.conftest import redis_url_for

    send_pipeline = connection_module.RedisConnection._send_pipeline

    def slow(self: Any, sync_client: Any, steps: Any) -> Any:
        time.sleep(0.05)
        return send_pipeline(self, sync_client, steps)

    monkeypatch.setattr(connection_module.RedisConnection, "_send_pipeline", slow)
    adapter = create_redis_framework_adapter(
        url=redis_url_for(request, backend), prefix=f"group-{uuid.uuid4().hex[:8]}:"
    )
    try:
        graph = fanout_graph(adapter)
        config: Any = graph.invoke({"tasks": 1}, thread_config("own"))
        target = adapter.get_tuple(thread_config("own"))
        assert target is not None
        start = threading.Barrier(16)

        def write_then_read(n: int) -> bool:
            start.wait(5)
            adapter.put_writes(target.config, [("items", [n])], f"task-{n}")
            seen = adapter.get_tuple(target.config)
            assert seen is not None
            return (f"task-{n}", "items", [n]) in seen.pending_writes

        with ThreadPoolExecutor(16) as pool:
            found = list(pool.map(write_then_read, range(16)))
        assert config["joined"] == 1
        assert found == [True] * 16
        assert adapter.connection._group._owed == {}
    finally:
        adapter.close()


@pytest.mark.redis
def test_a_fan_out_whose_carried_write_failed_saves_nothing_past_it_and_runs_again(
    redis_standalone: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    refused: list[Any] = []  # the call answered with an error instead of being sent
    send_pipeline = connection_module.RedisConnection._send_pipeline

    def refuse_first(self: Any, sync_client: Any, steps: Any) -> Any:
        # every call in a pipeline was queued, so one that may be carried was: a Send
        # task's write (the first in the pipeline may be another kind of write)
        at = next((i for i, step in enumerate(steps) if step.carry), None)
        if refused or at is None:
            return send_pipeline(self, sync_client, steps)
        refused.append(steps[at])
        error = redis.exceptions.ResponseError("refused here")
        replies = send_pipeline(self, sync_client, [*steps[:at], *steps[at + 1 :]])
        return [*replies[:at], error, *replies[at:]]

    monkeypatch.setattr(connection_module.RedisConnection, "_send_pipeline", refuse_first)
    adapter = create_redis_framework_adapter(
        url=redis_standalone.url, prefix=f"group-{uuid.uuid4().hex[:8]}:"
    )
    try:
        graph = fanout_graph(adapter)
        config = thread_config("gap")
        with pytest.raises(StorageError, match="refused here"):
            graph.invoke({"tasks": 200}, config)
        assert refused
        latest = adapter.get_tuple(config)
        assert latest is not None
        # the checkpoint the refused write belonged to is still the latest: the save after
        # the fan-out did not go past the missing write
        assert latest.config["configurable"]["checkpoint_id"] in refused[0].args[1]
        assert len({task for task, _, _ in latest.pending_writes}) == 199
        # running again runs the one task whose write is missing, and finishes
        assert graph.invoke(None, config)["joined"] == 200
    finally:
        adapter.close()


def _refuse_a_carried_write(adapter: Any, monkeypatch: pytest.MonkeyPatch, thread: str) -> Any:
    """Task b's write to ``thread``'s latest checkpoint is carried behind task a's and
    refused, and task a's call reports it; that checkpoint's tuple."""
    import redis

    entered, hold = threading.Event(), threading.Event()
    send = connection_module.RedisConnection._send
    refused: list[Any] = []

    def held_or_refused(self: Any, client: Any, step: Any) -> Any:
        writer = getattr(step, "slot", None) and step.slot[1]
        if writer == "task-a":
            entered.set()
            assert hold.wait(5)
        if writer == "task-b" and not refused:
            refused.append(step)
            raise redis.exceptions.ResponseError("refused here")
        return send(self, client, step)

    fanout_graph(adapter).invoke({"tasks": 1}, thread_config(thread))
    target = adapter.get_tuple(thread_config(thread))
    assert target is not None
    monkeypatch.setattr(connection_module.RedisConnection, "_send", held_or_refused)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(adapter.put_writes, target.config, [("items", [1])], "task-a")
        assert entered.wait(5)
        assert adapter.put_writes(target.config, [("items", [2])], "task-b") is None
        hold.set()
        with pytest.raises(StorageError, match="refused here"):
            first.result(5)  # the call that carried task b's write says it failed
    assert refused and adapter.connection._group._owed == {}
    return target


def _save_on(adapter: Any, target: Any, by: str) -> Any:
    """A checkpoint save building on ``target``, from a thread or from asyncio."""
    from langgraph.checkpoint.base import empty_checkpoint

    checkpoint = empty_checkpoint()
    if by == "aput":
        return asyncio.run(adapter.aput(target.config, checkpoint, {"step": 9}, {}))
    return adapter.put(target.config, checkpoint, {"step": 9}, {})


@pytest.mark.redis
@pytest.mark.parametrize(
    ("written_again_by", "saved_by"),
    [
        (None, "put"),
        (None, "aput"),
        ("put_writes", "put"),
        ("aput_writes", "aput"),
        ("aput_writes, refused too", "aput"),
    ],
)
def test_a_save_after_the_carried_writes_were_sent_still_stops_at_a_failed_one(
    redis_standalone: Any,
    monkeypatch: pytest.MonkeyPatch,
    written_again_by: str | None,
    saved_by: str,
) -> None:
    # A save that comes only after the call that carried task b's refused write returned
    # (nothing is queued or owed any more) must still not go past the missing write,
    # whether it is saved from a thread or from asyncio (one process running the thread
    # with invoke and then ainvoke), unless task b ran again and wrote its slot, from a
    # thread or from asyncio: then the save goes out at its first try.
    import redis

    adapter = create_redis_framework_adapter(
        url=redis_standalone.url, prefix=f"group-{uuid.uuid4().hex[:8]}:"
    )
    try:
        target = _refuse_a_carried_write(adapter, monkeypatch, "late")
        writes = (target.config, [("items", [2])], "task-b")
        if written_again_by == "aput_writes":
            asyncio.run(adapter.aput_writes(*writes))
        elif written_again_by == "put_writes":
            adapter.put_writes(*writes)
        else:
            if written_again_by is not None:  # the write again fails too: no make-up
                asend = connection_module.RedisConnection._asend

                async def refused(self: Any, client: Any, step: Any) -> Any:
                    if getattr(step, "slot", None) and step.slot[1] == "task-b":
                        raise redis.exceptions.ResponseError("refused again")
                    return await asend(self, client, step)

                monkeypatch.setattr(connection_module.RedisConnection, "_asend", refused)
                with pytest.raises(StorageError, match="refused again"):
                    asyncio.run(adapter.aput_writes(*writes))
            with pytest.raises(StorageError, match="refused here"):
                _save_on(adapter, target, saved_by)  # builds on the one missing b's write
            latest = adapter.get_tuple(thread_config("late"))
            assert latest is not None
            assert latest.checkpoint["id"] == target.checkpoint["id"]
            assert ("task-a", "items", [1]) in latest.pending_writes
            assert not [w for w in latest.pending_writes if w[0] == "task-b"]
        saved = _save_on(adapter, target, saved_by)  # told once at most
        latest = adapter.get_tuple(thread_config("late"))
        assert latest is not None and latest.config == saved
    finally:
        adapter.close()
