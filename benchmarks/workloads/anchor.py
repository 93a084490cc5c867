"""The anchor: ``langgraph-checkpoint-redis``'s ``RedisSaver`` next to ours, on one server.

The harness starts Redis Stack (:mod:`benchmarks.stack`: Redis 7.4.1 with RedisJSON and
RediSearch) and runs the agent loop of workload 1 on it, interleaved as there, with three
savers: LangGraph's ``InMemorySaver`` (the baseline), the kortyx Redis adapter and
``RedisSaver`` (the normal one, not its shallow variant), both with their default settings
and both on that same server. The figure that matters is the *excess*: a saver's time per
super-step minus ``InMemorySaver``'s, per round; the anchor's excess divided by ours is the
goal's ratio. Memory is the exact ``MEMORY USAGE`` of each saver's keys per thread (ours:
its prefix; ``RedisSaver``: every other key on the server, by key family), plus, for
``RedisSaver``, the memory of its two search indexes (``FT.INFO``
``total_index_memory_sz_mb``). A last, sequential pass (one saver at a time, so the server's
``INFO commandstats`` belongs to one saver) counts round trips and server commands per saver
operation.

When Redis Stack or ``langgraph-checkpoint-redis`` is not available the workload says why
and measures nothing (``"skipped"``); it never reports a ratio it did not measure.
"""

from __future__ import annotations

import contextlib
import importlib.util
import statistics
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import redis
from langgraph.checkpoint.memory import InMemorySaver

from benchmarks import stack
from benchmarks.backends import BASELINE, Backend, Environment, Saver
from benchmarks.config import Sizes
from benchmarks.graphs import agent_input, agent_loop_graph, thread_config
from benchmarks.meter import OpMeter, SendCounter, attach
from benchmarks.redisinfo import CommandDelta, RedisNodes, command_delta, memory_usage
from benchmarks.stats import sig
from benchmarks.workloads import Log, describe_error
from benchmarks.workloads.agent_loop import interleaved_pass, params
from kortyx_langgraph import create_redis_framework_adapter

OURS = "kortyx-redis-stack"
ANCHOR = "langgraph-redis-stack"
INSTALL = "pip install -e '.[bench-anchor]'"
ACCOUNTING_THREADS = 10
"""Threads per saver in the sequential pass that counts commands."""


def run(env: Environment, sizes: Sizes, log: Log) -> dict[str, Any]:
    """Both durability modes on one Redis Stack server, then the command count."""
    out: dict[str, Any] = {"params": params(sizes)}
    if importlib.util.find_spec("langgraph.checkpoint.redis") is None:
        return _not_measured(out, f"langgraph-checkpoint-redis is not installed ({INSTALL})", log)
    try:
        with stack.running(log, pin=env.pin_server) as (url, files):
            out["server"] = {
                "redis_version": files.version,
                "modules": [path.name for path in files.modules],
                "patched_for_openssl_3": files.patched,
            }
            log(f"anchor: Redis Stack {files.version} at {url}")
            nodes = RedisNodes([url])
            try:
                out["durability"] = {}
                for durability in sizes.durabilities:
                    passed = _one_pass(env, url, nodes, sizes, durability=durability, log=log)
                    out["durability"][durability] = passed
                    nodes.flush()
                out["commands"] = _accounting(env, url, nodes, sizes, log)
            finally:
                nodes.close()
    except stack.StackUnavailable as exc:
        return _not_measured(out, str(exc), log)
    return out


def _not_measured(out: dict[str, Any], reason: str, log: Log) -> dict[str, Any]:
    log(f"anchor not measured: {reason}")
    out["skipped"] = reason
    return out


# -- the savers --------------------------------------------------------------------------


def _ours(url: str, prefix: str) -> Backend:
    @contextlib.contextmanager
    def open_() -> Iterator[Saver]:
        adapter = create_redis_framework_adapter(url=url, prefix=prefix)
        try:
            yield adapter
        finally:
            adapter.close()

    return Backend(OURS, "kortyx Redis (TTL 15 min), on Redis Stack", open=open_, ours=True)


def _anchor(url: str) -> Backend:
    from langgraph.checkpoint.redis import RedisSaver

    @contextlib.contextmanager
    def open_() -> Iterator[Saver]:
        with RedisSaver.from_conn_string(url) as saver:
            saver.setup()
            yield saver

    return Backend(ANCHOR, "langgraph-checkpoint-redis RedisSaver, on Redis Stack", open=open_)


