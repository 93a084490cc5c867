"""Workload 1, the agent loop: threads of 20 super-steps, one new ~500-byte message each.

Savers take turns thread by thread (the order rotates with every thread), so the noise of a
busy machine hits them alike; the threads are grouped in rounds to show how stable the ratios
are.
The time of a super-step is the wall time of one thread's ``invoke`` divided by its agent
super-steps; median and p95 are over threads. The run is repeated with LangGraph's default
``durability="async"`` (checkpoints written in the background while the next step runs)
and with ``durability="sync"`` (every step waits for its checkpoint), which exposes the
saver's full latency.

For the Redis savers it also records, from the server, the commands per super-step and the
bytes stored per thread (this is the per-thread figure of workload 5), and the round-trip
floor: after every thread of every saver, a batch of bare EVALSHA calls of an empty script
through each Redis saver's own client (:mod:`benchmarks.floor`), so that the bare round trip
is measured under the same noise as the super-steps. The floor per super-step is the median
bare round trip times the saver's round trips per super-step; the saver's excess is its ms
per step minus ``InMemorySaver``'s, and ``excess ÷ floor`` (median of the per-round values,
with their range) says how much a Redis saver costs beyond the round trips it cannot avoid.

Each Redis saver also gets two reference savers of its own, in the same rounds. Its *in-invoke
floor*:
``InMemorySaver`` plus one bare EVALSHA per operation through that saver's client
(:class:`~benchmarks.floor.RoundTripSaver`, backend ``"<saver>-floor"``). Its excess over
``InMemorySaver`` is what the round trips cost where a saver's calls really run (on
LangGraph's background thread, next to its work and the server, on the same cores), and
``excess ÷ in-invoke floor`` compares the saver with it round by round. And the saver with
empty scripts (:func:`~benchmarks.floor.without_scripts`, ``"<saver>-no-scripts"``): all of
its own work and the same keys and arguments sent, to a script that does nothing; the
difference to the floor is the client's side, the difference to the real saver the scripts'
work on the server. Their commands are counted apart and taken off the saver's figures.
"""

from __future__ import annotations

import contextlib
import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.backends import BASELINE, Backend, Environment, Saver
from benchmarks.config import Sizes
from benchmarks.floor import CommandTally, RoundTripProbe, without
from benchmarks.graphs import Graph, agent_input, agent_loop_graph, thread_config
from benchmarks.meter import OpMeter, attach
from benchmarks.redisinfo import CommandDelta, command_delta
from benchmarks.stats import percentile, ratio_of, round_ratio, sig, summarize
from benchmarks.workloads import Log, describe_error, rotated
from kortyx_langgraph.redis import RedisFrameworkAdapter

FLOOR_CALLS_PER_ROUND = 200
"""Bare round trips timed per Redis saver and round, spread over the round's threads."""


@dataclass
class _Saver:
    backend: Backend
    saver: Saver
    graph: Graph
    meter: OpMeter
    rounds: list[list[float]] = field(default_factory=list)
    threads: int = 0
    calls_before: dict[str, int] | None = None
    used_before: int | None = None
    probe: RoundTripProbe | None = None
    rtt_rounds: list[list[float]] = field(default_factory=list)
    """Bare round trips (µs) timed during each round."""
    tally: CommandTally | None = None
    """A reference saver's own commands on the servers it shares (``backend.shares``)."""
    error: str | None = None


def redis_accounting(delta: CommandDelta, *, operations: int, units: int) -> dict[str, Any]:
    """Commands per unit of work (super-step, pause...) and round trips per saver operation."""
    return {
        "round_trips_per_unit": sig(delta.round_trips / units),
        "evalsha_eval_per_unit": sig((delta.evalsha + delta.eval) / units),
        "in_scripts_per_unit": sig(delta.in_scripts / units),
        "round_trips_per_operation": sig(delta.round_trips / operations) if operations else None,
        "scripts_per_operation": (
            sig((delta.evalsha + delta.eval) / operations) if operations else None
        ),
        "steady_round_trips_per_operation": (
            sig(delta.steady_round_trips / operations) if operations else None
        ),
        "noscript_reloads": delta.noscript,
        "server_us_per_operation": sig(delta.script_usec / operations) if operations else None,
        "server_us_per_operation_by_command": {
            name: sig(spent / operations, 3)
            for name, spent in list(delta.usec_by_command.items())[:6]
        }
        if operations
        else {},
        "round_trips": delta.round_trips,
        "other_top_level": delta.other_top_level,
        "operations": operations,
        "top_commands": dict(list(delta.by_command.items())[:8]),
    }


