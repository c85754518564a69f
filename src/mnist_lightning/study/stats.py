"""Statistics over a handful of runs: the standard library's, with the edge cases a report meets."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

mean = statistics.fmean


def std(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); 0 for a single value."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson correlation coefficient; NaN when either side is constant or has fewer than 2 points."""
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} x values but {len(ys)} y values")
    try:
        return statistics.correlation(xs, ys)
    except statistics.StatisticsError:
        return math.nan
