"""Workload 4, concurrency: 64 agent-loop threads at once, from asyncio and from a pool.

``asyncio``: one event loop runs ``ainvoke`` for all threads with ``asyncio.gather`` (the
saver's async methods; ``AsyncSqliteSaver`` stands in for ``SqliteSaver``). ``threads``: a
pool of 64 OS threads runs ``invoke`` (the sync methods). The figure is aggregate agent
super-steps per second; each repetition runs every saver once, in rotating order.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks.backends import BASELINE, Backend, Environment
from benchmarks.config import Sizes
from benchmarks.graphs import agent_input, agent_loop_graph, thread_config
from benchmarks.stats import ratio_of, sig
from benchmarks.workloads import Log, describe_error, rotated

MODES = ("asyncio", "threads")
POOL = {"max_connections": 1024}
"""redis-py 8's connection pools refuse a 101st connection (``MaxConnectionsError``, they do
not wait); 64 threads with LangGraph's background writes can need more, so the kortyx Redis
savers also run with this larger pool."""


def run(env: Environment, sizes: Sizes, log: Log) -> dict[str, Any]:
    """Both modes, ``sizes.concurrency_reps`` repetitions each."""
    out: dict[str, Any] = {
        "params": {
            "threads": sizes.concurrency_threads,
            "steps_per_thread": sizes.agent_steps,
            "reps": sizes.concurrency_reps,
        },
        "modes": {},
    }
    for mode in MODES:
        backends = [b for b in env.backends if mode == "threads" or b.aopen is not None]
        backends += env.redis_with_options(POOL, "max_connections=1024")
        rates: dict[str, list[float]] = {b.name: [] for b in backends}
        errors: dict[str, str] = {}
        for rep in range(sizes.concurrency_reps):
            log(f"concurrency, {mode}: repetition {rep + 1}/{sizes.concurrency_reps}")
            for backend in rotated(backends, rep):
                if backend.name in errors:
                    continue
                gc.collect()
                try:
                    rates[backend.name].append(_measure(env, backend, sizes, mode, rep))
                except Exception as exc:
                    errors[backend.name] = describe_error(exc)
            env.flush_redis()
        out["modes"][mode] = _collect(backends, rates, errors, mode)
    return out


def _measure(env: Environment, backend: Backend, sizes: Sizes, mode: str, rep: int) -> float:
    """Super-steps per second of one repetition."""
    kind = f"conc-{mode}-{backend.name}-{rep}"
    thread_ids = [env.thread_id(kind, n) for n in range(sizes.concurrency_threads + 1)]
    if mode == "asyncio":
        seconds = asyncio.run(_async_run(backend, sizes, thread_ids))
    else:
        seconds = _pool_run(backend, sizes, thread_ids)
    return sizes.concurrency_threads * sizes.agent_steps / seconds


def _check(result: dict[str, Any], sizes: Sizes) -> None:
    if result["count"] != sizes.agent_steps:
        raise RuntimeError(f"a thread ended after {result['count']} steps")


async def _async_run(backend: Backend, sizes: Sizes, thread_ids: list[str]) -> float:
    assert backend.aopen is not None
    steps = sizes.agent_steps
    async with backend.aopen() as saver:
        graph = agent_loop_graph(saver, steps)
        warm, *measured = thread_ids
        _check(await graph.ainvoke(agent_input(), thread_config(warm, steps)), sizes)
        start = time.perf_counter()
        results = await asyncio.gather(
            *(graph.ainvoke(agent_input(), thread_config(t, steps)) for t in measured)
        )
        seconds = time.perf_counter() - start
    for result in results:
        _check(result, sizes)
    return seconds


def _pool_run(backend: Backend, sizes: Sizes, thread_ids: list[str]) -> float:
    steps = sizes.agent_steps
    with backend.open() as saver, ThreadPoolExecutor(max_workers=sizes.concurrency_threads) as pool:
        graph = agent_loop_graph(saver, steps)
        warm, *measured = thread_ids
        _check(graph.invoke(agent_input(), thread_config(warm, steps)), sizes)
        start = time.perf_counter()
        futures = [
            pool.submit(graph.invoke, agent_input(), thread_config(t, steps)) for t in measured
        ]
        results = [future.result() for future in futures]
        seconds = time.perf_counter() - start
    for result in results:
        _check(result, sizes)
    return seconds


def _collect(
    backends: list[Backend], rates: dict[str, list[float]], errors: dict[str, str], mode: str
) -> dict[str, Any]:
    base = rates.get(BASELINE) or []
    out: dict[str, Any] = {}
    for backend in backends:
        label = (backend.async_label if mode == "asyncio" else None) or backend.label
        if backend.name in errors:
            out[backend.name] = {"label": label, "error": errors[backend.name]}
            continue
        mine = rates[backend.name]
        row: dict[str, Any] = {
            "label": label,
            "steps_per_s": sig(statistics.median(mine)),
            "steps_per_s_all": [sig(r, 3) for r in mine],
        }
        # time per step relative to the baseline: its rate over ours, repetition by repetition
        spread = ratio_of(base, mine)
        if spread is not None:
            row["ratio"] = spread.to_json()
        out[backend.name] = row
    return out
