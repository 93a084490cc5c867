"""``kortyx-langgraph doctor``: check that a Redis server suits the adapter, and say why not.

Every check uses commands managed services allow (``PING``, ``INFO``, ``EVAL``); none needs
``CONFIG``. One script runs what the adapter's scripts run on two keys of its prefix (which
it deletes, and which would expire within 10 s): the user's permissions, the key pattern,
and whether the server takes writes. The eviction policy matters most: with
``allkeys-*`` or ``volatile-*`` policies Redis may evict a paused run (every key the
adapter writes has a TTL, so ``volatile-*`` policies pick them first); ``noeviction`` plus
the adapter's TTLs is the safe setting.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

import redis
import redis.cluster

from kortyx_langgraph.errors import KortyxError, StorageCapabilityError
from kortyx_langgraph.redis.connection import translated_errors
from kortyx_langgraph.redis.layout import DEFAULT_PREFIX
from kortyx_langgraph.settings import check_redis_url, redact_url, redis_py_url

Level = Literal["ok", "warning", "error"]

MIN_VERSION = (6, 2)


@dataclass(frozen=True)
class Finding:
    """One check's outcome."""

    level: Level
    check: str
    message: str

    def __str__(self) -> str:
        return f"[{self.level}] {self.check}: {self.message}"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


_PROBE = """
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'at', t[1])
redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('HGET', KEYS[1], 'at')
redis.call('HDEL', KEYS[1], 'n')
redis.call('ZADD', KEYS[2], 0, 'm')
redis.call('ZREM', KEYS[2], 'm')
redis.call('PEXPIRE', KEYS[1], 10000)
redis.call('DEL', KEYS[1], KEYS[2])
return 1
"""
"""What the adapter's scripts do, on two keys of its prefix that live at most 10 s."""

MEMORY_WARNING = 0.9
"""The share of ``maxmemory`` in use above which the doctor warns."""


def diagnose(url: str, prefix: str = DEFAULT_PREFIX) -> list[Finding]:
    """Run every check against the server at ``url``, for an adapter whose keys start with
    ``prefix``; never raises for a server problem."""
    url = check_redis_url(url)
    where = redact_url(url)
    client = redis.Redis.from_url(redis_py_url(url), socket_connect_timeout=5)
    findings: list[Finding] = []
    try:
        with translated_errors(where):
            client.ping()
        findings.append(Finding("ok", "connection", f"reached {where}"))
        info = _info(client, where, findings)
        with translated_errors(where):
            answer = client.eval("return cmsgpack.unpack(cmsgpack.pack({7}))[1]", 0)
        findings.append(
            Finding("ok" if answer == 7 else "error", "lua", "Lua scripting with cmsgpack works")
        )
        findings.append(_access_finding(client, url, where, prefix, info))
        if info:
            findings.append(_memory_finding(info))
            findings.append(_eviction_finding(str(info.get("maxmemory_policy", "unknown"))))
            findings.append(_persistence_finding(info))
    except KortyxError as exc:
        findings.append(Finding("error", "connection", str(exc)))
    finally:
        client.close()
    return findings


def _info(client: redis.Redis, where: str, findings: list[Finding]) -> dict[str, Any]:
    """``INFO``, with the version and mode findings; ``{}`` when the user may not run it."""
    try:
        with translated_errors(where):
            info: dict[str, Any] = client.info()
    except StorageCapabilityError as exc:
        findings.append(
            Finding(
                "warning",
                "info",
                "this user may not run INFO, so the version, mode, memory, eviction and "
                "persistence checks were skipped; the adapter takes such a server for a "
                f"standalone one (pass cluster=True for a Cluster) ({exc})",
            )
        )
        return {}
    version = str(info.get("redis_version", "0"))
    name = "Valkey" if "valkey_version" in info else "Redis"
    level: Level = "ok" if _version(version) >= MIN_VERSION else "error"
    findings.append(Finding(level, "version", f"{name} {version} (needs Redis 6.2 or newer)"))
    mode = "Redis Cluster" if info.get("cluster_enabled") else "standalone"
    findings.append(Finding("ok", "mode", mode))
    return info


def _access_finding(
    client: redis.Redis, url: str, where: str, prefix: str, info: dict[str, Any]
) -> Finding:
    """Run what the adapter's scripts run on keys of ``prefix``: the user's permissions, the
    key pattern, and whether the server takes writes (a replica, or memory full). On a
    Cluster through a Cluster client, so that the keys' node runs it; else on ``client``."""
    tag = "{" + uuid.uuid4().hex + "}"
    keys = [f"{prefix}{tag}:doctor", f"{prefix}{tag}:doctor-index"]
    cluster = bool(info.get("cluster_enabled"))
    probe: Any = client
    try:
        with translated_errors(where):
            if cluster:
                probe = redis.cluster.RedisCluster.from_url(
                    redis_py_url(url), socket_connect_timeout=5
                )
            probe.eval(_PROBE, 2, *keys)
    except KortyxError as exc:
        return Finding("error", "access", str(exc))
    finally:
        if probe is not client:
            probe.close()
    return Finding("ok", "access", f"scripts can read and write keys of the prefix {prefix!r}")


def _memory_finding(info: dict[str, Any]) -> Finding:
    used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
    if not limit:
        return Finding("ok", "memory", f"{used:,} bytes in use, no maxmemory")
    share = used / limit
    text = f"{used:,} of maxmemory {limit:,} bytes in use ({share:.0%})"
    if share >= MEMORY_WARNING:
        return Finding(
            "warning",
            "memory",
            f"{text}: at maxmemory Redis refuses writes (noeviction), so runs cannot pause "
            "or resume, or evicts keys, paused runs among them",
        )
    return Finding("ok", "memory", text)


def _persistence_finding(info: dict[str, Any]) -> Finding:
    if str(info.get("aof_enabled")) == "1":
        return Finding("ok", "persistence", "AOF is on")
    return Finding(
        "warning",
        "persistence",
        "AOF is off: a restart loses what was written since the last snapshot "
        "(everything, without snapshots); paused runs would be lost with it",
    )


def _eviction_finding(policy: str) -> Finding:
    if policy == "noeviction":
        return Finding("ok", "eviction", "maxmemory-policy is noeviction")
    if policy.startswith(("allkeys-", "volatile-")):
        return Finding(
            "warning",
            "eviction",
            f"maxmemory-policy is {policy}: Redis may evict a paused run under memory "
            "pressure; set noeviction (the adapter's TTLs already bound what it keeps)",
        )
    return Finding("warning", "eviction", f"maxmemory-policy is {policy!r}")
