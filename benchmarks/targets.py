"""The project's performance goals, checked against one run's results (never asserted).

Each goal is reported as met, missed, or not measured (when the workload or saver did not
run). Nothing fails when a goal is missed: the numbers are the output.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.backends import BASELINE
from benchmarks.nested import dig

REDIS = ("kortyx-redis", "kortyx-redis-cluster")
OURS = ("kortyx-memory", *REDIS)
HISTORY_READS = ("get_tuple (latest)", "get_tuple (by id)", "list(limit=10)")
LINEAR_EXPONENT = 1.1
"""A growth exponent up to this counts as linear (1.0 exactly linear, 2.0 quadratic)."""
FLOOR_LIMIT = 1.5
"""A Redis saver's excess over ``InMemorySaver`` per super-step, at most this many times
the round-trip floor (bare round trip x the saver's round trips per super-step)."""
FANOUT_TASKS = 4_000
"""The fan-out size the fan-out goals are judged at (full run only)."""
FANOUT_RATIO = 2.0
"""Wall time of the largest fan-out, at most this many times ``InMemorySaver``'s."""
FANOUT_LINEAR_EXPONENT = 1.15
"""Server time of the fan-out counts as linear up to this growth exponent over 500→4,000
tasks. Exactly linear work gives 1.0; O(n log n) work (a sorted-set insert per write)
gives about 1.14 over that range, which is still what a per-write layout costs; a layout
that rereads or rewrites what the earlier writes stored gives about 2. The margin over 1.1
(the memory goal's threshold) also absorbs one-sample noise: each size is one ``invoke``."""

FANOUT_DEPTH_LIMIT = 1.15
"""``put_writes`` by depth: the server time per call of the last quarter of the calls, at
most this many times that of the first quarter (1.0: the cost does not depend on the writes
already stored; a layout that rereads them gives about 7 at 4,000 writes)."""


@dataclass(frozen=True)
class Target:
    """One goal and what the run measured for it."""

    key: str
    goal: str
    measured: str
    met: bool | None

    def to_json(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)


def _ratio_text(ratio: dict[str, Any]) -> str:
    return f"{ratio['value']:.2f}x (rounds {ratio['low']:.2f}-{ratio['high']:.2f})"


def _agent_ratio(
    results: dict[str, Any], names: tuple[str, ...], limit: float, key: str, goal: str
) -> Target:
    parts, verdicts = [], []
    for durability in ("async", "sync"):
        for name in names:
            ratio = dig(results, "agent_loop", "durability", durability, name, "ratio")
            if ratio is None:
                continue
            parts.append(f"{name}, durability={durability}: {_ratio_text(ratio)}")
            if durability == "async":
                verdicts.append(ratio["value"] <= limit)
    met = all(verdicts) if verdicts else None
    return Target(key, goal, "; ".join(parts) or "not measured", met)


def _round_trips(results: dict[str, Any]) -> Target:
    parts, verdicts = [], []
    rows: list[tuple[str, dict[str, Any] | None]] = []
    for durability in ("async", "sync"):
        for name in REDIS:
            rows.append(
                (
                    f"agent loop ({durability}) {name}",
                    dig(results, "agent_loop", "durability", durability, name, "redis"),
                )
            )
    for name in REDIS:
        for phase in ("pause", "resume"):
            rows.append((f"{phase} {name}", dig(results, "hitl", "backends", name, "redis", phase)))
    for name in REDIS:
        for tasks, row in (dig(results, "fanout", "backends", name, "by_tasks") or {}).items():
            rows.append((f"fan-out {int(tasks):,} {name}", row.get("redis")))
        fanout_async = dig(results, "fanout", "async", "backends", name, "by_tasks") or {}
        for tasks, row in fanout_async.items():
            rows.append((f"fan-out {int(tasks):,} {name} (ainvoke)", row.get("redis")))
    for name in REDIS:
        rows.append((f"long thread {name}", dig(results, "long_thread", "backends", name, "redis")))
    for label, row in rows:
        if not row or row.get("steady_round_trips_per_operation") is None:
            continue
        steady = row["steady_round_trips_per_operation"]
        verdicts.append(steady <= 1.0)
        text = f"{label}: {steady:.3f}"
        if row["round_trips_per_operation"] != steady:
            one_time = [
                f"{row['other_top_level']} connection set-up" if row["other_top_level"] else "",
                f"{row['noscript_reloads']} NOSCRIPT reloads" if row["noscript_reloads"] else "",
            ]
            text += (
                f" ({row['round_trips_per_operation']:.3f} counting one-time "
                + " and ".join(t for t in one_time if t)
                + ")"
            )
        parts.append(text)
    measured = "round trips per operation: " + "; ".join(parts) if parts else "not measured"
    return Target(
        "round-trips",
        "≤ 1 Redis round trip per saver operation (put, put_writes, get_tuple, pending list/claim)",
        measured,
        all(verdicts) if verdicts else None,
    )


def _history(results: dict[str, Any]) -> Target:
    sizes = dig(results, "history", "params", "sizes") or []
    parts: list[str] = []
    verdicts: list[bool] = []
    for name in OURS:
        reads = dig(results, "history", "backends", name, "reads")
        if not reads:
            continue
        worst = max(HISTORY_READS, key=lambda q: reads[q]["ratio_largest_to_smallest"])
        ratio = reads[worst]["ratio_largest_to_smallest"]
        verdicts.extend(reads[q]["ratio_largest_to_smallest"] <= 1.5 for q in HISTORY_READS)
        parts.append(f"{name}: worst {worst} {ratio:.2f}x")
    met = all(verdicts) if verdicts and max(sizes, default=0) >= 10_000 else None
    return Target(
        "history-scale",
        "get_tuple and list(limit=10) at 10,000 checkpoints within 1.5x of at 10 (kortyx savers)",
        "; ".join(parts) or "not measured",
        met,
    )


def _memory(results: dict[str, Any]) -> Iterator[Target]:
    for key in (
        "delta-off",
        "delta-100",
        "delta-off+zlib",
        "delta-100+zlib",
        "delta-off+zlib+reference",
        "delta-100+zlib+reference",
    ):
        state = dig(results, "memory", "states", key)
        if not state:
            yield Target(f"memory-{key}", "DeltaChannel memory", "not measured", None)
            continue
        rows = [r for r in state["rows"] if "error" not in r]
        growth = state["growth"]
        if not rows or not growth:
            yield Target(f"memory-{key}", state["label"], "not measured", None)
            continue
        last = rows[-1]
        exponent = growth[-1]["exponent"]
        linear = exponent <= LINEAR_EXPONENT
        small = last["stored_to_message_ratio"] <= 2.0
        shape = "linear" if linear else "super-linear"
        span = f"{growth[-1]['from_steps']}→{growth[-1]['to_steps']} steps"
        yield Target(
            f"memory-{key}",
            f"Redis memory with {state['label']}: linear in history and ≤ 2x the message bytes",
            f"growth exponent {exponent:.2f} ({span}, {shape}); "
            f"{last['stored_to_message_ratio']:.1f}x the message bytes at {last['steps']} steps "
            f"({last['bytes_per_step']:,} bytes per step)",
            linear and small,
        )


def _floor(results: dict[str, Any]) -> Iterator[Target]:
    for durability in ("async", "sync"):
        for name in REDIS:
            key = f"floor-{name}-{durability}"
            goal = (
                f"{name}: excess over InMemorySaver ≤ {FLOOR_LIMIT}x the round-trip floor "
                f"(agent loop, durability={durability})"
            )
            floor = dig(results, "agent_loop", "durability", durability, name, "floor")
            if not floor or not floor.get("excess_to_floor"):
                yield Target(key, goal, "not measured", None)
                continue
            ratio = floor["excess_to_floor"]
            yield Target(
                key,
                goal,
                f"excess {floor['excess_ms_per_step']:.3f} ms/step, floor "
                f"{floor['floor_ms_per_step']:.3f} ms/step ({floor['round_trips_per_step']:.2f} "
                f"round trips x {floor['rtt_us']['median']:.0f} µs): {_ratio_text(ratio)}",
                ratio["value"] <= FLOOR_LIMIT,
            )


def _in_invoke_floor(results: dict[str, Any]) -> Iterator[Target]:
    """Goal 1 against the floor measured inside ``invoke`` (:class:`RoundTripSaver`)."""
    for durability in ("async", "sync"):
        for name in REDIS:
            key = f"invoke-floor-{name}-{durability}"
            goal = (
                f"{name}: excess over InMemorySaver ≤ {FLOOR_LIMIT}x the in-invoke floor "
                f"(InMemorySaver + 1 bare round trip per operation; agent loop, "
                f"durability={durability})"
            )
            floor = dig(results, "agent_loop", "durability", durability, name, "floor")
            found = (floor or {}).get("in_invoke") or {}
            if not found.get("excess_to_floor"):
                yield Target(key, goal, "not measured", None)
                continue
            ratio = found["excess_to_floor"]
            yield Target(
                key,
                goal,
                f"excess {floor['excess_ms_per_step']:.3f} ms/step, in-invoke floor "
                f"{found['floor_excess_ms_per_step']:.3f} ms/step: {_ratio_text(ratio)}",
                ratio["value"] <= FLOOR_LIMIT,
            )


def _fanout(results: dict[str, Any]) -> Iterator[Target]:
    yield from _fanout_path(dig(results, "fanout", "backends") or {}, "", "")
    yield from _fanout_path(
        dig(results, "fanout", "async", "backends") or {}, "-ainvoke", " (ainvoke)"
    )
    yield from _write_depth(dig(results, "fanout", "write_depth") or {})


def _write_depth(section: dict[str, Any]) -> Iterator[Target]:
    depth = dig(section, "params", "depth") or 0
    for name in REDIS:
        row = dig(section, "backends", name) or {}
        key = f"fanout-write-depth-{name}"
        goal = (
            f"{name}: a put_writes costs the server the same whatever writes are stored "
            f"(last quarter of {FANOUT_TASKS:,} calls ≤ {FANOUT_DEPTH_LIMIT}x the first)"
        )
        ratio = row.get("server_late_to_early")
        if ratio is None:
            yield Target(key, goal, "not measured", None)
            continue
        blocks = row["blocks"]
        text = (
            f"{ratio:.2f}x ({blocks[0]['server_us_per_call']:.1f} µs per call at first, "
            f"{blocks[-1]['server_us_per_call']:.1f} µs with {blocks[-1]['from']:,} stored)"
        )
        yield Target(
            key, goal, text, ratio <= FANOUT_DEPTH_LIMIT if depth >= FANOUT_TASKS else None
        )


def _fanout_path(backends: dict[str, Any], suffix: str, path: str) -> Iterator[Target]:
    for name in OURS:
        row = backends.get(name)
        key, goal = (
            f"fanout-ratio-{name}{suffix}",
            f"{name}: fan-out of {FANOUT_TASKS:,} tasks ≤ {FANOUT_RATIO:.0f}x InMemorySaver{path}",
        )
        by_tasks = (row or {}).get("by_tasks") or {}
        if not by_tasks:
            yield Target(key, goal, "not measured", None)
            continue
        largest = max(by_tasks, key=int)
        mine = by_tasks[largest]
        base = dig(backends, BASELINE, "by_tasks", largest, "seconds")
        ratio = mine.get("ratio")
        text = f"{ratio:.2f}x at {int(largest):,} tasks" if ratio else "no baseline"
        text += f" ({mine['seconds']:.2f} s" + (f" vs {base:.2f} s)" if base else ")")
        judged = int(largest) >= FANOUT_TASKS and ratio is not None
        yield Target(key, goal, text, ratio <= FANOUT_RATIO if judged and ratio else None)
    for name in REDIS:
        row = backends.get(name)
        key = f"fanout-server-growth-{name}{suffix}"
        goal = (
            f"{name}: fan-out server time linear in tasks (growth exponent ≤ "
            f"{FANOUT_LINEAR_EXPONENT}, 500→{FANOUT_TASKS:,} tasks){path}"
        )
        growth = (row or {}).get("growth") or {}
        exponent = growth.get("server")
        if exponent is None:
            yield Target(key, goal, "not measured", None)
            continue
        span = f"{growth['from_tasks']:,}→{growth['to_tasks']:,} tasks"
        judged = (
            growth["to_tasks"] >= FANOUT_TASKS and growth["to_tasks"] >= 8 * growth["from_tasks"]
        )
        yield Target(
            key,
            goal,
            f"server-time exponent {exponent:.2f} ({span}); wall-time exponent "
            + ("-" if growth.get("wall") is None else f"{growth['wall']:.2f}"),
            exponent <= FANOUT_LINEAR_EXPONENT if judged else None,
        )


ANCHOR_FACTOR = 3.0
"""The anchor goals: langgraph-checkpoint-redis at least this many times our cost."""


def _anchor_not_measured(results: dict[str, Any]) -> str:
    section = results.get("anchor")
    if section is None:
        return "not measured (run with --only anchor)"
    if section.get("skipped"):
        return f"not measured: {section['skipped']}"
    return "not measured"


def _anchor_time(results: dict[str, Any]) -> Target:
    goal = (
        "langgraph-checkpoint-redis's excess time per super-step over InMemorySaver ≥ 3x ours "
        "(agent loop, one Redis Stack server, default durability)"
    )
    parts, met = [], None
    for durability in ("async", "sync"):
        ratio = dig(results, "anchor", "durability", durability, "excess_ratio")
        if ratio is None:
            continue
        ours = dig(results, "anchor", "durability", durability, "savers")
        excess = {
            name: row.get("excess_ms", {}).get("value")
            for name, row in (ours or {}).items()
            if row.get("excess_ms")
        }
        detail = ", ".join(f"{name} {value:.3g} ms" for name, value in excess.items())
        parts.append(f"durability={durability}: {_ratio_text(ratio)} (excess per step: {detail})")
        if durability == "async":
            met = ratio["value"] >= ANCHOR_FACTOR
    return Target("anchor-time", goal, "; ".join(parts) or _anchor_not_measured(results), met)


def _anchor_memory(results: dict[str, Any]) -> Target:
    goal = (
        "langgraph-checkpoint-redis's Redis memory per thread ≥ 3x ours (same server, same "
        "threads, its search indexes included)"
    )
    parts, met = [], None
    for durability in ("async", "sync"):
        memory = dig(results, "anchor", "durability", durability, "memory")
        if not memory or memory.get("ratio") is None:
            continue
        sizes = [
            f"{name} {row['bytes_per_thread']:,} bytes"
            for name, row in memory.items()
            if isinstance(row, dict) and "bytes_per_thread" in row
        ]
        parts.append(
            f"durability={durability}: {memory['ratio']:.2f}x ({', '.join(sizes)}; keys only "
            f"{memory['ratio_keys_only']:.2f}x; by used_memory {memory['ratio_used_memory']:.2f}x)"
        )
        if durability == "async":
            met = memory["ratio"] >= ANCHOR_FACTOR
    return Target("anchor-memory", goal, "; ".join(parts) or _anchor_not_measured(results), met)


def evaluate(results: dict[str, Any]) -> list[Target]:
    """Every goal, in the order the issue lists them."""
    return [
        _agent_ratio(
            results,
            REDIS,
            1.5,
            "redis-per-step",
            "Redis saver ≤ 1.5x InMemorySaver per super-step (agent loop, default durability)",
        ),
        _round_trips(results),
        _history(results),
        _agent_ratio(
            results,
            ("kortyx-memory",),
            1.2,
            "memory-per-step",
            "in-memory adapter (TTL on) ≤ 1.2x InMemorySaver per super-step (default durability)",
        ),
        *_memory(results),
        *_floor(results),
        *_in_invoke_floor(results),
        *_fanout(results),
        _anchor_time(results),
        _anchor_memory(results),
    ]