def params(sizes: Sizes) -> dict[str, Any]:
    """What an agent-loop pass runs: threads, rounds, steps and message size."""
    return {
        "threads": sizes.agent_per_round * sizes.agent_rounds,
        "rounds": sizes.agent_rounds,
        "steps_per_thread": sizes.agent_steps,
        "message_bytes": sizes.message_bytes,
    }


def run(env: Environment, sizes: Sizes, log: Log) -> dict[str, Any]:
    """Both durability modes; the Redis servers are emptied after each."""
    out: dict[str, Any] = {
        "params": params(sizes),
        "durability": {},
    }
    for durability in sizes.durabilities:
        out["durability"][durability] = _one_pass(env, sizes, durability, log)
        env.flush_redis()
    return out


def _invoke(env: Environment, entry: _Saver, sizes: Sizes, durability: str) -> float:
    """Run one thread; returns its ms per agent super-step."""
    steps = sizes.agent_steps
    thread_id = env.thread_id(f"loop-{durability}-{entry.backend.name}", entry.threads)
    entry.threads += 1
    start = time.perf_counter()
    result = entry.graph.invoke(
        agent_input(),
        thread_config(thread_id, steps),
        durability=durability,  # type: ignore[arg-type]
    )
    elapsed = time.perf_counter() - start
    if result["count"] != steps or len(result["messages"]) != steps:
        raise RuntimeError(f"thread {thread_id} ended with {result['count']} steps")
    return elapsed * 1000 / steps


def _one_pass(env: Environment, sizes: Sizes, durability: str, log: Log) -> dict[str, Any]:
    return interleaved_pass(env, [*env.backends, *env.floor_savers()], sizes, durability, log)


def _others(entries: Sequence[_Saver], nodes: Any) -> list[CommandTally | None]:
    """The tallies of the reference savers that send to ``nodes``."""
    return [e.tally for e in entries if e.tally is not None and e.backend.shares is nodes]


def _invoke_counted(env: Environment, entry: _Saver, sizes: Sizes, durability: str) -> float:
    """:func:`_invoke`, the commands it caused on ``entry.backend.shares`` tallied (the
    snapshots are taken outside the timed part)."""
    nodes = entry.backend.shares
    if nodes is None or entry.tally is None:
        return _invoke(env, entry, sizes, durability)
    before = nodes.command_calls()
    try:
        return _invoke(env, entry, sizes, durability)
    finally:
        entry.tally.add(before, nodes.command_calls())


