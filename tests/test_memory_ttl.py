"""TTL of the in-memory adapter, driven by a clock the tests advance (no sleeping)."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import pytest
from langgraph.types import Command

from kortyx_langgraph import (
    ConfigurationError,
    ExpiredTokenError,
    InMemoryFrameworkAdapter,
    create_in_memory_framework_adapter,
)
from tests.conftest import FakeClock
from tests.graphs import approval_graph, counter_graph


def _cfg(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def _paused(adapter: InMemoryFrameworkAdapter, thread_id: str) -> Any:
    graph = approval_graph(adapter)
    graph.invoke({"request": thread_id, "log": []}, _cfg(thread_id))
    return graph


def test_a_paused_thread_expires_as_a_whole(clock: FakeClock) -> None:
    adapter = create_in_memory_framework_adapter(ttl_ms=1_000, clock=clock)
    graph = _paused(adapter, "t1")
    [pending] = adapter.pending.list("t1")
    assert pending.expires_at is not None
    assert pending.expires_at.timestamp() * 1000 == clock.now_ms + 1_000

    clock.advance(999)
    assert graph.get_state(_cfg("t1")).next == ("ask",)
    assert adapter.pending.get(pending.token).token == pending.token

    clock.advance(1)
    assert adapter.get_tuple(_cfg("t1")) is None
    assert list(adapter.list(_cfg("t1"))) == []
    assert adapter.pending.list("t1") == []
    with pytest.raises(ExpiredTokenError):
        adapter.pending.claim(pending.token)
    assert adapter.thread_count == 0


def test_every_write_slides_the_whole_thread(clock: FakeClock) -> None:
    adapter = create_in_memory_framework_adapter(ttl_ms=1_000, clock=clock)
    graph = counter_graph(adapter)
    graph.invoke({"log": []}, _cfg("t"))
    first = list(adapter.list(_cfg("t")))
    clock.advance(800)
    graph.invoke({"log": []}, _cfg("t"))  # writes at t=800: everything now lives to 1800
    clock.advance(800)  # t=1600: past the first checkpoints' original deadline
    history = list(adapter.list(_cfg("t")))
    assert len(history) == len(first) * 2
    assert [t.config for t in history[-len(first) :]] == [t.config for t in first]
    state = graph.get_state(_cfg("t"))
    assert state.values["log"] == ["step0", "step1"]
    clock.advance(200)
    assert list(adapter.list(_cfg("t"))) == []


def test_reads_do_not_extend_unless_asked(clock: FakeClock) -> None:
    plain = create_in_memory_framework_adapter(ttl_ms=1_000, clock=clock)
    refreshing = create_in_memory_framework_adapter(ttl_ms=1_000, clock=clock, refresh_on_read=True)
    for adapter in (plain, refreshing):
        counter_graph(adapter).invoke({"log": []}, _cfg("t"))
    for _ in range(3):
        clock.advance(600)
        plain.get_tuple(_cfg("t"))
        refreshing.get_tuple(_cfg("t"))
    assert plain.get_tuple(_cfg("t")) is None
    assert refreshing.get_tuple(_cfg("t")) is not None


def test_expired_threads_are_freed_not_just_hidden(clock: FakeClock) -> None:
    adapter = create_in_memory_framework_adapter(ttl_ms=1_000, clock=clock)
    graph = approval_graph(adapter)
    graph.invoke({"request": "warm-up", "log": []}, _cfg("warm-up"))  # lazy imports, caches
    clock.advance(1_000)
    gc.collect()
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        for i in range(300):
            graph.invoke({"request": "x" * 2_000, "log": []}, _cfg(f"t{i}"))
        loaded, _ = tracemalloc.get_traced_memory()
        assert adapter.thread_count == 300
        assert len(adapter._table.tokens) == 300  # type: ignore[attr-defined]

        clock.advance(1_000)
        graph.invoke({"request": "new", "log": []}, _cfg("fresh"))  # any write sweeps
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert adapter.thread_count == 1
    assert len(adapter._table.tokens) == 1  # type: ignore[attr-defined]
    grown = loaded - baseline
    assert grown > 300 * 2_000, "the threads really were held"
    assert after - baseline < grown / 10, "their memory was released after expiry"


def test_max_threads_evicts_the_least_recently_written(clock: FakeClock) -> None:
    adapter = create_in_memory_framework_adapter(ttl_ms=None, max_threads=3, clock=clock)
    graph = counter_graph(adapter)
    for name in ["a", "b", "c"]:
        graph.invoke({"log": []}, _cfg(name))
    graph.invoke({"log": []}, _cfg("a"))  # a is now the most recent
    graph.invoke({"log": []}, _cfg("d"))  # evicts b
    assert adapter.thread_count == 3
    assert adapter.get_tuple(_cfg("b")) is None
    assert all(adapter.get_tuple(_cfg(n)) is not None for n in ["a", "c", "d"])


def test_ttl_none_keeps_threads_forever(clock: FakeClock) -> None:
    adapter = create_in_memory_framework_adapter(ttl_ms=None, clock=clock)
    _paused(adapter, "t")
    clock.advance(10**12)
    [pending] = adapter.pending.list("t")
    assert pending.expires_at is None
    claimed = adapter.pending.claim(pending.token)
    graph = approval_graph(adapter)
    assert graph.invoke(Command(resume=claimed.resume_map("late")), claimed.config)["answer"] == (
        "late"
    )


def test_default_ttl_is_fifteen_minutes() -> None:
    assert create_in_memory_framework_adapter().ttl_ms == 15 * 60 * 1000


@pytest.mark.parametrize(
    "bad", [0, -5, 1.5, 2.0, float("nan"), float("inf"), "abc", "", True, 10**20]
)
def test_bad_ttl_arguments_are_refused(bad: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_in_memory_framework_adapter(ttl_ms=bad)
    assert "ttl_ms" in str(caught.value)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_max_threads_is_refused(bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="max_threads"):
        create_in_memory_framework_adapter(max_threads=bad)
