"""Session-scoped pytest fixtures that run real Redis servers on loopback.

Load with ``pytest_plugins = ["tests.redis_fixtures"]`` in the root conftest.
Redis tests never skip: missing binaries fail the test with install steps.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.cluster

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


def keys_without_expiry(client: Any) -> list[bytes]:
    """Keys the adapters wrote (``kortyx*``) that have no TTL.

    Keys under ``kortyx-nottl-`` come from tests that asked for ``ttl_ms=None``.
    """
    return sorted(
        key
        for key in client.scan_iter(match="kortyx*", count=1000)
        if not key.startswith(b"kortyx-nottl-") and client.pttl(key) == -1
    )


def _check_expiry(client: Any, where: str) -> None:
    try:
        lasting = keys_without_expiry(client)
    finally:
        client.close()
    assert not lasting, f"{where}: keys written without an expiry: {lasting[:20]}"


@pytest.fixture
def server(redis_binaries: tuple[str, str]) -> Iterator[RedisServer]:
    """A standalone server of the requesting test alone: it may kill the server's clients,
    stop it and start it again."""
    with RedisServer() as started:
        yield started


@pytest.fixture(scope="session")
def redis_standalone(redis_binaries: tuple[str, str]) -> Iterator[RedisServer]:
    """A standalone server without persistence; at the end, every key must have a TTL."""
    with RedisServer() as server:
        yield server
        _check_expiry(redis.Redis.from_url(server.url), "standalone server")


@pytest.fixture(scope="session")
def redis_aof(redis_binaries: tuple[str, str]) -> Iterator[RedisServer]:
    """A standalone server with ``appendonly yes`` / ``appendfsync always``."""
    with RedisServer(appendonly=True) as server:
        yield server
        _check_expiry(redis.Redis.from_url(server.url), "AOF server")


@pytest.fixture(scope="session")
def redis_cluster(redis_binaries: tuple[str, str]) -> Iterator[RedisCluster]:
    """A 3-master Redis Cluster without replicas; at the end, every key must have a TTL."""
    with RedisCluster() as cluster:
        yield cluster
        _check_expiry(redis.cluster.RedisCluster.from_url(cluster.url), "cluster")


@pytest.fixture
def redis_key_prefix() -> str:
    """A key prefix unique to the current test, e.g. ``plain-test-1a2b3c4d5e6f:``."""
    return f"plain-test-{uuid.uuid4().hex[:12]}:"