def interleaved_pass(
    env: Environment,
    backends: Sequence[Backend],
    sizes: Sizes,
    durability: str,
    log: Log,
    *,
    title: str = "agent loop",
) -> dict[str, Any]:
    """One durability mode of the agent loop over ``backends``, interleaved; a result row
    per backend (:data:`~benchmarks.backends.BASELINE` among them gives the ratios)."""
    with contextlib.ExitStack() as stack:
        entries: list[_Saver] = []
        for backend in backends:
            used_before = backend.nodes.used_memory() if backend.nodes else None
            saver = stack.enter_context(backend.open())
            meter = OpMeter()
            attach(saver, meter)
            graph = agent_loop_graph(saver, sizes.agent_steps, message_bytes=sizes.message_bytes)
            entry = _Saver(backend, saver, graph, meter, used_before=used_before)
            if isinstance(saver, RedisFrameworkAdapter) and backend.nodes is not None:
                entry.probe = RoundTripProbe(saver, backend.nodes)
            if backend.shares is not None:
                entry.tally = CommandTally()
            entries.append(entry)
        for entry in entries:
            for _ in range(sizes.warmup_threads):
                _guarded(entry, _invoke_counted, env, entry, sizes, durability)
            entry.meter.reset()
            nodes = entry.backend.nodes
            if nodes is not None:
                entry.calls_before = without(
                    nodes.command_calls(), entry.probe, *_others(entries, nodes)
                )
        probes_per_thread = math.ceil(FLOOR_CALLS_PER_ROUND / sizes.agent_per_round)
        for round_no in range(sizes.agent_rounds):
            log(f"{title}, durability={durability}: round {round_no + 1}/{sizes.agent_rounds}")
            gc.collect()
            samples: dict[str, list[float]] = {e.backend.name: [] for e in entries}
            rtts: dict[str, list[float]] = {e.backend.name: [] for e in entries}
            for i in range(sizes.agent_per_round):
                for entry in rotated(entries, round_no * sizes.agent_per_round + i):
                    sample = _guarded(entry, _invoke_counted, env, entry, sizes, durability)
                    if sample is not None:
                        samples[entry.backend.name].append(sample)
                for entry in rotated(entries, round_no * sizes.agent_per_round + i):
                    if entry.probe is not None and not entry.error:
                        rtts[entry.backend.name] += entry.probe.sample(probes_per_thread)
            for entry in entries:
                entry.rounds.append(samples[entry.backend.name])
                entry.rtt_rounds.append(rtts[entry.backend.name])
        return _collect(entries, sizes)


def _guarded(entry: _Saver, action: Callable[..., float], *args: Any) -> float | None:
    """``action(*args)``, or ``None`` once the saver has failed (the error is recorded)."""
    if entry.error:
        return None
    try:
        return action(*args)
    except Exception as exc:
        entry.error = describe_error(exc)
        return None


def _collect(entries: list[_Saver], sizes: Sizes) -> dict[str, Any]:
    working = {e.backend.name: e for e in entries if not e.error}
    baseline = working.get(BASELINE)
    results: dict[str, Any] = {}
    for entry in entries:
        if entry.error:
            results[entry.backend.name] = {"label": entry.backend.label, "error": entry.error}
            continue
        measured = [x for r in entry.rounds for x in r]
        steps_total = len(measured) * sizes.agent_steps
        operations, saver_seconds = entry.meter.snapshot()
        row: dict[str, Any] = {
            "label": entry.backend.label,
            "ms_per_step": summarize(measured).to_json(),
            "round_medians_ms": [sig(statistics.median(r)) if r else None for r in entry.rounds],
            "threads": entry.threads,
            "saver_ms_per_step": sig(saver_seconds * 1000 / steps_total),
            "operations_per_step": sig(operations / steps_total),
            "operations": dict(entry.meter.counts),
        }
        if baseline is not None:
            spread = round_ratio(entry.rounds, baseline.rounds)
            row["ratio"] = spread.to_json() if spread else None
        nodes = entry.backend.nodes
        if nodes is not None and entry.calls_before is not None:
            after = without(nodes.command_calls(), entry.probe, *_others(entries, nodes))
            delta = command_delta(entry.calls_before, after)
            row["redis"] = redis_accounting(delta, operations=operations, units=steps_total)
            if entry.probe is not None and baseline is not None:
                row["floor"] = _floor(entry, baseline, delta.steady_round_trips / steps_total)
                floor_saver = working.get(f"{entry.backend.name}-floor")
                scriptless = working.get(f"{entry.backend.name}-no-scripts")
                if floor_saver is not None:
                    row["floor"]["in_invoke"] = _in_invoke_floor(entry, floor_saver, baseline)
                    if scriptless is not None:
                        row["floor"]["split"] = _split(entry, floor_saver, scriptless, baseline)
            prefix = getattr(entry.saver, "prefix", None)
            if prefix is not None:
                row["memory"] = _memory(entry, prefix, sizes)
        results[entry.backend.name] = row
    return results


