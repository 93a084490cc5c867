"""Group commit: concurrent ``put_writes`` calls of one thread share one round trip.

A fan-out of n ``Send`` tasks hands the saver n ``put_writes`` calls at once, from
LangGraph's worker threads (or its asyncio tasks). Sent one by one, each call waits for a
round trip of its own, and on a busy machine the round trips, not Redis, are the cost.

Here the first call of a thread is sent at once, exactly as a lone call always was. Calls
of the same thread that arrive while it is in flight queue up; when it returns, the first
of them sends everything queued as one pipeline and hands on in turn. Every call is still
its own script call, atomic on its own, with its own reply or error; nothing waits for a
timer, and a thread whose calls never overlap (an agent loop) never waits for another.
A pipeline that fails as a whole is sent again call by call, through the adapter's retry
policy (every write script is safe to repeat); a call the pipeline could not run where it
was sent (the script is not cached there, the slot moved) goes again on its own.

:class:`GroupCommit` is the sync colour (threads and an event each), :class:`AsyncGroupCommit`
the asyncio one (one per event loop); both keep one queue per thread key.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

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


class _Waiter:
    """One queued call and, once sent, its outcome."""

    __slots__ = ("call", "done", "error", "leads", "reply", "settled")

    def __init__(self, call: Any) -> None:
        self.call = call
        self.reply: Any = None
        self.error: BaseException | None = None
        self.settled = False
        self.leads = False
        """Set when this call sends the next batch of its thread."""
        self.done: Any = None

    def answer(self, reply: Any = None, error: BaseException | None = None) -> None:
        self.reply, self.error, self.settled = reply, error, True

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.reply


def _settle(batch: Sequence[_Waiter], replies: Sequence[Any], resolve: Resolve) -> list[_Waiter]:
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


def _cut_short(batch: Sequence[_Waiter], abandoned: Abandoned) -> None:
    """Every queued call of ``batch`` that got no outcome gets ``abandoned``'s error."""
    for waiter in batch[1:]:
        if not waiter.settled:
            waiter.answer(error=abandoned(waiter.call))


def _hand_on(queues: dict[str, list[_Waiter]], key: str) -> _Waiter | None:
    """The turn of ``key`` passes to its first queued call (returned, to be woken), or,
    with none queued, ``key`` has nothing in flight any more."""
    queue = queues[key]
    if not queue:
        del queues[key]
        return None
    following = queue.pop(0)
    following.leads = True
    return following


class GroupCommit:
    """Sync group commit: threads of one process sending calls for the same key."""

    def __init__(self, resolve: Resolve, abandoned: Abandoned) -> None:
        self._resolve = resolve
        self._abandoned = abandoned
        self._lock = threading.Lock()
        self._queues: dict[str, list[_Waiter]] = {}

    def send(self, key: str, call: Any, send_one: SendOne, send_many: SendMany) -> Any:
        """Send ``call`` for ``key``, in a batch with others queued for ``key``."""
        me = _Waiter(call)
        with self._lock:
            queue = self._queues.get(key)
            if queue is None:
                self._queues[key] = []
                me.leads = True
            else:
                me.done = threading.Event()
                queue.append(me)
        if not me.leads:
            try:
                me.done.wait()
            except BaseException:
                self._resign(key, me)
                raise
            if not me.leads:
                return me.outcome()
        batch = self._take(key, me)
        try:
            self._send(batch, send_one, send_many)
        finally:
            _cut_short(batch, self._abandoned)
            self._hand_on(key, batch)
        return me.outcome()

    def _resign(self, key: str, me: _Waiter) -> None:
        """A queued call whose thread was interrupted while it waited: out of the queue,
        or, if it was to send the next batch, that turn handed on."""
        with self._lock:
            queue = self._queues.get(key, [])
            if not me.leads:
                if me in queue:
                    queue.remove(me)
                return  # otherwise it is in a batch under way, which settles it
            following = _hand_on(self._queues, key)
        if following is not None:
            following.done.set()

    def _take(self, key: str, me: _Waiter) -> list[_Waiter]:
        with self._lock:
            queued = self._queues[key]
            self._queues[key] = []
        return [me, *queued]

    def _hand_on(self, key: str, batch: list[_Waiter]) -> None:
        with self._lock:
            following = _hand_on(self._queues, key)
        for waiter in batch[1:]:
            waiter.done.set()
        if following is not None:
            following.done.set()

    def _send(self, batch: list[_Waiter], send_one: SendOne, send_many: SendMany) -> None:
        alone = batch
        if len(batch) > 1:
            try:
                alone = _settle(batch, send_many([w.call for w in batch]), self._resolve)
            except Exception:
                alone = batch  # the pipeline failed as a whole: each call on its own
        for waiter in alone:
            try:
                waiter.answer(send_one(waiter.call))
            except Exception as exc:
                waiter.answer(error=exc)


class AsyncGroupCommit:
    """Asyncio group commit: tasks of one event loop sending calls for the same key."""

    def __init__(self, resolve: Resolve, abandoned: Abandoned) -> None:
        self._resolve = resolve
        self._abandoned = abandoned
        self._queues: dict[str, list[_Waiter]] = {}

    async def send(
        self,
        key: str,
        call: Any,
        send_one: Callable[[Any], Awaitable[Any]],
        send_many: Callable[[Sequence[Any]], Awaitable[list[Any]]],
    ) -> Any:
        """Send ``call`` for ``key``, in a batch with others queued for ``key``."""
        me = _Waiter(call)
        queue = self._queues.get(key)
        if queue is None:
            self._queues[key] = []
            me.leads = True
        else:
            me.done = asyncio.Event()
            queue.append(me)
            try:
                await me.done.wait()
            except BaseException:
                self._resign(key, me)
                raise
            if not me.leads:
                return me.outcome()
        batch = [me, *self._queues[key]]
        self._queues[key] = []
        try:
            alone = batch
            if len(batch) > 1:
                try:
                    replies = await send_many([w.call for w in batch])
                    alone = _settle(batch, replies, self._resolve)
                except Exception:
                    alone = batch
            for waiter in alone:
                try:
                    waiter.answer(await send_one(waiter.call))
                except Exception as exc:
                    waiter.answer(error=exc)
        finally:
            _cut_short(batch, self._abandoned)
            following = _hand_on(self._queues, key)
            if following is not None:
                following.done.set()
            for waiter in batch[1:]:
                waiter.done.set()
        return me.outcome()

    def _resign(self, key: str, me: _Waiter) -> None:
        """A queued call whose task was cancelled while it waited: out of the queue, or,
        if it was to send the next batch, that turn handed on."""
        queue = self._queues.get(key, [])
        if not me.leads:
            if me in queue:
                queue.remove(me)
            return  # otherwise it is in a batch under way, which settles it
        following = _hand_on(self._queues, key)
        if following is not None:
            following.done.set()
