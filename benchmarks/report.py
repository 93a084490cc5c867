"""Markdown tables from a run's results (the same dict that is written as JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.machine import one_line
from benchmarks.nested import dig

Row = Sequence[str]


def table(headers: Row, rows: Sequence[Row]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def ms(value: float | None) -> str:
    """Milliseconds with a sensible number of digits."""
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def num(value: float | None, digits: int = 2) -> str:
    """A plain number."""
    return "-" if value is None else f"{value:,.{digits}f}"


def times(ratio: dict[str, Any] | None, spread: bool = True) -> str:
    """``1.53x (1.41-1.62)``: pooled ratio and the range of per-round ratios."""
    if not ratio:
        return "-"
    text = f"{ratio['value']:.2f}x"
    if spread and ratio["low"] != ratio["high"]:
        text += f" ({ratio['low']:.2f}-{ratio['high']:.2f})"
    return text


def _label(row: dict[str, Any]) -> str:
    return str(row.get("label", "?"))


def _error_row(row: dict[str, Any], width: int) -> list[str]:
    return [_label(row), f"failed: {row['error']}", *["-"] * (width - 2)]


def summary(results: dict[str, Any]) -> str:
    """One line per saver: every time ratio to InMemorySaver."""
    names: list[str] = list(dig(results, "agent_loop", "durability", "async") or {})
    names += [n for n in dig(results, "concurrency", "modes", "asyncio") or {} if n not in names]
    for section in (dig(results, "fanout", "backends"), dig(results, "long_thread", "backends")):
        names += [n for n in section or {} if n not in names]
    largest = max((int(n) for n in dig(results, "fanout", "params", "tasks") or []), default=0)
    rows = []
    for name in names:
        fanout_ratios = [
            dig(results, "fanout", *path, name, "by_tasks", str(largest), "ratio")
            for path in (("backends",), ("async", "backends"))
        ]
        cells = [
            dig(results, "agent_loop", "durability", "async", name, "ratio"),
            dig(results, "agent_loop", "durability", "sync", name, "ratio"),
            dig(results, "hitl", "backends", name, "pause_ratio"),
            dig(results, "hitl", "backends", name, "resume_ratio"),
            dig(results, "concurrency", "modes", "asyncio", name, "ratio"),
            dig(results, "concurrency", "modes", "threads", name, "ratio"),
            *({"value": r, "low": r, "high": r} if r else None for r in fanout_ratios),
            dig(results, "long_thread", "backends", name, "ratio"),
        ]
        label = (
            dig(results, "agent_loop", "durability", "async", name, "label")
            or dig(results, "concurrency", "modes", "asyncio", name, "label")
            or dig(results, "fanout", "backends", name, "label")
            or dig(results, "long_thread", "backends", name, "label")
            or name
        )
        rows.append([label, *(times(c, spread=False) for c in cells)])
    return table(
        [
            "saver",
            "agent loop, step (async)",
            "agent loop, step (sync)",
            "HITL pause",
            "HITL resume",
            "64 threads, asyncio",
            "64 threads, pool",
            f"fan-out, {largest:,} tasks" if largest else "fan-out",
            f"fan-out, {largest:,} tasks, ainvoke" if largest else "fan-out, ainvoke",
            "long thread",
        ],
        rows,
    )


def targets(results: dict[str, Any]) -> str:
    """The goals, met or missed."""
    verdict = {True: "met", False: "**missed**", None: "not measured"}
    rows = [[t["goal"], t["measured"], verdict[t["met"]]] for t in results.get("targets", [])]
    return table(["goal", "measured", "verdict"], rows)


def agent_loop(section: dict[str, Any]) -> str:
    """Workload 1 tables, one per durability mode."""
    params = section["params"]
    out = [
        f"{params['threads']} threads x {params['steps_per_thread']} agent super-steps, one "
        f"{params['message_bytes']}-byte message per step, {params['rounds']} interleaved rounds. "
        "Time per step = a thread's `invoke` wall time ÷ its super-steps; median and p95 over "
        "threads. In saver = summed time inside the saver's methods per step, shown for "
        "durability=sync only (with async they run on LangGraph's background thread, overlap "
        "the next step and include waits for the GIL). Round trips = top-level commands "
        "(EVALSHA, EVAL, connection set-up) from `INFO commandstats`; in-script = commands "
        "Redis ran inside those scripts; server µs/op = time Redis spent running the scripts."
    ]
    headers = [
        "saver",
        "ms/step median",
        "p95",
        "x InMemorySaver (rounds)",
        "in saver ms/step",
        "saver ops/step",
        "round trips/step",
        "in-script cmds/step",
        "round trips/op",
        "server µs/op",
    ]
    for durability, rows in section["durability"].items():
        body = []
        for row in rows.values():
            if "error" in row:
                body.append(_error_row(row, len(headers)))
                continue
            redis = row.get("redis") or {}
            body.append(
                [
                    _label(row),
                    ms(row["ms_per_step"]["median"]),
                    ms(row["ms_per_step"]["p95"]),
                    times(row.get("ratio")),
                    ms(row["saver_ms_per_step"]) if durability == "sync" else "n/a",
                    num(row["operations_per_step"]),
                    num(redis.get("round_trips_per_unit")),
                    num(redis.get("in_scripts_per_unit"), 1),
                    num(redis.get("round_trips_per_operation"), 3),
                    num(redis.get("server_us_per_operation"), 0),
                ]
            )
        out.append(f"**durability={durability}**\n\n" + table(headers, body))
    floor = _floor_tables(section)
    if floor:
        out.append(floor)
    return "\n\n".join(out)


def _floor_tables(section: dict[str, Any]) -> str:
    """The round-trip floor of each Redis saver, per durability mode."""
    headers = [
        "saver",
        "ms/step",
        "InMemorySaver ms/step",
        "excess ms/step",
        "bare round trip µs, median (p95)",
        "server µs per bare call",
        "round trips/step",
        "floor ms/step",
        "excess ÷ floor (rounds)",
        "in-invoke floor: excess ms/step",
        "excess ÷ in-invoke floor (rounds)",
    ]
    out = []
    for durability, rows in section["durability"].items():
        base = (rows.get("InMemorySaver") or {}).get("ms_per_step") or {}
        body = []
        for row in rows.values():
            floor = row.get("floor")
            if not floor:
                continue
            body.append(
                [
                    _label(row),
                    ms(row["ms_per_step"]["median"]),
                    ms(base.get("median")),
                    ms(floor["excess_ms_per_step"]),
                    f"{num(floor['rtt_us']['median'], 0)} ({num(floor['rtt_us']['p95'], 0)})",
                    num(floor["server_us_per_call"], 1),
                    num(floor["round_trips_per_step"]),
                    ms(floor["floor_ms_per_step"]),
                    times(floor.get("excess_to_floor")),
                    ms((floor.get("in_invoke") or {}).get("floor_excess_ms_per_step")),
                    times((floor.get("in_invoke") or {}).get("excess_to_floor")),
                ]
            )
        if body:
            out.append(f"**Round-trip floor, durability={durability}**\n\n" + table(headers, body))
    split = _split_table(section)
    if split:
        out.append(split)
    if not out:
        return ""
    intro = (
        "Bare round trip = EVALSHA of an empty script (`return 1`) through the saver's own "
        "redis-py client (on the Cluster keyed to each primary's slots in turn), timed in "
        "batches after every thread of the rounds above. Floor = median bare round trip x the "
        "saver's round trips per step; excess = median ms/step minus InMemorySaver's; excess ÷ "
        "floor is the median of the per-round values (range in parentheses). The bare calls "
        "are left out of the command counts above. In-invoke floor = the rows "
        '"InMemorySaver + 1 bare round trip per op" above: `InMemorySaver` plus one such '
        "EVALSHA per saver operation through the saver's client, to its thread's node, run "
        "in the same rounds; its excess over InMemorySaver is what the round trips alone cost "
        "a super-step where a saver's calls run (LangGraph's background thread, the GIL, the "
        "shared cores), and excess ÷ in-invoke floor is the median of the per-round ratios. "
        "Its commands are left out of the saver's counts too."
    )
    return "\n\n".join([intro, *out])


def _split_table(section: dict[str, Any]) -> str:
    """Where each Redis saver's excess per step goes, per durability mode."""
    headers = [
        "saver",
        "durability",
        "excess ms/step",
        "round trips alone",
        "client side",
        "scripts on the server",
    ]
    body = []
    for durability, rows in section["durability"].items():
        for row in rows.values():
            split = (row.get("floor") or {}).get("split")
            if split:
                body.append(
                    [
                        _label(row),
                        durability,
                        ms(split["excess_ms_per_step"]),
                        ms(split["round_trips_ms_per_step"]),
                        ms(split["client_side_ms_per_step"]),
                        ms(split["scripts_ms_per_step"]),
                    ]
                )
    if not body:
        return ""
    return (
        "**Where the excess goes** (ms per step, medians over all threads): round trips "
        'alone = "InMemorySaver + 1 bare round trip per op" minus InMemorySaver; client side = '
        '"kortyx Redis with empty scripts" (its own serialization, planning and arguments, '
        "sent to a script that does nothing) minus that floor; scripts on the server = the saver "
        "minus the saver with empty scripts.\n\n" + table(headers, body)
    )


