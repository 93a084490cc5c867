"""Pending-interrupt bookkeeping shared by the backends: records, claims and the rules.

The store mirrors what LangGraph itself reports as pending (``graph.get_state(config)
.interrupts`` on the latest checkpoint). LangGraph reads a task's status from the writes
recorded for the top-level checkpoint (namespace ``""``; a subgraph's interrupt is written
there too, by the parent task that ran the subgraph):

* a task that wrote anything but a control write (``__interrupt__``, ``__resume__``,
  ``__error__``, ``__error_source_node__``) has finished, and nothing of it is pending, even
  an interrupt of it written later (two runs of the thread resumed at once each re-run the
  other's task: :func:`task_finished`);
* otherwise the task's latest ``__interrupt__`` write (a fixed slot: a newer one replaces
  it) holds what it waits for. An ``__error__`` (a resume that failed validation, or a node
  that raised after ``interrupt()`` returned) changes nothing: the question still waits;
* only the latest checkpoint counts: a new top-level checkpoint retires everything older,
  and an interrupt written at a checkpoint older than the latest (a run resumed there by
  its config, after a fork) is not pending.
  Checkpoint ids are time-ordered strings, and LangGraph saves in the background, so a
  late ``put`` of an older checkpoint, or writes arriving before their checkpoint, must
  retire nothing newer than itself.

A functional-API call (a ``@task`` awaited by a node or an entrypoint) writes its interrupt
under its own task id, and its caller raises it again; LangGraph reports only the caller's,
one at a time when several calls wait at once (:func:`is_call_path`), and so does the store.

One record stands for one interrupt id at one checkpoint, however many tasks carry it. The
record keeps the ids of the tasks that still wait on it and is dropped when none is left.
Its token, creation time and claim survive every re-raise of the same interrupt (a failed
resume, a sibling task resumed first); its value and schema follow the newest write.

A claim is ``(claim id, claimed at, lease until)``. The claim id is made by the caller
before the request is sent, so a retried claim recognises its own earlier success. A claim
whose lease ran out no longer holds: anyone may claim the interrupt again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT, RESUME

from kortyx_langgraph.core.ids import ROOT_NS
from kortyx_langgraph.core.records import StoredWrite, TypedBytes, dumps, loads
from kortyx_langgraph.errors import (
    AlreadyClaimedError,
    ClaimMismatchError,
    ConfigurationError,
    ExpiredTokenError,
    UnknownTokenError,
)
from kortyx_langgraph.pending import PendingInterrupt

CONTROL_CHANNELS = frozenset({INTERRUPT, RESUME, ERROR, "__error_source_node__"})
"""Channels whose writes describe what happened to a task, not what it produced."""

NULL_TASK_ID = "00000000-0000-0000-0000-000000000000"
"""LangGraph's task id for input written to a step (``update_state``, resume maps)."""

NO_SCHEMA: TypedBytes = ("", b"")
"""The stored ``response_schema`` of an interrupt that has none."""

_TOKEN_RANDOM_BYTES = 16  # 128 bits
_CLAIM_ID_RANDOM_BYTES = 12


@dataclass(frozen=True)
class Claim:
    """Who holds a pending interrupt, since when, and until when."""

    claim_id: str
    claimed_at_ms: int
    lease_until_ms: int

    def holds(self, now_ms: int) -> bool:
        """Whether the lease still runs at ``now_ms``."""
        return now_ms < self.lease_until_ms


@dataclass(frozen=True)
class StoredPending:
    """A pending interrupt as stored; value and schema stay serialized until read."""

    token: str
    interrupt_id: str
    thread_id: str
    checkpoint_id: str
    task_ids: tuple[str, ...]
    value: TypedBytes
    schema: TypedBytes
    created_at_ms: int
    seq: int
    claim: Claim | None = None

    @property
    def order(self) -> int:
        """Oldest first: the order records were made in. Not the creation time, which
        comes from a clock that may step back (a failover to a server whose clock is
        behind)."""
        return self.seq


