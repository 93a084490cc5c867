"""Run the benchmarks: ``python -m benchmarks.run [--quick] [--only NAMES]``.

Prints the markdown report to stdout, progress to stderr, and writes the results as JSON
(``benchmarks/results/latest.json``, or ``quick.json`` for ``--quick``). A saver that fails
during a workload is reported (which, where, why) and the run goes on; ``--strict`` then
makes the exit status 1. A missed performance goal is a result, never a failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import cores, report
from benchmarks.backends import REPO, Environment
from benchmarks.config import FULL, QUICK, Sizes
from benchmarks.machine import describe
from benchmarks.targets import evaluate
from benchmarks.workloads import (
    Log,
    agent_loop,
    anchor,
    concurrency,
    fanout,
    history,
    hitl,
    long_thread,
    memory,
)

Workload = Callable[[Environment, Sizes, Log], dict[str, Any]]
WORKLOADS: dict[str, Workload] = {
    "agent_loop": agent_loop.run,
    "hitl": hitl.run,
    "history": history.run,
    "concurrency": concurrency.run,
    "memory": memory.run,
    "fanout": fanout.run,
    "long_thread": long_thread.run,
    "anchor": anchor.run,
}
DEFAULT = ("agent_loop", "hitl", "history", "concurrency", "memory", "fanout", "long_thread")
"""What runs without ``--only``. The anchor comparison needs Redis Stack and
``langgraph-checkpoint-redis`` (the ``bench-anchor`` extra), so it runs only when asked for."""
RESULTS = REPO / "benchmarks" / "results"


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="smoke run, about one minute")
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT),
        help=(
            f"comma-separated workloads to run, of {', '.join(WORKLOADS)} "
            f"(default: {', '.join(DEFAULT)})"
        ),
    )
    parser.add_argument("--json", type=Path, help="where to write the JSON results")
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    parser.add_argument(
        "--no-cluster", action="store_true", help="do not start the 3-node Redis Cluster"
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a saver failed"
    )
    parser.add_argument(
        "--pin-cores",
        action="store_true",
        help=(
            "run every Redis server on the last core and the benchmark on the others "
            "(Linux, two cores or more; by default they share every core)"
        ),
    )
    parser.add_argument(
        "--message-bytes",
        type=int,
        default=None,
        metavar="N",
        help="size of each agent-loop message (workload 1; default 500)",
    )
    args = parser.parse_args(argv)
    if args.message_bytes is not None and args.message_bytes < 1:
        parser.error("--message-bytes must be at least 1")
    args.cores = None
    if args.pin_cores:
        try:
            args.cores = cores.split()
        except cores.PinningUnavailable as exc:
            parser.error(str(exc))
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in args.only if name not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(unknown)}")
    return args


def _write_json(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    os.replace(temporary, path)


def main(argv: Sequence[str] | None = None, *, program: str = "python -m benchmarks.run") -> int:
    """Run the selected workloads; see the module docstring. ``program``: the command the
    report names (a what-if that runs the harness names its own)."""
    args = _parse(argv)
    # A cancelled CI job sends SIGTERM: exit through the context managers, which stop
    # the Redis servers and remove the temp files.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    sizes = QUICK if args.quick else FULL
    if args.message_bytes is not None:
        sizes = dataclasses.replace(sizes, message_bytes=args.message_bytes)
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    command = program + (" --quick" if args.quick else "")
    if args.only != list(DEFAULT):
        command += f" --only {','.join(args.only)}"
    if args.message_bytes is not None:
        command += f" --message-bytes {args.message_bytes}"
    if args.pin_cores:
        command += " --pin-cores"
    results: dict[str, Any] = {
        "meta": {
            "schema": 1,
            "mode": "quick" if args.quick else "full",
            "command": command,
            "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
    }
    with Environment(cluster=not args.no_cluster, cores=args.cores) as env:
        log("savers: " + ", ".join(b.name for b in env.backends))
        for name, reason in env.skipped.items():
            log(f"skipped {name}: {reason}")
        results["machine"] = describe(REPO, env.redis_server_bin)
        if env.cores is not None:  # after describe(), which counts the cores we may use
            cores.pin_self(env.cores)
            results["machine"]["pinned"] = env.cores.describe()
            log(f"pinned: {env.cores.describe()}")
        results["savers"] = {b.name: b.label for b in env.backends}
        results["skipped"] = dict(env.skipped)
        for name in args.only:
            log(f"workload {name}")
            results[name] = WORKLOADS[name](env, sizes, log)
            env.flush_redis()
    results["targets"] = [t.to_json() for t in evaluate(results)]
    results["meta"]["duration_s"] = round(time.monotonic() - started, 1)
    text = report.render(results)
    print(text)
    json_path = args.json or RESULTS / ("quick.json" if args.quick else "latest.json")
    _write_json(json_path, results)
    if args.markdown:
        args.markdown.write_text(text)
    log(f"wrote {json_path}")
    errors = report.failures(results)
    for error in errors:
        log(f"error: {error}")
    return 1 if errors and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
