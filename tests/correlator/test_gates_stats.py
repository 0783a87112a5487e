"""The regression statistics: Mann-Whitney U against scipy, power on a real slowdown, false alarms."""

from __future__ import annotations

import random

import pytest
from scipy import stats as scipy_stats

from liveobs.correlator.gates import Status, histogram_quantile, mann_whitney_u, regression

DEFAULT_SAMPLES = 200  # what a release's first hour of live events gives at a few events per second
ALPHA, FLOOR = 0.01, 0.10  # budgets.toml defaults


def _latencies(rng: random.Random, n: int, scale: float = 1.0) -> list[float]:
    # Latency-like: log-normal around 20 ms, rounded to 0.1 ms so that ties occur.
    return [round(20 * scale * rng.lognormvariate(0, 0.5), 1) for _ in range(n)]


@pytest.mark.parametrize("seed", range(20))
def test_u_and_p_value_match_scipy_asymptotic_with_ties(seed: int) -> None:
    rng = random.Random(seed)
    x = [float(rng.randint(0, 30)) for _ in range(rng.randint(5, 80))]
    y = [float(rng.randint(3, 35)) for _ in range(rng.randint(5, 80))]
    ours = mann_whitney_u(x, y)
    ref = scipy_stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic", use_continuity=True)
    assert ours.u == pytest.approx(ref.statistic)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-12)


def test_cliffs_delta_is_one_when_every_current_value_is_larger() -> None:
    assert mann_whitney_u([10.0, 11.0, 12.0], [1.0, 2.0]).cliffs_delta == 1.0
    assert mann_whitney_u([1.0, 2.0], [10.0, 11.0, 12.0]).cliffs_delta == -1.0


def test_a_30_percent_slowdown_is_flagged_at_the_default_sample_size() -> None:
    flagged = 0
    for seed in range(200):
        rng = random.Random(seed)
        status, _, shift = regression(_latencies(rng, DEFAULT_SAMPLES, 1.3), _latencies(rng, DEFAULT_SAMPLES), ALPHA, FLOOR)
        flagged += status is Status.FAIL
        assert shift > 0 or status is not Status.FAIL
    power = flagged / 200
    print(f"power at n={DEFAULT_SAMPLES}, +30%: {power:.3f}")
    assert power >= 0.95


def test_two_samples_of_one_distribution_rarely_alarm() -> None:
    seeds = 2000
    alarms = 0
    for seed in range(seeds):
        rng = random.Random(10_000 + seed)
        status, _, _ = regression(_latencies(rng, DEFAULT_SAMPLES), _latencies(rng, DEFAULT_SAMPLES), ALPHA, FLOOR)
        alarms += status is Status.FAIL
    rate = alarms / seeds
    print(f"false-alarm rate at n={DEFAULT_SAMPLES} over {seeds} seeds: {rate:.4f}")
    assert rate <= ALPHA


def test_a_significant_but_tiny_shift_is_not_a_regression() -> None:
    rng = random.Random(3)
    big = 20_000
    status, reason, shift = regression(_latencies(rng, big, 1.03), _latencies(rng, big), ALPHA, FLOOR)
    assert status is Status.PASS
    assert 0 < shift < FLOOR
    assert "p=" in reason


def test_histogram_quantile_interpolates_inside_the_bucket() -> None:
    bounds = [0.0, 10.0, 20.0, 40.0]
    counts = [0, 50, 30, 20, 0]  # (0,10]: 50, (10,20]: 30, (20,40]: 20
    assert histogram_quantile(bounds, counts, 0.5) == pytest.approx(10.0)
    assert histogram_quantile(bounds, counts, 0.8) == pytest.approx(20.0)
    assert histogram_quantile(bounds, counts, 0.9) == pytest.approx(30.0)
    assert histogram_quantile(bounds, [0, 0, 0, 0, 4], 0.5, upper=100.0) == pytest.approx(70.0)
    assert histogram_quantile(bounds, [0, 0, 0, 0, 0], 0.5) is None
