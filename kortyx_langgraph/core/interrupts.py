"""Pending-interrupt bookkeeping shared by the backends: tokens, records and the rules.

The rules, applied to writes and checkpoints of the top-level graph (namespace ``""``; a
subgraph's interrupt is also written there by the parent task that ran the subgraph):

* an ``__interrupt__`` write by task T at checkpoint C records one pending interrupt per
  ``Interrupt`` it carries. An interrupt id that is already pending keeps its token (and its
  claim); ids of T at C that the new write no longer carries are dropped (the task was
  resumed and stopped at its next ``interrupt()``);
* any other write by T at C, except ``__resume__`` and ``__scheduled__``, means T finished
  (it produced output, no output, or an error): T's interrupts at C are dropped;
* a new top-level checkpoint N means the thread moved on: interrupts at any C older than
  N are dropped. Checkpoint ids are time-ordered strings, and LangGraph saves in the
  background, so a late ``put`` of an older checkpoint, or the writes of N arriving before
  N itself, must retire nothing newer than itself.

A resume with ``Command(resume={id: value})`` is not written to the saver by LangGraph, so
the rules above, not the resume itself, are what retire a record.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.types import INTERRUPT, RESUME, SCHEDULED

from kortyx_langgraph.core.ids import ROOT_NS
from kortyx_langgraph.core.records import TypedBytes, loads
from kortyx_langgraph.errors import ExpiredTokenError, UnknownTokenError
from kortyx_langgraph.pending import PendingInterrupt

NEUTRAL_CHANNELS = frozenset({INTERRUPT, RESUME, SCHEDULED})
"""Channels whose writes do not mean that the writing task finished."""

_TOKEN_RANDOM_BYTES = 16  # 128 bits


@dataclass(frozen=True)
class StoredPending:
    """A pending interrupt as stored; the value stays serialized until it is read."""

    token: str
    interrupt_id: str
    thread_id: str
    checkpoint_id: str
    task_id: str
    value: TypedBytes
    created_at_ms: int
    claimed_at_ms: int | None = None

    def claimed(self, now_ms: int) -> StoredPending:
        """This record, marked as claimed at ``now_ms``."""
        return replace(self, claimed_at_ms=now_ms)

    def released(self) -> StoredPending:
        """This record, with its claim undone."""
        return replace(self, claimed_at_ms=None)


@dataclass(frozen=True)
class InterruptUpdate:
    """What one ``put_writes`` call changes among a thread's pending interrupts."""

    checkpoint_id: str
    task_id: str
    interrupts: tuple[tuple[str, TypedBytes], ...] | None
    """``(interrupt_id, serialized value)`` now pending for the task; ``None``: it finished."""


def interrupt_update(
    serde: SerializerProtocol,
    checkpoint_ns: str,
    checkpoint_id: str,
    task_id: str,
    writes: Sequence[tuple[str, Any]],
) -> InterruptUpdate | None:
    """The pending-store change implied by one ``put_writes`` call, or ``None`` for none."""
    if checkpoint_ns != ROOT_NS:
        return None
    interrupt_values = [value for channel, value in writes if channel == INTERRUPT]
    if interrupt_values:
        found: dict[str, TypedBytes] = {}
        for interrupt in _as_sequence(interrupt_values[-1]):
            interrupt_id = getattr(interrupt, "id", None)
            if isinstance(interrupt_id, str):
                found[interrupt_id] = serde.dumps_typed(getattr(interrupt, "value", None))
        return InterruptUpdate(checkpoint_id, task_id, tuple(found.items()))
    if any(channel not in NEUTRAL_CHANNELS for channel, _ in writes):
        return InterruptUpdate(checkpoint_id, task_id, None)
    return None


def _as_sequence(value: Any) -> Sequence[Any]:
    if isinstance(value, (list, tuple)):
        return value
    return (value,)


