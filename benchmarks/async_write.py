"""The ``ainvoke`` agent loop with the direct path's asyncio writes sent three ways.

``python -m benchmarks.async_write [--threads 32] [--rounds 8] [--at-once 1,16]`` runs
agent-loop threads (workload 1, 20 super-steps each) with ``ainvoke`` on standalone Redis,
for each number of runs at once (``asyncio.gather`` on one event loop) and each durability
mode (``async``, the default, and ``sync``), with four savers in alternating rounds:

- ``InMemorySaver``, the baseline;
- the kortyx Redis saver as it ships: on Python 3.11.3 and later each write of the direct
  path (``kortyx_langgraph.redis.direct``) waits for one turn of the event loop, then is
  bounded by ``asyncio.timeout``;
- the same, written at once, without the turn of the loop;
- the same, written through redis-py's ``send_packed_command`` (the way before), which
  bounds each write with ``asyncio.wait_for``: before Python 3.12 that runs the write as a
  task of its own, scheduled for the next turn of the loop; from 3.12 on it writes at once.

A round runs ``--threads`` threads per saver, that many at once, and the figure is the
round's wall time per super-step: the time of one super-step of one run alone, and the
inverse of the throughput with several at once. The first round warms up and is left out;
per saver, the median over the rounds, its range, and the ratio to ``InMemorySaver``'s
median. On Python before 3.11.3 the kortyx ways are the same code, and the study says so
instead of measuring.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from benchmarks.backends import Environment
from benchmarks.graphs import agent_input, agent_loop_graph, thread_config
from benchmarks.report import table
from kortyx_langgraph import create_redis_framework_adapter
from kortyx_langgraph.redis import direct

STEPS = 20
BASELINE = "InMemorySaver"
SHIPPED = "kortyx Redis: a turn of the loop, then the write under asyncio.timeout"
AT_ONCE = "kortyx Redis: the write at once, under asyncio.timeout"
REDIS_PY = "kortyx Redis: the write through redis-py's send_packed_command (wait_for)"
WAYS = (BASELINE, SHIPPED, AT_ONCE, REDIS_PY)

Samples = dict[str, list[float]]
"""Per saver: the wall time per super-step of each measured round, ms."""


@contextmanager
def sent(way: str) -> Iterator[None]:
    """Within the block, the direct path sends its asyncio writes as ``way`` says (one of
    :data:`WAYS`; the baseline's is the shipped one)."""
    bounded, turn = direct._TIMEOUT_CONTEXT, direct._TURN_FIRST
    direct._TIMEOUT_CONTEXT = bounded and way != REDIS_PY
    direct._TURN_FIRST = turn and way != AT_ONCE
    try:
        yield
    finally:
        direct._TIMEOUT_CONTEXT, direct._TURN_FIRST = bounded, turn


async def _round(saver: Any, threads: int, at_once: int, names: Iterator[int], mode: str) -> float:
    graph = agent_loop_graph(saver, STEPS)
    started = time.perf_counter()
    for first in range(0, threads, at_once):
        runs = (
            graph.ainvoke(
                agent_input(),
                thread_config(f"async-write-{next(names)}", STEPS),
                durability=mode,  # type: ignore[arg-type]
            )
            for _ in range(min(at_once, threads - first))
        )
        await asyncio.gather(*runs)
    return (time.perf_counter() - started) / (threads * STEPS) * 1e3


async def measure(url: str, mode: str, threads: int, at_once: int, rounds: int) -> Samples:
    """Ms per super-step of each saver, per round after the first, in alternation (the
    order reversed every other round)."""
    adapter = create_redis_framework_adapter(url=url, prefix="kortyx-async-write:")
    names = itertools.count()
    samples: Samples = {way: [] for way in WAYS}
    try:
        for round_ in range(rounds + 1):
            for way in WAYS if round_ % 2 else tuple(reversed(WAYS)):
                saver: Any = InMemorySaver() if way == BASELINE else adapter
                with sent(way):
                    ms = await _round(saver, threads, at_once, names, mode)
                if round_:
                    samples[way].append(ms)
    finally:
        await adapter.aclose()
        adapter.close()
    return samples


def rows(samples: Samples, at_once: int, mode: str) -> list[list[str]]:
    """Per saver: median ms per super-step, its range over the rounds, and its ratio to
    the baseline's median."""
    base = statistics.median(samples[BASELINE])
    out = []
    for way, found in samples.items():
        ms = statistics.median(found)
        span = f"{min(found):.3f}-{max(found):.3f}"
        out.append([str(at_once), mode, way, f"{ms:.3f}", span, f"{ms / base:.2f}x"])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.async_write")
    parser.add_argument("--threads", type=int, default=32, help="threads per saver and round")
    parser.add_argument("--rounds", type=int, default=8, help="measured rounds per case")
    parser.add_argument("--at-once", default="1,16", help="comma-separated numbers of runs at once")
    args = parser.parse_args(argv)
    if not direct._TIMEOUT_CONTEXT:
        print("Before Python 3.11.3 the direct path writes through send_packed_command itself:")
        print("the kortyx ways are the same code, so nothing is measured.")
        return 0
    found: list[list[str]] = []
    with Environment(cluster=False) as env:
        backend = next(b for b in env.backends if b.ours and b.nodes is not None)
        assert backend.nodes is not None
        for at_once in (int(n) for n in args.at_once.split(",")):
            for mode in ("async", "sync"):
                samples = asyncio.run(
                    measure(backend.nodes.urls[0], mode, args.threads, at_once, args.rounds)
                )
                found += rows(samples, at_once, mode)
    print(
        f"ainvoke agent loop, {STEPS} super-steps per thread, {args.threads} threads per "
        f"saver and round, {args.rounds} rounds after a warm-up, standalone Redis; wall "
        "time of a round per super-step, medians over the rounds\n"
    )
    headers = ["runs at once", "durability", "saver", "ms/step", "range", "x InMemorySaver"]
    print(table(headers, found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
