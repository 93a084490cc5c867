"""Shared fixtures: a controllable clock and adapter factories for every backend."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kortyx_langgraph import (
    FrameworkAdapter,
    create_in_memory_framework_adapter,
    create_redis_framework_adapter,
)

pytest_plugins = ["tests.redis_fixtures", "tests.redis_run_guard"]


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

BACKENDS = [
    "in-memory",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("redis-cluster", marks=pytest.mark.redis),
]


def redis_url_for(request: pytest.FixtureRequest, backend: str) -> str:
    """URL of the suite's standalone server or cluster (started on first use)."""
    fixture = "redis_cluster" if backend == "redis-cluster" else "redis_standalone"
    return str(request.getfixturevalue(fixture).url)


@pytest.fixture(params=BACKENDS)
def make_adapter(request: pytest.FixtureRequest) -> Iterator[AdapterFactory]:
    """Build adapters of one backend; every one built is closed at the end of the test.

    Redis adapters of one test share a key prefix unique to that test.
    """
    backend: str = request.param
    made: list[FrameworkAdapter] = []
    prefix = f"kortyx-test-{uuid.uuid4().hex[:12]}:"

    def make(**kwargs: Any) -> FrameworkAdapter:
        kwargs.setdefault("ttl_ms", 60_000)
        adapter: FrameworkAdapter
        if backend == "in-memory":
            adapter = create_in_memory_framework_adapter(**kwargs)
        else:
            kwargs.setdefault("prefix", prefix)
            adapter = create_redis_framework_adapter(url=redis_url_for(request, backend), **kwargs)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


@pytest.fixture
def adapter(make_adapter: AdapterFactory) -> FrameworkAdapter:
    return make_adapter()


@pytest.fixture(params=BACKENDS[1:])
def redis_pair(request: pytest.FixtureRequest) -> Iterator[tuple[FrameworkAdapter, Any]]:
    """A Redis adapter (standalone, then Cluster) and a plain client of the same server."""
    import redis
    import redis.cluster

    backend: str = request.param
    url = redis_url_for(request, backend)
    made = create_redis_framework_adapter(
        url=url, ttl_ms=60_000, prefix=f"kortyx-pair-{uuid.uuid4().hex[:8]}:"
    )
    client: Any = (
        redis.cluster.RedisCluster.from_url(url)
        if backend == "redis-cluster"
        else redis.Redis.from_url(url)
    )
    yield made, client
    made.close()
    client.close()