def _baseline() -> Backend:
    return Backend(
        BASELINE,
        "LangGraph InMemorySaver",
        open=lambda: contextlib.nullcontext(InMemorySaver()),
    )


# -- time and memory, interleaved --------------------------------------------------------


def _one_pass(
    env: Environment, url: str, nodes: RedisNodes, sizes: Sizes, *, durability: str, log: Log
) -> dict[str, Any]:
    prefix = env.prefix()
    used_before = nodes.used_memory()
    rows = interleaved_pass(
        env,
        [_baseline(), _ours(url, prefix), _anchor(url)],
        sizes,
        durability,
        log,
        title="anchor",
    )
    used_delta = nodes.used_memory() - used_before
    result: dict[str, Any] = {"savers": rows}
    baseline, ours, anchor = rows.get(BASELINE), rows.get(OURS), rows.get(ANCHOR)
    if not all(row and "error" not in row for row in (baseline, ours, anchor)):
        return result
    assert baseline and ours and anchor
    for row in (ours, anchor):
        row["excess_ms"] = _excess(row, baseline)
    result["excess_ratio"] = _excess_ratio(anchor, ours, baseline)
    try:
        result["memory"] = _memory(nodes, prefix, ours["threads"], anchor["threads"], used_delta)
    except redis.RedisError as exc:
        result["memory"] = {"error": describe_error(exc)}
    return result


def _round_excess(row: dict[str, Any], baseline: dict[str, Any]) -> list[float]:
    pairs = zip(row["round_medians_ms"], baseline["round_medians_ms"], strict=False)
    return [value - base for value, base in pairs if value is not None and base is not None]


def _spread(values: Sequence[float]) -> dict[str, Any] | None:
    if not values:
        return None
    return {
        "value": sig(statistics.median(values), 3),
        "low": sig(min(values), 3),
        "high": sig(max(values), 3),
    }


def _excess(row: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any] | None:
    """ms per super-step above ``InMemorySaver``: median of the per-round differences of
    medians, and their range."""
    return _spread(_round_excess(row, baseline))


def _excess_ratio(
    anchor: dict[str, Any], ours: dict[str, Any], baseline: dict[str, Any]
) -> dict[str, Any] | None:
    """Anchor's excess ÷ ours, per round (rounds where ours is not above the baseline are
    left out: the ratio has no meaning there), summarized like the time ratios."""
    ratios = [
        theirs / mine
        for theirs, mine in zip(
            _round_excess(anchor, baseline), _round_excess(ours, baseline), strict=False
        )
        if mine > 0
    ]
    return _spread(ratios)


def _index_memory(client: redis.Redis) -> dict[str, int]:
    """Bytes of each RediSearch index (``FT.INFO`` ``total_index_memory_sz_mb``)."""
    sizes: dict[str, int] = {}
    execute: Callable[..., Any] = client.execute_command
    for raw in execute("FT._LIST"):
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        info = execute("FT.INFO", name)
        if not isinstance(info, dict):
            info = dict(zip(info[::2], info[1::2], strict=False))
        fields = {(k.decode() if isinstance(k, bytes) else str(k)): v for k, v in info.items()}
        megabytes = fields.get("total_index_memory_sz_mb")
        if megabytes is not None:
            sizes[name] = round(float(megabytes) * 1024 * 1024)
    return sizes


def _anchor_keys(client: redis.Redis, our_prefix: str) -> tuple[int, dict[str, int]]:
    """``(keys, bytes by key family)`` of every key not under ``our_prefix``; the family is
    the part before the first ``:`` (``checkpoint``, ``checkpoint_write``...)."""
    keys = [k for k in client.scan_iter(count=1000) if not k.startswith(our_prefix.encode())]
    by_family: dict[str, int] = {}
    for key, size in memory_usage(client, keys):
        family = key.decode(errors="replace").split(":", 1)[0]
        by_family[family] = by_family.get(family, 0) + size
    return len(keys), by_family


