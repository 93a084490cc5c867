"""Session-scoped pytest fixtures that run real Redis servers on loopback.

Load with ``pytest_plugins = ["tests.redis_fixtures"]`` in the root conftest.
Redis tests never skip: missing binaries fail the test with install steps.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.redis_harness import RedisCluster, RedisServer, find_redis_binaries

__all__ = [
    "redis_aof",
    "redis_binaries",
    "redis_cluster",
    "redis_key_prefix",
    "redis_standalone",
]


@pytest.fixture(scope="session")
def redis_binaries() -> tuple[str, str]:
    """Paths of ``redis-server`` and ``redis-cli``; fails (never skips) if missing."""
    try:
        return find_redis_binaries()
    except RuntimeError as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def redis_standalone(redis_binaries: tuple[str, str]) -> Iterator[RedisServer]:
    """A standalone server without persistence."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_aof(redis_binaries: tuple[str, str]) -> Iterator[RedisServer]:
    """A standalone server with ``appendonly yes`` / ``appendfsync always``."""
    with RedisServer(appendonly=True) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster(redis_binaries: tuple[str, str]) -> Iterator[RedisCluster]:
    """A 3-master Redis Cluster without replicas."""
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture
def redis_key_prefix() -> str:
    """A key prefix unique to the current test, e.g. ``kortyx-test-1a2b3c4d5e6f:``."""
    return f"kortyx-test-{uuid.uuid4().hex[:12]}:"
