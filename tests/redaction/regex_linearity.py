"""A static check that a regular expression runs in linear time on a backtracking engine.

The argument, for a pattern that passes :func:`check`:

1. Every repeat is bounded (``{m,n}`` with ``n`` at most :data:`MAX_BOUND`), and a
   repeat of more than one item happens only as an optional (``?``). So no
   nested quantifier exists that could multiply work (star height one).
2. Every repeat whose maximum is above :data:`SMALL` (and not a fixed count) consumes characters that
   cannot start what follows it (its class and the next item's first characters
   are disjoint, or what follows is a short lookaround or the end of the
   pattern). Such a repeat has one viable length: backtracking into it fails at
   the next item in one step per character it gives back.

Then one match attempt from one start position costs at most
:func:`cost` steps (the sum of the large bounds times the product of the small
ones), a constant of the pattern, and a scan over a text of ``n`` characters
makes at most ``n`` attempts: ``O(cost × n)``, linear in ``n``. The adversarial
timing tests measure the real constants.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any

MAX_BOUND = 16384
SMALL = 16
LOOKAROUND_MAX = 8  # a lookaround checks at most this many characters, once per step
# Characters on which character sets are compared: Latin-1 and a sample beyond it.
ALPHABET = [chr(i) for i in range(256)] + list("ĀſKİ\u2028\u3000中é\U0001f600")
_ANY = frozenset(ALPHABET)


@dataclass
class Finding:
    problem: str


def _in_set(items: list[tuple[Any, Any]], ch: str, ignorecase: bool) -> bool:
    variants = {v for v in (ch, ch.lower(), ch.upper()) if len(v) == 1} if ignorecase else {ch}
    negate = False
    hit = False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            hit |= chr(av) in variants
        elif op is C.RANGE:
            hit |= any(av[0] <= ord(v) <= av[1] for v in variants)
        elif op is C.CATEGORY:
            hit |= any(_category(av, v) for v in variants)
    return hit != negate


def _category(cat: Any, ch: str) -> bool:
    name = str(cat)
    test = {"DIGIT": ch.isdigit(), "SPACE": ch.isspace(), "WORD": ch.isalnum() or ch == "_"}
    for key, value in test.items():
        if name.endswith("NOT_" + key):
            return not value
        if name.endswith(key):
            return value
    return True


def _charset(op: Any, av: Any, ignorecase: bool) -> frozenset[str] | None:
    """The characters a one-character item matches; ``None`` if it is not one."""
    if op is C.LITERAL:
        ch = chr(av)
        return frozenset({ch, ch.lower(), ch.upper()} if ignorecase else {ch})
    if op is C.NOT_LITERAL:
        return frozenset(c for c in ALPHABET if c != chr(av) and not (ignorecase and c.lower() == chr(av).lower()))
    if op is C.IN:
        return frozenset(c for c in ALPHABET if _in_set(av, c, ignorecase))
    if op is C.ANY:
        return _ANY
    if op is C.CATEGORY:
        return frozenset(c for c in ALPHABET if _category(av, c))
    return None


def _first(seq: list[tuple[Any, Any]], ignorecase: bool) -> frozenset[str] | None:
    """Characters that can start ``seq``; ``None`` means "the end or a one-character check"."""
    out: set[str] = set()
    for op, av in seq:
        chars = _charset(op, av, ignorecase)
        if chars is not None:
            return frozenset(out | chars)
        if op is C.AT:
            continue
        if op in (C.ASSERT, C.ASSERT_NOT):
            return frozenset(out) if out else None
        if op is C.SUBPATTERN:
            flags = ignorecase or bool(av[1] & re.IGNORECASE)
            inner = _first(list(av[3]), flags)
            return frozenset(out | (inner or _ANY))
        if op is C.BRANCH:
            for branch in av[1]:
                out |= _first(list(branch), ignorecase) or _ANY
            return frozenset(out)
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            out |= _first(list(av[2]), ignorecase) or _ANY
            if av[0] > 0:
                return frozenset(out)
            continue
        return _ANY
    return frozenset(out) if out else None


def _walk(seq: list[tuple[Any, Any]], ignorecase: bool, found: list[Finding], costs: list[int], small: list[int]) -> None:
    for i, (op, av) in enumerate(seq):
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            low, high, body = av
            body = list(body)
            if high == C.MAXREPEAT or high > MAX_BOUND:
                found.append(Finding(f"unbounded repeat at item {i}"))
                continue
            single = len(body) == 1 and _charset(*body[0], ignorecase) is not None
            if not single:
                if high > 1:
                    found.append(Finding(f"repeat of a group (more than optional) at item {i}"))
                _walk(body, ignorecase, found, costs, small)
                continue
            if high <= SMALL or low == high:  # small, or a fixed count: no choice to backtrack into
                if low == high:
                    costs.append(high)
                else:
                    small.append(high - low + 1)
                continue
            chars = _charset(*body[0], ignorecase)
            follow = _first(seq[i + 1 :], ignorecase)
            if follow is not None and chars is not None and chars & follow:
                found.append(Finding(f"repeat {{{low},{high}}} at item {i} overlaps what follows it"))
            costs.append(high)
        elif op is C.SUBPATTERN:
            _walk(list(av[3]), ignorecase or bool(av[1] & re.IGNORECASE), found, costs, small)
        elif op is C.BRANCH:
            for branch in av[1]:
                _walk(list(branch), ignorecase, found, costs, small)
        elif op in (C.ASSERT, C.ASSERT_NOT):
            inner = list(av[1])
            if P.SubPattern(P.State(), inner).getwidth()[1] > LOOKAROUND_MAX:
                found.append(Finding(f"lookaround wider than {LOOKAROUND_MAX} characters at item {i}"))


def check(pattern: re.Pattern[str]) -> tuple[list[Finding], int]:
    """(problems, cost bound per start position) for ``pattern``."""
    parsed = P.parse(pattern.pattern, pattern.flags)
    ignorecase = bool(parsed.state.flags & re.IGNORECASE)
    found: list[Finding] = []
    costs: list[int] = []
    small: list[int] = []
    _walk(list(parsed), ignorecase, found, costs, small)
    factor = 1
    for s in small:
        factor *= s
    return found, (sum(costs) + 1) * min(factor, sys.maxsize)