def apply_update(
    records: dict[str, StoredPending],
    update: InterruptUpdate,
    *,
    thread_id: str,
    new_token: Any,
    now_ms: int,
) -> None:
    """Apply ``update`` to one thread's ``token -> record`` map, in place.

    ``new_token`` is a zero-argument callable minting a token for a newly pending interrupt.
    """
    same_task = {
        token: record
        for token, record in records.items()
        if record.checkpoint_id == update.checkpoint_id and record.task_id == update.task_id
    }
    wanted = dict(update.interrupts or ())
    for token, record in same_task.items():
        if record.interrupt_id not in wanted:
            del records[token]
    kept = {record.interrupt_id: token for token, record in same_task.items()}
    for interrupt_id, value in wanted.items():
        if interrupt_id in kept:
            token = kept[interrupt_id]
            records[token] = replace(records[token], value=value)
            continue
        token = new_token()
        records[token] = StoredPending(
            token=token,
            interrupt_id=interrupt_id,
            thread_id=thread_id,
            checkpoint_id=update.checkpoint_id,
            task_id=update.task_id,
            value=value,
            created_at_ms=now_ms,
        )


def retire_superseded(records: dict[str, StoredPending], new_checkpoint_id: str) -> None:
    """Drop records of checkpoints older than the newly stored ``new_checkpoint_id``."""
    for token in [t for t, r in records.items() if r.checkpoint_id < new_checkpoint_id]:
        del records[token]


def mint_token(tag: str, deadline_ms: int | None) -> str:
    """A new token: ``<thread tag>.<deadline, base 36>.<128 random bits, base64url>``.

    The tag routes the token to its thread's storage in O(1); the deadline (the thread's
    expiry when the interrupt was recorded, ``0`` for none) lets a lookup of a vanished
    token say "expired" rather than "unknown".
    """
    return f"{tag}.{_base36(deadline_ms or 0)}.{secrets.token_urlsafe(_TOKEN_RANDOM_BYTES)}"


@dataclass(frozen=True)
class TokenParts:
    """The routing parts of a well-formed token."""

    tag: str
    deadline_ms: int


def parse_token(token: object) -> TokenParts:
    """Split a token; a malformed one raises :class:`UnknownTokenError`."""
    if isinstance(token, str):
        parts = token.split(".")
        if len(parts) == 3 and len(parts[0]) == 16 and len(parts[2]) >= 22:
            try:
                int(parts[0], 16)
                return TokenParts(parts[0], int(parts[1], 36))
            except ValueError:
                pass
    raise UnknownTokenError("not a pending-interrupt token (malformed)", token=None)


def missing_token_error(token: str, parts: TokenParts, now_ms: int) -> Exception:
    """The typed error for a token whose record is gone: expired, or unknown."""
    if parts.deadline_ms and now_ms >= parts.deadline_ms:
        when = _iso(parts.deadline_ms)
        return ExpiredTokenError(
            f"the pending interrupt for this token expired with its thread (deadline {when})",
            token=token,
        )
    return UnknownTokenError(
        "no pending interrupt has this token: it was resumed, deleted, or never existed",
        token=token,
    )


def to_public(
    serde: SerializerProtocol, record: StoredPending, expires_at_ms: int | None
) -> PendingInterrupt:
    """The user-facing :class:`PendingInterrupt` for a stored record."""
    return PendingInterrupt(
        token=record.token,
        interrupt_id=record.interrupt_id,
        thread_id=record.thread_id,
        checkpoint_ns=ROOT_NS,
        checkpoint_id=record.checkpoint_id,
        task_id=record.task_id,
        value=loads(serde, record.value, "interrupt value"),
        created_at=_datetime(record.created_at_ms),
        expires_at=None if expires_at_ms is None else _datetime(expires_at_ms),
        claimed_at=None if record.claimed_at_ms is None else _datetime(record.claimed_at_ms),
    )


def _datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _iso(ms: int) -> str:
    return _datetime(ms).isoformat(timespec="seconds")


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out
