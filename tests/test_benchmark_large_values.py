"""The large-values study: every value it times reads back whole, and its table sets each
operation against ``InMemorySaver`` and the floor of the same run."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.large_values import OPERATIONS, measure, report, value_of


def test_values_have_their_size_and_differ_by_salt() -> None:
    assert len(value_of(70_000, "a")) == 70_000
    assert value_of(100, "a") != value_of(100, "b")


@pytest.mark.redis
def test_the_study_times_each_operation_against_the_baseline_and_the_floor(
    redis_standalone: Any,
) -> None:
    row = measure(redis_standalone.url, 70_000, rounds=1)  # past both size bounds
    for timed in (row.memory, row.redis, row.floor, row.server_us, row.floor_server_us):
        assert sorted(timed) == sorted(OPERATIONS)
        assert all(value > 0 for value in timed.values())
    lines = report([row]).splitlines()
    assert len(lines) == 2 + len(OPERATIONS)
    put = next(line for line in lines if "`put`" in line).split(" | ")
    assert put[0] == "| 70,000"
    assert put[4] == f"{row.redis['put'] / row.memory['put']:.1f}x"
    assert put[6] == f"{row.redis['put'] / row.floor['put']:.2f}x"
