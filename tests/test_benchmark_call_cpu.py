"""The per-call CPU study: what it times and how its tables are read."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.call_cpu import Timings, per_step, rows, timed


class _Saver:
    def get_tuple(self, config: Any) -> Any:
        return ("read", config)

    def put(self, *args: Any) -> Any:
        sum(range(20_000))  # some CPU for the thread's clock to see
        return "saved"

    def put_writes(self, *args: Any) -> None:
        raise RuntimeError("lost")


def test_each_call_is_timed_and_passes_its_result_or_error_through() -> None:
    found: Timings = {}
    saver = timed(_Saver(), "s", "loop", found)
    assert saver.get_tuple({"a": 1}) == ("read", {"a": 1})
    assert saver.put() == "saved"
    with pytest.raises(RuntimeError, match="lost"):
        saver.put_writes()
    assert sorted(method for _, _, method in found) == ["get_tuple", "put", "put_writes"]
    ((wall, cpu),) = found[("s", "loop", "put")]
    assert wall > 0 and cpu > 0


def test_rows_compare_the_loop_with_the_replay_per_method() -> None:
    found: Timings = {
        ("a", "loop", "put"): [(300e-6, 200e-6), (500e-6, 300e-6), (400e-6, 250e-6)],
        ("a", "replay", "put"): [(200e-6, 100e-6)],
        ("a", "loop", "put_writes"): [(1e-4, 1e-4)],  # never replayed: no row
    }
    assert rows(found, ["a"]) == [["a", "put", "3", "400", "250", "200", "100", "2.50x"]]


def test_per_step_sums_every_call_and_takes_off_the_floor() -> None:
    found: Timings = {
        ("floor", "loop", "put"): [(0.0, 100e-6)] * 4,
        ("floor", "replay", "put"): [(0.0, 80e-6)] * 4,
        ("ours", "loop", "put"): [(0.0, 150e-6)] * 4,
        ("ours", "loop", "put_writes"): [(0.0, 50e-6)] * 4,
        ("ours", "replay", "put"): [(0.0, 90e-6)] * 4,
    }
    assert per_step(found, ["floor", "ours"], steps=2) == [
        ["floor", "200", "160", "0", "0"],
        ["ours", "400", "180", "200", "20"],
    ]
