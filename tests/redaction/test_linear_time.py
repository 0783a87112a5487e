"""Scrubbing time grows linearly with the input, whatever the input.

Two kinds of evidence: every pattern of the shared rules passes the static check
of :mod:`regex_linearity` (bounded, unnested repeats that cannot backtrack into
each other), and adversarial inputs built from every format's literals (each
literal repeated, each literal followed by runs of its own alphabet, near
misses one character short) are timed at two sizes up to 1 MiB.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from regex_linearity import check

from liveobs.redaction import DEFAULT_SCRUBBER, FORMATS, VENDORS, _rules, _structure

PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    *((f.kind, f.pattern) for f in (*FORMATS, *VENDORS)),
    *((name, getattr(_structure, name)) for name in ("_URL_TOKEN", "_SETTING", "_QUOTED", "_BARE", "_HOST_PORT",
                                                     "_PROSE_WORD")),
    ("high_entropy", _rules.HIGH_ENTROPY_TOKEN),
    ("key_pattern", _rules.KEY_PATTERN),
    ("key_not_secret", _rules.KEY_NOT_SECRET),
    ("camel", _rules._CAMEL),
    ("separators", _rules._SEPARATORS),
]
COST_CEILING = 5_000_000  # steps per start position, a constant of the rules
MIB = 1 << 20


@pytest.mark.parametrize(("kind", "pattern"), PATTERNS, ids=[k for k, _ in PATTERNS])
def test_every_pattern_is_linear_by_construction(kind: str, pattern: re.Pattern[str]) -> None:
    findings, cost = check(pattern)
    assert [f.problem for f in findings] == []
    assert cost <= COST_CEILING


def test_the_checker_rejects_the_shapes_that_backtrack() -> None:
    for bad in (r"(a+)+b", r"\beyJ[A-Za-z0-9_-]{5,}\.", r"[a-z]{0,100}[a-z]{0,100}!", r"(?:ab){2,50}", r"x(?=.*y)"):
        assert check(re.compile(bad))[0], bad
    assert check(re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,4096}\.[A-Za-z0-9_-]{5,4096}"))[0] == []


def _units() -> list[str]:
    """Adversarial building blocks: every format's literals, alone, with runs of letters, one short."""
    units = {"eyJ-", "eyJ", "://", "a:b@", "-----BEGIN ", "-----BEGIN X-----", "x=", "a=b; ", "password=",
             'password":"', "token ", "Bearer ", "cookie:", "aaaa", "a" * 40 + "!", "Ab1" * 11 + "-"}
    for fmt in FORMATS:
        units.update(word + "A1" * 10 for word in fmt.keywords)
    for fmt in VENDORS:
        units.add(fmt.keywords[0] + "_key=" + "a1" * 4)
    return sorted(units)


def _seconds(run: Callable[[], object], tries: int = 1) -> float:
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def _scrub_time(text: str, tries: int) -> float:
    return _seconds(lambda: DEFAULT_SCRUBBER.scrub_text(text), tries)


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _growth(unit: str) -> float:
    """Scrub time at 8x the input over the time at 1x: about 8 when linear, 64 when quadratic.

    A quick screen at 16 and 64 KiB (4x); a unit that grows faster than 8x there (or sits
    near a pattern's longest match, 16 KiB) is timed again, best of five, at 128 KiB and 1 MiB.
    """
    ratio = 2 * _scrub_time(_repeat(unit, 64 << 10), 1) / max(_scrub_time(_repeat(unit, 16 << 10), 1), 1e-6)
    if ratio >= 16:
        ratio = _scrub_time(_repeat(unit, MIB), 5) / max(_scrub_time(_repeat(unit, 128 << 10), 5), 1e-6)
    return ratio


def test_adversarial_repetitions_scrub_in_linear_time_up_to_one_mebibyte() -> None:
    growth = [(_growth(unit), unit) for unit in _units()]
    worst_growth, worst_unit = max(growth)
    assert worst_growth < 24, (worst_unit, worst_growth)  # linear: 8; quadratic: 64
    slowest = sorted(((_scrub_time(_repeat(u, 64 << 10), 1), u) for _, u in growth), reverse=True)[:6]
    per_mib = [(_seconds(lambda u=u: DEFAULT_SCRUBBER.scrub_text(_repeat(u, MIB)), 2), u) for _, u in slowest]
    seconds, unit = max(per_mib)
    print(f"\nadversarial inputs: {len(growth)} units, time at 8x the input at most {worst_growth:.1f}x "
          f"({worst_unit!r}); worst case {seconds:.3f} s per MiB ({unit!r} repeated)")
    assert seconds < 10.0
