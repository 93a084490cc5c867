"""redis-py with and without hiredis, on the same machine in one run, interleaved.

``python -m benchmarks.parser_compare [--rounds 3] [--large-bytes 16384] [--quick]`` runs,
each round, two harness processes per parser, in an order that alternates from round to round:

- ``benchmarks.run --no-cluster --only agent_loop,hitl,history,memory`` (500-byte messages),
- ``benchmarks.run --no-cluster --only agent_loop --message-bytes N`` (bigger payloads),

one with hiredis and one with ``KORTYX_BENCH_NO_HIREDIS=1`` (see :mod:`benchmarks.redis_parser`).
redis-py picks its parser once per process, so the two parsers cannot share a process; every
ratio to ``InMemorySaver`` still comes from within one process, and "with ÷ without" pairs the
two processes of one round. The table gives the median over rounds and the range, so the
spread shows how noisy the machine was. Each run's JSON goes to ``--out`` (default
``benchmarks/results/parser/``); the table to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.backends import REPO
from benchmarks.nested import dig
from benchmarks.redis_parser import NO_HIREDIS_VARIABLE
from benchmarks.report import table

PARSERS = ("hiredis", "python")
REDIS = "kortyx-redis"
BASE = "InMemorySaver"
RUNS: dict[str, list[str]] = {
    "small": ["--only", "agent_loop,hitl,history,memory"],
    "large": ["--only", "agent_loop"],
}

Metric = Callable[[dict[str, Any]], float | None]


def _agent(durability: str, name: str, *path: str) -> Metric:
    return lambda r: dig(r, "agent_loop", "durability", durability, name, *path)


def _saver_ratio(r: dict[str, Any]) -> float | None:
    ours = _agent("sync", REDIS, "saver_ms_per_step")(r)
    base = _agent("sync", BASE, "saver_ms_per_step")(r)
    return ours / base if ours and base else None


def _history(query: str) -> Metric:
    return lambda r: dig(r, "history", "backends", REDIS, "reads", query, "ms", "10000", "median")


def _memory(key: str) -> Metric:
    def metric(r: dict[str, Any]) -> float | None:
        rows = dig(r, "memory", "states", "add_messages", "rows") or []
        good = [row for row in rows if "error" not in row]
        return good[-1][key] if good else None

    return metric


def _hitl(*path: str) -> Metric:
    return lambda r: dig(r, "hitl", "backends", REDIS, *path)


X, MS = "x", "ms"
STEP = "agent loop step"
IN_SAVER = "agent loop, sync: time in the Redis saver per step"
METRICS: tuple[tuple[str, str, str, Metric], ...] = (
    # (run, metric, unit, how to read it from one run's JSON)
    ("small", f"{STEP}, async: Redis x InMemorySaver", X, _agent("async", REDIS, "ratio", "value")),
    ("small", f"{STEP}, sync: Redis x InMemorySaver", X, _agent("sync", REDIS, "ratio", "value")),
    ("small", IN_SAVER, MS, _agent("sync", REDIS, "saver_ms_per_step")),
    ("small", "agent loop, sync: time in saver, Redis x InMemorySaver", X, _saver_ratio),
    ("small", "HITL pause: Redis x InMemorySaver", X, _hitl("pause_ratio", "value")),
    ("small", "HITL resume: Redis x InMemorySaver", X, _hitl("resume_ratio", "value")),
    ("small", "HITL pending.list + claim", MS, _hitl("claim_ms", "median")),
    ("small", "history: get_tuple (latest), 10,000 cps", MS, _history("get_tuple (latest)")),
    ("small", "history: list(limit=10), 10,000 cps", MS, _history("list(limit=10)")),
    ("small", "500-step thread (250 KB of messages): get_state", MS, _memory("get_state_ms")),
    ("small", "500-step thread: time per step", MS, _memory("ms_per_step")),
    (
        "small",
        "control: InMemorySaver step, sync",
        MS,
        _agent("sync", BASE, "ms_per_step", "median"),
    ),
    ("large", f"{STEP}, async: Redis x InMemorySaver", X, _agent("async", REDIS, "ratio", "value")),
    ("large", f"{STEP}, sync: Redis x InMemorySaver", X, _agent("sync", REDIS, "ratio", "value")),
    ("large", IN_SAVER, MS, _agent("sync", REDIS, "saver_ms_per_step")),
    ("large", "agent loop, sync: time in saver, Redis x InMemorySaver", X, _saver_ratio),
)


def _run_once(kind: str, parser: str, args: argparse.Namespace, path: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.run", "--no-cluster", "--json", str(path)]
    command += RUNS[kind] + (["--quick"] if args.quick else [])
    if kind == "large":
        command += ["--message-bytes", str(args.large_bytes)]
    env = {k: v for k, v in os.environ.items() if k != NO_HIREDIS_VARIABLE}
    if parser == "python":
        env[NO_HIREDIS_VARIABLE] = "1"
    subprocess.run(command, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    results: dict[str, Any] = json.loads(path.read_text())
    if results["machine"]["redis_parser"] != parser:
        raise RuntimeError(f"{path}: ran with {results['machine']['redis_parser']}, not {parser}")
    return results


def _fmt(value: float, unit: str) -> str:
    return f"{value:.2f}x" if unit == "x" else f"{value:.3g}"


def summarize(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> list[list[str]]:
    """One row per metric: the medians with and without hiredis and their ratio (range)."""
    rows = []
    for kind, name, unit, metric in METRICS:
        pairs = [
            (metric(w), metric(p))
            for w, p in zip(runs[kind]["hiredis"], runs[kind]["python"], strict=False)
        ]
        pairs = [(w, p) for w, p in pairs if w is not None and p is not None]
        if not pairs:
            continue
        ratios = [w / p for w, p in pairs]
        with_, without = ([x[i] for x in pairs] for i in (0, 1))
        rows.append(
            [
                f"{kind}: {name}",
                f"{_fmt(statistics.median(with_), unit)} ({_fmt(min(with_), unit)}-"
                f"{_fmt(max(with_), unit)})",
                f"{_fmt(statistics.median(without), unit)} ({_fmt(min(without), unit)}-"
                f"{_fmt(max(without), unit)})",
                f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})",
            ]
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rounds and print the comparison."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.parser_compare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: --quick sizes")
    parser.add_argument(
        "--large-bytes", type=int, default=16_384, help="message size of the large run"
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "parser", help="JSON dir"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        kind: {p: [] for p in PARSERS} for kind in RUNS
    }
    for round_no in range(args.rounds):
        order = PARSERS if round_no % 2 == 0 else PARSERS[::-1]
        for kind in RUNS:
            for name in order:
                print(
                    f"[{time.monotonic() - started:6.0f}s] round {round_no + 1}/{args.rounds}: "
                    f"{kind}, {name}",
                    file=sys.stderr,
                    flush=True,
                )
                path = args.out / f"{kind}-{name}-{round_no + 1}.json"
                runs[kind][name].append(_run_once(kind, name, args, path))
    headers = ["metric (kortyx Redis standalone)", "with hiredis", "without", "with ÷ without"]
    print(table(headers, summarize(runs)))
    print(
        f"\n{args.rounds} rounds, {time.monotonic() - started:.0f} s; medians over rounds "
        f"(range); large = {args.large_bytes:,}-byte messages; JSON in {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