def hitl(section: dict[str, Any]) -> str:
    """Workload 2 table."""
    params = section["params"]
    headers = [
        "saver",
        "pause ms (p95)",
        "resume ms (p95)",
        "of which list+claim ms",
        "pause+resume cycles/s",
        "pause x",
        "resume x",
        "ops per pause / resume",
        "round trips per pause / resume",
    ]
    body = []
    for row in section["backends"].values():
        if "error" in row:
            body.append(_error_row(row, len(headers)))
            continue
        redis = row.get("redis")
        trips = "-"
        if redis:
            pause, resume = redis["pause"], redis["resume"]
            trips = f"{num(pause['round_trips_per_unit'])} / {num(resume['round_trips_per_unit'])}"
        claim = row.get("claim_ms")
        body.append(
            [
                _label(row),
                f"{ms(row['pause_ms']['median'])} ({ms(row['pause_ms']['p95'])})",
                f"{ms(row['resume_ms']['median'])} ({ms(row['resume_ms']['p95'])})",
                ms(claim["median"]) if claim else "n/a (no pending store)",
                num(row["cycles_per_s"], 0),
                times(row.get("pause_ratio")),
                times(row.get("resume_ratio")),
                f"{num(row['operations_per_pause'], 1)} / {num(row['operations_per_resume'], 1)}",
                trips,
            ]
        )
    intro = (
        f"{params['threads']} threads per saver, {params['rounds']} interleaved rounds; each "
        "thread pauses on `interrupt()` and is then resumed (kortyx savers: `pending.list` + "
        "`pending.claim` by token, then `Command(resume={interrupt_id: value})`; LangGraph savers: "
        "`Command(resume=value)`). One client, one thread at a time."
    )
    return intro + "\n\n" + table(headers, body)


