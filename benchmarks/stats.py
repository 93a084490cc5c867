"""Summary statistics: medians, p95 and ratios to a baseline measured in the same run."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def sig(value: float | None, digits: int = 4) -> float | None:
    """``value`` rounded to ``digits`` significant digits (keeps the JSON small)."""
    if value is None or value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


@dataclass(frozen=True)
class Summary:
    """Median and p95 of ``n`` samples, in the samples' unit."""

    n: int
    median: float
    p95: float

    def to_json(self) -> dict[str, Any]:
        """``{"n", "median", "p95"}`` rounded to 4 significant digits."""
        return {"n": self.n, "median": sig(self.median), "p95": sig(self.p95)}


def summarize(values: Sequence[float]) -> Summary:
    """Median and p95 of ``values``."""
    return Summary(len(values), statistics.median(values), percentile(values, 0.95))


def ratio(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline``, or ``None`` when either is missing or the baseline is zero."""
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


@dataclass(frozen=True)
class Ratio:
    """A ratio of medians over all samples, with the spread of the per-round ratios.

    Savers run interleaved in rounds; the per-round ratios show how stable the pooled
    ratio is on a noisy machine.
    """

    value: float
    low: float
    high: float

    def to_json(self) -> dict[str, Any]:
        """``{"value", "low", "high"}`` rounded to 3 significant digits."""
        return {"value": sig(self.value, 3), "low": sig(self.low, 3), "high": sig(self.high, 3)}


def round_ratio(
    samples: Sequence[Sequence[float]], baseline: Sequence[Sequence[float]]
) -> Ratio | None:
    """Ratio of pooled medians, and the range of per-round median ratios.

    ``samples[r]`` and ``baseline[r]`` are the samples of round ``r`` of the saver and of
    the baseline.
    """
    pooled = [x for round_ in samples for x in round_]
    pooled_base = [x for round_ in baseline for x in round_]
    if not pooled or not pooled_base:
        return None
    per_round = [
        statistics.median(s) / statistics.median(b)
        for s, b in zip(samples, baseline, strict=False)
        if s and b
    ]
    value = statistics.median(pooled) / statistics.median(pooled_base)
    return Ratio(value, min(per_round, default=value), max(per_round, default=value))
