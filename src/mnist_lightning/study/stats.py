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


def t_quantile(confidence: float, df: float) -> float:
    """The two-sided Student-t quantile for `confidence` at `df` degrees of freedom."""
    from scipy import stats as scipy_stats

    return float(scipy_stats.t.ppf(0.5 + confidence / 2, df))


def paired_interval(
    differences: Sequence[float], confidence: float = 0.95
) -> tuple[float, float, float] | None:
    """Mean of per-seed differences with its paired-t confidence interval; None under 2 pairs.

    Seed s gives two variants the same initial weights and batch order, so most of the seed-to-seed
    spread cancels in their difference: a narrower interval than Welch's from the same runs."""
    if len(differences) < 2:
        return None
    diff, spread = mean(differences), std(differences)
    half = t_quantile(confidence, len(differences) - 1) * spread / math.sqrt(len(differences))
    return (diff, diff - half, diff + half)


def verdict(low: float, high: float, margin: float) -> str:
    """What an interval of a difference says: "matters" when it excludes 0 and reaches past the margin,
    "matters little" when it lies within ±margin (an equivalence test: both one-sided tests at
    (1 - confidence) / 2), "cannot tell" otherwise."""
    if -margin <= low and high <= margin:
        return "matters little"
    if low > 0 or high < 0:
        return "matters"
    return "cannot tell"


def seeds_to_decide(diff: float, spread: float, margin: float, confidence: float = 0.95) -> int | None:
    """Pairs at which an interval diff ± t·spread/√n would decide (exclude 0, or fit within ±margin),
    if the observed mean and spread held; None when no number of seeds would (diff exactly at ±margin)."""
    room = max(abs(diff), margin - abs(diff))
    if room <= 0:
        return None
    if spread == 0:
        return 2
    n = 2
    while t_quantile(confidence, n - 1) * spread / math.sqrt(n) >= room:
        n += 1
        if n > 100_000:
            return None
    return n
