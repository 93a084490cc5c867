"""``adapter.pending``: the pending-interrupt store of every backend, written once.

Each method hands the backend's flow to its engine, like the saver methods do; see
:mod:`kortyx_langgraph.pending` for what the store holds and how to use it.
"""

from __future__ import annotations

import builtins
import dataclasses
import threading
from collections.abc import Collection
from typing import TYPE_CHECKING

from langgraph.checkpoint.base import BaseCheckpointSaver

from kortyx_langgraph.core.interrupts import check_claim_id, check_lease, new_claim_id
from kortyx_langgraph.errors import (
    ConfigurationError,
    ReplicationError,
    WriteOutcomeUnknownError,
)
from kortyx_langgraph.pending import DEFAULT_LEASE_MS, PendingInterrupt

if TYPE_CHECKING:
    from kortyx_langgraph.core.adapter import Operations, PendingAction
    from kortyx_langgraph.core.flows import Engine, Flow


class PendingStore:
    """Lookup and atomic, leased claims of pending interrupts; every method has an async twin.

    ``claim`` is atomic in the backend (a lock in memory, one Lua script in Redis): of any
    number of concurrent callers, in any number of processes, exactly one wins. Each claim
    has an id made here, before anything is sent, so a retry of the same claim (by the
    caller or by a Redis client after a timeout) is recognised as its own and succeeds.
    """

    def __init__(self, ops: Operations, engine: Engine) -> None:
        self._ops = ops
        self._engine = engine
        self._allowing = threading.Lock()

    def __repr__(self) -> str:
        return f"PendingStore({self._engine!r})"

    def allow(self, extra_allowlist: Collection[tuple[str, ...]]) -> None:
        """Read stored values with ``extra_allowlist`` added to the serializer's msgpack
        allowlist, as LangGraph derives a compiled graph's (called by ``with_allowlist``)."""
        with self._allowing:  # graphs compiled at once in two threads both add theirs
            ops = self._ops
            serde = BaseCheckpointSaver(serde=ops.serde).with_allowlist(extra_allowlist).serde
            if serde is not ops.serde:  # a graph compiled again adds nothing new
                self._ops = dataclasses.replace(ops, serde=serde)  # type: ignore[type-var]

    def _lookup(
        self, token: str, action: PendingAction, claim_id: str | None, lease_ms: int | None
    ) -> Flow[PendingInterrupt]:
        lease = DEFAULT_LEASE_MS if lease_ms is None else check_lease(lease_ms)
        if action == "release":
            if claim_id is None:  # the claim_id of a record that get or list returned
                raise ConfigurationError(
                    "release needs the claim_id of the claim to undo, as claim() or "
                    "claim_next() returned it; a record from get() or list() carries none",
                    variable="claim_id",
                )
            claim = check_claim_id(claim_id)
        else:
            claim = new_claim_id() if claim_id is None else check_claim_id(claim_id)
        return self._ops.pending_lookup(token, action, claim, lease)

    def _claim(
        self, token: str, claim_id: str | None, lease_ms: int | None
    ) -> tuple[str, Flow[PendingInterrupt]]:
        claim = new_claim_id() if claim_id is None else check_claim_id(claim_id)
        return claim, self._lookup(token, "claim", claim, lease_ms)

    def _claim_next(
        self, thread_id: str, claim_id: str | None, lease_ms: int | None
    ) -> tuple[str, Flow[PendingInterrupt]]:
        lease = DEFAULT_LEASE_MS if lease_ms is None else check_lease(lease_ms)
        claim = new_claim_id() if claim_id is None else check_claim_id(claim_id)
        return claim, self._ops.pending_claim_next(thread_id, claim, lease)

    def _claimed(self, claim: str, flow: Flow[PendingInterrupt]) -> PendingInterrupt:
        try:
            return self._engine.run(flow)
        except (WriteOutcomeUnknownError, ReplicationError) as exc:
            raise _with_claim_id(exc, claim) from exc.__cause__

    async def _aclaimed(self, claim: str, flow: Flow[PendingInterrupt]) -> PendingInterrupt:
        try:
            return await self._engine.arun(flow)
        except (WriteOutcomeUnknownError, ReplicationError) as exc:
            raise _with_claim_id(exc, claim) from exc.__cause__

    def get(self, token: str) -> PendingInterrupt:
        """The interrupt for ``token``, claimed or not.

        Raises ``UnknownTokenError`` (answered, moved past, deleted, never existed) or
        ``ExpiredTokenError`` (its thread expired).
        """
        return self._engine.run(self._lookup(token, "get", None, None))

    def list(self, thread_id: str) -> builtins.list[PendingInterrupt]:
        """Every interrupt pending on ``thread_id``, claimed ones included, oldest first."""
        return self._engine.run(self._ops.pending_list(thread_id))

    def claim(
        self, token: str, *, lease_ms: int | None = None, claim_id: str | None = None
    ) -> PendingInterrupt:
        """Take the interrupt for ``lease_ms`` (default :data:`DEFAULT_LEASE_MS`).

        Returns the record with its ``claim_id``, the key to :meth:`release`. While the
        lease runs, every other claim raises ``AlreadyClaimedError``; claiming again with
        the same ``claim_id`` succeeds and extends the lease (a retry is safe).
        """
        return self._claimed(*self._claim(token, claim_id, lease_ms))

    def claim_next(
        self, thread_id: str, *, lease_ms: int | None = None, claim_id: str | None = None
    ) -> PendingInterrupt:
        """Claim the oldest unclaimed interrupt of ``thread_id`` in one step.

        For a worker that resumes whatever a thread waits for: ``list`` and ``claim`` in one
        atomic call (one round trip on Redis). A retry with the same ``claim_id`` returns
        the interrupt that claim already took instead of taking another. Raises
        ``NothingPendingError`` when nothing is left to claim.
        """
        return self._claimed(*self._claim_next(thread_id, claim_id, lease_ms))

    def release(self, token: str, claim_id: str | None) -> PendingInterrupt:
        """Undo the claim ``claim_id`` (for a worker that claimed but could not resume).

        Raises ``ClaimMismatchError`` while another claim holds the interrupt; releasing an
        interrupt nobody holds is a no-op.
        """
        return self._engine.run(self._lookup(token, "release", claim_id, None))

    async def aget(self, token: str) -> PendingInterrupt:
        """Async :meth:`get`."""
        return await self._engine.arun(self._lookup(token, "get", None, None))

    async def alist(self, thread_id: str) -> builtins.list[PendingInterrupt]:
        """Async :meth:`list`."""
        return await self._engine.arun(self._ops.pending_list(thread_id))

    async def aclaim(
        self, token: str, *, lease_ms: int | None = None, claim_id: str | None = None
    ) -> PendingInterrupt:
        """Async :meth:`claim`."""
        return await self._aclaimed(*self._claim(token, claim_id, lease_ms))

    async def aclaim_next(
        self, thread_id: str, *, lease_ms: int | None = None, claim_id: str | None = None
    ) -> PendingInterrupt:
        """Async :meth:`claim_next`."""
        return await self._aclaimed(*self._claim_next(thread_id, claim_id, lease_ms))

    async def arelease(self, token: str, claim_id: str | None) -> PendingInterrupt:
        """Async :meth:`release`."""
        return await self._engine.arun(self._lookup(token, "release", claim_id, None))


def _with_claim_id(
    error: WriteOutcomeUnknownError | ReplicationError, claim: str
) -> WriteOutcomeUnknownError | ReplicationError:
    """``error`` for a claim sent with id ``claim``, saying how to repeat it."""
    if isinstance(error, ReplicationError):
        return ReplicationError(
            f"{error}; the claim holds the interrupt with claim_id=error.claim_id: repeat "
            "the claim (claim or claim_next) with that id to get the record it holds, then "
            "resume or release it (another id is refused while its lease runs)",
            acknowledged=error.acknowledged,
            wanted=error.wanted,
            claim_id=claim,
        )
    return WriteOutcomeUnknownError(
        f"{error}; to repeat the claim, pass claim_id=error.claim_id: a claim that was "
        "applied is then recognised as this one (a claim with another id is refused while "
        "its lease runs)",
        operation=error.operation,
        claim_id=claim,
    )
