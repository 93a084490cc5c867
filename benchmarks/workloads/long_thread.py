"""Workload 7, long threads: agent-loop threads that grow to 1,000 messages.

The agent loop of workload 1 (one ``agent`` node, one new ~500-byte ``AIMessage`` per
super-step, the transcript in a plain ``add_messages`` channel) runs for 1,000 super-steps
in one ``invoke``, so the last checkpoint carries 1,000 messages. Every saver writes
``long_threads`` such threads, one at a time, the savers taking turns thread by thread in
rotating order (LangGraph's default ``durability="async"``). A short untimed thread per
saver comes first (scripts cached, connections open).

Reported per saver: seconds per thread (median and range over threads), ms per super-step
(a thread's seconds ÷ its super-steps), the ratio to ``InMemorySaver`` (the median of the
per-thread ratios, with their range), and for the Redis savers the round trips per saver
operation and the server's script time, from ``INFO commandstats`` around each thread.
(Workload 5 writes threads of up to 500 steps too, on the standalone Redis saver only, for
their bytes; this one times every saver.)
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.backends import BASELINE, Backend, Environment, Saver
from benchmarks.config import Sizes
from benchmarks.graphs import Graph, agent_input, agent_loop_graph, thread_config
from benchmarks.meter import OpMeter, attach
from benchmarks.redisinfo import CommandDelta, command_delta
from benchmarks.stats import ratio_of, sig
from benchmarks.workloads import Log, describe_error, rotated
from benchmarks.workloads.agent_loop import redis_accounting

WARMUP_STEPS = 20
"""Super-steps of the untimed thread each saver runs first."""


@dataclass
class _Saver:
    backend: Backend
    saver: Saver
    graph: Graph
    meter: OpMeter
    seconds: list[float] = field(default_factory=list)
    operations: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    """Summed ``command_calls`` differences over the timed threads."""
    threads: int = 0
    error: str | None = None


def run(env: Environment, sizes: Sizes, log: Log) -> dict[str, Any]:
    """``sizes.long_threads`` threads of ``sizes.long_thread_steps`` steps per saver."""
    steps = sizes.long_thread_steps
    with contextlib.ExitStack() as stack:
        entries: list[_Saver] = []
        for backend in env.backends:
            saver = stack.enter_context(backend.open())
            meter = OpMeter()
            attach(saver, meter)
            graph = agent_loop_graph(saver, steps)
            entries.append(_Saver(backend, saver, graph, meter))
        for entry in entries:
            warm = agent_loop_graph(entry.saver, WARMUP_STEPS)
            _guarded(entry, env, warm, WARMUP_STEPS, False)
        for number in range(sizes.long_threads):
            log(f"long threads: thread {number + 1}/{sizes.long_threads} ({steps:,} steps)")
            for entry in rotated(entries, number):
                gc.collect()
                _guarded(entry, env, entry.graph, steps, True)
    env.flush_redis()
    baseline = next((e for e in entries if e.backend.name == BASELINE and not e.error), None)
    return {
        "params": {"threads": sizes.long_threads, "steps_per_thread": steps},
        "backends": {e.backend.name: _collect(e, baseline, steps) for e in entries},
    }


def _guarded(entry: _Saver, env: Environment, graph: Graph, steps: int, timed: bool) -> None:
    """:func:`_thread`, unless the saver has failed already (the first error is recorded)."""
    if entry.error:
        return
    try:
        _thread(env, entry, graph, steps, timed)
    except Exception as exc:
        entry.error = describe_error(exc)


def _thread(env: Environment, entry: _Saver, graph: Graph, steps: int, timed: bool) -> None:
    """One thread of ``steps`` super-steps; recorded when ``timed``."""
    entry.threads += 1
    thread_id = env.thread_id(f"long-{entry.backend.name}", entry.threads)
    nodes = entry.backend.nodes if timed else None
    before = nodes.command_calls() if nodes is not None else None
    entry.meter.reset()
    start = time.perf_counter()
    result = graph.invoke(agent_input(), thread_config(thread_id, steps))
    seconds = time.perf_counter() - start
    if result["count"] != steps or len(result["messages"]) != steps:
        raise RuntimeError(f"thread {thread_id} ended with {len(result['messages'])} messages")
    if not timed:
        return
    entry.seconds.append(seconds)
    entry.operations += entry.meter.operations
    if nodes is not None and before is not None:
        after = nodes.command_calls()
        for name in set(before) | set(after):
            entry.calls[name] = entry.calls.get(name, 0) + after.get(name, 0) - before.get(name, 0)


def _collect(entry: _Saver, baseline: _Saver | None, steps: int) -> dict[str, Any]:
    if entry.error:
        return {"label": entry.backend.label, "error": entry.error}
    median = statistics.median(entry.seconds)
    row: dict[str, Any] = {
        "label": entry.backend.label,
        "reference": entry.backend.reference,
        "seconds_per_thread": {
            "median": sig(median),
            "low": sig(min(entry.seconds)),
            "high": sig(max(entry.seconds)),
            "all": [sig(s, 3) for s in entry.seconds],
        },
        "ms_per_step": sig(median * 1000 / steps),
        "operations_per_step": sig(entry.operations / (len(entry.seconds) * steps)),
    }
    if baseline is not None:
        ratio = ratio_of(entry.seconds, baseline.seconds)
        row["ratio"] = ratio.to_json() if ratio else None
    if entry.calls:
        delta: CommandDelta = command_delta({}, entry.calls)
        row["redis"] = redis_accounting(
            delta, operations=entry.operations, units=len(entry.seconds) * steps
        )
    return row