def _memory(
    nodes: RedisNodes, prefix: str, our_threads: int, anchor_threads: int, used_delta: int
) -> dict[str, Any]:
    our_keys, our_kinds = nodes.memory_by_prefix(prefix)
    client = redis.Redis.from_url(nodes.urls[0])
    try:
        anchor_keys, families = _anchor_keys(client, prefix)
        indexes = _index_memory(client)
    finally:
        client.close()
    ours = sum(our_kinds.values()) / our_threads
    anchor_stored = sum(families.values()) / anchor_threads
    anchor_index = sum(indexes.values()) / anchor_threads
    anchor_total = anchor_stored + anchor_index
    return {
        OURS: {
            "threads": our_threads,
            "keys_per_thread": sig(our_keys / our_threads),
            "bytes_per_thread": round(ours),
            "bytes_per_thread_by_kind": {
                k: round(v / our_threads) for k, v in sorted(our_kinds.items())
            },
        },
        ANCHOR: {
            "threads": anchor_threads,
            "keys_per_thread": sig(anchor_keys / anchor_threads),
            "key_bytes_per_thread": round(anchor_stored),
            "index_bytes_per_thread": round(anchor_index),
            "bytes_per_thread": round(anchor_total),
            "bytes_per_thread_by_family": {
                k: round(v / anchor_threads) for k, v in sorted(families.items())
            },
            "index_bytes_per_thread_by_index": {
                k: round(v / anchor_threads) for k, v in sorted(indexes.items())
            },
        },
        "ratio": sig(anchor_total / ours, 3) if ours else None,
        "ratio_keys_only": sig(anchor_stored / ours, 3) if ours else None,
        "used_memory_delta": used_delta,
        "measured_total": round(ours * our_threads + anchor_total * anchor_threads),
        # Cross-check: the server's used_memory growth over the pass, less what our keys
        # measured, taken as the anchor's (InMemorySaver stores nothing in Redis).
        "anchor_used_memory_per_thread": round((used_delta - ours * our_threads) / anchor_threads),
        "ratio_used_memory": sig((used_delta - ours * our_threads) / anchor_threads / ours, 3)
        if ours
        else None,
    }


# -- commands per operation, one saver at a time -----------------------------------------


def _accounting(
    env: Environment, url: str, nodes: RedisNodes, sizes: Sizes, log: Log
) -> dict[str, Any]:
    log(f"anchor: commands per operation ({ACCOUNTING_THREADS} threads per saver, in turn)")
    out: dict[str, Any] = {"threads": ACCOUNTING_THREADS, "durability": "sync"}
    for backend in (_ours(url, env.prefix()), _anchor(url)):
        try:
            out[backend.name] = _count_commands(env, backend, nodes, sizes)
        except Exception as exc:
            out[backend.name] = {"label": backend.label, "error": describe_error(exc)}
        nodes.flush()
    return out


def _count_commands(
    env: Environment, backend: Backend, nodes: RedisNodes, sizes: Sizes
) -> dict[str, Any]:
    steps = sizes.agent_steps
    with backend.open() as saver:
        meter = OpMeter()
        attach(saver, meter)
        graph = agent_loop_graph(saver, steps, message_bytes=sizes.message_bytes)

        def one_thread(n: int) -> None:
            thread_id = env.thread_id(f"anchor-count-{backend.name}", n)
            result = graph.invoke(agent_input(), thread_config(thread_id, steps), durability="sync")
            if len(result["messages"]) != steps:
                raise RuntimeError(f"thread {thread_id} ended with {len(result['messages'])}")

        one_thread(0)  # connections, scripts and indexes are set up outside the count
        meter.reset()
        counter = SendCounter()
        before = nodes.command_calls()
        with counter.counting():
            for n in range(1, ACCOUNTING_THREADS + 1):
                one_thread(n)
        delta = command_delta(before, nodes.command_calls())
    operations = meter.operations
    usec = _server_usec(delta)
    commands = delta.round_trips + delta.in_scripts
    units = ACCOUNTING_THREADS * steps
    return {
        "label": backend.label,
        "operations": operations,
        "operations_per_step": sig(operations / units),
        "round_trips_per_operation": sig(counter.calls / operations, 3),
        "round_trips_per_step": sig(counter.calls / units, 3),
        "server_commands_per_operation": sig(commands / operations, 3),
        "server_us_per_operation": None if usec is None else sig(usec / operations, 3),
        "top_commands": dict(list(delta.by_command.items())[:8]),
    }


def _server_usec(delta: CommandDelta) -> int | None:
    """Microseconds the server spent on the saver's requests: its scripts' time when it runs
    scripts (the commands inside are part of it), else the time of every command it sent.
    ``None`` for a saver that does both (the two cannot be told apart from the counters)."""
    scripted = delta.evalsha + delta.eval
    if not scripted:
        return sum(delta.usec_by_command.values())
    if delta.in_scripts and not delta.script_usec:
        return None
    return delta.script_usec
