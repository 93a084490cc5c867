"""The CPU time of each saver call, inside LangGraph's loop and replayed on its own.

``python -m benchmarks.call_cpu [--threads 40] [--rounds 3]`` runs agent-loop threads
(workload 1, ``durability="sync"``) with three savers on standalone Redis, in alternation:
``InMemorySaver`` plus one bare round trip per operation (the in-invoke floor), the kortyx
Redis saver with empty scripts (its client side alone) and the kortyx Redis saver. Every
``get_tuple``, ``put`` and ``put_writes`` is timed twice: wall time, and the CPU time of
the thread that made it (``time.thread_time``; LangGraph makes them on its background
thread). Then the same calls, recorded, are replayed against the same savers on the
calling thread, with nothing in between.

What the two columns show: a call made between LangGraph's own steps costs more CPU than
the same call replayed back to back, and how much more grows with how much of the
saver's own code the call runs (caches and branch predictors that LangGraph's work
between the calls has taken over).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from benchmarks.backends import Environment
from benchmarks.floor import RoundTripSaver, without_scripts
from benchmarks.graphs import AgentState, agent_input, agent_loop_graph, thread_config
from benchmarks.profiling import STEPS, Call, record, replay
from benchmarks.report import table

METHODS = ("get_tuple", "put", "put_writes")

Timings = dict[tuple[str, str, str], list[tuple[float, float]]]
"""Per (saver, where, method): ``(wall s, thread CPU s)`` of each call."""


def timed(saver: Any, label: str, where: str, into: Timings) -> Any:
    """``saver`` with each of :data:`METHODS` timing its calls into ``into``."""
    for name in METHODS:
        method = getattr(saver, name)

        def wrapper(*args: Any, _method: Any = method, _name: str = name, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return _method(*args, **kwargs)
            finally:
                into.setdefault((label, where, _name), []).append(
                    (time.perf_counter() - wall, time.thread_time() - cpu)
                )

        setattr(saver, name, wrapper)
    return saver


def rows(found: Timings, labels: Sequence[str]) -> list[list[str]]:
    """Per saver and method: median µs of wall and CPU, in the loop and replayed, and the
    ratio of the CPU in the loop to the CPU replayed."""
    out = []
    for label in labels:
        for method in METHODS:
            loop = found.get((label, "loop", method))
            again = found.get((label, "replay", method))
            if not loop or not again:
                continue
            # wall and CPU in the loop, then wall and CPU replayed
            cells = [
                statistics.median(call[clock] for call in calls) * 1e6
                for calls in (loop, again)
                for clock in (0, 1)
            ]
            out.append(
                [
                    label,
                    method,
                    str(len(loop)),
                    *(f"{c:.0f}" for c in cells),
                    f"{cells[1] / cells[3]:.2f}x",
                ]
            )
    return out


def per_step(found: Timings, labels: Sequence[str], steps: int) -> list[list[str]]:
    """Per saver: the CPU of all its calls per super-step, in the loop and replayed, and
    each less the floor's (the first label)."""

    def total(label: str, where: str) -> float:
        return (
            sum(cpu for method in METHODS for _, cpu in found.get((label, where, method), []))
            * 1e6
            / steps
        )

    floor = {where: total(labels[0], where) for where in ("loop", "replay")}
    out = []
    for label in labels:
        loop, again = total(label, "loop"), total(label, "replay")
        out.append(
            [
                label,
                f"{loop:.0f}",
                f"{again:.0f}",
                f"{loop - floor['loop']:.0f}",
                f"{again - floor['replay']:.0f}",
            ]
        )
    return out


def measure(
    env: Environment, calls: Sequence[Call], threads: int, rounds: int
) -> tuple[Timings, list[str]]:
    """Run the loop and the replays on ``env``'s standalone Redis; the timings and the
    savers' labels in order."""
    backend = next(
        b for b in env.backends if b.ours and b.nodes is not None and "cluster" not in b.name
    )
    found: Timings = {}
    counter = itertools.count()
    with backend.open() as probe_saver:

        def floor() -> Iterator[Any]:
            yield RoundTripSaver(probe_saver)

        def empty() -> Iterator[Any]:
            with backend.open() as saver:
                yield without_scripts(saver)

        def ours() -> Iterator[Any]:
            with backend.open() as saver:
                yield saver

        makers: dict[str, Callable[[], Iterator[Any]]] = {
            "InMemorySaver + 1 bare round trip per op": floor,
            "kortyx Redis with empty scripts": empty,
            "kortyx Redis": ours,
        }
        for round_no in range(rounds + 1):  # the first round warms up and is not kept
            for label, make in makers.items():
                kept = label if round_no else "warm-up"
                for where in ("loop", "replay"):
                    for saver in make():
                        timed(saver, kept, where, found)
                        if where == "replay":
                            replay(saver, calls)
                            continue
                        graph = agent_loop_graph(saver, STEPS)
                        for _ in range(threads):
                            config = thread_config(f"cpu-{next(counter)}", STEPS)
                            graph.invoke(agent_input(), config, durability="sync")
    return found, list(makers)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.call_cpu")
    parser.add_argument("--threads", type=int, default=40, help="agent-loop threads per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per saver, alternating")
    args = parser.parse_args(argv)
    calls = record(args.threads, AgentState)
    with Environment(cluster=False) as env:
        found, labels = measure(env, calls, args.threads, args.rounds)
    print(
        f"{args.threads} agent-loop threads x {STEPS} steps per saver and round "
        f"(durability=sync), {args.rounds} rounds, standalone Redis; µs per call, medians\n"
    )
    headers = [
        "saver",
        "method",
        "calls in the loop",
        "wall in the loop",
        "CPU in the loop",
        "wall replayed",
        "CPU replayed",
        "CPU in the loop ÷ replayed",
    ]
    print(table(headers, rows(found, labels)))
    print()
    steps = args.threads * STEPS * args.rounds
    headers = [
        "saver",
        "CPU µs per step in the loop",
        "replayed",
        "above the floor in the loop",
        "above the floor replayed",
    ]
    print(table(headers, per_step(found, labels, steps)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