def history(section: dict[str, Any]) -> str:
    """Workload 3 table: median ms of each read at each history size."""
    sizes = [str(s) for s in section["params"]["sizes"]]
    headers = ["saver", "operation", *[f"{int(s):,} cps" for s in sizes], "largest ÷ smallest"]
    body = []
    for row in section["backends"].values():
        if "error" in row:
            body.append(_error_row(row, len(headers)))
            continue
        for name, read in row["reads"].items():
            body.append(
                [
                    _label(row),
                    f"`{name}`",
                    *[ms(read["ms"][s]["median"]) for s in sizes],
                    f"{read['ratio_largest_to_smallest']:.2f}x",
                ]
            )
        body.append(
            [
                _label(row),
                "`put` (while building)",
                *[ms(row["put_ms"][s]["median"]) for s in sizes],
                f"{row['put_ratio_largest_to_smallest']:.2f}x",
            ]
        )
    intro = (
        f"Median ms over {section['params']['reps']} calls per read and size (sizes interleaved). "
        "`before` = the middle checkpoint of the chain (so at 10 checkpoints it returns 5)."
    )
    return intro + "\n\n" + table(headers, body)


def concurrency(section: dict[str, Any]) -> str:
    """Workload 4 table."""
    params = section["params"]
    headers = ["saver", "mode", "super-steps/s (median)", "per repetition", "time x InMemorySaver"]
    body = []
    for mode, rows in section["modes"].items():
        for row in rows.values():
            if "error" in row:
                body.append([_label(row), mode, f"failed: {row['error']}", "-", "-"])
                continue
            body.append(
                [
                    _label(row),
                    mode,
                    num(row["steps_per_s"], 0),
                    ", ".join(f"{r:,.0f}" for r in row["steps_per_s_all"]),
                    times(row.get("ratio")),
                ]
            )
    intro = (
        f"{params['threads']} agent-loop threads ({params['steps_per_thread']} super-steps each) "
        f"at once, {params['reps']} repetitions; `asyncio` = one event loop, `ainvoke` + `gather`; "
        f"`pool` = {params['threads']} OS threads calling `invoke`."
    )
    return intro + "\n\n" + table(headers, body)


