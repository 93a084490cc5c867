"""The sync group commit's promise, as a property: whatever mix of carried writes, failures
and checkpoint saves queues behind a call in flight, a save is stored only if no carried
write to the checkpoint it builds on is missing, and every failure is told exactly once.

A held call keeps the line while a generated sequence queues behind it; then a second
generated sequence goes one call at a time, from threads or as the asyncio path sends. A
plain model of the promise says, for each save, whether it goes out or which failure it
raises instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kortyx_langgraph.redis.batching import GroupCommit

CHECKPOINTS = ("cp 0", "cp 1")
TASKS = ("task 0", "task 1", "task 2")


class Refused(Exception):
    """A write the fake server refused."""


@dataclass(frozen=True)
class Write:
    """A task's carried write to a checkpoint, which the server may refuse."""

    checkpoint: str
    task: str
    refused: bool


@dataclass(frozen=True)
class Save:
    """A checkpoint save building on ``parent``."""

    parent: str


ops = st.lists(
    st.one_of(
        st.builds(Write, st.sampled_from(CHECKPOINTS), st.sampled_from(TASKS), st.booleans()),
        st.builds(Save, st.sampled_from(CHECKPOINTS)),
    ),
    max_size=12,
)


class Server:
    """Stores what it is sent, refuses the calls named in ``refuses``; the call ``held``
    waits until ``hold`` is set."""

    def __init__(self, refuses: set[str]) -> None:
        self.refuses = refuses
        self.stored: list[str] = []
        self.hold, self.entered = threading.Event(), threading.Event()

    def send_one(self, call: str) -> str:
        if call == "held":
            self.entered.set()
            assert self.hold.wait(5)
        if call in self.refuses:
            raise Refused(call)
        self.stored.append(call)
        return f"ok {call}"

    def send_many(self, calls: Sequence[str]) -> list[Any]:
        replies: list[Any] = []
        for call in calls:
            refused = call in self.refuses
            replies.append(Refused(call) if refused else f"ok {call}")
            if not refused:
                self.stored.append(call)
        return replies


def _resolve(call: Any, exc: BaseException) -> BaseException:
    return exc


def _abandoned(call: Any) -> BaseException:
    raise AssertionError(f"{call} was abandoned, though nothing was cut short")


def model(
    sequence: Sequence[Write | Save], carried: int | None = None, kept: int = 1024
) -> tuple[dict[int, str | None], list[str]]:
    """Per save (by position): the refused write it raises, or ``None`` when it is stored;
    and the failures left for later saves, oldest first. Only the first ``carried`` writes
    (all by default) were carried; a write sent at once reports its own failure. At most
    ``kept`` failures are kept, the oldest dropped first."""
    failed: dict[tuple[str, str], str] = {}  # slot -> the first write refused there
    told: dict[int, str | None] = {}
    for n, op in enumerate(sequence):
        if isinstance(op, Write):
            slot = (op.checkpoint, op.task)
            if not op.refused:
                failed.pop(slot, None)  # written again: made up for
            elif slot not in failed and (carried is None or n < carried):
                if len(failed) >= kept:
                    del failed[next(iter(failed))]
                failed[slot] = f"w{n}"
        else:
            mine = [slot for slot in failed if slot[0] == op.parent]
            told[n] = failed[mine[0]] if mine else None
            for slot in mine:
                del failed[slot]
    return told, list(failed.values())


