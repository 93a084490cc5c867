"""Checks that the Redis test harness starts real, usable servers."""

from __future__ import annotations

import os
import re
import socket

import pytest
import redis
import redis.cluster
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from tests.redis_harness import (
    CLUSTER_BUS_OFFSET,
    RedisCluster,
    RedisServer,
    find_redis_binaries,
    free_port,
)

pytest_plugins = ["tests.redis_fixtures"]
pytestmark = pytest.mark.redis


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_standalone_ping_set_get(redis_standalone: RedisServer, redis_key_prefix: str) -> None:
    assert redis_standalone.port != 6379
    assert redis_standalone.url == f"redis://127.0.0.1:{redis_standalone.port}/0"
    client = redis.Redis.from_url(redis_standalone.url)
    try:
        assert client.ping() is True
        client.set(f"{redis_key_prefix}k", b"v")
        assert client.get(f"{redis_key_prefix}k") == b"v"
        assert client.config_get("appendonly") == {"appendonly": "no"}
    finally:
        client.close()


def test_cluster_routes_keys_across_slots(
    redis_cluster: RedisCluster, redis_key_prefix: str
) -> None:
    assert len(redis_cluster.ports) == 3
    assert redis_cluster.startup_nodes == [("127.0.0.1", p) for p in redis_cluster.ports]
    client = redis.cluster.RedisCluster.from_url(redis_cluster.url)
    try:
        keys = [f"{redis_key_prefix}{i}" for i in range(30)]
        for key in keys:
            client.set(key, key)
        assert [client.get(key) for key in keys] == [key.encode() for key in keys]
        assert len({key_slot(key.encode()) for key in keys}) > 1
        info = client.cluster_info()
        assert info["cluster_state"] == "ok"
        assert int(info["cluster_size"]) == 3
    finally:
        client.close()
    for node in redis_cluster.nodes:
        assert redis_cluster.cluster_info(node.port)["cluster_state"] == "ok"
        # Every master holds some of the keys and no node is a replica.
        stored = node.command("KEYS", f"{redis_key_prefix}*")
        assert isinstance(stored, list) and stored
        roles = node.command("CLUSTER", "NODES")
        assert isinstance(roles, bytes)
        assert [line.split()[2].count(b"master") for line in roles.splitlines()] == [1, 1, 1]


def test_aof_survives_restart(redis_aof: RedisServer, redis_key_prefix: str) -> None:
    port, old_pid = redis_aof.port, redis_aof.pid
    key = f"{redis_key_prefix}durable"
    client = redis.Redis.from_url(redis_aof.url)
    try:
        client.set(key, b"kept")
    finally:
        client.close()

    redis_aof.restart()

    assert redis_aof.port == port
    assert redis_aof.pid != old_pid
    assert old_pid is not None and not _pid_alive(old_pid)
    client = redis.Redis.from_url(redis_aof.url)
    try:
        assert client.get(key) == b"kept"
    finally:
        client.close()


def test_requirepass_and_acl_user(redis_binaries: tuple[str, str]) -> None:
    with RedisServer(password="s3cret") as server:
        assert server.url == f"redis://:s3cret@127.0.0.1:{server.port}/0"
        with redis.Redis.from_url(server.url) as client:
            assert client.ping() is True
        with (
            redis.Redis(
                host="127.0.0.1", port=server.port, retry=Retry(NoBackoff(), 0)
            ) as anonymous,
            pytest.raises(redis.AuthenticationError),
        ):
            anonymous.ping()

    with RedisServer(username="alice", password="secret") as server:
        assert server.url == f"redis://alice:secret@127.0.0.1:{server.port}/0"
        with redis.Redis.from_url(server.url) as client:
            assert client.acl_whoami() == "alice"
            assert client.set("k", "v") is True


def test_stop_leaves_nothing_behind(redis_binaries: tuple[str, str]) -> None:
    server = RedisServer().start()
    pid, data_dir = server.pid, server.data_dir
    assert pid is not None and _pid_alive(pid)
    assert data_dir.is_dir()
    server.stop()
    assert not server.is_running
    assert not _pid_alive(pid)
    assert not data_dir.exists()
    server.stop()  # idempotent


def test_free_port_keeps_cluster_bus_free() -> None:
    port = free_port(cluster_bus=True)
    assert port not in (6379, 6379 + CLUSTER_BUS_OFFSET)
    for candidate in (port, port + CLUSTER_BUS_OFFSET):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", candidate))
    assert free_port() != port


def test_missing_binaries_explain_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_SERVER_BIN", "/nonexistent/redis-server")
    with pytest.raises(RuntimeError, match=re.escape("apt-get install redis-server")):
        find_redis_binaries()


_prefixes_seen: list[str] = []


@pytest.mark.parametrize("attempt", range(3))
def test_key_prefix_is_unique(redis_key_prefix: str, attempt: int) -> None:
    # each test gets its own prefix: none of these three runs sees one an earlier run got
    assert re.fullmatch(r"plain-test-[0-9a-f]{12}:", redis_key_prefix)
    assert redis_key_prefix not in _prefixes_seen
    _prefixes_seen.append(redis_key_prefix)