@dataclass(frozen=True)
class RaisedInterrupt:
    """One interrupt carried by an ``__interrupt__`` write, serialized."""

    interrupt_id: str
    value: TypedBytes
    schema: TypedBytes


@dataclass(frozen=True)
class InterruptUpdate:
    """What one ``put_writes`` call changes among a thread's pending interrupts."""

    checkpoint_id: str
    task_id: str
    interrupts: tuple[RaisedInterrupt, ...] | None
    """What the task now waits for; ``None``: the task finished."""


def raised_interrupts(serde: SerializerProtocol, value: Any) -> tuple[RaisedInterrupt, ...]:
    """The interrupts of one ``__interrupt__`` write value, first occurrence of each id."""
    found: dict[str, RaisedInterrupt] = {}
    for interrupt in value if isinstance(value, (list, tuple)) else (value,):
        interrupt_id = getattr(interrupt, "id", None)
        if isinstance(interrupt_id, str) and interrupt_id not in found:
            schema = getattr(interrupt, "response_schema", None)
            found[interrupt_id] = RaisedInterrupt(
                interrupt_id,
                dumps(serde, getattr(interrupt, "value", None)),
                NO_SCHEMA if schema is None else dumps(serde, schema),
            )
    return tuple(found.values())


_CALL_PATH_HEAD = "~__pregel_push, ~"
_CALL_PATH_TAIL = f", {True:010d}"


def is_call_path(task_path: str) -> bool:
    """Whether ``task_path`` (as ``put_writes`` receives it) is a functional-API call's: a
    ``@task`` run for the node or entrypoint that called it. LangGraph's path for one is
    ``(PUSH, <caller's path>, <index>, True)``; its interrupt is reported through the
    caller, which awaits it and raises it again (``get_state`` lists only the caller's),
    so a call's own writes change nothing pending."""
    return task_path.startswith(_CALL_PATH_HEAD) and task_path.endswith(_CALL_PATH_TAIL)


def interrupt_update(
    serde: SerializerProtocol,
    checkpoint_ns: str,
    checkpoint_id: str,
    task_id: str,
    writes: Sequence[tuple[str, Any]],
    *,
    task_path: str = "",
    stored: Sequence[StoredWrite] | None = None,
) -> InterruptUpdate | None:
    """The pending-store change implied by one ``put_writes`` call, or ``None`` for none.

    A functional-API call's writes add nothing pending; they only retire what the call's
    task may still be listed for (records an earlier version made for calls), as if the
    call had finished: without one, nothing changes.

    ``stored`` is ``writes`` as :func:`~kortyx_langgraph.core.records.encode_writes` made
    them: the interrupts are then taken from the write as the serializer gives it back,
    which is what ``get_state`` reports (a value nested in the write can come back
    otherwise than alone: a ``bytearray`` as ``bytes``). Without it, ``writes`` were read
    from storage already."""
    if checkpoint_ns != ROOT_NS or task_id == NULL_TASK_ID:
        return None
    if is_call_path(task_path):
        return InterruptUpdate(checkpoint_id, task_id, None)
    if any(channel not in CONTROL_CHANNELS for channel, _ in writes):
        return InterruptUpdate(checkpoint_id, task_id, None)
    positions = [i for i, (channel, _) in enumerate(writes) if channel == INTERRUPT]
    if positions:
        value = writes[positions[-1]][1]
        if stored is not None:
            value = _read_back(serde, stored[positions[-1]].value, value)
        return InterruptUpdate(checkpoint_id, task_id, raised_interrupts(serde, value))
    return None


def _read_back(serde: SerializerProtocol, payload: TypedBytes, value: Any) -> Any:
    """``payload``, the stored form of ``value``, read as LangGraph will read it (``value``
    itself if the serializer cannot read its own payload back)."""
    try:
        return serde.loads_typed(payload)
    except Exception:
        return value


