"""The pending-interrupt side store: what a human is waiting to answer, by token.

Every adapter has one, as ``adapter.pending``. The saver fills it itself from what LangGraph
writes, and it always agrees with LangGraph: ``pending.list(thread)`` holds exactly the
interrupts ``graph.get_state(config).interrupts`` reports for the thread's latest
checkpoint, with the same ids, values and ``response_schema``. A record goes away when
LangGraph stops listing its interrupt (answered, or the run moved past it), when the
thread is deleted, or when the thread expires. A resume that fails (an answer that does
not validate, a node that raises) leaves the interrupt pending, and its token working. An
answer that did not validate was not recorded, so the token takes another answer; a node
that raised after receiving its answer gets that same answer again when resumed (LangGraph
keeps it at the checkpoint), whatever value the new resume carries.

Claims are cooperative: they stop two workers that both go through the store from
answering the same interrupt, but ``graph.invoke(Command(resume=...))`` and LangGraph's
server resume without asking the store. The safe path::

    p = adapter.pending.claim(token)                 # exactly one caller wins
    try:
        graph.invoke(Command(resume=p.resume_map(answer)), p.config)
    except Exception:
        adapter.pending.release(token, p.claim_id)   # let someone answer again
        raise

A claim carries a lease (:data:`DEFAULT_LEASE_MS` unless ``lease_ms`` says otherwise): a
worker that crashed holding it blocks the interrupt only until the lease runs out.

It holds runtime state only (tokens and the interrupt payloads); business data belongs in
the application's own database.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from langchain_core.runnables import RunnableConfig

DEFAULT_LEASE_MS = 300_000
"""How long a claim holds unless the caller passes ``lease_ms``: five minutes."""


@dataclass(frozen=True)
class PendingInterrupt:
    """One interrupt waiting for an answer.

    ``token`` is opaque, URL-safe and unguessable (128 random bits); hand it to whoever
    answers. ``interrupt_id`` is LangGraph's id of the interrupt (``Interrupt.id``).
    ``value`` is what the node passed to ``interrupt()``, and ``response_schema`` the JSON
    Schema of the answer it expects (``interrupt(value, response_schema=...)``; ``None``
    when it gave none). ``checkpoint_id`` is the checkpoint the interrupt belongs to; the
    token stops working once the thread moves past it. ``expires_at`` is when the thread,
    and this record with it, expires (``None`` when the adapter has no TTL).
    ``claimed_at`` and ``lease_expires_at`` describe a claim that still holds (both
    ``None`` when nobody holds one); ``claim_id`` is set only on what ``claim`` and
    ``claim_next`` return to the caller that holds the claim.
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
    response_schema: dict[str, Any] | None = field(default=None, compare=False)
    lease_expires_at: datetime | None = None
    claim_id: str | None = None

    @property
    def claimed(self) -> bool:
        """Whether a claim holds this interrupt (its lease has not run out)."""
        return self.claimed_at is not None

    @property
    def config(self) -> RunnableConfig:
        """The config to resume with: ``graph.invoke(Command(resume=...), p.config)``.

        It names the thread, not the checkpoint: LangGraph resumes the latest checkpoint,
        which is the interrupt's own for as long as the token works.
        """
        return {"configurable": {"thread_id": self.thread_id}}

    def resume_map(self, answer: Any) -> dict[str, Any]:
        """``{interrupt_id: answer}``: the ``Command(resume=...)`` that answers only this one."""
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

    def claim(
        self, token: str, *, lease_ms: int | None = None, claim_id: str | None = None
    ) -> PendingInterrupt:
        """Atomically take the interrupt for a lease; others get ``AlreadyClaimedError``."""
        ...

    def claim_next(
        self, thread_id: str, *, lease_ms: int | None = None, claim_id: str | None = None
    ) -> PendingInterrupt:
        """Atomically claim the oldest unclaimed interrupt of a thread."""
        ...

    def release(self, token: str, claim_id: str | None) -> PendingInterrupt:
        """Undo the claim ``claim_id`` holds (``claimed.claim_id`` of what ``claim`` returned;
        ``None`` is a ``ConfigurationError``); another caller's claim is refused."""
        ...

    async def aget(self, token: str) -> PendingInterrupt:
        """Async :meth:`get`."""
        ...

    async def alist(self, thread_id: str) -> builtins.list[PendingInterrupt]:
        """Async :meth:`list`."""
        ...

    async def aclaim(
        self, token: str, *, lease_ms: int | None = None, claim_id: str | None = None
    ) -> PendingInterrupt:
        """Async :meth:`claim`."""
        ...

    async def aclaim_next(
        self, thread_id: str, *, lease_ms: int | None = None, claim_id: str | None = None
    ) -> PendingInterrupt:
        """Async :meth:`claim_next`."""
        ...

    async def arelease(self, token: str, claim_id: str | None) -> PendingInterrupt:
        """Async :meth:`release`."""
        ...


__all__ = ["DEFAULT_LEASE_MS", "PendingInterrupt", "PendingInterruptStore"]