def memory(results: dict[str, Any]) -> str:
    """Workload 5 tables: per thread after workload 1, and growth with history."""
    parts = []
    rows = []
    for durability, section in (dig(results, "agent_loop", "durability") or {}).items():
        for row in section.values():
            mem = row.get("memory")
            if not mem:
                continue
            rows.append(
                [
                    f"{_label(row)} (durability={durability})",
                    f"{mem['bytes_per_thread']:,}",
                    f"{mem['used_memory_delta_per_thread']:,}"
                    if mem["used_memory_delta_per_thread"]
                    else "-",
                    f"{mem['message_bytes_per_thread']:,}",
                    f"{mem['stored_to_message_ratio']:.1f}x",
                    _by_key(mem.get("bytes_per_thread_by_key") or {}),
                ]
            )
    if rows:
        parts.append(
            "After workload 1 (20 steps, plain `add_messages`): `MEMORY USAGE` summed over the "
            "saver's keys (found with `SCAN MATCH` on its own prefix) ÷ threads, and the "
            "`used_memory` delta ÷ threads.\n\n"
            + table(
                [
                    "saver",
                    "bytes/thread",
                    "used_memory Δ/thread",
                    "message bytes",
                    "stored ÷ messages",
                    "of which cp / wr / blob / idx",
                ],
                rows,
            )
        )
    section = results.get("memory") or {}
    body = []
    for state in (section.get("states") or {}).values():
        exponents = {g["to_steps"]: g["exponent"] for g in state["growth"]}
        for row in state["rows"]:
            if "error" in row:
                body.append(
                    [state["label"], str(row["steps"]), f"failed: {row['error']}", *["-"] * 7]
                )
                continue
            body.append(
                [
                    state["label"],
                    str(row["steps"]),
                    f"{row['bytes_per_thread']:,}",
                    f"{row['bytes_per_step']:,}",
                    _by_key(row.get("bytes_per_step_by_key") or {}),
                    f"{row['stored_to_message_ratio']:.1f}x",
                    num(exponents.get(row["steps"])),
                    ms(row["ms_per_step"]),
                    ms(row["get_state_ms"]),
                ]
            )
    if body:
        parts.append(
            "Growth with history on the standalone Redis saver (one ~500-byte message per step; "
            "exponent vs the previous length: 1 = linear, 2 = quadratic).\n\n"
            + table(
                [
                    "transcript channel",
                    "steps",
                    "bytes/thread",
                    "bytes/step",
                    "of which cp / wr / blob / idx",
                    "stored ÷ messages",
                    "growth exponent",
                    "ms/step",
                    "get_state ms",
                ],
                body,
            )
        )
    if section.get("skipped"):
        parts.append(f"Growth not measured: {section['skipped']}.")
    return "\n\n".join(parts)


def fanout(section: dict[str, Any]) -> str:
    """Workload 6 tables: per path, one invoke per saver and size, then the growth
    exponents."""
    tasks = [str(n) for n in section["params"]["tasks"]]
    parts = [_fanout_path(section["backends"], tasks, "invoke")]
    if section.get("async"):
        parts += ["With `ainvoke`:", _fanout_path(section["async"]["backends"], tasks, "ainvoke")]
    if section.get("write_depth", {}).get("backends"):
        parts.append(_write_depth(section["write_depth"]))
    return "\n\n".join(parts)


