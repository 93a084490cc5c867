"""The in-memory adapter's pending-interrupt store: lookups and atomic claims under one lock."""

from __future__ import annotations

import builtins
import threading

from langgraph.checkpoint.serde.base import SerializerProtocol

from kortyx_langgraph.core.ids import read_thread_id
from kortyx_langgraph.core.interrupts import (
    StoredPending,
    missing_token_error,
    parse_token,
    to_public,
)
from kortyx_langgraph.errors import AlreadyClaimedError
from kortyx_langgraph.memory.store import ThreadState, ThreadTable
from kortyx_langgraph.pending import PendingInterrupt


class InMemoryPendingStore:
    """``adapter.pending`` of the in-memory adapter; see :mod:`kortyx_langgraph.pending`."""

    def __init__(
        self, table: ThreadTable, lock: threading.RLock, serde: SerializerProtocol
    ) -> None:
        self._table = table
        self._lock = lock
        self._serde = serde

    def __repr__(self) -> str:
        return f"InMemoryPendingStore(pending={len(self._table.tokens)})"

    def _locate(self, token: str) -> tuple[ThreadState, StoredPending]:
        """The live record for ``token``; call with the lock held."""
        parts = parse_token(token)
        thread_id = self._table.tokens.get(token)
        state = self._table.find(thread_id) if thread_id is not None else None
        record = state.pending.get(token) if state is not None else None
        if state is None or record is None:
            raise missing_token_error(token, parts, self._table.now())
        return state, record

    def get(self, token: str) -> PendingInterrupt:
        """The pending interrupt for ``token``, claimed or not."""
        with self._lock:
            state, record = self._locate(token)
            deadline = state.deadline_ms
        return to_public(self._serde, record, deadline)

    def list(self, thread_id: str) -> list[PendingInterrupt]:
        """Every interrupt pending on ``thread_id``, oldest first."""
        thread_id = read_thread_id(thread_id, "pending.list")
        with self._lock:
            state = self._table.find(thread_id)
            if state is None:
                return []
            records = sorted(state.pending.values(), key=lambda r: (r.created_at_ms, r.token))
            deadline = state.deadline_ms
        return [to_public(self._serde, record, deadline) for record in records]

    def claim(self, token: str) -> PendingInterrupt:
        """Take the interrupt; exactly one of any number of concurrent claims succeeds."""
        with self._lock:
            state, record = self._locate(token)
            if record.claimed_at_ms is not None:
                raise AlreadyClaimedError(
                    "this pending interrupt was already claimed by another caller", token=token
                )
            record = state.pending[token] = record.claimed(self._table.now())
            deadline = state.deadline_ms
        return to_public(self._serde, record, deadline)

    def release(self, token: str) -> PendingInterrupt:
        """Undo a claim so that the interrupt can be claimed again."""
        with self._lock:
            state, record = self._locate(token)
            record = state.pending[token] = record.released()
            deadline = state.deadline_ms
        return to_public(self._serde, record, deadline)

    async def aget(self, token: str) -> PendingInterrupt:
        """Async :meth:`get`."""
        return self.get(token)

    async def alist(self, thread_id: str) -> builtins.list[PendingInterrupt]:
        """Async :meth:`list`."""
        return self.list(thread_id)

    async def aclaim(self, token: str) -> PendingInterrupt:
        """Async :meth:`claim`."""
        return self.claim(token)

    async def arelease(self, token: str) -> PendingInterrupt:
        """Async :meth:`release`."""
        return self.release(token)
