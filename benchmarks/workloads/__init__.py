"""The seven workloads; each ``run(env, sizes, log)`` returns a JSON-ready dict."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

Log = Callable[[str], None]
"""Progress messages (to stderr)."""


def rotated(items: Sequence[T], round_no: int) -> list[T]:
    """``items`` starting at a different one each round, so no saver always runs first."""
    if not items:
        return []
    shift = round_no % len(items)
    return [*items[shift:], *items[:shift]]


def describe_error(exc: BaseException) -> str:
    """One line naming the exception."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]