def _write_depth(section: dict[str, Any]) -> str:
    params = section["params"]
    starts: list[int] = []
    for row in section["backends"].values():
        starts = starts or [b["from"] for b in row.get("blocks", ())]
    headers = [
        "saver",
        *(f"{s:,}-{s + params['block'] - 1:,}" for s in starts),
        "last quarter ÷ first",
    ]
    body = []
    for row in section["backends"].values():
        if "error" in row:
            body.append(_error_row(row, len(headers)))
            continue
        body.append(
            [
                _label(row),
                *(num(b["server_us_per_call"], 1) for b in row["blocks"]),
                num(row["server_late_to_early"]),
            ]
        )
    intro = (
        f"`put_writes` by depth: one checkpoint, then {params['depth']:,} tasks each write "
        "one item to it, one call at a time. Server µs per call (`usec` of EVALSHA from "
        f"`INFO commandstats`) in blocks of {params['block']:,} calls, by the writes already "
        "stored; the last column compares the last quarter of the blocks with the first."
    )
    return "\n\n".join([intro, table(headers, body)])


def _fanout_path(backends: dict[str, Any], tasks: list[str], path: str) -> str:
    headers = [
        "saver",
        "tasks",
        f"{path} s",
        "x InMemorySaver",
        "ms/task",
        "server s in scripts",
        "server CPU s",
        "server µs/op",
        "saver ops",
        "scripts/op",
        "round trips/op",
    ]
    body = []
    growth_rows = []
    for row in backends.values():
        if "error" in row:
            body.append(_error_row(row, len(headers)))
            continue
        for size in tasks:
            cell = row["by_tasks"].get(size)
            if not cell:
                continue
            redis = cell.get("redis") or {}
            ratio = cell.get("ratio")
            body.append(
                [
                    _label(row),
                    f"{int(size):,}",
                    ms(cell["seconds"]),
                    "-" if ratio is None else f"{ratio:.2f}x",
                    ms(cell["ms_per_task"]),
                    ms(cell.get("server_s")),
                    ms(cell.get("server_cpu_s")),
                    num(redis.get("server_us_per_operation"), 0),
                    f"{cell['operations']:,}",
                    num(redis.get("steady_round_trips_per_operation"), 3),
                    num(redis.get("client_round_trips_per_operation"), 3),
                ]
            )
        growth = row["growth"]
        growth_rows.append(
            [
                _label(row),
                f"{growth['from_tasks']:,}→{growth['to_tasks']:,}",
                num(growth.get("wall")),
                num(growth.get("server")),
                num(growth.get("server_cpu")),
            ]
        )
    intro = (
        f"The median of 3 `{path}`s per saver and size (1 with `--quick`), savers in rotating "
        "order: `fan` sends n `worker` tasks (`Send`), each appends "
        "one item to an `operator.add` list, `join` checks the list holds n items. Server s = "
        "`usec` of EVALSHA and EVAL from `INFO commandstats` around each run, the median over "
        "the runs; server CPU s = `used_cpu_user` + `used_cpu_sys` from `INFO cpu` around each "
        "run, the median over the runs (all the server's work, reading and answering requests too; "
        "unlike the scripts' `usec`, which is wall time, it does not count time the server "
        "waited for a core); scripts/op "
        "= top-level commands the server ran ÷ saver operations, one-time ones (connection "
        "set-up, NOSCRIPT) left out; round trips/op = requests redis-py wrote to a socket ÷ "
        "saver operations (a pipeline is one request: concurrent `put_writes` of one thread "
        "share one)."
    )
    growth_intro = (
        "Growth exponent = log(t(largest) / t(smallest)) / log(largest / smallest), "
        "for the invoke's wall time and for the server's script time: 1 = linear, 2 = "
        "quadratic."
    )
    return "\n\n".join(
        [
            intro,
            table(headers, body),
            growth_intro,
            table(
                [
                    "saver",
                    "tasks",
                    "wall-time exponent",
                    "server-time exponent",
                    "server CPU exponent",
                ],
                growth_rows,
            ),
        ]
    )


