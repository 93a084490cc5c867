"""Group commit for threads (``invoke``): a queued call whose caller need not wait is
carried, and what stands in for its answer."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Hashable, Sequence
from typing import Any

from kortyx_langgraph.redis.batching.waiters import (
    Abandoned,
    Resolve,
    SendMany,
    SendOne,
    Waiter,
    settle,
)

_Mine = tuple[str, tuple[Hashable, Hashable]]
"""A kept failure's ``(key, slot)``; the slot is ``(checkpoint, writer)``."""


def _free_frames(error: BaseException) -> None:
    """Let go of what the finished frames in ``error``'s tracebacks (its causes' too) held,
    such as the arguments of the batch that failed; the tracebacks still print."""
    seen: set[int] = set()
    chain: list[BaseException | None] = [error]
    while chain:
        one = chain.pop()
        if one is None or id(one) in seen:
            continue
        seen.add(id(one))
        traceback.clear_frames(one.__traceback__)
        chain += [one.__cause__, one.__context__]


class _Queued(Waiter):
    """A queued call of a thread, with what carrying it needs."""

    __slots__ = ("covers", "saves", "slot")

    def __init__(self, call: Any) -> None:
        super().__init__(call)
        self.covers: tuple[str, ...] = ()
        """For a carried call not sent yet: the keys whose operations wait for it."""
        self.saves = False
        """Set for a checkpoint save queued behind carried calls."""
        self.slot: tuple[Hashable, Hashable] = (None, None)
        """What the call writes, ``(checkpoint, writer)``; for a save, ``(the checkpoint it
        builds on, None)``."""


