"""What ``list`` of a whole thread, without a namespace, costs as the namespaces multiply.

``python -m benchmarks.list_study [--checkpoints 8000] [--quick]`` writes threads of the
same number of checkpoints through the Redis adapter, on a ``redis-server`` of its own:
one with the root namespace alone, one spread over 100 namespaces, and one like a fan-out
of subgraph tasks (every namespace two checkpoints, the root too). For each it times
``list`` of the whole thread and ``list(limit=10)`` (median of 20), and reads the script
calls and the server's script time of the full listing from ``INFO commandstats``. Ratios
are against the root-only thread of the same run. ``list`` without a namespace reads the
root first, then the other namespaces in the order of their first checkpoint; a page the
root does not fill finds that order, one hop per namespace (``docs/design.md``).
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.base.id import uuid6

from benchmarks.backends import _harness
from kortyx_langgraph import create_redis_framework_adapter


@dataclass(frozen=True)
class Row:
    """One thread's listing costs."""

    namespaces: int
    checkpoints: int
    full_ms: float
    calls: int
    server_ms: float
    limited_ms: float


def _write(adapter: Any, thread_id: str, namespaces: int, checkpoints: int) -> None:
    per = checkpoints // namespaces
    for n in range(namespaces):
        ns = "" if n == 0 else f"task:{n:05d}"
        for step in range(per):
            checkpoint = empty_checkpoint()
            checkpoint["id"] = str(uuid6(clock_seq=-1))
            config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}
            adapter.put(config, checkpoint, {"source": "loop", "step": step}, {})


def measure(url: str, namespaces: int, checkpoints: int) -> Row:
    """Write one thread of ``checkpoints`` over ``namespaces`` and time its listings."""
    adapter = create_redis_framework_adapter(url=url, prefix=f"list-study-{uuid.uuid4().hex}:")
    client = redis.Redis.from_url(url)
    try:
        thread_id = "thread"
        _write(adapter, thread_id, namespaces, checkpoints)
        config: Any = {"configurable": {"thread_id": thread_id}}
        list(adapter.list(config, limit=1))  # the script is loaded before anything is timed
        client.config_resetstat()
        started = time.perf_counter()
        listed = sum(1 for _ in adapter.list(config))
        full = time.perf_counter() - started
        stats = client.info("commandstats").get("cmdstat_evalsha", {})
        limited = []
        for _ in range(20):
            started = time.perf_counter()
            list(adapter.list(config, limit=10))
            limited.append(time.perf_counter() - started)
        return Row(
            namespaces,
            listed,
            full * 1000,
            int(stats.get("calls", 0)),
            float(stats.get("usec", 0)) / 1000,
            statistics.median(limited) * 1000,
        )
    finally:
        client.close()
        adapter.close()


def report(rows: list[Row]) -> str:
    """A Markdown table, each thread against the root-only one."""
    base = rows[0]
    lines = [
        "| namespaces | checkpoints | full list ms | x root only | script calls "
        "| server ms | x root only | `limit=10` ms | x root only |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.namespaces:,} | {row.checkpoints:,} | {row.full_ms:.0f} "
            f"| {row.full_ms / base.full_ms:.2f} | {row.calls} | {row.server_ms:.0f} "
            f"| {row.server_ms / max(base.server_ms, 1e-9):.2f} | {row.limited_ms:.2f} "
            f"| {row.limited_ms / base.limited_ms:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the study and print its table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=8_000)
    parser.add_argument("--quick", action="store_true", help="threads of 200 checkpoints")
    args = parser.parse_args(argv)
    checkpoints = 200 if args.quick else args.checkpoints
    shapes = [1, 10 if args.quick else 100, checkpoints // 2]
    with _harness().RedisServer() as server:
        rows = [measure(server.url, namespaces, checkpoints) for namespaces in shapes]
    print(report(rows))


if __name__ == "__main__":
    main()
