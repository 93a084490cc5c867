"""The fan-out graph, the growth exponent, and the goals and report sections read from results."""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import pytest
import redis
import redis.asyncio
from langgraph.checkpoint.memory import InMemorySaver

from benchmarks import report
from benchmarks.async_write import REDIS_PY, sent
from benchmarks.graphs import MESSAGE_BYTES, message_text, reference_text, thread_config
from benchmarks.meter import OpMeter, SendCounter, attach
from benchmarks.run import _parse
from benchmarks.targets import evaluate
from benchmarks.workloads.fanout import _median_run, fanout_graph, growth
from kortyx_langgraph.redis import direct


def test_fanout_graph_joins_every_task() -> None:
    graph = fanout_graph(InMemorySaver())
    result = graph.invoke({"tasks": 25, "items": []}, thread_config("fan"))
    assert result["joined"] == 25
    assert sorted(result["items"]) == list(range(25))


def test_a_saver_is_metered_alike_through_invoke_and_ainvoke() -> None:
    # InMemorySaver's async methods call its sync ones: one operation each, not two
    counts = []
    for path in ("invoke", "ainvoke"):
        saver = InMemorySaver()
        meter = OpMeter()
        attach(saver, meter)
        graph = fanout_graph(saver)
        given, config = {"tasks": 5, "items": []}, thread_config(path)
        if path == "invoke":
            graph.invoke(given, config)
        else:
            asyncio.run(graph.ainvoke(given, config))
        counts.append(dict(meter.counts))
    assert counts[0] == counts[1]
    assert counts[0]["put_writes"] >= 5


def test_growth_exponent_is_one_for_linear_and_two_for_quadratic() -> None:
    linear = {str(n): {"seconds": n / 1000} for n in (500, 1000, 4000)}
    quadratic = {str(n): {"seconds": (n / 1000) ** 2} for n in (500, 4000)}
    assert growth(linear, "seconds") == pytest.approx(1.0)
    assert growth(quadratic, "seconds") == pytest.approx(2.0)
    assert growth({"500": {"seconds": 1.0}}, "seconds") is None


def test_a_fanout_size_reports_the_median_run_and_the_median_server_time() -> None:
    def run(seconds: float, server: float) -> dict[str, Any]:
        redis = {"server_us_per_operation": server * 1e6 / 100}
        return {"seconds": seconds, "server_s": server, "operations": 100, "redis": redis}

    row = _median_run([run(3.0, 0.010), run(1.0, 0.050), run(2.0, 0.030)])
    assert row["seconds"] == 2.0 and row["runs_s"] == [3.0, 1.0, 2.0]
    assert row["server_s"] == 0.030
    assert row["redis"]["server_us_per_operation"] == 300
    row = _median_run([run(1.0, 0.020), run(2.0, 0.010), run(3.0, 0.030)])
    assert row["seconds"] == 2.0 and row["server_s"] == 0.020  # not the 0.010 of that run
    assert row["redis"]["server_us_per_operation"] == 200


def test_new_workloads_can_be_selected() -> None:
    assert _parse(["--only", "fanout,long_thread"]).only == ["fanout", "long_thread"]


def _fanout_row(seconds: dict[int, float], server: dict[int, float] | None) -> dict[str, Any]:
    by_tasks: dict[str, Any] = {}
    for n, s in seconds.items():
        row: dict[str, Any] = {"seconds": s, "ms_per_task": s * 1000 / n, "operations": n + 5}
        if server is not None:
            row["server_s"] = server[n]
            row["redis"] = {
                "steady_round_trips_per_operation": 1.0,
                "round_trips_per_operation": 1.0,
                "server_us_per_operation": 50.0,
                "other_top_level": 0,
                "noscript_reloads": 0,
            }
        by_tasks[str(n)] = row
    rows: dict[str, Any] = {"label": "x", "by_tasks": by_tasks}
    rows["growth"] = {
        "from_tasks": min(seconds),
        "to_tasks": max(seconds),
        "wall": growth(by_tasks, "seconds"),
        "server": growth(by_tasks, "server_s") if server is not None else None,
    }
    return rows