def _next_batch(queue: list[_Queued]) -> tuple[list[_Queued], list[_Queued]]:
    """``(next batch, what stays queued)``: a save goes alone, the calls before it together."""
    if queue[0].saves:
        return queue[:1], queue[1:]
    cut = next((i for i, waiter in enumerate(queue) if waiter.saves), len(queue))
    return queue[:cut], queue[cut:]


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
      checkpoint is stored past a missing carried write; a run that writes the slot again
      (the task runs again, here or through :meth:`written`) saves as usual, and so does
      one that builds on another checkpoint (new input after a failed run). At most
      :attr:`FAILURES_KEPT` failures are kept, the oldest of any key dropped first.

    A call sent at once, carried or not, is not kept when it fails: its caller gets the
    error, as from any saver, and LangGraph's own wait for it decides (a save after a
    failed ``DeltaChannel`` write fails in LangGraph itself).
    """

    FAILURES_KEPT = 1024
    """How many failed carried calls are kept for the saves after them, at most."""

    REWRITE_WAIT_S = 1.0
    """How long a save that comes with nothing carried still to send waits for a failed
    slot of its checkpoint to be written again before it raises that failure: a run that
    runs the task again (the next run of the thread) writes the slot again, and LangGraph
    may send that run's save first, since it does not order a step's save after its
    writes."""

    def __init__(self, resolve: Resolve, abandoned: Abandoned) -> None:
        self._resolve = resolve
        self._abandoned = abandoned
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._queues: dict[str, list[_Queued]] = {}
        self._owed: dict[str, int] = {}
        """Per key covered by a carried call: how many are not sent yet."""
        self._failed: dict[_Mine, BaseException] = {}
        """Per ``(key, slot)``, oldest first: the carried calls that failed, for the key's
        next save."""
        self._failed_at: dict[tuple[str, Hashable], dict[_Mine, None]] = {}
        """The same ``(key, slot)`` pairs per ``(key, checkpoint)``, oldest first: what a
        save of ``key`` building on ``checkpoint`` looks up, whatever else is kept."""

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
        me = _Queued(call)
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
        me = _Queued(call)
        me.saves = True
        me.slot = (after, None)
        failed = None
        with self._lock:
            queue = self._queues.get(key)
            if queue is None or not any(k in self._owed for k in keys):
                self._await_rewrite(key, after)
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

    def check_save(self, key: str, after: Hashable) -> None:
        """For a save of ``key`` sent by other means (asyncio) once its carried calls are
        sent: raise the error of one that failed writing to checkpoint ``after`` (each such
        failure is told once, as :meth:`save` tells it)."""
        if not self._failed:
            return
        with self._lock:
            failed = self._first_failure(key, after)
        if failed is not None:
            raise failed

    def rewrite_pending(self, key: str, after: Hashable) -> bool:
        """Whether a failure of a write to checkpoint ``after`` of ``key`` is kept (an
        asyncio save polls it for up to :attr:`REWRITE_WAIT_S` before :meth:`check_save`)."""
        return bool(self._failed) and (key, after) in self._failed_at

    def _await_rewrite(self, key: str, after: Hashable) -> None:
        """Wait up to :attr:`REWRITE_WAIT_S` for the kept failures of writes to checkpoint
        ``after`` to be made up for by writes of the same slots (lock held, and released
        while waiting)."""
        if self.rewrite_pending(key, after):
            self._settled.wait_for(
                lambda: (key, after) not in self._failed_at, timeout=self.REWRITE_WAIT_S
            )

    def written(self, key: str, slot: tuple[Hashable, Hashable]) -> None:
        """For a write of ``key`` sent by other means (asyncio) that succeeded: it wrote
        ``slot`` again, which makes up for a kept failure of that slot."""
        if not self._failed:
            return
        with self._lock:
            self._forget((key, slot))

    def _lead(self, key: str, me: _Queued, send_one: SendOne, send_many: SendMany) -> Any:
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
            del batch, waiter  # the error is kept, and its traceback keeps this frame
            raise carried_error
        return me.outcome()

    def _save(self, key: str, save: _Queued, send_one: SendOne) -> None:
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

    def _account(self, key: str, waiter: _Queued) -> None:
        """Keep a carried call's failure for the saves after it; a call that wrote the same
        slot since makes up for it (lock held)."""
        if waiter.saves:
            return
        mine = (key, waiter.slot)
        if waiter.error is None:
            if self._failed:
                self._forget(mine)
        elif waiter.covers and mine not in self._failed:
            self._keep(mine, waiter.error)

    def _keep(self, mine: _Mine, error: BaseException) -> None:
        """Keep a failure of ``mine``; past :attr:`FAILURES_KEPT`, the oldest goes (lock
        held)."""
        if len(self._failed) >= self.FAILURES_KEPT:
            self._forget(next(iter(self._failed)))
        _free_frames(error)
        self._failed[mine] = error
        self._failed_at.setdefault((mine[0], mine[1][0]), {})[mine] = None

    def _forget(self, mine: _Mine) -> None:
        """Drop the kept failure of ``mine``, if any (lock held)."""
        if self._failed.pop(mine, None) is None:
            return
        at = (mine[0], mine[1][0])
        slots = self._failed_at[at]
        del slots[mine]
        if not slots:
            del self._failed_at[at]
            self._settled.notify_all()  # a save may wait for its checkpoint's writes

    def _first_failure(self, key: str, after: Hashable) -> BaseException | None:
        """The first kept failure of ``key`` writing to checkpoint ``after``; every such
        failure is told now (lock held)."""
        if not self._failed:
            return None
        told = self._failed_at.pop((key, after), None)
        if told is None:
            return None
        errors = [self._failed.pop(mine) for mine in told]
        return errors[0]

    def _release(self, waiters: Sequence[_Queued]) -> None:
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

    def _send(self, batch: list[_Queued], send_one: SendOne, send_many: SendMany) -> None:
        alone = batch
        if len(batch) > 1:
            try:
                alone = settle(batch, send_many([w.call for w in batch]), self._resolve)
            except Exception:
                alone = batch  # the pipeline failed as a whole: each call on its own
        for waiter in alone:
            try:
                waiter.answer(send_one(waiter.call))
            except Exception as exc:
                waiter.answer(error=exc)
