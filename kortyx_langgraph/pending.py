"""The pending-interrupt side store: what a human is waiting to answer, by token.

Every adapter has one, as ``adapter.pending``. The saver fills it itself whenever LangGraph
records an ``interrupt()`` of the top-level graph (subgraph interrupts included, since they
surface there), and empties it when the interrupted task finishes, when the thread moves on
to a new checkpoint, when the thread is deleted, or when the thread expires.

Typical use::

    for p in adapter.pending.list("thread-1"):
        notify_reviewer(p.token, p.value)
    # later, anywhere, any process:
    p = adapter.pending.claim(token)            # exactly one caller wins
    graph.invoke(Command(resume={p.interrupt_id: answer}), p.config)

It holds runtime state only (tokens and the interrupt payloads); business data belongs in
the application's own database.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from langchain_core.runnables import RunnableConfig


@dataclass(frozen=True)
class PendingInterrupt:
    """One interrupt waiting for an answer.

    ``token`` is opaque, URL-safe and unguessable (128 random bits); hand it to whoever
    answers. ``value`` is what the node passed to ``interrupt()``. ``expires_at`` is when the
    thread, and this record with it, expires (``None`` when the adapter has no TTL).
    """

    token: str
    interrupt_id: str
    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str
    task_id: str
    value: Any = field(compare=False)
    created_at: datetime
    expires_at: datetime | None
    claimed_at: datetime | None = None

    @property
    def claimed(self) -> bool:
        """Whether a ``claim`` already took this interrupt."""
        return self.claimed_at is not None

    @property
    def config(self) -> RunnableConfig:
        """The config to resume with: ``graph.invoke(Command(resume=...), p.config)``."""
        return {"configurable": {"thread_id": self.thread_id}}

    def resume_map(self, answer: Any) -> dict[str, Any]:
        """``{interrupt_id: answer}``, the ``Command(resume=...)`` that answers only this one."""
        return {self.interrupt_id: answer}


@runtime_checkable
class PendingInterruptStore(Protocol):
    """Lookup and claim of pending interrupts; every method has an ``a``-prefixed twin."""

    def get(self, token: str) -> PendingInterrupt:
        """The interrupt for ``token``; ``UnknownTokenError``/``ExpiredTokenError`` if none."""
        ...

    def list(self, thread_id: str) -> list[PendingInterrupt]:
        """Every interrupt pending on ``thread_id``, claimed ones included, oldest first."""
        ...

    def claim(self, token: str) -> PendingInterrupt:
        """Atomically take the interrupt; every later claim raises ``AlreadyClaimedError``."""
        ...

    def claim_next(self, thread_id: str) -> PendingInterrupt:
        """Atomically claim the oldest unclaimed interrupt of a thread."""
        ...

    def release(self, token: str) -> PendingInterrupt:
        """Undo a claim (for a worker that claimed but could not resume); returns the record."""
        ...

    async def aget(self, token: str) -> PendingInterrupt:
        """Async :meth:`get`."""
        ...

    async def alist(self, thread_id: str) -> builtins.list[PendingInterrupt]:
        """Async :meth:`list`."""
        ...

    async def aclaim(self, token: str) -> PendingInterrupt:
        """Async :meth:`claim`."""
        ...

    async def aclaim_next(self, thread_id: str) -> PendingInterrupt:
        """Async :meth:`claim_next`."""
        ...

    async def arelease(self, token: str) -> PendingInterrupt:
        """Async :meth:`release`."""
        ...


__all__ = ["PendingInterrupt", "PendingInterruptStore"]