def long_thread(section: dict[str, Any]) -> str:
    """Workload 7 table."""
    params = section["params"]
    headers = [
        "saver",
        "s/thread, median (range)",
        "ms/step",
        "x InMemorySaver (threads)",
        "saver ops/step",
        "round trips/op",
        "server µs/op",
    ]
    body = []
    for row in section["backends"].values():
        if "error" in row:
            body.append(_error_row(row, len(headers)))
            continue
        redis = row.get("redis") or {}
        spent = row["seconds_per_thread"]
        spread = (
            f" ({spent['low']:.2f}-{spent['high']:.2f})" if spent["low"] != spent["high"] else ""
        )
        body.append(
            [
                _label(row),
                f"{spent['median']:.2f}{spread}",
                ms(row["ms_per_step"]),
                times(row.get("ratio")),
                num(row["operations_per_step"]),
                num(redis.get("steady_round_trips_per_operation"), 3),
                num(redis.get("server_us_per_operation"), 0),
            ]
        )
    intro = (
        f"{params['threads']} thread(s) per saver of {params['steps_per_thread']:,} agent "
        f"super-steps each, one ~500-byte message per step (plain `add_messages`), so a thread "
        f"ends with {params['steps_per_thread']:,} messages; savers take turns thread by thread. "
        "The ratio is the median of the per-thread ratios to InMemorySaver (range in "
        "parentheses)."
    )
    return intro + "\n\n" + table(headers, body)


def _spread(value: dict[str, Any] | None, unit: str = "") -> str:
    """``"0.587 ms (0.579-0.593)"``: a median over rounds and the range of the rounds."""
    if not value:
        return "-"
    text = f"{value['value']:.3g}{unit}"
    if value["low"] != value["high"]:
        text += f" ({value['low']:.3g}-{value['high']:.3g})"
    return text


def anchor(section: dict[str, Any]) -> str:
    """The anchor tables: time, excess over InMemorySaver, memory and commands per saver."""
    params = section["params"]
    intro = (
        "langgraph-checkpoint-redis's `RedisSaver` and the kortyx Redis adapter on one Redis "
        "Stack server that the harness starts, with `InMemorySaver` as the baseline: "
        f"{params['threads']} threads x {params['steps_per_thread']} agent super-steps per "
        f"saver, one {params['message_bytes']}-byte message per step, {params['rounds']} "
        "interleaved rounds, as in workload 1. Excess = a saver's ms per step minus "
        "`InMemorySaver`'s, per round (median and range over rounds)."
    )
    if section.get("skipped"):
        return intro + f"\n\nNot measured: {section['skipped']}."
    server = section.get("server") or {}
    intro += (
        f" Server: redis-server {server.get('redis_version')} with "
        f"{', '.join(server.get('modules') or [])}"
        + (", patched to load OpenSSL 3" if server.get("patched_for_openssl_3") else "")
        + ", no persistence."
    )
    out = [intro]
    headers = ["saver", "ms/step median", "p95", "x InMemorySaver (rounds)", "excess ms/step"]
    for durability, part in (section.get("durability") or {}).items():
        body = []
        for row in part["savers"].values():
            if "error" in row:
                body.append(_error_row(row, len(headers)))
                continue
            body.append(
                [
                    _label(row),
                    ms(row["ms_per_step"]["median"]),
                    ms(row["ms_per_step"]["p95"]),
                    times(row.get("ratio")),
                    _spread(row.get("excess_ms")) if row.get("excess_ms") else "-",
                ]
            )
        text = f"**durability={durability}**\n\n" + table(headers, body)
        text += (
            "\n\nAnchor's excess ÷ ours: "
            + (_spread(part.get("excess_ratio"), "x") if part.get("excess_ratio") else "-")
            + "."
        )
        out.append(text)
    rows = []
    for durability, part in (section.get("durability") or {}).items():
        memory = part.get("memory") or {}
        if not memory or "error" in memory:
            continue
        for name, row in memory.items():
            if not isinstance(row, dict):
                continue
            parts = row.get("bytes_per_thread_by_family") or row.get("bytes_per_thread_by_kind")
            index = row.get("index_bytes_per_thread")
            theirs = index is not None
            rows.append(
                [
                    f"{part['savers'][name]['label']} (durability={durability})",
                    f"{row['bytes_per_thread']:,}",
                    num(row["keys_per_thread"], 0),
                    ", ".join(f"{k} {v:,}" for k, v in (parts or {}).items()),
                    "-" if index is None else f"{index:,}",
                    f"{memory['ratio']:.2f}x" if theirs else "1.00x",
                    f"{memory['ratio_used_memory']:.2f}x" if theirs else "-",
                ]
            )
    if rows:
        out.append(
            "Memory per thread: `MEMORY USAGE key SAMPLES 0` summed over the saver's keys "
            "(kortyx: its prefix; `RedisSaver`: every other key on the server), plus, for "
            "`RedisSaver`, its search indexes (`FT.INFO` `total_index_memory_sz_mb`), ÷ the "
            "threads written. The last column is a cross-check: the server's `used_memory` "
            "growth over the pass less the kortyx keys, ÷ threads, against the kortyx keys.\n\n"
            + table(
                [
                    "saver",
                    "bytes/thread",
                    "keys/thread",
                    "of which (bytes/thread)",
                    "index bytes/thread",
                    "÷ kortyx",
                    "÷ kortyx, by used_memory",
                ],
                rows,
            )
        )
    commands = section.get("commands") or {}
    body = []
    for row in commands.values():
        if not isinstance(row, dict):
            continue
        if "error" in row:
            body.append(_error_row(row, 6))
            continue
        body.append(
            [
                _label(row),
                num(row["operations_per_step"]),
                num(row["round_trips_per_operation"]),
                num(row["server_commands_per_operation"], 1),
                num(row["server_us_per_operation"], 0),
                ", ".join(f"{k} {v:,}" for k, v in row["top_commands"].items()),
            ]
        )
    if body:
        out.append(
            f"Commands, one saver at a time ({commands['threads']} threads each, "
            f"durability={commands['durability']}): round trips = requests redis-py writes (a "
            "pipeline is one); server commands = every command Redis ran, those inside scripts "
            "included (`INFO commandstats`); server µs = time Redis spent on them.\n\n"
            + table(
                [
                    "saver",
                    "ops/step",
                    "round trips/op",
                    "server commands/op",
                    "server µs/op",
                    "commands (all threads)",
                ],
                body,
            )
        )
    return "\n\n".join(out)


