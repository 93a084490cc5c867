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


@dataclass(frozen=True)
class Ratio:
    """A ratio to the baseline: the median of the per-round ratios, and their range.

    Savers run interleaved; each round yields one ratio of medians, and the range shows how
    stable the ratio is on a noisy machine.
    """

    value: float
    low: float
    high: float

    def to_json(self) -> dict[str, Any]:
        """``{"value", "low", "high"}`` rounded to 3 significant digits."""
        return {"value": sig(self.value, 3), "low": sig(self.low, 3), "high": sig(self.high, 3)}


def ratio_of(values: Sequence[float], baselines: Sequence[float]) -> Ratio | None:
    """Median and range of ``values[i] / baselines[i]`` (pairs with a zero baseline skipped)."""
    ratios = [v / b for v, b in zip(values, baselines, strict=False) if b]
    if not ratios:
        return None
    return Ratio(statistics.median(ratios), min(ratios), max(ratios))


def round_ratio(
    samples: Sequence[Sequence[float]], baseline: Sequence[Sequence[float]]
) -> Ratio | None:
    """Per-round ratio of medians (``samples[r]`` against ``baseline[r]``), summarized."""
    pairs = [(s, b) for s, b in zip(samples, baseline, strict=False) if s and b]
    return ratio_of(
        [statistics.median(s) for s, _ in pairs], [statistics.median(b) for _, b in pairs]
    )
