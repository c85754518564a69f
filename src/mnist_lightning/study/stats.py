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


def welch_interval(
    a: tuple[float, float, int], b: tuple[float, float, int], confidence: float = 0.95
) -> tuple[float, float, float] | None:
    """Difference of means a - b with its Welch-t confidence interval, from (mean, std, n) of each side.

    None when either side has fewer than 2 values (no spread to estimate). Two identical constant
    sides give (0, 0, 0).
    """
    from scipy import stats as scipy_stats

    (mean_a, std_a, n_a), (mean_b, std_b, n_b) = a, b
    if n_a < 2 or n_b < 2:
        return None
    diff = mean_a - mean_b
    va, vb = std_a**2 / n_a, std_b**2 / n_b
    se = math.sqrt(va + vb)
    if se == 0:
        return (diff, diff, diff)
    df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, df)) * se
    return (diff, diff - half, diff + half)


def summary(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, sample std, n): what welch_interval takes."""
    return (mean(values), std(values), len(values))
