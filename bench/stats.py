"""Summaries of repeated measurements (median and spread) and the ratios between paths."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """Median and spread of one metric on one path."""

    n: int
    median: float
    p10: float
    p90: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan)
        return cls(
            n=len(values),
            median=statistics.median(values),
            p10=percentile(values, 10),
            p90=percentile(values, 90),
            min=min(values),
            max=max(values),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def ratio(numerator: float, denominator: float) -> float:
    if denominator == 0 or denominator != denominator or numerator != numerator:
        return float("nan")
    return numerator / denominator


def rotated(items: Sequence[str], round_index: int) -> list[str]:
    """The paths in a different order each round, so no path always runs first or last."""
    shift = round_index % len(items)
    return [*items[shift:], *items[:shift]]