def _floor(entry: _Saver, baseline: _Saver, round_trips_per_step: float) -> dict[str, Any]:
    """The round-trip floor per step and the saver's excess over ``InMemorySaver``."""
    assert entry.probe is not None
    rtts = [x for r in entry.rtt_rounds for x in r]
    rtt_ms = statistics.median(rtts) / 1000
    floor = rtt_ms * round_trips_per_step
    mine = statistics.median(x for r in entry.rounds for x in r)
    base = statistics.median(x for r in baseline.rounds for x in r)
    excess, floors = [], []
    for samples, base_samples, round_rtts in zip(
        entry.rounds, baseline.rounds, entry.rtt_rounds, strict=False
    ):
        if samples and base_samples and round_rtts:
            excess.append(statistics.median(samples) - statistics.median(base_samples))
            floors.append(statistics.median(round_rtts) / 1000 * round_trips_per_step)
    spread = ratio_of(excess, floors)
    return {
        "rtt_us": {
            "n": len(rtts),
            "median": sig(rtt_ms * 1000),
            "p95": sig(percentile(rtts, 0.95)),
        },
        "server_us_per_call": sig(entry.probe.server_us_per_call),
        "slots_probed": len(entry.probe.keys),
        "round_trips_per_step": sig(round_trips_per_step),
        "floor_ms_per_step": sig(floor),
        "excess_ms_per_step": sig(mine - base),
        "excess_to_floor_pooled": sig((mine - base) / floor, 3) if floor else None,
        "excess_to_floor": spread.to_json() if spread else None,
    }


def _in_invoke_floor(entry: _Saver, floor: _Saver, baseline: _Saver) -> dict[str, Any]:
    """The saver's excess over ``InMemorySaver`` against its in-invoke floor's excess (the
    same rounds): ``excess_to_floor`` is the median of the per-round ratios."""
    mine: list[float] = []
    floors: list[float] = []
    for samples, floor_samples, base_samples in zip(
        entry.rounds, floor.rounds, baseline.rounds, strict=False
    ):
        if samples and floor_samples and base_samples:
            base = statistics.median(base_samples)
            mine.append(statistics.median(samples) - base)
            floors.append(statistics.median(floor_samples) - base)
    spread = ratio_of(mine, floors) if all(f > 0 for f in floors) else None
    base_all = statistics.median(x for r in baseline.rounds for x in r)
    floor_all = statistics.median(x for r in floor.rounds for x in r)
    return {
        "saver": floor.backend.name,
        "floor_ms_per_step": sig(floor_all),
        "floor_excess_ms_per_step": sig(floor_all - base_all),
        "floor_excess_rounds": [sig(f) for f in floors],
        "excess_rounds": [sig(m) for m in mine],
        "excess_to_floor": spread.to_json() if spread else None,
    }


def _split(entry: _Saver, floor: _Saver, scriptless: _Saver, baseline: _Saver) -> dict[str, Any]:
    """Where the saver's excess per step goes (medians over all threads): the round trips
    alone (floor minus InMemorySaver), the client's side (the saver with empty scripts minus floor),
    the scripts' work on the server (the saver minus the saver with empty scripts)."""

    def median(of: _Saver) -> float:
        return statistics.median(x for r in of.rounds for x in r)

    base, bare, client, mine = median(baseline), median(floor), median(scriptless), median(entry)
    return {
        "round_trips_ms_per_step": sig(bare - base),
        "client_side_ms_per_step": sig(client - bare),
        "scripts_ms_per_step": sig(mine - client),
        "excess_ms_per_step": sig(mine - base),
    }


def _memory(entry: _Saver, prefix: str, sizes: Sizes) -> dict[str, Any]:
    nodes = entry.backend.nodes
    assert nodes is not None
    keys, by_kind = nodes.memory_by_prefix(prefix)
    stored = sum(by_kind.values())
    used_delta = nodes.used_memory() - entry.used_before if entry.used_before is not None else None
    message_bytes = sizes.agent_steps * sizes.message_bytes
    per_thread = stored / entry.threads
    return {
        "threads": entry.threads,
        "keys_per_thread": sig(keys / entry.threads),
        "bytes_per_thread": round(per_thread),
        "bytes_per_thread_by_key": {k: round(v / entry.threads) for k, v in by_kind.items()},
        "used_memory_delta_per_thread": None
        if used_delta is None
        else round(used_delta / entry.threads),
        "message_bytes_per_thread": message_bytes,
        "stored_to_message_ratio": sig(per_thread / message_bytes, 3),
    }
