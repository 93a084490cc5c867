"""What both group commits share: the callbacks they are given, and a queued call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

SendOne = Callable[[Any], Any]
"""Sends one call through the retry policy; returns its reply or raises its typed error."""
SendMany = Callable[[Sequence[Any]], list[Any]]
"""Sends calls as one pipeline; returns a reply or an exception per call, in order, and
raises only when the pipeline failed as a whole."""
Resolve = Callable[[Any, BaseException], BaseException | None]
"""For a call's error reply in a pipeline: the error to raise for it, or ``None`` when the
call must be sent again on its own."""
Abandoned = Callable[[Any], BaseException]
"""The error of a queued call whose batch was cut short (the sending task was cancelled,
the sending thread interrupted): it may or may not have run."""


class Waiter:
    """One queued call and, once sent, its outcome."""

    __slots__ = ("call", "done", "error", "reply", "settled")

    def __init__(self, call: Any) -> None:
        self.call = call
        self.reply: Any = None
        self.error: BaseException | None = None
        self.settled = False
        self.done: Any = None
        """What a caller waiting for the outcome waits on (an event of its colour)."""

    def answer(self, reply: Any = None, error: BaseException | None = None) -> None:
        """Record the outcome."""
        self.reply, self.error, self.settled = reply, error, True

    def outcome(self) -> Any:
        """The reply, or the error raised."""
        if self.error is not None:
            raise self.error
        return self.reply


W = TypeVar("W", bound=Waiter)


def settle(batch: Sequence[W], replies: Sequence[Any], resolve: Resolve) -> list[W]:
    """Give each waiter its pipeline reply; returns those that must go again alone."""
    again = []
    for waiter, reply in zip(batch, replies, strict=True):
        if isinstance(reply, BaseException):
            error = resolve(waiter.call, reply)
            if error is None:
                again.append(waiter)
            else:
                waiter.answer(error=error)
        else:
            waiter.answer(reply)
    return again