def _queued(group: GroupCommit, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(group._queues.get("t", [])) < count:
        assert time.monotonic() < deadline, "calls did not queue"
        time.sleep(0.0005)


@settings(max_examples=150, deadline=None)
@given(ops, ops, st.sampled_from(["a thread", "asyncio"]), st.sampled_from([1024, 1, 2]))
def test_a_save_is_stored_only_if_no_carried_write_it_builds_on_is_missing(
    sequence: list[Write | Save], later: list[Write | Save], late_by: str, kept: int
) -> None:
    names = [f"w{n}" if isinstance(op, Write) else f"s{n}" for n, op in enumerate(sequence)]
    refused = {name for name, op in zip(names, sequence, strict=True) if getattr(op, "refused", 0)}
    server = Server(refused)
    group = GroupCommit(_resolve, _abandoned)
    group.FAILURES_KEPT = kept
    saves: dict[int, Future[Any]] = {}
    with ThreadPoolExecutor(1 + len(sequence)) as pool:
        leader = pool.submit(group.send, "t", "held", server.send_one, server.send_many)
        assert server.entered.wait(5)
        queued = 0
        for n, (name, op) in enumerate(zip(names, sequence, strict=True)):
            if isinstance(op, Write):
                slot = (op.checkpoint, op.task)
                carried = group.send(
                    "t", name, server.send_one, server.send_many, (), carry=True, slot=slot
                )
                assert carried is None  # queued behind the held call: its caller goes on
            else:
                saves[n] = pool.submit(group.save, ["t"], name, server.send_one, op.parent)
                if not queued:  # nothing carried to go after: it goes out at once
                    assert saves[n].result(5) == f"ok {name}"
                    continue
            queued += 1
            _queued(group, queued)
        server.hold.set()
        outcomes = {n: _outcome(future) for n, future in saves.items()}
        led = _outcome(leader)
    told, left = model(sequence, kept=kept)
    assert outcomes == {n: f"ok s{n}" if w is None else w for n, w in told.items()}
    # everything else was stored, in the order it queued
    first_write = next((n for n, op in enumerate(sequence) if isinstance(op, Write)), None)
    early = names if first_write is None else names[:first_write]
    expected = [*early, "held"] + [
        name
        for n, name in enumerate(names)
        if name not in early and name not in refused and told.get(n) is None
    ]
    assert server.stored == expected
    # the held call reports the first refused write it carried
    first = next((name for name in names if name in refused), None)
    assert led == ("ok held" if first is None else first)
    assert group._queues == {} and group._owed == {}
    # then, with nothing queued, writes and saves one at a time, from threads or from
    # asyncio (which waits for carried writes, checks, sends, and tells what it wrote): a
    # failure no save met is told to the next save on its checkpoint, once, unless its
    # task wrote there again; a write sent at once that fails is its own caller's to know
    everything = [*sequence, *later]
    told, left = model(everything, carried=len(sequence), kept=kept)
    server.refuses |= {
        f"w{n}" for n, op in enumerate(later, start=len(sequence)) if getattr(op, "refused", 0)
    }
    for n, op in enumerate(later, start=len(sequence)):
        name = f"w{n}" if isinstance(op, Write) else f"s{n}"
        if isinstance(op, Write):
            expected = name if op.refused else f"ok {name}"
            assert _outcome_of(_late_write, group, server, op, name, late_by) == expected
        else:
            expected = told[n] or f"ok {name}"
            assert _outcome_of(_late_save, group, server, op.parent, name, late_by) == expected
    for checkpoint in CHECKPOINTS:
        mine = [w for w in left if getattr(everything[int(w[1:])], "checkpoint", "") == checkpoint]
        for late in (mine[0] if mine else "ok late", "ok late"):
            assert _outcome_of(_late_save, group, server, checkpoint, "late", late_by) == late
    assert group._failed == {} and group._failed_at == {}


def _late_write(group: GroupCommit, server: Server, op: Write, name: str, by: str) -> Any:
    """A task's write once nothing is queued: by :meth:`GroupCommit.send`, or as the asyncio
    path makes it, a send of its own and then :meth:`GroupCommit.written`."""
    slot = (op.checkpoint, op.task)
    if by == "a thread":
        return group.send("t", name, server.send_one, server.send_many, carry=True, slot=slot)
    reply = server.send_one(name)
    group.written("t", slot)
    return reply


def _late_save(group: GroupCommit, server: Server, checkpoint: str, name: str, by: str) -> Any:
    """A save on ``checkpoint`` once nothing is queued: by :meth:`GroupCommit.save`, or as
    the asyncio path makes it, :meth:`GroupCommit.check_save` and then a send of its own."""
    if by == "a thread":
        return group.save(["t"], name, server.send_one, checkpoint)
    group.check_save("t", checkpoint)
    return server.send_one(name)


def _outcome(future: Future[Any]) -> Any:
    return _outcome_of(future.result, 5)


def _outcome_of(call: Callable[..., Any], *args: Any) -> Any:
    """The call's reply, or the name of the refused write it raised."""
    try:
        return call(*args)
    except Refused as exc:
        return str(exc)
