"""Lets a test write through a Redis adapter as an earlier version, or another process,
would: with other operations settings, put back afterwards."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kortyx_langgraph import RedisFrameworkAdapter


@contextmanager
def operations_of(adapter: RedisFrameworkAdapter) -> Iterator[Callable[..., Any]]:
    """Yields ``use(**changes)``: the adapter's operations from then on are its own with
    ``changes`` (``inline_bytes``, ``writes_in_record``, ``kept``...); restored on exit."""
    default = adapter._ops

    def use(**changes: Any) -> Any:
        adapter._ops = dataclasses.replace(default, **changes)
        return default

    try:
        yield use
    finally:
        adapter._ops = default
