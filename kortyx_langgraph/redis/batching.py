"""Group commit: concurrent ``put_writes`` calls of one thread share one round trip.

A fan-out of n ``Send`` tasks hands the saver n ``put_writes`` calls at once, from
LangGraph's worker threads (or its asyncio tasks). Sent one by one, each call waits for a
round trip of its own, and on a busy machine the round trips, not Redis, are the cost.

Here the first call of a thread is sent at once, exactly as a lone call always was. Calls
of the same thread that arrive while it is in flight queue up and go out together, as one
pipeline, when it returns. Every call is still its own script call, atomic on its own,
with its own reply or error; nothing waits for a timer, and a thread whose calls never
overlap (an agent loop) never waits for another. A pipeline that fails as a whole is sent
again call by call, through the adapter's retry policy (every write script is safe to
repeat); a call the pipeline could not run where it was sent (the script is not cached
there, the slot moved) goes again on its own.

:class:`AsyncGroupCommit` (one per event loop) hands the line from batch to batch: each
queued task awaits its own outcome, which costs it nothing but a place in the loop.

:class:`GroupCommit`, for threads, does not make a queued caller wait when the call says it
need not (``carry``: a task's plain writes, which LangGraph does not wait on to order its
own steps). Under ``invoke`` those callers are the few threads of LangGraph's pool that
also run the tasks, so a thread held for a round trip is a task not run. The call in flight
sends for them, and a checkpoint save or any other operation on the thread goes after them
(see :class:`GroupCommit`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Hashable, Sequence
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

    __slots__ = ("call", "covers", "done", "error", "leads", "reply", "saves", "settled", "slot")

    def __init__(self, call: Any) -> None:
        self.call = call
        self.reply: Any = None
        self.error: BaseException | None = None
        self.settled = False
        self.leads = False
        """Set when this call sends the next batch of its thread."""
        self.done: Any = None
        self.covers: tuple[str, ...] = ()
        """For a carried call not sent yet: the keys whose operations wait for it."""
        self.saves = False
        """Set for a checkpoint save queued behind carried calls."""
        self.slot: tuple[Hashable, Hashable] = (None, None)
        """What the call writes, ``(checkpoint, writer)``; for a save, ``(the checkpoint it
        builds on, None)``."""

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


def _next_batch(queue: list[_Waiter]) -> tuple[list[_Waiter], list[_Waiter]]:
    """``(next batch, what stays queued)``: a save goes alone, the calls before it together."""
    if queue[0].saves:
        return queue[:1], queue[1:]
    cut = next((i for i, waiter in enumerate(queue) if waiter.saves), len(queue))
    return queue[:cut], queue[cut:]


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
    """Sync group commit: threads of one process sending calls for the same key.

    The first call of a key is sent at once and keeps the line: it sends whatever queued
    behind it, batch after batch, and returns only when its key's queue is empty, with its
    own outcome, or, if that succeeded, the first error of a call it carried.

    A call that arrives while its key has one in flight queues behind it and either
    - waits for its batch and returns its own outcome, or
    - with ``carry``, is *carried*: its caller returns ``None`` at once and holds no thread
      while it waits. Whoever waits for every caller (LangGraph waits for all of a run's
      ``put_writes`` before the run returns) still finds every write stored or an error
      raised.

    Since a carried caller was told nothing of its outcome, two things stand in for it:
    - :meth:`wait_settled` holds this process's other operations on the same keys until the
      calls carried for them are sent, so the process reads its own writes;
    - a checkpoint save (:meth:`save`) goes after the carried calls of its key. While one of
      them failed, its ``slot`` ``(checkpoint, writer)`` was not written again since, and
      the save builds on that checkpoint, the save is not sent: it raises that call's error
      instead, once, as LangGraph's save does when a write it waited for failed. So no
      checkpoint is stored past a missing write; a run that writes the slot again (the task
      runs again) saves as usual, and so does one that builds on another checkpoint (new
      input after a failed run). At most :attr:`FAILURES_KEPT` failures are kept, the
      oldest dropped first.
    """

    FAILURES_KEPT = 1024
    """How many failed carried calls are kept for the saves after them, at most."""

    def __init__(self, resolve: Resolve, abandoned: Abandoned) -> None:
        self._resolve = resolve
        self._abandoned = abandoned
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._queues: dict[str, list[_Waiter]] = {}
        self._owed: dict[str, int] = {}
        """Per key covered by a carried call: how many are not sent yet."""
        self._failed: dict[str, dict[tuple[Hashable, Hashable], BaseException]] = {}
        """Per key, per slot: the carried calls that failed, for the key's next save."""
        self._failures = 0

    def send(
        self,
        key: str,
        call: Any,
        send_one: SendOne,
        send_many: SendMany,
        covers: Sequence[str] = (),
        *,
        carry: bool = False,
        slot: tuple[Hashable, Hashable] | None = None,
    ) -> Any:
        """Send ``call`` for ``key``, in a batch with others queued for ``key``; with
        ``carry``, a call queued behind another returns ``None`` at once. ``covers``: the
        keys whose other operations wait until a carried call is sent (``key`` always is);
        ``slot``: what the call writes, ``(checkpoint, writer)``, so that a later call
        writing it again makes up for a failed one (without one, nothing does)."""
        me = _Waiter(call)
        me.slot = (None, object()) if slot is None else slot
        with self._lock:
            queue = self._queues.get(key)
            if queue is None:
                self._queues[key] = []
            else:
                queue.append(me)
                if carry:
                    me.covers = (key, *covers)
                    for covered in me.covers:
                        self._owed[covered] = self._owed.get(covered, 0) + 1
                    return None
                me.done = threading.Event()
        if me.done is not None:
            me.done.wait()
            return me.outcome()
        return self._lead(key, me, send_one, send_many)

    def save(
        self, keys: Sequence[str], call: Any, send_one: SendOne, after: Hashable = None
    ) -> Any:
        """Send the checkpoint save ``call`` of ``keys[0]``, which builds on checkpoint
        ``after``, after every call carried for ``keys``; raise instead the error of one
        that failed writing to ``after``, whether it is still queued or was sent before."""
        if not self._owed and not self._failed:
            return send_one(call)  # nothing carried, nothing failed: every agent-loop save
        key = keys[0]
        me = _Waiter(call)
        me.saves = True
        me.slot = (after, None)
        failed = None
        with self._lock:
            queue = self._queues.get(key)
            if queue is None or not any(k in self._owed for k in keys):
                failed = self._first_failure(key, after)
            else:
                me.done = threading.Event()
                queue.append(me)
        if me.done is None:
            if failed is not None:
                raise failed
            return send_one(call)
        me.done.wait()
        return me.outcome()

    def _lead(self, key: str, me: _Waiter, send_one: SendOne, send_many: SendMany) -> Any:
        batch = [me]
        carried_error: BaseException | None = None
        try:
            while True:
                if batch[0].saves:
                    self._save(key, batch[0], send_one)
                else:
                    self._send(batch, send_one, send_many)
                with self._lock:
                    for waiter in batch:
                        if waiter.covers and waiter.error is not None:
                            carried_error = carried_error or waiter.error
                        self._account(key, waiter)
                    self._release(batch)
                    queue = self._queues[key]
                    if not queue:
                        del self._queues[key]
                        break
                    batch, self._queues[key] = _next_batch(queue)
        except BaseException:
            with self._lock:  # cut short: nothing more is sent
                batch = [*batch, *self._queues.pop(key, [])]
                for waiter in batch:
                    if waiter is not me and not waiter.settled:
                        waiter.answer(error=self._abandoned(waiter.call))
                    if waiter.settled:  # not the call in flight, which has no outcome
                        self._account(key, waiter)
                self._release(batch)
            raise
        if me.error is None and carried_error is not None:
            raise carried_error
        return me.outcome()

    def _save(self, key: str, save: _Waiter, send_one: SendOne) -> None:
        """A save queued behind carried calls: sent alone, unless one of them failed."""
        with self._lock:
            failed = self._first_failure(key, save.slot[0])
        if failed is not None:
            save.answer(error=failed)
            return
        try:
            save.answer(send_one(save.call))
        except Exception as exc:
            save.answer(error=exc)

    def _account(self, key: str, waiter: _Waiter) -> None:
        """Keep a carried call's failure for the saves after it; a call that wrote the same
        slot since makes up for it (lock held)."""
        if waiter.saves:
            return
        failed = self._failed.get(key)
        if waiter.error is None:
            if failed is not None and failed.pop(waiter.slot, None) is not None:
                self._failures -= 1
                if not failed:
                    del self._failed[key]
        elif waiter.covers and (failed is None or waiter.slot not in failed):
            if self._failures >= self.FAILURES_KEPT:  # the oldest goes
                oldest_key = next(iter(self._failed))
                oldest = self._failed[oldest_key]
                del oldest[next(iter(oldest))]
                self._failures -= 1
                if not oldest:
                    del self._failed[oldest_key]
            self._failed.setdefault(key, {})[waiter.slot] = waiter.error
            self._failures += 1

    def _first_failure(self, key: str, after: Hashable) -> BaseException | None:
        """The first kept failure of ``key`` writing to checkpoint ``after``; every such
        failure is told now (lock held)."""
        failed = self._failed.get(key)
        if not failed:
            return None
        told = [slot for slot in failed if slot[0] == after]
        if not told:
            return None
        first = failed[told[0]]
        for slot in told:
            del failed[slot]
        self._failures -= len(told)
        if not failed:
            del self._failed[key]
        return first

    def _release(self, waiters: Sequence[_Waiter]) -> None:
        """The waiting calls among ``waiters`` are answered, and the carried ones no longer
        owed (lock held)."""
        released = False
        for waiter in waiters:
            if waiter.done is not None:
                waiter.done.set()
            for covered in waiter.covers:
                left = self._owed[covered] - 1
                if left:
                    self._owed[covered] = left
                else:
                    del self._owed[covered]
            released = released or bool(waiter.covers)
            waiter.covers = ()
        if released:
            self._settled.notify_all()

    def owes(self, keys: Sequence[str]) -> bool:
        """Whether a carried call covering one of ``keys`` is not sent yet."""
        owed = self._owed
        return bool(owed) and any(k in owed for k in keys)

    def wait_settled(self, keys: Sequence[str]) -> None:
        """Return once no carried call covering one of ``keys`` is left to send."""
        if self._owed:
            with self._settled:
                self._settled.wait_for(lambda: not any(k in self._owed for k in keys))

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