def task_finished(writes: Iterable[StoredWrite]) -> bool:
    """Whether one task's stored writes at a checkpoint include one that finishes it (any
    but a control write): then nothing of the task is pending, whatever it raised since
    (another run of the thread, resumed at the same time, may re-raise it later)."""
    return any(write.channel not in CONTROL_CHANNELS for write in writes)


def apply_update(
    records: dict[str, StoredPending],
    update: InterruptUpdate,
    *,
    thread_id: str,
    new_token: Callable[[], str],
    now_ms: int,
    next_seq: Callable[[], int],
) -> None:
    """Apply ``update`` to one thread's ``token -> record`` map, in place."""
    wanted = {r.interrupt_id: r for r in update.interrupts or ()}
    seen: set[str] = set()
    for token, record in list(records.items()):
        if record.checkpoint_id != update.checkpoint_id:
            continue
        raised = wanted.get(record.interrupt_id)
        if raised is not None:
            seen.add(record.interrupt_id)
            tasks = record.task_ids
            if update.task_id not in tasks:
                tasks = (*tasks, update.task_id)
            records[token] = replace(
                record, task_ids=tasks, value=raised.value, schema=raised.schema
            )
        elif update.task_id in record.task_ids:
            tasks = tuple(t for t in record.task_ids if t != update.task_id)
            if tasks:
                records[token] = replace(record, task_ids=tasks)
            else:
                del records[token]
    for raised in wanted.values():
        if raised.interrupt_id not in seen:
            token = new_token()
            records[token] = StoredPending(
                token=token,
                interrupt_id=raised.interrupt_id,
                thread_id=thread_id,
                checkpoint_id=update.checkpoint_id,
                task_ids=(update.task_id,),
                value=raised.value,
                schema=raised.schema,
                created_at_ms=now_ms,
                seq=next_seq(),
            )


def retire_superseded(records: dict[str, StoredPending], new_checkpoint_id: str) -> None:
    """Drop records of checkpoints older than the newly stored ``new_checkpoint_id``."""
    for token in [t for t, r in records.items() if r.checkpoint_id < new_checkpoint_id]:
        del records[token]


KnownValues = Mapping[tuple[str, str], tuple[TypedBytes, TypedBytes]]
"""``(checkpoint id, interrupt id) -> (value, schema)`` of records already made."""


def known_values(
    records: Iterable[StoredPending],
) -> dict[tuple[str, str], tuple[TypedBytes, TypedBytes]]:
    """What :func:`updates_from_writes` may keep of ``records`` rather than encode again."""
    return {(r.checkpoint_id, r.interrupt_id): (r.value, r.schema) for r in records}


def updates_from_writes(
    serde: SerializerProtocol,
    checkpoint_id: str,
    writes: Iterable[StoredWrite],
    known: KnownValues | None = None,
) -> list[InterruptUpdate]:
    """The updates that derive a checkpoint's pending set again from its stored writes.

    Used where records must be rebuilt from what is stored: ``copy_thread``, and deletes
    that leave an older checkpoint as the latest. Only ``__interrupt__`` values are decoded.
    An interrupt in ``known`` (the copied thread's records) keeps its stored value and
    schema: encoded again, a value whose type this process's serializer cannot rebuild
    (a module it cannot import, or not in a strict msgpack allowlist) would be stored as
    the plain data it read, for good.
    """
    by_task: dict[str, list[tuple[str, Any]]] = {}
    paths: dict[str, str] = {}
    for write in writes:
        value = loads(serde, write.value, "interrupt") if write.channel == INTERRUPT else None
        by_task.setdefault(write.task_id, []).append((write.channel, value))
        paths[write.task_id] = write.task_path
    updates = []
    for task_id, task_writes in by_task.items():
        update = interrupt_update(
            serde,
            ROOT_NS,
            checkpoint_id,
            task_id,
            task_writes,
            task_path=paths[task_id],
        )
        if update is not None and known and update.interrupts:
            update = replace(
                update,
                interrupts=tuple(
                    _kept(raised, known.get((checkpoint_id, raised.interrupt_id)))
                    for raised in update.interrupts
                ),
            )
        if update is not None:
            updates.append(update)
    return updates


