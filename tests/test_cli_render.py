"""How the commands show values and pending interrupts: bounded, safe, never failing."""

from __future__ import annotations

import decimal
import enum
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic

from kortyx_langgraph.cli.render import (
    SUMMARY_CHARS,
    dump_json,
    duration,
    iso,
    pending_lines,
    pending_record,
    strict_json,
    summarize,
)
from kortyx_langgraph.pending import PendingInterrupt

NOW = datetime(2026, 12, 3, 8, 30, tzinfo=UTC)

RECORD_KEYS = {
    "token", "thread_id", "interrupt_id", "checkpoint_id", "task_id", "created_at",
    "age_seconds", "expires_at", "expires_in_seconds", "claimed", "claimed_at",
    "lease_expires_at", "lease_expires_in_seconds", "value", "value_summary",
    "value_truncated", "response_schema",
}  # fmt: skip


class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@dataclass
class Point:
    x: int


def _pending(value: Any, **fields: Any) -> PendingInterrupt:
    base: dict[str, Any] = {
        "token": "0123456789abcdef.abc.tokentokentokentokentok",
        "interrupt_id": "i1",
        "thread_id": "t1",
        "checkpoint_ns": "",
        "checkpoint_id": "c1",
        "task_id": "task1",
        "value": value,
        "created_at": NOW - timedelta(seconds=65),
        "expires_at": NOW + timedelta(minutes=14, seconds=5),
    }
    return PendingInterrupt(**{**base, **fields})


def test_small_json_values_are_shown_whole() -> None:
    assert summarize({"question": "ok?", "n": 1}) == ('{"question":"ok?","n":1}', False)
    assert strict_json({"question": "ok?"}) == {"question": "ok?"}


def test_big_values_are_cut_with_a_marker_that_gives_the_length() -> None:
    text, truncated = summarize("x" * 5000)
    assert truncated
    assert text.startswith('"xxx')
    assert text.endswith("... [truncated, 5002 chars]")
    assert len(text) < SUMMARY_CHARS + 40
    assert strict_json("x" * 5000) is None


def test_values_json_cannot_hold_never_fail() -> None:
    circular: list[Any] = []
    circular.append(circular)
    for value in [
        {"when": NOW, "tags": {1, 2}, "obj": Opaque()},
        Point(3),
        BrokenRepr(),
        circular,
        b"\x00\xff",
        float("nan"),
    ]:
        text, _ = summarize(value)
        assert text
        assert strict_json(value) is None
        record = pending_record(_pending(value), NOW)
        assert record["value"] is None
        assert json.loads(dump_json(record))["value_summary"] == record["value_summary"]
    assert "Opaque()" in summarize({"obj": Opaque()})[0]
    assert "BrokenRepr" in summarize(BrokenRepr())[0]


def test_values_json_cannot_hold_are_summarized_as_the_server_shows_them() -> None:
    class Colour(enum.Enum):
        RED = "red"

    class Model(pydantic.BaseModel):
        when: datetime
        n: int

    value = {
        "when": NOW,
        "id": uuid.UUID(int=7),
        "price": decimal.Decimal("1.50"),
        "tags": {1},
        "colour": Colour.RED,
        "model": Model(when=NOW, n=1),
        "point": Point(3),
    }
    assert json.loads(summarize(value)[0]) == {
        "when": "2026-12-03T08:30:00+00:00",
        "id": "00000000-0000-0000-0000-000000000007",
        "price": "1.50",
        "tags": [1],
        "colour": "red",
        "model": {"when": "2026-12-03T08:30:00Z", "n": 1},
        "point": {"x": 3},
    }
    assert strict_json(value) is None  # the "value" field stays strict JSON


def test_control_characters_are_escaped_in_text() -> None:
    text, _ = summarize("bell\x07 csi\x9b[31m")
    assert "\x07" not in text and "\x9b" not in text
    lines = "\n".join(pending_lines(_pending("red\x1b[31m"), NOW))
    assert "\x1b" not in lines


def test_a_record_has_the_documented_keys_and_no_claim_id() -> None:
    claimed = _pending(
        {"question": "ok?"},
        claimed_at=NOW - timedelta(seconds=10),
        lease_expires_at=NOW + timedelta(minutes=4, seconds=50),
        claim_id="secret-claim-id",
        response_schema={"type": "string", "enum": ["approved", "rejected"]},
    )
    record = pending_record(claimed, NOW)
    assert set(record) == RECORD_KEYS
    assert "secret-claim-id" not in dump_json(record)
    assert "secret-claim-id" not in "\n".join(pending_lines(claimed, NOW))
    assert record["claimed"] is True
    assert record["created_at"] == "2026-12-03T08:28:55.000Z"
    assert record["age_seconds"] == 65.0
    assert record["expires_in_seconds"] == 845.0
    assert record["lease_expires_at"] == "2026-12-03T08:34:50.000Z"
    assert record["lease_expires_in_seconds"] == 290.0
    assert record["response_schema"] == {"type": "string", "enum": ["approved", "rejected"]}
    text = "\n".join(pending_lines(claimed, NOW))
    assert "age 1m05s" in text
    assert "expires in 14m05s" in text
    assert "lease until 2026-12-03T08:34:50.000Z (4m50s left" in text


def test_an_unclaimed_record_without_ttl() -> None:
    record = pending_record(_pending("v", expires_at=None), NOW)
    assert record["claimed"] is False
    assert record["claimed_at"] is record["lease_expires_at"] is None
    assert record["expires_at"] is record["expires_in_seconds"] is None
    assert record["response_schema"] is None
    assert "never expires" in "\n".join(pending_lines(_pending("v", expires_at=None), NOW))


def test_times_and_durations() -> None:
    assert iso(None) is None
    assert iso(datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)) == ("2026-01-02T03:04:05.600Z")
    assert [duration(s) for s in (None, 0, 9.9, 65, 3725)] == [
        "never",
        "0s",
        "9s",
        "1m05s",
        "1h02m",
    ]
