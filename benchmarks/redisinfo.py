"""What the Redis servers themselves report: command counts and memory.

The savers cannot see how many commands they cause on the server, so the benchmark asks
the server: ``INFO commandstats`` before and after a workload (summed over every node of a
cluster), and ``MEMORY USAGE`` of every key under a saver's own key prefix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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

    @property
    def round_trips(self) -> int:
        """Top-level commands: one request/response each."""
        return self.evalsha + self.eval + self.other_top_level


def command_delta(before: Mapping[str, int], after: Mapping[str, int]) -> CommandDelta:
    """The difference of two :meth:`RedisNodes.command_calls` snapshots."""
    diff = {
        name: after.get(name, 0) - before.get(name, 0)
        for name in set(before) | set(after)
        if name not in MEASUREMENT
    }
    diff = {name: calls for name, calls in diff.items() if calls}
    other = sum(c for n, c in diff.items() if n in TOP_LEVEL_ONLY and n not in ("eval", "evalsha"))
    inside = sum(c for n, c in diff.items() if n not in TOP_LEVEL_ONLY)
    return CommandDelta(
        evalsha=diff.get("evalsha", 0),
        eval=diff.get("eval", 0),
        other_top_level=other,
        in_scripts=inside,
        by_command=dict(sorted(diff.items(), key=lambda item: -item[1])),
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
        """``calls`` per command name (subcommands folded in), summed over the nodes."""
        total: dict[str, int] = {}
        for client in self._clients:
            stats: dict[str, Any] = client.info("commandstats")
            for key, value in stats.items():
                name = key.removeprefix("cmdstat_").split("|", 1)[0].lower()
                total[name] = total.get(name, 0) + int(value["calls"])
        return total

    def used_memory(self) -> int:
        """``used_memory`` of ``INFO memory``, summed over the nodes."""
        return sum(int(client.info("memory")["used_memory"]) for client in self._clients)

    def memory_by_prefix(self, prefix: str) -> tuple[int, int]:
        """``(keys, bytes)``: every key starting with ``prefix`` and its exact
        ``MEMORY USAGE`` (``SAMPLES 0``: all elements of hashes and sorted sets)."""
        pattern = _GLOB_SPECIAL.sub(r"\\\1", prefix) + "*"
        keys_found = 0
        total = 0
        for client in self._clients:
            keys = list(client.scan_iter(match=pattern, count=1000))
            for start in range(0, len(keys), 500):
                pipe = client.pipeline(transaction=False)
                for key in keys[start : start + 500]:
                    pipe.memory_usage(key, samples=0)
                total += sum(int(size or 0) for size in pipe.execute())
            keys_found += len(keys)
        return keys_found, total

    def flush(self) -> None:
        """Drop every key (only ever called on the servers this benchmark started)."""
        for client in self._clients:
            client.flushall()