def _kept(raised: RaisedInterrupt, stored: tuple[TypedBytes, TypedBytes] | None) -> RaisedInterrupt:
    return raised if stored is None else RaisedInterrupt(raised.interrupt_id, *stored)


def rebuild(
    records: dict[str, StoredPending],
    latest_id: str | None,
    updates: Sequence[InterruptUpdate],
    *,
    thread_id: str,
    new_token: Callable[[], str],
    now_ms: int,
    next_seq: Callable[[], int],
) -> None:
    """Make ``records`` the pending set of the thread's latest checkpoint, in place.

    Records of other checkpoints go; records of ``latest_id`` keep their tokens and claims;
    ``updates`` (from :func:`updates_from_writes` on ``latest_id``) add what is missing.
    """
    for token in [t for t, r in records.items() if r.checkpoint_id != latest_id]:
        del records[token]
    for update in updates:
        apply_update(
            records,
            update,
            thread_id=thread_id,
            new_token=new_token,
            now_ms=now_ms,
            next_seq=next_seq,
        )


# -- claims ---------------------------------------------------------------------------

ClaimOutcome = Literal["won", "renewed"]


MAX_LEASE_MS = 100 * 365 * 24 * 3600 * 1000
"""The longest lease a claim takes: 100 years, as the longest TTL."""


def new_claim_id() -> str:
    """A fresh claim id, made by the caller before the claim is sent."""
    return secrets.token_urlsafe(_CLAIM_ID_RANDOM_BYTES)


def check_lease(lease_ms: object) -> int:
    """Validate a lease length: whole milliseconds, at least 1 and at most
    :data:`MAX_LEASE_MS` (a lease past that would end after the year 9999, which no
    timestamp can name)."""
    if isinstance(lease_ms, bool) or not isinstance(lease_ms, int) or lease_ms < 1:
        raise ConfigurationError(
            f"lease_ms must be a positive whole number of milliseconds, got {lease_ms!r}",
            variable="lease_ms",
        )
    if lease_ms > MAX_LEASE_MS:
        raise ConfigurationError(
            f"lease_ms is {lease_ms} ms, above the maximum of {MAX_LEASE_MS} ms (100 years);"
            " a claim that should hold for as long as the interrupt lives needs no more than"
            " the thread's TTL",
            variable="lease_ms",
        )
    return lease_ms


def check_claim_id(claim_id: object) -> str:
    """Validate a caller-supplied claim id (a non-empty string of printable ASCII)."""
    if (
        not isinstance(claim_id, str)
        or not 0 < len(claim_id) <= 200
        or not claim_id.isascii()
        or not claim_id.isprintable()
    ):
        raise ConfigurationError(
            "claim_id must be a non-empty printable ASCII string of at most 200 characters",
            variable="claim_id",
        )
    return claim_id


def decide_claim(
    record: StoredPending, claim_id: str, now_ms: int, lease_ms: int
) -> tuple[ClaimOutcome, Claim]:
    """The claim ``claim_id`` gets on ``record``, or :class:`AlreadyClaimedError`.

    A free record (never claimed, released, or its lease ran out) is won. A record already
    held by the same claim id is renewed: that is a retry of, or a follow-up to, the
    caller's own claim, and it extends the lease from now.
    """
    held = record.claim
    if held is not None and held.holds(now_ms) and held.claim_id != claim_id:
        raise claimed_error(record)
    outcome: ClaimOutcome = "renewed" if held is not None and held.claim_id == claim_id else "won"
    claimed_at = held.claimed_at_ms if outcome == "renewed" and held else now_ms
    return outcome, Claim(claim_id, claimed_at, now_ms + lease_ms)


