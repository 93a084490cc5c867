"""Part of workload 6: what one ``put_writes`` costs the server as a checkpoint's writes pile up.

The fan-out runs measure a whole super-step, and how its ``put_writes`` reach the server
depends on scheduling: under ``invoke`` concurrent writes share pipelines, and how many
share one changes with the machine's load. This measures the script alone: one checkpoint
is stored, then ``depth`` tasks each call ``put_writes`` once for it, one call at a time on
the calling thread (the worker's write: one item appended to a list channel). ``INFO
commandstats`` is read around every block of :data:`BLOCK` calls; a block's server time
per call that does not grow from the first blocks to the last (``server_late_to_early``,
the mean of the last quarter of the blocks over that of the first) is what the goal asks:
``put_writes`` costs the same whatever writes are already stored for the checkpoint.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from langgraph.checkpoint.base import empty_checkpoint

from benchmarks.backends import Backend, Environment
from benchmarks.config import Sizes
from benchmarks.graphs import thread_config
from benchmarks.redisinfo import RedisNodes, command_delta
from benchmarks.stats import sig
from benchmarks.workloads import Log, describe_error

BLOCK = 500
"""Calls between two readings of ``INFO commandstats`` (fewer in a ``--quick`` run)."""


def run(env: Environment, sizes: Sizes, log: Log) -> dict[str, Any]:
    """Per kortyx Redis backend: server µs and client µs per ``put_writes`` by block."""
    depth = max(sizes.fanout_tasks)
    block = min(BLOCK, max(1, depth // 4))
    out: dict[str, Any] = {"params": {"depth": depth, "block": block}, "backends": {}}
    for backend in env.backends:
        if not backend.ours or backend.nodes is None:
            continue
        log(f"fan-out, put_writes by depth: {backend.label}, {depth:,} calls")
        try:
            out["backends"][backend.name] = _measure(env, backend, backend.nodes, depth, block)
        except Exception as exc:
            out["backends"][backend.name] = {"label": backend.label, "error": describe_error(exc)}
        env.flush_redis()
    return out


def _measure(
    env: Environment, backend: Backend, nodes: RedisNodes, depth: int, block: int
) -> dict[str, Any]:
    with backend.open() as saver:
        config = thread_config(env.thread_id(f"write-depth-{backend.name}", 0))
        stored = saver.put(config, empty_checkpoint(), {"source": "loop", "step": 1}, {})
        blocks = []
        for start in range(0, depth, block):
            before = nodes.command_calls()
            began = time.perf_counter()
            for i in range(start, min(start + block, depth)):
                saver.put_writes(stored, [("items", [i])], f"task-{i:06d}", "")
            seconds = time.perf_counter() - began
            calls = min(start + block, depth) - start
            delta = command_delta(before, nodes.command_calls())
            blocks.append(
                {
                    "from": start,
                    "server_us_per_call": sig(delta.script_usec / calls),
                    "client_us_per_call": sig(seconds * 1e6 / calls),
                }
            )
        stored_writes = len(saver.get_tuple(stored).pending_writes or ())
    if stored_writes != depth:
        raise RuntimeError(f"{depth} put_writes left {stored_writes} pending writes")
    server = [b["server_us_per_call"] for b in blocks]
    ends = max(1, len(server) // 4)
    return {
        "label": backend.label,
        "blocks": blocks,
        "server_median_us_per_call": sig(statistics.median(server)),
        "server_late_to_early": sig(
            statistics.mean(server[-ends:]) / statistics.mean(server[:ends]), 3
        ),
    }
