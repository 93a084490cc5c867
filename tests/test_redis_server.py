"""Which server the Redis tests run against: a supported one, and the one the run asked for.

``scripts/test-servers`` runs the Redis tests again against Redis 6.2 and against Valkey,
naming the server it started in ``KORTYX_TEST_SERVER`` (``redis 6.2``, ``valkey``); these
tests prove that run really reached that server.
"""

from __future__ import annotations

import os
import uuid

import pytest
import redis
from langgraph.types import Command

from kortyx_langgraph import create_redis_framework_adapter
from tests.graphs import approval_graph
from tests.redis_harness import RedisCluster, RedisServer

pytestmark = pytest.mark.redis

MIN_VERSION = (6, 2)


def _identity(info: dict[str, str]) -> tuple[str, str]:
    """``(name, version)`` of a server from its ``INFO server``."""
    if "valkey_version" in info:
        return "valkey", info["valkey_version"]
    return "redis", info["redis_version"]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _assert_expected(info: dict[str, str]) -> None:
    name, version = _identity(info)
    # Valkey reports the Redis version it is compatible with as redis_version
    assert _version(info["redis_version"]) >= MIN_VERSION, info["redis_version"]
    expected = os.environ.get("KORTYX_TEST_SERVER", "").split()
    if expected:
        assert name == expected[0], f"asked for {expected[0]}, the server is {name} {version}"
        if len(expected) > 1:
            wanted = _version(expected[1])
            assert _version(version)[: len(wanted)] == wanted, f"{name} {version}"


def test_the_standalone_server_is_supported_and_the_one_asked_for(
    redis_standalone: RedisServer,
) -> None:
    _assert_expected(redis_standalone.info("server"))


def test_the_cluster_nodes_are_supported_and_the_ones_asked_for(
    redis_cluster: RedisCluster,
) -> None:
    assert len(redis_cluster.nodes) == 3
    for node in redis_cluster.nodes:
        _assert_expected(node.info("server"))


@pytest.mark.parametrize("scheme", ["valkey", "redis"])
def test_a_run_pauses_and_resumes_through_either_url_scheme(
    redis_standalone: RedisServer, scheme: str
) -> None:
    prefix = f"kortyx-test-{uuid.uuid4().hex[:12]}:"
    url = redis_standalone.url.replace("redis://", f"{scheme}://", 1)
    with create_redis_framework_adapter(url=url, prefix=prefix, ttl_ms=60_000) as adapter:
        graph = approval_graph(adapter)
        config = {"configurable": {"thread_id": "t"}}
        graph.invoke({"request": "x", "log": []}, config)
        [pending] = adapter.pending.list("t")
        claimed = adapter.pending.claim(pending.token)
        result = graph.invoke(Command(resume=claimed.resume_map("ok")), claimed.config)
    assert result["log"] == ["asked", "done:ok"]
    client = redis.Redis.from_url(redis_standalone.url)
    try:
        assert list(client.scan_iter(match=f"{prefix}*")), "nothing was written to the server"
    finally:
        client.close()
