"""What-if, not the package's behaviour: a ``put_writes`` of regular channels held back and
sent with its thread's next call, in one pipeline ("write with put").

``python -m benchmarks.write_with_put [options of benchmarks.run]`` runs the harness with
every Redis adapter's sync calls (``invoke``; ``ainvoke`` is left as shipped) changed so:

- a ``put_writes`` whose writes the adapter would let a caller not wait for (no write to
  one of LangGraph's own channels, such as an interrupt's) returns at once and is held;
- the thread's next call sends the held writes before it, in one pipeline; a ``put``
  therefore stores the step's writes and its checkpoint in one round trip.

It measures what a step would gain from one round trip fewer, which is what such a change
would be worth. It would cost a guarantee the adapter keeps: a write held is in no store
until the thread's next call, so a process that dies in between loses it, and a write
no later call follows (the last of a run that saves nothing after it) is never sent.
The harness's own reports and verdicts are printed as usual; the counts of held writes
go to stderr at the end.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kortyx_langgraph.redis import connection, scripts
from kortyx_langgraph.redis.operations import Call


@dataclass
class HeldWrites:
    """What the change did while in force."""

    held: int = 0
    """``put_writes`` calls held back."""
    sent_with_put: int = 0
    """Held calls sent in the same pipeline as a ``put``."""
    sent_before_other: int = 0
    """Held calls sent ahead of another call of their thread."""
    waiting: dict[str, list[Call]] = field(default_factory=dict)
    """Per thread (its first key), the calls held and not sent yet."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def left(self) -> int:
        """Held calls never sent."""
        return sum(map(len, self.waiting.values()))


@contextlib.contextmanager
def writes_held() -> Iterator[HeldWrites]:
    """The change, in force for every Redis adapter while the block runs."""
    shipped = connection.RedisConnection._send_step
    found = HeldWrites()

    def send_step(self: connection.RedisConnection, client: Any, step: Any) -> Any:
        if isinstance(step, Call) and step.script is scripts.PUT_WRITES and step.carry:
            with found.lock:
                found.waiting.setdefault(step.keys[0], []).append(step)
                found.held += 1
            return None
        held = None
        if isinstance(step, Call):
            with found.lock:
                held = found.waiting.pop(step.keys[0], None)
        if not held:
            return shipped(self, client, step)
        together = step.script is scripts.PUT
        steps = [*held, step] if together else held
        reply: Any = None
        for one, answer in zip(steps, self._send_pipeline(client, steps), strict=True):
            redo = isinstance(answer, BaseException) or (one is step and isinstance(answer, list))
            # nothing ran (a script the node lost, a slot that moved) or a delta's base is
            # gone: sent alone, as shipped
            outcome = shipped(self, client, one) if redo else answer
            if one is step:
                reply = outcome
        with found.lock:
            if together:
                found.sent_with_put += len(held)
            else:
                found.sent_before_other += len(held)
        return reply if together else shipped(self, client, step)

    connection.RedisConnection._send_step = send_step  # type: ignore[method-assign]
    try:
        yield found
    finally:
        connection.RedisConnection._send_step = shipped  # type: ignore[method-assign]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``benchmarks.run`` with the change in force."""
    from benchmarks.run import main as run

    with writes_held() as found:
        status = run(argv, program="python -m benchmarks.write_with_put")
    print(
        f"write with put: {found.held} put_writes held, {found.sent_with_put} sent with a "
        f"put, {found.sent_before_other} before another call, {found.left()} never sent",
        file=sys.stderr,
    )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