def claimed_error(record: StoredPending) -> AlreadyClaimedError:
    """The error for a claim that lost to ``record``'s holder: it says, and carries, when the
    holder's lease runs out (if ``record`` has its claim)."""
    held = record.claim
    if held is None:
        return AlreadyClaimedError(
            "this pending interrupt is claimed by another caller", token=record.token
        )
    return AlreadyClaimedError(
        "this pending interrupt is claimed by another caller until "
        f"{_iso(held.lease_until_ms)} (UTC), when it can be claimed again unless the holder "
        "renews or resumes it first",
        token=record.token,
        lease_expires_at=_datetime(held.lease_until_ms),
    )


def check_release(record: StoredPending, claim_id: str, now_ms: int) -> None:
    """Refuse to release a claim that ``claim_id`` does not hold.

    Releasing a record that nobody holds (never claimed, already released, or the lease ran
    out) is a no-op, so a retried release succeeds.
    """
    held = record.claim
    if held is not None and held.holds(now_ms) and held.claim_id != claim_id:
        raise ClaimMismatchError(
            "this pending interrupt is claimed by another caller; only its claim id can release it",
            token=record.token,
        )


# -- tokens ---------------------------------------------------------------------------


def mint_token(tag: str, deadline_ms: int | None) -> str:
    """A new token: ``<thread tag>.<deadline, base 36>.<128 random bits, base64url>``.

    The tag routes the token to its thread's storage in O(1). The deadline is the thread's
    expiry when the interrupt was recorded (``0`` for none); the thread may live longer,
    since every write extends it, so the deadline alone never decides that a token expired.
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


def missing_token_error(
    token: str, parts: TokenParts, now_ms: int, *, thread_alive: bool, where: str = ""
) -> Exception:
    """The typed error for a token whose record is gone: expired, or unknown.

    "Expired" means the thread is gone and its recorded deadline has passed; a token of a
    thread that still lives was resumed (or the run moved past it), so it is unknown.
    ``where`` ends the "unknown" message with what the backend can add.
    """
    if not thread_alive and parts.deadline_ms and now_ms >= parts.deadline_ms:
        return ExpiredTokenError(
            "the pending interrupt for this token expired with its thread",
            token=token,
        )
    return UnknownTokenError(
        "no pending interrupt has this token: it was resumed, the run moved past it, or it "
        f"was deleted or never existed{where}",
        token=token,
    )


def to_public(
    serde: SerializerProtocol,
    record: StoredPending,
    expires_at_ms: int | None,
    *,
    now_ms: int,
    own_claim: bool = False,
) -> PendingInterrupt:
    """The user-facing :class:`PendingInterrupt` for a stored record.

    A claim whose lease ran out is shown as no claim. The claim id is shown only to the
    caller that holds it (``own_claim``), so a listing cannot be used to release
    someone else's claim.
    """
    claim = record.claim if record.claim is not None and record.claim.holds(now_ms) else None
    return PendingInterrupt(
        token=record.token,
        interrupt_id=record.interrupt_id,
        thread_id=record.thread_id,
        checkpoint_ns=ROOT_NS,
        checkpoint_id=record.checkpoint_id,
        task_id=record.task_ids[-1] if record.task_ids else "",
        value=loads(serde, record.value, "interrupt value"),
        response_schema=(
            None if record.schema == NO_SCHEMA else loads(serde, record.schema, "response schema")
        ),
        created_at=_datetime(record.created_at_ms),
        expires_at=None if expires_at_ms is None else _datetime(expires_at_ms),
        claimed_at=None if claim is None else _datetime(claim.claimed_at_ms),
        lease_expires_at=None if claim is None else _datetime(claim.lease_until_ms),
        claim_id=claim.claim_id if claim is not None and own_claim else None,
    )


def _datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


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
