"""The statistics the performance gate needs: quantiles, Mann-Whitney U, effect sizes.

The U test uses the normal approximation with tie correction (as scipy's
``mannwhitneyu(method="asymptotic", use_continuity=True)``); it is a few lines and
keeps scipy out of the gate's dependencies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RankTest:
    """A two-sided Mann-Whitney U test of ``current`` against ``baseline``."""

    u: float  # U statistic of the current sample
    p_value: float
    cliffs_delta: float  # P(current > baseline) - P(current < baseline), in [-1, 1]
    n_current: int
    n_baseline: int


def average_ranks(values: Sequence[float]) -> tuple[list[float], float]:
    """1-based ranks with ties averaged, and the tie term sum(t^3 - t) over tie groups."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = rank
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    return ranks, ties


def mann_whitney_u(current: Sequence[float], baseline: Sequence[float]) -> RankTest:
    """Two-sided Mann-Whitney U test, normal approximation, tie and continuity corrected."""
    n1, n2 = len(current), len(baseline)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one value")
    ranks, ties = average_ranks([*current, *baseline])
    u1 = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    n = n1 + n2
    mean = n1 * n2 / 2
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:
        p_value = 1.0
    else:
        z = (abs(u1 - mean) - 0.5) / math.sqrt(variance)
        p_value = min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))
    return RankTest(u=u1, p_value=p_value, cliffs_delta=2 * u1 / (n1 * n2) - 1, n_current=n1, n_baseline=n2)


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def relative_shift(current: Sequence[float], baseline: Sequence[float]) -> float:
    """How much larger the current median is than the baseline's, as a fraction of it."""
    base = median(baseline)
    if base == 0:
        return 0.0 if median(current) == 0 else math.inf
    return median(current) / base - 1


def histogram_quantile(
    bounds: Sequence[float], counts: Sequence[int], q: float, upper: float | None = None
) -> float | None:
    """The ``q`` quantile (0..1) of an explicit-bucket histogram, interpolated in its bucket.

    Bucket ``i`` holds values in ``(bounds[i-1], bounds[i]]``; the first starts at 0
    (durations and sizes are never negative) and the last ends at ``upper`` (the
    histogram's max) or, without it, at the last bound.
    """
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            lower = bounds[i - 1] if 0 < i <= len(bounds) else 0.0
            last_high = upper if upper is not None and upper > lower else lower
            high = bounds[i] if i < len(bounds) else last_high
            return lower + (high - lower) * (rank - seen) / count
        seen += count
    return upper
