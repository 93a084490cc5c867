"""``adapter.pending``: the pending-interrupt store of every backend, written once.

Each method hands the backend's flow to its engine, like the saver methods do; see
:mod:`kortyx_langgraph.pending` for what the store holds and how to use it.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from kortyx_langgraph.pending import PendingInterrupt

if TYPE_CHECKING:
    from kortyx_langgraph.core.adapter import Operations
    from kortyx_langgraph.core.flows import Engine


class PendingStore:
    """Lookup and atomic claim of pending interrupts; every method has an async twin.

    ``claim`` is atomic in the backend (a lock in memory, one Lua script in Redis): of any
    number of concurrent callers, in any number of processes, exactly one wins.
    """

    def __init__(self, ops: Operations, engine: Engine) -> None:
        self._ops = ops
        self._engine = engine

    def __repr__(self) -> str:
        return f"PendingStore({self._engine!r})"

    def get(self, token: str) -> PendingInterrupt:
        """The interrupt for ``token``, claimed or not.

        Raises ``UnknownTokenError`` (resumed, deleted, never existed) or
        ``ExpiredTokenError`` (its thread expired).
        """
        return self._engine.run(self._ops.pending_lookup(token, "get"))

    def list(self, thread_id: str) -> builtins.list[PendingInterrupt]:
        """Every interrupt pending on ``thread_id``, claimed ones included, oldest first."""
        return self._engine.run(self._ops.pending_list(thread_id))

    def claim(self, token: str) -> PendingInterrupt:
        """Take the interrupt; every later claim raises ``AlreadyClaimedError``."""
        return self._engine.run(self._ops.pending_lookup(token, "claim"))

    def claim_next(self, thread_id: str) -> PendingInterrupt:
        """Claim the oldest unclaimed interrupt of ``thread_id`` in one step.

        For a worker that resumes whatever a thread waits for: ``list`` and ``claim`` in one
        atomic call (one round trip on Redis). Raises ``NothingPendingError`` when nothing is
        left to claim.
        """
        return self._engine.run(self._ops.pending_claim_next(thread_id))

    def release(self, token: str) -> PendingInterrupt:
        """Undo a claim (for a worker that claimed but could not resume)."""
        return self._engine.run(self._ops.pending_lookup(token, "release"))

    async def aget(self, token: str) -> PendingInterrupt:
        """Async :meth:`get`."""
        return await self._engine.arun(self._ops.pending_lookup(token, "get"))

    async def alist(self, thread_id: str) -> builtins.list[PendingInterrupt]:
        """Async :meth:`list`."""
        return await self._engine.arun(self._ops.pending_list(thread_id))

    async def aclaim(self, token: str) -> PendingInterrupt:
        """Async :meth:`claim`."""
        return await self._engine.arun(self._ops.pending_lookup(token, "claim"))

    async def aclaim_next(self, thread_id: str) -> PendingInterrupt:
        """Async :meth:`claim_next`."""
        return await self._engine.arun(self._ops.pending_claim_next(thread_id))

    async def arelease(self, token: str) -> PendingInterrupt:
        """Async :meth:`release`."""
        return await self._engine.arun(self._ops.pending_lookup(token, "release"))
