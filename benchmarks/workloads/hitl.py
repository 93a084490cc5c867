"""Workload 2, human in the loop: threads pause on ``interrupt()``, then are resumed.

Each round, every saver pauses a batch of new threads (``invoke`` until the interrupt), then
resumes each of them; savers take turns thread by thread, in rotating order. With a pending
store (the kortyx savers) a resume is what a reviewer's request does:
``pending.list(thread_id)[0]``, ``pending.claim(token)``, then
``invoke(Command(resume={interrupt_id: value}), p.config)``. Savers without one (LangGraph's)
resume with ``Command(resume=value)`` on the thread's config.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langgraph.types import Command

from benchmarks.backends import BASELINE, Backend, Environment, Saver
from benchmarks.config import Sizes
from benchmarks.graphs import Graph, approval_graph, thread_config
from benchmarks.meter import OpMeter, attach
from benchmarks.redisinfo import CommandDelta, command_delta
from benchmarks.stats import round_ratio, sig, summarize
from benchmarks.workloads import Log, describe_error, rotated
from benchmarks.workloads.agent_loop import redis_accounting

ANSWER = "approved"


@dataclass
class _Saver:
    backend: Backend
    saver: Saver
    graph: Graph
    meter: OpMeter
    pause: list[list[float]] = field(default_factory=list)
    resume: list[list[float]] = field(default_factory=list)
    claim: list[float] = field(default_factory=list)
    pending_ops: int = 0
    pause_ops: int = 0
    resume_ops: int = 0
    pause_calls: CommandDelta | None = None
    resume_calls: CommandDelta | None = None
    threads: int = 0
    error: str | None = None


def run(env: Environment, sizes: Sizes, log: Log) -> dict[str, Any]:
    """Pause and resume ``sizes.hitl_threads`` threads per saver, in rounds."""
    with contextlib.ExitStack() as stack:
        entries: list[_Saver] = []
        for backend in env.backends:
            if backend.reference:
                continue
            saver = stack.enter_context(backend.open())
            meter = OpMeter()
            attach(saver, meter)
            entries.append(_Saver(backend, saver, approval_graph(saver), meter))
        for entry in entries:
            for _ in range(sizes.warmup_threads):
                thread_id = _new_thread(env, entry)
                _guarded(entry, _pause, entry, thread_id)
                _guarded(entry, _resume, entry, thread_id)
            entry.claim.clear()
        for round_no in range(sizes.hitl_rounds):
            log(f"human in the loop: round {round_no + 1}/{sizes.hitl_rounds}")
            gc.collect()
            _round(env, entries, round_no, sizes.hitl_per_round)
    env.flush_redis()
    baseline = next((e for e in entries if e.backend.name == BASELINE and not e.error), None)
    return {
        "params": {
            "threads": sizes.hitl_per_round * sizes.hitl_rounds,
            "rounds": sizes.hitl_rounds,
        },
        "backends": {e.backend.name: _collect(e, baseline) for e in entries},
    }


def _round(env: Environment, entries: list[_Saver], round_no: int, count: int) -> None:
    """Pause ``count`` new threads per saver, then resume them; savers take turns."""
    threads = {e.backend.name: [_new_thread(env, e) for _ in range(count)] for e in entries}
    for phase in ("pause", "resume"):
        calls = {
            e.backend.name: e.backend.nodes.command_calls() for e in entries if e.backend.nodes
        }
        ops = {e.backend.name: e.meter.operations + e.pending_ops for e in entries}
        samples: dict[str, list[float]] = {e.backend.name: [] for e in entries}
        for i in range(count):
            for entry in rotated(entries, round_no * count + i):
                action = _pause if phase == "pause" else _resume
                sample = _guarded(entry, action, entry, threads[entry.backend.name][i])
                if sample is not None:
                    samples[entry.backend.name].append(sample)
        for entry in entries:
            name = entry.backend.name
            done = entry.meter.operations + entry.pending_ops - ops[name]
            delta = None
            if entry.backend.nodes is not None:
                delta = command_delta(calls[name], entry.backend.nodes.command_calls())
            if phase == "pause":
                entry.pause.append(samples[name])
                entry.pause_ops += done
                entry.pause_calls = _add(entry.pause_calls, delta)
            else:
                entry.resume.append(samples[name])
                entry.resume_ops += done
                entry.resume_calls = _add(entry.resume_calls, delta)


def _new_thread(env: Environment, entry: _Saver) -> str:
    entry.threads += 1
    return env.thread_id(f"hitl-{entry.backend.name}", entry.threads)


def _guarded(entry: _Saver, action: Callable[..., float], *args: Any) -> float | None:
    """``action(*args)``, or ``None`` once the saver has failed (the error is recorded)."""
    if entry.error:
        return None
    try:
        return action(*args)
    except Exception as exc:
        entry.error = describe_error(exc)
        return None


def _pause(entry: _Saver, thread_id: str) -> float:
    start = time.perf_counter()
    result = entry.graph.invoke({"request": thread_id}, thread_config(thread_id))
    elapsed = time.perf_counter() - start
    if "__interrupt__" not in result:
        raise RuntimeError(f"thread {thread_id} did not pause")
    return elapsed * 1000


def _resume(entry: _Saver, thread_id: str) -> float:
    start = time.perf_counter()
    if entry.backend.pending:
        pending = entry.saver.pending  # type: ignore[attr-defined]
        found = pending.list(thread_id)[0]
        pending.claim(found.token)
        entry.pending_ops += 2
        claimed = time.perf_counter()
        result = entry.graph.invoke(Command(resume={found.interrupt_id: ANSWER}), found.config)
        entry.claim.append((claimed - start) * 1000)
    else:
        result = entry.graph.invoke(Command(resume=ANSWER), thread_config(thread_id))
    elapsed = time.perf_counter() - start
    if result.get("answer") != f"{ANSWER}!":
        raise RuntimeError(f"thread {thread_id} resumed to {result!r}")
    return elapsed * 1000


def _add(total: CommandDelta | None, more: CommandDelta | None) -> CommandDelta | None:
    if total is None or more is None:
        return more or total
    by_command = dict(total.by_command)
    for name, calls in more.by_command.items():
        by_command[name] = by_command.get(name, 0) + calls
    usec = dict(total.usec_by_command)
    for name, spent in more.usec_by_command.items():
        usec[name] = usec.get(name, 0) + spent
    return CommandDelta(
        evalsha=total.evalsha + more.evalsha,
        eval=total.eval + more.eval,
        other_top_level=total.other_top_level + more.other_top_level,
        in_scripts=total.in_scripts + more.in_scripts,
        by_command=dict(sorted(by_command.items(), key=lambda item: -item[1])),
        script_usec=total.script_usec + more.script_usec,
        noscript=total.noscript + more.noscript,
        usec_by_command=dict(sorted(usec.items(), key=lambda item: -item[1])),
    )


def _collect(entry: _Saver, baseline: _Saver | None) -> dict[str, Any]:
    if entry.error:
        return {"label": entry.backend.label, "error": entry.error}
    threads = sum(len(r) for r in entry.pause)
    pause_seconds = sum(x for r in entry.pause for x in r) / 1000
    resume_seconds = sum(x for r in entry.resume for x in r) / 1000
    row: dict[str, Any] = {
        "label": entry.backend.label,
        "pause_ms": summarize([x for r in entry.pause for x in r]).to_json(),
        "resume_ms": summarize([x for r in entry.resume for x in r]).to_json(),
        "claim_ms": summarize(entry.claim).to_json() if entry.claim else None,
        "pauses_per_s": sig(threads / pause_seconds),
        "resumes_per_s": sig(threads / resume_seconds),
        "cycles_per_s": sig(threads / (pause_seconds + resume_seconds)),
        "operations_per_pause": sig(entry.pause_ops / threads),
        "operations_per_resume": sig(entry.resume_ops / threads),
    }
    if baseline is not None:
        for key, mine, base in (
            ("pause_ratio", entry.pause, baseline.pause),
            ("resume_ratio", entry.resume, baseline.resume),
        ):
            spread = round_ratio(mine, base)
            row[key] = spread.to_json() if spread else None
    if entry.pause_calls is not None and entry.resume_calls is not None:
        row["redis"] = {
            "pause": redis_accounting(entry.pause_calls, operations=entry.pause_ops, units=threads),
            "resume": redis_accounting(
                entry.resume_calls, operations=entry.resume_ops, units=threads
            ),
        }
    return row
