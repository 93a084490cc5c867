"""What the Redis servers themselves report: command counts and memory.

The savers cannot see how many commands they cause on the server, so the benchmark asks
the server: ``INFO commandstats`` before and after a workload (summed over every node of a
cluster), and ``MEMORY USAGE`` of every key under a saver's own key prefix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

TOP_LEVEL_ONLY = frozenset(
    {"eval", "evalsha", "client", "hello", "cluster", "command", "ping", "select", "auth"}
    | {"readonly", "echo", "script", "scan", "evalsha_ro", "eval_ro"}
)
"""Commands only a client sends (never a script); each is one round trip."""

MEASUREMENT = frozenset({"info", "memory", "flushall", "dbsize"})
"""Commands the benchmark itself sends; left out of every count."""

_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")


@dataclass(frozen=True)
class CommandDelta:
    """Commands a workload caused, from two ``INFO commandstats`` snapshots.

    ``round_trips`` counts the top-level commands (``EVALSHA``, ``EVAL`` and the few a
    client sends on its own); ``in_scripts`` counts the commands Redis ran inside those
    scripts (``HSET``, ``ZADD``, ``PEXPIRE``...), which Redis reports under their own names.
    """

    evalsha: int
    eval: int
    other_top_level: int
    in_scripts: int
    by_command: dict[str, int]
    script_usec: int = 0
    """Microseconds the server spent running the scripts (``usec`` of EVALSHA and EVAL)."""
    noscript: int = 0
    """EVALSHA calls that failed (``NOSCRIPT``: the node had not cached the script yet); the
    client then sends EVAL. A one-time cost per script and node, not per operation."""
    usec_by_command: dict[str, int] = field(default_factory=dict)
    """Microseconds spent in each command run inside the scripts (part of ``script_usec``)."""

    @property
    def round_trips(self) -> int:
        """Top-level commands: one request/response each."""
        return self.evalsha + self.eval + self.other_top_level

    @property
    def steady_round_trips(self) -> int:
        """Round trips without the one-time ones: connection set-up, and the failed EVALSHA
        of each NOSCRIPT reload (``calls`` includes failed calls; the EVAL that follows is
        the operation's one round trip)."""
        return self.evalsha + self.eval - self.noscript


def command_delta(before: Mapping[str, int], after: Mapping[str, int]) -> CommandDelta:
    """The difference of two :meth:`RedisNodes.command_calls` snapshots."""
    diff = {
        name: after.get(name, 0) - before.get(name, 0)
        for name in set(before) | set(after)
        if name.split(":", 1)[0] not in MEASUREMENT
    }
    usec = sum(diff.pop(f"{name}:usec", 0) for name in ("evalsha", "eval"))
    noscript = diff.pop("evalsha:failed", 0)
    usec_by_command = {
        name.removesuffix(":usec"): spent
        for name, spent in diff.items()
        if name.endswith(":usec") and spent and name.removesuffix(":usec") not in TOP_LEVEL_ONLY
    }
    diff = {name: calls for name, calls in diff.items() if ":" not in name}
    diff = {name: calls for name, calls in diff.items() if calls}
    other = sum(c for n, c in diff.items() if n in TOP_LEVEL_ONLY and n not in ("eval", "evalsha"))
    inside = sum(c for n, c in diff.items() if n not in TOP_LEVEL_ONLY)
    return CommandDelta(
        evalsha=diff.get("evalsha", 0),
        eval=diff.get("eval", 0),
        other_top_level=other,
        in_scripts=inside,
        by_command=dict(sorted(diff.items(), key=lambda item: -item[1])),
        script_usec=usec,
        noscript=noscript,
        usec_by_command=dict(sorted(usec_by_command.items(), key=lambda item: -item[1])),
    )


class RedisNodes:
    """Plain connections to every primary of one deployment, for statistics only."""

    def __init__(self, urls: Sequence[str]) -> None:
        self.urls = list(urls)
        self._clients = [redis.Redis.from_url(url) for url in self.urls]

    def close(self) -> None:
        """Close the connections."""
        for client in self._clients:
            client.close()

    def command_calls(self) -> dict[str, int]:
        """``calls`` per command name (subcommands folded in), summed over the nodes; also
        ``"<name>:usec"`` (microseconds spent in it) and ``"<name>:failed"`` (error replies)."""
        total: dict[str, int] = {}
        for client in self._clients:
            stats: dict[str, Any] = client.info("commandstats")
            for key, value in stats.items():
                name = key.removeprefix("cmdstat_").split("|", 1)[0].lower()
                total[name] = total.get(name, 0) + int(value["calls"])
                total[f"{name}:usec"] = total.get(f"{name}:usec", 0) + int(value["usec"])
                failed = int(value.get("failed_calls", 0))
                total[f"{name}:failed"] = total.get(f"{name}:failed", 0) + failed
        return total

    def cpu_seconds(self) -> float:
        """CPU seconds the server processes used so far (``used_cpu_user`` plus
        ``used_cpu_sys`` of ``INFO cpu``), summed over the nodes. Unlike the ``usec`` of
        ``INFO commandstats``, which is wall time, it does not grow while a server waits for a
        core the client holds."""
        total = 0.0
        for client in self._clients:
            cpu = client.info("cpu")
            total += float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
        return total

    def used_memory(self) -> int:
        """``used_memory`` of ``INFO memory``, summed over the nodes."""
        return sum(int(client.info("memory")["used_memory"]) for client in self._clients)

    def memory_by_prefix(self, prefix: str) -> tuple[int, dict[str, int]]:
        """``(keys, bytes by kind)``: every key starting with ``prefix`` and its exact
        ``MEMORY USAGE`` (``SAMPLES 0``: all elements), summed by the key's last
        ``:``-separated part (``idx``, ``cp``, ``blob``, ``wr``, ``pending`` for the kortyx
        layout)."""
        pattern = _GLOB_SPECIAL.sub(r"\\\1", prefix) + "*"
        keys_found = 0
        by_kind: dict[str, int] = {}
        for client in self._clients:
            keys = list(client.scan_iter(match=pattern, count=1000))
            for key, size in memory_usage(client, keys):
                kind = key.decode(errors="replace").rsplit(":", 1)[-1]
                by_kind[kind] = by_kind.get(kind, 0) + size
            keys_found += len(keys)
        return keys_found, by_kind

    def node_holding(self, prefix: str, part: str) -> int | None:
        """Index of the node holding a key that starts with ``prefix`` and contains
        ``part + ":"`` (``part`` must be free of glob characters), or ``None``."""
        pattern = _GLOB_SPECIAL.sub(r"\\\1", prefix) + f"*{part}:*"
        for index, client in enumerate(self._clients):
            for _ in client.scan_iter(match=pattern, count=1000):
                return index
        return None

    def flush(self) -> None:
        """Drop every key (only ever called on the servers this benchmark started)."""
        for client in self._clients:
            client.flushall()


def memory_usage(client: Any, keys: list[bytes]) -> Iterator[tuple[bytes, int]]:
    """``(key, MEMORY USAGE key SAMPLES 0)`` of every key, pipelined 500 at a time."""
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.memory_usage(key, samples=0)
        for key, size in zip(chunk, pipe.execute(), strict=True):
            yield key, int(size or 0)
