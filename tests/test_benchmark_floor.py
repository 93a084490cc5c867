"""The harness's in-invoke round-trip floor: the reference saver, the command bookkeeping
that keeps its calls out of a kortyx saver's figures, and the goal read from its results."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis
from langgraph.checkpoint.memory import InMemorySaver

from benchmarks import report
from benchmarks.floor import CommandTally, RoundTripSaver, without, without_scripts
from benchmarks.graphs import agent_input, agent_loop_graph, thread_config
from benchmarks.meter import OpMeter, attach
from benchmarks.targets import evaluate
from kortyx_langgraph import create_redis_framework_adapter
from kortyx_langgraph.redis import merged


def _evalsha_calls(client: Any) -> int:
    """Scripts the server ran (a script's first call on a client is an EVAL)."""
    stats: dict[str, Any] = client.info("commandstats")
    return sum(
        int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval")
    )


@pytest.mark.redis
def test_round_trip_saver_is_in_memory_saver_plus_one_round_trip_per_operation(
    redis_standalone: Any,
) -> None:
    adapter = create_redis_framework_adapter(
        url=redis_standalone.url, prefix=f"floor-{uuid.uuid4().hex[:8]}:"
    )
    client = redis.Redis.from_url(redis_standalone.url)
    try:
        saver = RoundTripSaver(adapter)
        meter = OpMeter()
        attach(saver, meter)
        before = _evalsha_calls(client)
        result = agent_loop_graph(saver, 6).invoke(agent_input(), thread_config("f-1", 6))
        sent = _evalsha_calls(client) - before
        operations = sum(meter.counts.values())
        assert operations > 6
        assert sent == operations == saver.round_trips
        # and it keeps what InMemorySaver keeps: the same state, read back through it
        expected = agent_loop_graph(InMemorySaver(), 6).invoke(
            agent_input(), thread_config("f-1", 6)
        )
        assert result == expected
        graph = agent_loop_graph(saver, 6)
        assert graph.get_state(thread_config("f-1")).values == expected
        assert not client.keys(f"{adapter.prefix}*"), "the floor saver stores nothing in Redis"
    finally:
        client.close()
        adapter.close()


def test_without_takes_off_every_probe_and_tally() -> None:
    first, second = CommandTally(), CommandTally()
    first.add({"evalsha": 10, "evalsha:usec": 100}, {"evalsha": 14, "evalsha:usec": 130})
    second.add({"evalsha": 0}, {"evalsha": 3, "info": 2})
    after = {"evalsha": 50, "evalsha:usec": 900, "hset": 7}
    assert without(after, first, second, None) == {
        "evalsha": 43,
        "evalsha:usec": 870,
        "hset": 7,
    }
    assert without(after) == after


def _agent_results(in_invoke: dict[str, Any] | None) -> dict[str, Any]:
    floor: dict[str, Any] = {
        "rtt_us": {"n": 100, "median": 80.0, "p95": 120.0},
        "server_us_per_call": 2.0,
        "round_trips_per_step": 2.2,
        "floor_ms_per_step": 0.176,
        "excess_ms_per_step": 0.8,
        "excess_to_floor": {"value": 4.5, "low": 4.1, "high": 4.9},
    }
    if in_invoke is not None:
        floor["in_invoke"] = in_invoke
    common = {"saver_ms_per_step": 0.5, "operations_per_step": 2.2}
    row = {
        "label": "kortyx Redis",
        "ms_per_step": {"median": 1.6, "p95": 2.0},
        "ratio": {"value": 2.0, "low": 1.9, "high": 2.1},
        "redis": {"round_trips_per_operation": 1.0},
        "floor": floor,
        **common,
    }
    base = {
        "label": "LangGraph InMemorySaver",
        "ms_per_step": {"median": 0.8, "p95": 1.0},
        "ratio": {"value": 1.0, "low": 1.0, "high": 1.0},
        **common,
    }
    return {
        "agent_loop": {
            "params": {"threads": 1, "rounds": 1, "steps_per_thread": 20, "message_bytes": 500},
            "durability": {"async": {"kortyx-redis": row, "InMemorySaver": base}},
        }
    }


def _in_invoke(value: float) -> dict[str, Any]:
    return {
        "saver": "kortyx-redis-floor",
        "floor_ms_per_step": 1.2,
        "floor_excess_ms_per_step": 0.4,
        "floor_excess_rounds": [0.4],
        "excess_rounds": [0.8],
        "excess_to_floor": {"value": value, "low": value - 0.1, "high": value + 0.2},
    }


def test_the_floor_goal_is_judged_against_the_in_invoke_floor_too() -> None:
    missed = {t.key: t for t in evaluate(_agent_results(_in_invoke(2.0)))}
    assert missed["invoke-floor-kortyx-redis-async"].met is False
    assert "in-invoke floor 0.400 ms/step" in missed["invoke-floor-kortyx-redis-async"].measured
    assert missed["invoke-floor-kortyx-redis-sync"].met is None
    met = {t.key: t for t in evaluate(_agent_results(_in_invoke(1.4)))}
    assert met["invoke-floor-kortyx-redis-async"].met is True
    unmeasured = {t.key: t for t in evaluate(_agent_results(None))}
    assert unmeasured["invoke-floor-kortyx-redis-async"].met is None
    assert unmeasured["floor-kortyx-redis-async"].met is False


def test_the_floor_table_shows_the_in_invoke_floor() -> None:
    text = report.agent_loop(_agent_results(_in_invoke(2.0))["agent_loop"])
    assert "excess ÷ in-invoke floor (rounds)" in text
    assert "| 0.400 | 2.00x (1.90-2.20) |" in text


@pytest.mark.redis
def test_without_scripts_sends_the_saver_s_own_calls_to_an_empty_script(
    redis_standalone: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    merged_away = [0]  # writes sent inside another's merged call (redis/merged.py)
    plan = merged.plan

    def counting_plan(steps: Any) -> Any:
        runs = plan(steps)
        merged_away[0] += len(steps) - len(runs)
        return runs

    monkeypatch.setattr(merged, "plan", counting_plan)
    real = create_redis_framework_adapter(
        url=redis_standalone.url, prefix=f"real-{uuid.uuid4().hex[:8]}:"
    )
    hollow = without_scripts(
        create_redis_framework_adapter(
            url=redis_standalone.url, prefix=f"hollow-{uuid.uuid4().hex[:8]}:"
        )
    )
    client = redis.Redis.from_url(redis_standalone.url)
    try:
        results, calls = [], []
        for adapter in (real, hollow):
            meter = OpMeter()
            attach(adapter, meter)
            before, merged_away[0] = _evalsha_calls(client), 0
            graph = agent_loop_graph(adapter, 5)
            results.append(graph.invoke(agent_input(), thread_config("h-1", 5)))
            ops = sum(meter.counts.values())
            calls.append((_evalsha_calls(client) - before + merged_away[0], ops))
        assert results[0] == results[1]
        # the same calls, one script each but for the writes merged into another's call
        assert calls[0] == calls[1]
        assert client.keys(f"{real.prefix}*")
        assert not client.keys(f"{hollow.prefix}*"), "an empty script stores nothing"
    finally:
        client.close()
        real.close()
        hollow.close()


def test_the_split_of_the_excess_is_shown() -> None:
    results = _agent_results(_in_invoke(2.0))
    row = results["agent_loop"]["durability"]["async"]["kortyx-redis"]
    row["floor"]["split"] = {
        "round_trips_ms_per_step": 0.4,
        "client_side_ms_per_step": 0.3,
        "scripts_ms_per_step": 0.1,
        "excess_ms_per_step": 0.8,
    }
    text = report.agent_loop(results["agent_loop"])
    assert "| kortyx Redis | async | 0.800 | 0.400 | 0.300 | 0.100 |" in text
