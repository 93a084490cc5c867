"""Concurrent ``put_writes`` of one thread sent as one script call. Pure code; no I/O.

Group commit (``redis/batching/``) sends the writes of a thread that arrive while one is in
flight in one pipeline. Each script call costs the server the same to enter and to end
(the arguments read, the helpers defined, the thread's five keys given their TTL again,
together about half of a small write's server time), so the writes of a pipeline that
follow one another are sent instead as one call of ``PUT_WRITES_MANY``, which runs them in
order and ends once. The pipeline carries one command where it carried n, and in a
fan-out of 4,000 tasks the server spends 19-33% less time in scripts under ``invoke`` and
43-49% less under ``ainvoke`` (``docs/benchmarks.md``).

A merged call stops at the first write that fails: the writes before it are answered as
stored, that write gets its own error, and each write after it (not run) is answered with
:class:`SendAlone`, so that group commit sends it again on its own. A merged call that
fails as a whole (the node lost the script, the slot moved: nothing ran) answers each of
its writes with :class:`SendAlone`. So no write runs twice, and each tells its own
outcome, as in a pipeline of single calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import redis.exceptions

from kortyx_langgraph.redis import scripts
from kortyx_langgraph.redis.operations import Call

MOST = 64
"""Writes in one merged call at most, so that no one script call runs long."""
MOST_BYTES = 1 << 20
"""Argument bytes in one merged call at most, for the same reason (the script copies each
value once): a write larger than that goes alone."""

Command = tuple[Any, ...]


class SendAlone(Exception):
    """The answer of a write that a merged call did not run (the call was refused, or it
    stopped at an earlier write that failed): send the write again on its own."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(f"a merged put_writes call failed: {error}")
        self.error = error


def _mergeable(step: Call, first: Call) -> bool:
    return (
        step.script is scripts.PUT_WRITES
        and first.script is scripts.PUT_WRITES
        and step.keys == first.keys
        and step.args[0] == first.args[0]  # the same ttl
    )


def _size(step: Call) -> int:
    return sum(len(arg) for arg in step.args if isinstance(arg, bytes | str))


def plan(steps: Sequence[Call]) -> list[list[int]]:
    """``steps`` cut into runs that go as one command each: consecutive ``put_writes`` of
    the same keys and ttl, at most :data:`MOST` to a run and :data:`MOST_BYTES` of
    arguments; any other call alone."""
    runs: list[list[int]] = []
    size = 0
    for i, step in enumerate(steps):
        grows = _size(step)
        if (
            runs
            and len(runs[-1]) < MOST
            and size + grows <= MOST_BYTES
            and _mergeable(step, steps[runs[-1][0]])
        ):
            runs[-1].append(i)
            size += grows
        else:
            runs.append([i])
            size = grows
    return runs


def commands(
    steps: Sequence[Call], runs: Sequence[Sequence[int]], loaded: Callable[[str], bool]
) -> list[Command]:
    """One command per run: the step's own ``EVALSHA``, or a merged call (``EVALSHA`` of
    ``PUT_WRITES_MANY`` once ``loaded(sha)`` says the node has it, ``EVAL`` before)."""
    out: list[Command] = []
    for run in runs:
        first = steps[run[0]]
        if len(run) == 1:
            out.append(("EVALSHA", first.script.sha, len(first.keys), *first.keys, *first.args))
            continue
        script = scripts.PUT_WRITES_MANY
        head = ("EVALSHA", script.sha) if loaded(script.sha) else ("EVAL", script.source)
        args: list[Any] = [len(run)]
        for i in run:
            call_args = steps[i].args
            args.append(len(call_args))
            args.extend(call_args)
        out.append((*head, len(first.keys), *first.keys, *args))
    return out


def replies(runs: Sequence[Sequence[int]], answers: Sequence[Any]) -> list[Any]:
    """Each step's reply from the runs' replies (the runs of :func:`plan`, which cover
    every step once). A merged call answers how many writes
    ran: ``1`` for each. One that stopped at a failed write answers ``[ran, error]``: ``1``
    for each write before it, a ``ResponseError`` for it, :class:`SendAlone` for the rest;
    an error reply to the call is :class:`SendAlone` for every write."""
    out: list[Any] = [None] * sum(len(run) for run in runs)
    for run, answer in zip(runs, answers, strict=True):
        if len(run) == 1:
            out[run[0]] = answer
            continue
        if isinstance(answer, BaseException):
            for i in run:
                out[i] = SendAlone(answer)
            continue
        ran = len(run) if isinstance(answer, int) else int(answer[0])
        for n, i in enumerate(run):
            if n < ran:
                out[i] = 1
            elif n == ran:
                message = answer[1]
                text = message.decode(errors="replace") if isinstance(message, bytes) else message
                out[i] = redis.exceptions.ResponseError(text)
            else:
                out[i] = SendAlone(out[run[ran]])
    return out