def _by_key(sizes: dict[str, int]) -> str:
    """``"1,356 / 1,353 / 400 / 51"``: bytes of the cp, wr, blob and idx keys."""
    return " / ".join(f"{sizes.get(kind, 0):,}" for kind in ("cp", "wr", "blob", "idx"))


def render(results: dict[str, Any]) -> str:
    """The whole report."""
    meta = results["meta"]
    out = [
        f"# kortyx-langgraph benchmarks ({meta['mode']} run)",
        f"`{meta['command']}` — {meta['duration_s']:.0f} s, {one_line(results['machine'])}, "
        f"commit {results['machine'].get('commit')}.",
        "Ratios are times relative to LangGraph's `InMemorySaver` measured in the same run "
        "(lower is faster; for throughput, its rate ÷ ours).",
        "## Summary: time x InMemorySaver\n\n" + summary(results),
        "## Targets\n\n" + targets(results),
    ]
    sections = (
        ("agent_loop", "1. Agent loop", agent_loop),
        ("hitl", "2. Human in the loop", hitl),
        ("history", "3. History scale", history),
        ("concurrency", "4. Concurrency", concurrency),
    )
    for key, title, render_section in sections:
        if key in results:
            out.append(f"## {title}\n\n" + render_section(results[key]))
    memory_text = memory(results)
    if memory_text:
        out.append("## 5. Memory in Redis\n\n" + memory_text)
    for key, title, render_section in (
        ("fanout", "6. Fan-out", fanout),
        ("long_thread", "7. Long threads", long_thread),
    ):
        if key in results:
            out.append(f"## {title}\n\n" + render_section(results[key]))
    if "anchor" in results:
        out.append("## Anchor: langgraph-checkpoint-redis\n\n" + anchor(results["anchor"]))
    errors = failures(results)
    if errors:
        out.append("## Failures\n\n" + "\n".join(f"- `{e}`" for e in errors))
    skipped = results.get("skipped") or {}
    if skipped:
        out.append("## Skipped\n\n" + "\n".join(f"- **{k}**: {v}" for k, v in skipped.items()))
    return "\n\n".join(out) + "\n"


def failures(node: Any, path: str = "") -> list[str]:
    """Every ``"error"`` recorded in the results, as ``"where: error"``."""
    if not isinstance(node, dict):
        return []
    found = [f"{path}: {node['error']}"] if isinstance(node.get("error"), str) else []
    for key, value in node.items():
        if key != "targets":
            found += failures(value, f"{path}/{key}" if path else str(key))
    return found
