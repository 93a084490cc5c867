"""Group commit for asyncio tasks (``ainvoke``): each queued task awaits its own outcome,
and the line passes from batch to batch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from kortyx_langgraph.redis.batching.waiters import Abandoned, Resolve, Waiter, settle


class _Queued(Waiter):
    """A queued call of an asyncio task."""

    __slots__ = ("leads",)

    def __init__(self, call: Any) -> None:
        super().__init__(call)
        self.leads = False
        """Set when this call sends the next batch of its thread."""


def _nothing(call: Any) -> None:
    """The default ``landed``: nothing to tell."""


def _cut_short(batch: Sequence[_Queued], abandoned: Abandoned) -> None:
    """Every queued call of ``batch`` that got no outcome gets ``abandoned``'s error."""
    for waiter in batch[1:]:
        if not waiter.settled:
            waiter.answer(error=abandoned(waiter.call))


def _hand_on(queues: dict[str, list[_Queued]], key: str) -> _Queued | None:
    """The turn of ``key`` passes to its first queued call (returned, to be woken), or,
    with none queued, ``key`` has nothing in flight any more."""
    queue = queues[key]
    if not queue:
        del queues[key]
        return None
    following = queue.pop(0)
    following.leads = True
    return following


class AsyncGroupCommit:
    """Asyncio group commit: tasks of one event loop sending calls for the same key.

    ``landed`` is told of every call that succeeded, by whichever task sent it, so also of
    one whose own task was cancelled while its batch was under way.
    """

    def __init__(
        self, resolve: Resolve, abandoned: Abandoned, landed: Callable[[Any], None] = _nothing
    ) -> None:
        self._resolve = resolve
        self._abandoned = abandoned
        self._landed = landed
        self._queues: dict[str, list[_Queued]] = {}

    async def send(
        self,
        key: str,
        call: Any,
        send_one: Callable[[Any], Awaitable[Any]],
        send_many: Callable[[Sequence[Any]], Awaitable[list[Any]]],
    ) -> Any:
        """Send ``call`` for ``key``, in a batch with others queued for ``key``."""
        me = _Queued(call)
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
                    alone = settle(batch, replies, self._resolve)
                except Exception:
                    alone = batch
            for waiter in alone:
                try:
                    waiter.answer(await send_one(waiter.call))
                except Exception as exc:
                    waiter.answer(error=exc)
        finally:
            _cut_short(batch, self._abandoned)
            for waiter in batch:
                if waiter.settled and waiter.error is None:
                    self._landed(waiter.call)
            following = _hand_on(self._queues, key)
            if following is not None:
                following.done.set()
            for waiter in batch[1:]:
                waiter.done.set()
        return me.outcome()

    def _resign(self, key: str, me: _Queued) -> None:
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