def _results(largest: int) -> dict[str, Any]:
    sizes = (500, largest)
    base = _fanout_row({n: n / 2000 for n in sizes}, None)
    redis = _fanout_row({n: (n / 1000) ** 2 for n in sizes}, {n: (n / 1100) ** 2 for n in sizes})
    for size, row in redis["by_tasks"].items():
        row["ratio"] = row["seconds"] / base["by_tasks"][size]["seconds"]
    # with ainvoke the same saver is linear and within 2x
    aredis = _fanout_row({n: n / 1300 for n in sizes}, {n: n / 5000 for n in sizes})
    for size, row in aredis["by_tasks"].items():
        row["ratio"] = row["seconds"] / base["by_tasks"][size]["seconds"]
    floor = {
        "rtt_us": {"n": 100, "median": 80.0, "p95": 120.0},
        "server_us_per_call": 2.0,
        "round_trips_per_step": 2.2,
        "floor_ms_per_step": 0.176,
        "excess_ms_per_step": 0.4,
        "excess_to_floor": {"value": 2.27, "low": 2.1, "high": 2.4},
    }
    agent_row = {"label": "r", "ms_per_step": {"median": 0.8, "p95": 1.0}, "floor": floor}
    return {
        "agent_loop": {"durability": {"async": {"kortyx-redis": agent_row}}},
        "fanout": {
            "params": {"tasks": list(sizes)},
            "backends": {"kortyx-redis": redis, "InMemorySaver": base},
            "async": {"backends": {"kortyx-redis": aredis, "InMemorySaver": base}},
            "write_depth": _write_depth(
                largest, {"kortyx-redis": 1.0, "kortyx-redis-cluster": 4.0}
            ),
        },
    }


def _write_depth(depth: int, growth_by_backend: dict[str, float]) -> dict[str, Any]:
    """A write-depth section whose server time per call grows by ``growth`` from the first
    block to the last."""
    block = depth // 4
    backends = {}
    for name, grows in growth_by_backend.items():
        blocks = [
            {"from": start, "server_us_per_call": 20.0 * (1 + (grows - 1) * i / 3)}
            for i, start in enumerate(range(0, depth, block))
        ]
        backends[name] = {"label": name, "blocks": blocks, "server_late_to_early": grows}
    return {"params": {"depth": depth, "block": block}, "backends": backends}


def test_goals_are_judged_only_at_the_full_sizes() -> None:
    full = {t.key: t for t in evaluate(_results(4000))}
    assert full["floor-kortyx-redis-async"].met is False
    assert full["floor-kortyx-redis-sync"].met is None
    assert full["fanout-ratio-kortyx-redis"].met is False
    assert full["fanout-server-growth-kortyx-redis"].met is False
    assert "2.00" in full["fanout-server-growth-kortyx-redis"].measured
    assert full["fanout-ratio-kortyx-redis-ainvoke"].met is True
    assert "1.54x at 4,000 tasks" in full["fanout-ratio-kortyx-redis-ainvoke"].measured
    assert full["fanout-server-growth-kortyx-redis-ainvoke"].met is True
    assert full["fanout-write-depth-kortyx-redis"].met is True
    assert full["fanout-write-depth-kortyx-redis-cluster"].met is False
    assert "80.0 µs with 3,000 stored" in full["fanout-write-depth-kortyx-redis-cluster"].measured
    quick = {t.key: t for t in evaluate(_results(1000))}
    assert quick["fanout-ratio-kortyx-redis"].met is None
    assert quick["fanout-server-growth-kortyx-redis"].met is None
    assert quick["fanout-write-depth-kortyx-redis"].met is None


def test_fanout_and_long_thread_sections_render() -> None:
    results = _results(4000)
    text = report.fanout(results["fanout"])
    assert "| x | 4,000 |" in text
    ainvoke = text.split("With `ainvoke`:")[1]
    assert "ainvoke s" in ainvoke and "| 1.54x |" in ainvoke
    assert "500→4,000" in text
    depth = text.split("`put_writes` by depth")[1]
    assert "| 3,000-3,999 | last quarter ÷ first |" in depth
    assert "| kortyx-redis-cluster | 20.0 | 40.0 | 60.0 | 80.0 | 4.00 |" in depth
    long_section = {
        "params": {"threads": 2, "steps_per_thread": 1000},
        "backends": {
            "InMemorySaver": {
                "label": "base",
                "seconds_per_thread": {"median": 2.0, "low": 1.9, "high": 2.1},
                "ms_per_step": 2.0,
                "operations_per_step": 2.0,
                "ratio": {"value": 1.0, "low": 1.0, "high": 1.0},
            },
            "kortyx-redis": {"label": "r", "error": "boom"},
        },
    }
    rendered = report.long_thread(long_section)
    assert "| base | 2.00 (1.90-2.10) |" in rendered
    assert "failed: boom" in rendered


