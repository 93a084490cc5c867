"""How the commands show pending interrupts: safe value summaries, times, JSON records.

Nothing here fails on a value: a value that is not JSON-serializable is summarized from a
bounded ``repr``, and every summary is cut at :data:`SUMMARY_CHARS` with a marker saying
how long the whole was. Text meant for a terminal has its non-printable characters escaped.
"""

from __future__ import annotations

import dataclasses
import json
import reprlib
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from kortyx_langgraph.pending import PendingInterrupt

SUMMARY_CHARS = 200
"""Longest summary of a value or schema, in characters, before the truncation marker."""

SCHEMA_CHARS = 100_000
"""Longest answer schema the JSON output includes whole; a longer one is ``null``."""

_REPR = reprlib.Repr()
_REPR.maxstring = SUMMARY_CHARS
_REPR.maxother = SUMMARY_CHARS
_REPR.maxlevel = 4


def printable(text: str) -> str:
    """``text`` with every non-printable character escaped (no terminal control codes)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def _bounded_repr(value: Any) -> str:
    try:
        return _REPR.repr(value)
    except Exception:  # a broken __repr__ must not break a listing
        return f"<{type(value).__name__} object>"


def _fallback(value: Any) -> Any:
    """What JSON shows for a value it cannot hold: times in ISO 8601, ids and decimals as
    text, sets as lists, an enum by its value, a pydantic model or a dataclass by its
    fields (as LangGraph's server shows them); anything else as its bounded ``repr``."""
    try:
        if isinstance(value, (datetime, date, time)):
            return value.isoformat()
        if isinstance(value, (UUID, Decimal)):
            return str(value)
        if isinstance(value, (set, frozenset)):
            return list(value)
        if isinstance(value, Enum):
            return value.value
        if callable(getattr(value, "model_dump", None)):
            return value.model_dump(mode="json")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
    except Exception:  # a broken model or field must not break a listing
        pass
    return _bounded_repr(value)


def compact_json(value: Any) -> str:
    """One-line JSON text of ``value``; what JSON cannot hold appears as its bounded repr."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_fallback)
    except (TypeError, ValueError, RecursionError):  # circular or too deep
        return _bounded_repr(value)


def summarize(value: Any, limit: int = SUMMARY_CHARS) -> tuple[str, bool]:
    """``(summary, truncated)``: compact JSON text of ``value``, cut at ``limit`` characters.

    A cut summary ends with ``... [truncated, N chars]`` where N is the full length.
    """
    text = printable(compact_json(value))
    if len(text) <= limit:
        return text, False
    return f"{text[:limit]}... [truncated, {len(text)} chars]", True


def strict_json(value: Any, limit: int = SUMMARY_CHARS) -> Any:
    """``value`` itself when it is plain JSON of at most ``limit`` characters, else ``None``."""
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None
    return value if len(text) <= limit else None


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds, e.g. ``2026-12-03T08:30:00.123Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """``end - start`` in seconds (3 decimals), never negative; ``None`` if either is."""
    if start is None or end is None:
        return None
    return round(max((end - start).total_seconds(), 0.0), 3)


def duration(seconds: float | None) -> str:
    """``"1h02m"``, ``"14m05s"``, ``"9s"``; ``"never"`` for ``None``."""
    if seconds is None:
        return "never"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def now_utc() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def pending_record(p: PendingInterrupt, now: datetime) -> dict[str, Any]:
    """The JSON object of one pending interrupt (keys documented in ``pending --help``).

    The claim id is never part of it: a listing shows that a claim holds and until when,
    not who holds it, since the claim id is what releases the claim.
    """
    summary, truncated = summarize(p.value)
    schema = p.response_schema
    return {
        "token": p.token,
        "thread_id": p.thread_id,
        "interrupt_id": p.interrupt_id,
        "checkpoint_id": p.checkpoint_id,
        "task_id": p.task_id,
        "created_at": iso(p.created_at),
        "age_seconds": seconds_between(p.created_at, now),
        "expires_at": iso(p.expires_at),
        "expires_in_seconds": seconds_between(now, p.expires_at),
        "claimed": p.claimed,
        "claimed_at": iso(p.claimed_at),
        "lease_expires_at": iso(p.lease_expires_at),
        "lease_expires_in_seconds": seconds_between(now, p.lease_expires_at),
        "value": strict_json(p.value),
        "value_summary": summary,
        "value_truncated": truncated,
        "response_schema": strict_json(schema, limit=SCHEMA_CHARS),
    }


def pending_lines(p: PendingInterrupt, now: datetime) -> list[str]:
    """The text of one pending interrupt: token, age, expiry, claim, value and schema."""
    age = duration(seconds_between(p.created_at, now))
    if p.expires_at is None:
        expiry = "never expires (no TTL)"
    else:
        expiry = (
            f"expires in {duration(seconds_between(now, p.expires_at))} (at {iso(p.expires_at)})"
        )
    if p.claimed:
        left = duration(seconds_between(now, p.lease_expires_at))
        claim = (
            f"claimed since {iso(p.claimed_at)}, lease until {iso(p.lease_expires_at)} "
            f"({left} left; the holder is not shown)"
        )
    else:
        claim = "not claimed"
    value, _ = summarize(p.value)
    schema = "none" if p.response_schema is None else summarize(p.response_schema)[0]
    return [
        f"token {p.token}",
        f"  age {age} (created {iso(p.created_at)}); {expiry}",
        f"  {claim}",
        f"  value: {value}",
        f"  answer schema: {schema}",
    ]


def dump_json(document: Any) -> str:
    """A JSON document as the commands print it: indented, ASCII only, never failing."""
    return json.dumps(document, indent=2, ensure_ascii=True, default=_fallback)
