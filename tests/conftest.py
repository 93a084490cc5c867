"""Shared fixtures: a controllable clock and adapter factories for every backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kortyx_langgraph import FrameworkAdapter, create_in_memory_framework_adapter

pytest_plugins = ["tests.redis_fixtures"]


class FakeClock:
    """Milliseconds since the epoch that only move when a test says so."""

    def __init__(self, start_ms: int = 1_800_000_000_000) -> None:
        self.now_ms = start_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


AdapterFactory = Callable[..., FrameworkAdapter]

BACKENDS = ["in-memory"]


@pytest.fixture(params=BACKENDS)
def make_adapter(request: pytest.FixtureRequest) -> Iterator[AdapterFactory]:
    """Build adapters of one backend; every one built is closed at the end of the test."""
    made: list[FrameworkAdapter] = []

    def make(**kwargs: Any) -> FrameworkAdapter:
        kwargs.setdefault("ttl_ms", 60_000)
        adapter = create_in_memory_framework_adapter(**kwargs)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


@pytest.fixture
def adapter(make_adapter: AdapterFactory) -> FrameworkAdapter:
    return make_adapter()