def test_agent_loop_messages_are_unique_and_compress_as_prose_does() -> None:
    texts = {message_text(f"t-{t}", step) for t in range(5) for step in range(1, 41)}
    assert len(texts) == 200
    assert {len(text.encode()) for text in texts} == {MESSAGE_BYTES}
    ratios = sorted(len(zlib.compress(text.encode(), 6)) / MESSAGE_BYTES for text in texts)
    # English compresses to roughly half or more; a repeated pattern to under a fifth
    assert ratios[0] > 0.5
    assert ratios[-1] < 0.75


@pytest.mark.redis
def test_the_list_study_lists_every_checkpoint_of_each_shape(redis_standalone: Any) -> None:
    from benchmarks.list_study import measure
    from benchmarks.list_study import report as list_report

    rows = [measure(str(redis_standalone.url), n, 40) for n in (1, 4, 20)]
    assert [(r.namespaces, r.checkpoints) for r in rows] == [(1, 40), (4, 40), (20, 40)]
    assert all(r.calls >= 1 for r in rows)
    table = list_report(rows).splitlines()
    assert len(table) == 5
    assert table[2].split("|")[4].strip() == "1.00"  # the root-only thread is the baseline


@pytest.mark.redis
def test_the_interrupt_fanout_study_pauses_and_answers_every_task(redis_standalone: Any) -> None:
    from benchmarks import interrupt_fanout

    rows = interrupt_fanout.run(str(redis_standalone.url), [6, 12], 1)
    assert [(r.saver, r.tasks) for r in rows] == [
        (saver, tasks)
        for tasks in (6, 12)
        for saver in ("InMemorySaver", "kortyx in-memory", "kortyx Redis")
    ]
    assert all((r.server_s is None) == (r.saver != "kortyx Redis") for r in rows)
    table = interrupt_fanout.report(rows).splitlines()
    assert table[2].split("|")[6].strip() == "1.00"  # InMemorySaver is the baseline
    assert all((r.claims_s is None) == (r.saver == "InMemorySaver") for r in rows)
    assert all((r.claims_server_s is None) == (r.saver != "kortyx Redis") for r in rows)
    # runs, exponents; then the adapters' claims and their exponents
    assert len(table) == (2 + 6 + 3 + 3) + (3 + 4 + 3 + 2)


@pytest.mark.redis
def test_the_send_counter_counts_each_request_once_on_every_path(redis_standalone: Any) -> None:
    sync = redis.Redis.from_url(redis_standalone.url, socket_timeout=5.0)
    sync.ping()  # connected before counting: the handshake's writes are not calls

    async def asynchronous(counter: SendCounter) -> None:
        client = redis.asyncio.Redis.from_url(redis_standalone.url, socket_timeout=5.0)
        await client.ping()
        with counter.counting():
            await direct.acall(client, ("PING",), fast=True)  # the direct path's own write
            with sent(REDIS_PY):
                await direct.acall(client, ("PING",), fast=True)  # through redis-py's
            await client.execute_command("PING")
            await direct.acall_many(client, [("PING",)] * 3, fast=True)  # one pipeline
        await client.aclose()

    counter = SendCounter()
    with counter.counting():
        direct.call(sync, ("PING",), fast=True)
        sync.execute_command("PING")
        direct.call_many(sync, [("PING",)] * 3, fast=True)
        # 4 MB in one buffer: written in part, the rest through redis-py: one request
        direct.call_many(sync, [("ECHO", b"x" * 40_000)] * 100, fast=True)
    assert counter.calls == 4
    counter = SendCounter()
    asyncio.run(asynchronous(counter))
    assert counter.calls == 4
    sync.close()


def test_reference_messages_are_unique_and_do_not_repeat_each_other() -> None:
    texts = [reference_text("t-0", step) for step in range(1, 101)]
    assert len(set(texts)) == 100
    assert {len(text.encode()) for text in texts} == {MESSAGE_BYTES}
    assert reference_text("t-1", 1) != texts[0]

    def together(source: Any) -> float:
        """How much 100 consecutive messages of one thread compress as one value."""
        joined = b"".join(source("t-0", step).encode() for step in range(1, 101))
        return len(joined) / len(zlib.compress(joined, 6))

    # the harness's prose repeats from message to message, the reference does not
    assert together(message_text) > 10
    assert together(reference_text) < 4
