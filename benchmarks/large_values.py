"""What a large channel value costs: ``put``, ``put_writes`` and ``get_tuple`` by value size.

``python -m benchmarks.large_values [--sizes 10000,100000,1000000] [--rounds 10]`` writes
threads whose one channel takes a new value of the given size at every step: a ``put``
that stores it, a ``put_writes`` of the same value (a node's output, as LangGraph writes
it before the next checkpoint), then a ``get_tuple`` of the latest checkpoint, which reads
both back. The Redis adapter runs on a ``redis-server`` of its own, in rounds that
alternate with ``InMemorySaver``, the baseline.

Beside it, the floor any saver that writes through a Lua script pays on the same server:
a bare ``EVALSHA`` that stores one value of that size (``put`` and ``put_writes`` each
store one), and one that returns two (``get_tuple`` reads the channel's value and the
write), each sent as the adapter sends its scripts (``redis/direct.py``). Redis copies
every script argument and every value a script reads into a Lua string, and Redis's Lua
hashes each string it creates over all of its bytes: about 1 µs per KB on this machine,
where a plain ``HSET`` stores the bytes with one copy. So a large value costs a
script-based saver once per string a script makes of it.

Server time per call is from ``INFO commandstats``, around calls of one kind alone.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import redis
from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver

from benchmarks.backends import _harness
from benchmarks.report import ms, table
from kortyx_langgraph import create_redis_framework_adapter
from kortyx_langgraph.redis import direct

OPERATIONS = ("put", "put_writes", "get_tuple")
STEPS = 10
"""Steps per thread: each a ``put``, a ``put_writes`` and a ``get_tuple``."""

_STORE = "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1"
_RETURN_TWO = "return redis.call('HMGET', KEYS[1], 'a', 'b')"


def value_of(size: int, salt: str) -> str:
    """A text of ``size`` characters that differs from step to step (hex, so the
    serializer stores it as it is)."""
    seed = hashlib.sha256(salt.encode()).hexdigest()
    return (seed * (size // len(seed) + 1))[:size]


@dataclass(frozen=True)
class Row:
    """One value size: ms per call (median) for each saver and operation, and the floors."""

    size: int
    memory: dict[str, float]
    redis: dict[str, float]
    floor: dict[str, float]
    server_us: dict[str, float]
    floor_server_us: dict[str, float]


def _steps(
    saver: BaseCheckpointSaver[Any], thread_id: str, size: int
) -> Iterator[dict[str, float]]:
    config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    for step in range(STEPS):
        value = value_of(size, f"{thread_id}/{step}")
        version = f"{step + 1:032}.0"
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {"doc": value}
        checkpoint["channel_versions"] = {"doc": version}
        started = time.perf_counter()
        stored = saver.put(config, checkpoint, {"source": "loop", "step": step}, {"doc": version})
        put = time.perf_counter()
        saver.put_writes(stored, [("doc", value)], f"task-{step}")
        wrote = time.perf_counter()
        got = saver.get_tuple(stored)
        read = time.perf_counter()
        assert got is not None and got.checkpoint["channel_values"]["doc"] == value
        assert got.pending_writes and got.pending_writes[0][2] == value
        config = stored
        yield {"put": put - started, "put_writes": wrote - put, "get_tuple": read - wrote}


def _median_ms(samples: list[dict[str, float]]) -> dict[str, float]:
    return {op: statistics.median(s[op] for s in samples) * 1000 for op in OPERATIONS}


def _evalsha_stats(client: redis.Redis, calls: Callable[[], None]) -> float:
    """Server µs per ``EVALSHA`` over ``calls``."""
    client.config_resetstat()
    calls()
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return float(stats.get("usec_per_call", 0.0))


def _floors(
    client: redis.Redis, size: int, repeat: int
) -> tuple[dict[str, float], dict[str, float]]:
    """ms per bare call (median) and server µs per call: one value stored, two returned."""
    store, two = client.script_load(_STORE), client.script_load(_RETURN_TWO)
    value = value_of(size, "floor").encode()
    key = f"large-values-floor-{uuid.uuid4().hex}"
    client.hset(key, mapping={"a": value, "b": value})
    stored: list[float] = []
    returned: list[float] = []
    for n in range(repeat):
        started = time.perf_counter()
        direct.call(client, ("EVALSHA", store, 1, key, f"f{n % 4}", value), fast=True)
        stored.append(time.perf_counter() - started)
        started = time.perf_counter()
        direct.call(client, ("EVALSHA", two, 1, key), fast=True)
        returned.append(time.perf_counter() - started)
    store_us = _evalsha_stats(
        client, lambda: [client.evalsha(store, 1, key, "f", value) for _ in range(repeat)]
    )
    two_us = _evalsha_stats(client, lambda: [client.evalsha(two, 1, key) for _ in range(repeat)])
    client.delete(key)
    floor_ms = statistics.median(stored) * 1000
    return (
        {"put": floor_ms, "put_writes": floor_ms, "get_tuple": statistics.median(returned) * 1000},
        {"put": store_us, "put_writes": store_us, "get_tuple": two_us},
    )


def _server_us(client: redis.Redis, adapter: Any, size: int) -> dict[str, float]:
    """Server µs per script call of each operation, each timed alone."""
    thread_id = f"server-{uuid.uuid4().hex}"
    config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    configs = []

    def puts() -> None:
        nonlocal config
        for step in range(STEPS):
            checkpoint = empty_checkpoint()
            version = f"{step + 1:032}.0"
            checkpoint["channel_values"] = {"doc": value_of(size, f"{thread_id}/{step}")}
            checkpoint["channel_versions"] = {"doc": version}
            config = adapter.put(config, checkpoint, {"step": step}, {"doc": version})
            configs.append(config)

    def writes() -> None:
        for step, stored in enumerate(configs):
            adapter.put_writes(stored, [("doc", value_of(size, f"w/{step}"))], f"task-{step}")

    def reads() -> None:
        for stored in configs:
            adapter.get_tuple(stored)

    return {
        "put": _evalsha_stats(client, puts),
        "put_writes": _evalsha_stats(client, writes),
        "get_tuple": _evalsha_stats(client, reads),
    }


def measure(url: str, size: int, rounds: int) -> Row:
    """Rounds of both savers in alternation at one value size, then the floors."""
    adapter = create_redis_framework_adapter(url=url, prefix=f"large-{uuid.uuid4().hex}:")
    client = redis.Redis.from_url(url)
    try:
        memory: list[dict[str, float]] = []
        stored: list[dict[str, float]] = []
        list(_steps(adapter, f"warm-{uuid.uuid4().hex}", size))  # scripts loaded
        for n in range(rounds):
            memory += list(_steps(InMemorySaver(), f"memory-{n}", size))
            stored += list(_steps(adapter, f"redis-{n}-{uuid.uuid4().hex}", size))
        floor, floor_server = _floors(client, size, rounds * STEPS)
        return Row(
            size,
            _median_ms(memory),
            _median_ms(stored),
            floor,
            _server_us(client, adapter, size),
            floor_server,
        )
    finally:
        client.close()
        adapter.close()


def report(rows: list[Row]) -> str:
    """A Markdown table: each operation by size, against ``InMemorySaver`` and the floor."""
    lines = []
    for row in rows:
        for op in OPERATIONS:
            ours, base, floor = row.redis[op], row.memory[op], row.floor[op]
            lines.append(
                (
                    f"{row.size:,}",
                    f"`{op}`",
                    ms(base),
                    ms(ours),
                    f"{ours / base:.1f}x",
                    ms(floor),
                    f"{ours / floor:.2f}x",
                    f"{row.server_us[op]:,.0f}",
                    f"{row.floor_server_us[op]:,.0f}",
                )
            )
    return table(
        (
            "value bytes",
            "operation",
            "InMemorySaver ms",
            "kortyx Redis ms",
            "x InMemorySaver",
            "floor ms",
            "x floor",
            "server µs per call",
            "floor's server µs",
        ),
        lines,
    )


def main(argv: list[str] | None = None) -> None:
    """Run the study and print its table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    with _harness().RedisServer() as server:
        rows = [measure(server.url, size, args.rounds) for size in sizes]
    print(report(rows))


if __name__ == "__main__":
    main()
