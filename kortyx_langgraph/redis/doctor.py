"""``kortyx-langgraph doctor``: check that a Redis server suits the adapter, and say why not.

Every check uses commands managed services allow (``PING``, ``INFO``, ``EVAL``); none needs
``CONFIG``. The eviction policy matters most: with ``allkeys-*`` or ``volatile-*`` policies
Redis may evict a paused run (every key the adapter writes has a TTL, so ``volatile-*``
policies pick them first); ``noeviction`` plus the adapter's TTLs is the safe setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import redis

from kortyx_langgraph.errors import KortyxError
from kortyx_langgraph.redis.connection import translated_errors
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


def diagnose(url: str) -> list[Finding]:
    """Run every check against the server at ``url``; never raises for a server problem."""
    url = check_redis_url(url)
    where = redact_url(url)
    client = redis.Redis.from_url(redis_py_url(url), socket_connect_timeout=5)
    findings: list[Finding] = []
    try:
        with translated_errors(where):
            client.ping()
        findings.append(Finding("ok", "connection", f"reached {where}"))
        with translated_errors(where):
            info = client.info()
        version = str(info.get("redis_version", "0"))
        name = "Valkey" if "valkey_version" in info else "Redis"
        level: Level = "ok" if _version(version) >= MIN_VERSION else "error"
        findings.append(Finding(level, "version", f"{name} {version} (needs Redis 6.2 or newer)"))
        findings.append(
            Finding(
                "ok",
                "mode",
                "Redis Cluster" if info.get("cluster_enabled") else "standalone",
            )
        )
        with translated_errors(where):
            answer = client.eval("return cmsgpack.unpack(cmsgpack.pack({7}))[1]", 0)
        findings.append(
            Finding("ok" if answer == 7 else "error", "lua", "Lua scripting with cmsgpack works")
        )
        findings.append(_eviction_finding(str(info.get("maxmemory_policy", "unknown"))))
        if str(info.get("aof_enabled")) == "1":
            findings.append(Finding("ok", "persistence", "AOF is on"))
        else:
            findings.append(
                Finding(
                    "warning",
                    "persistence",
                    "AOF is off: a restart loses what was written since the last snapshot "
                    "(everything, without snapshots); paused runs would be lost with it",
                )
            )
    except KortyxError as exc:
        findings.append(Finding("error", "connection", str(exc)))
    finally:
        client.close()
    return findings


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
