"""The statistics the performance gate needs: quantiles, Mann-Whitney U, effect sizes.

The U test uses the normal approximation with tie correction (as scipy's
``mannwhitneyu(method="asymptotic", use_continuity=True)``); it is a few lines and
keeps scipy out of the gate's dependencies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


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


# --- power: how many samples a comparison needs before "no regression" means anything -------

# Asymptotic relative efficiency of the rank test against the t test on normal data (Noether).
_RANK_EFFICIENCY = 3 / math.pi


def normal_quantile(p: float) -> float:
    """The standard normal quantile (inverse CDF), by bisection on ``erfc`` (exact enough here)."""
    if not 0 < p < 1:
        raise ValueError("p must be in (0, 1)")
    low, high = -10.0, 10.0
    for _ in range(100):
        mid = (low + high) / 2
        if 0.5 * math.erfc(-mid / math.sqrt(2)) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of a sample, linearly interpolated (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def samples_for_median_shift(baseline: Sequence[float], min_effect: float, alpha: float, power: float = 0.8) -> int:
    """Samples per release the rank test needs to detect a ``min_effect`` relative slowdown.

    The slowdown is a shift of ``log(1 + min_effect)`` on the log scale, where
    latencies and sizes are roughly normal; the spread is the baseline's robust
    log standard deviation (IQR / 1.349). Two-sided at ``alpha``, corrected for
    the rank test's efficiency.
    """
    logs = [math.log(max(v, 1e-9)) for v in baseline]
    spread = (quantile(logs, 0.75) - quantile(logs, 0.25)) / 1.349 if len(logs) > 1 else 0.0
    if spread <= 0:
        return 2  # no spread: any shift is visible in the smallest sample
    shift = math.log(1 + min_effect)
    z = normal_quantile(1 - alpha / 2) + normal_quantile(power)
    return math.ceil(2 * (z * spread / shift) ** 2 / _RANK_EFFICIENCY)


@dataclass(frozen=True, slots=True)
class TailTest:
    """Whether the current release's tail is heavier than the baseline's, around their joint p95."""

    threshold: float  # the p95 of both samples together
    exceeding: float  # share of the current sample above it
    baseline_exceeding: float  # share of the baseline above it
    p_value: float  # one-sided two-proportion test: is the current share larger?
    shift: float  # relative change of the p95
    needed: int  # samples per release that detect a ``min_effect`` slowdown of the tail with the power asked


def tail_test(current: Sequence[float], baseline: Sequence[float], min_effect: float, alpha: float,
              power: float = 0.8) -> TailTest:
    """A one-sided two-proportion test of the share above the joint p95, with the samples it needs.

    The threshold comes from both samples, so under no change it favours neither
    (comparing with the baseline's own p95 would treat its noise as truth).
    """
    threshold = quantile([*current, *baseline], 0.95)
    n1, n2 = len(current), len(baseline)
    x1 = sum(1 for v in current if v > threshold)
    x2 = sum(1 for v in baseline if v > threshold)
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance) if variance > 0 else 0.0
    p_value = 0.5 * math.erfc(z / math.sqrt(2))
    # Under the budgeted slowdown every value grows by min_effect: this share of the baseline passes its p95.
    q95 = quantile(baseline, 0.95)
    p0 = 0.05
    p1 = sum(1 for v in baseline if v * (1 + min_effect) > q95) / n2
    if p1 <= p0:
        needed = 10**9  # the budgeted effect does not move the tail of this baseline: never enough
    else:
        za, zb = normal_quantile(1 - alpha), normal_quantile(power)
        mean = (p0 + p1) / 2
        needed = math.ceil(((za * math.sqrt(2 * mean * (1 - mean)) + zb * math.sqrt(p0 * (1 - p0) + p1 * (1 - p1)))
                            / (p1 - p0)) ** 2)
    base = q95 if q95 else 1e-9
    return TailTest(threshold, x1 / n1, x2 / n2, p_value, quantile(current, 0.95) / base - 1, needed)


def histogram_samples(histogram: Mapping[str, Any] | None, limit: int) -> list[float]:
    """Values spread evenly inside each bucket of an explicit-bucket histogram, at most ``limit`` of them.

    A histogram keeps counts, not values: the rank test then compares binned samples,
    which ties values in a bucket but keeps their order across buckets.
    """
    if not histogram or not histogram.get("counts"):
        return []
    bounds = [float(b) for b in histogram.get("bounds") or ()]
    counts = [int(c) for c in histogram["counts"]]
    top = histogram.get("top")
    total = sum(counts)
    scale = min(1.0, limit / total) if total else 0.0
    out: list[float] = []
    for i, count in enumerate(counts):
        n = round(count * scale)
        if n <= 0:
            continue
        lower = bounds[i - 1] if 0 < i <= len(bounds) else 0.0
        if i < len(bounds):
            upper = bounds[i]
        else:
            upper = float(top) if top is not None and float(top) > lower else lower
        out.extend(lower + (upper - lower) * (j + 0.5) / n for j in range(n))
    return out
