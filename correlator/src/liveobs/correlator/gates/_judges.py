"""Checks whose evidence is judged in Python with the shared parser (``liveobs.evidence``).

A check's SQL gathers the observed texts (CSP headers, page subresources and the
assets as served), grouped so that each distinct text is judged once, and names
its judge in a ``judge`` column. The judge grades them with the same functions the
SDK and the probe record with, and answers what any check answers: the observed
value, the evidence count, a detail, and whether the check applies at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from liveobs.evidence import grade_header, judge_resources, needs_sri, resources_from_json, served_from_json

_SHOWN: Final = 3
_FINDINGS: Final = 6


@dataclass(frozen=True, slots=True)
class Judged:
    """A judge's answer: ``observed`` violations over ``evidence`` judged items."""

    observed: float | None
    evidence: int
    detail: str
    applicable: bool = True


def _items(row: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    return list(row.get("items") or ())


def judge_csp(row: Mapping[str, Any]) -> Judged:
    """Each distinct policy graded per directive; a nonce seen on two responses is a finding too."""
    findings: Counter[str] = Counter()
    weak = responses = 0
    routes: set[str] = set()
    for item in _items(row):
        n = int(item["responses"])
        responses += n
        found = grade_header(item.get("policy"))
        if found:
            weak += n
            routes.update(str(r) for r in item.get("routes") or ())
            for f in found:
                findings[f.text] += n
    reused = int(row.get("reused_nonces") or 0)
    unreadable = int(row.get("unreadable") or 0)
    head = f"{weak} of {responses} HTML responses with a weak or missing CSP"
    shown = [f"{text} ({n})" for text, n in findings.most_common(_FINDINGS)]
    parts = [head + (": " + shown[0] if shown else ""), *shown[1:]]
    if reused:
        parts.append(f"{reused} nonces served on more than one response")
    if routes:
        parts.append(f"routes {', '.join(sorted(routes)[:_SHOWN])}")
    if unreadable:
        parts.append(f"{unreadable} CSP records without the header text (not judged)")
    return Judged(float(weak + reused), responses, "; ".join(parts))


def judge_sri(row: Mapping[str, Any]) -> Judged:
    """Pages that load a cross-origin resource or the client asset must carry valid, matching SRI."""
    pages = needing = failing = 0
    problems: Counter[str] = Counter()
    for item in _items(row):
        n = int(item["pages"])
        pages += n
        origin = str(item.get("origin") or "")
        resources = resources_from_json(item.get("resources"))
        if not needs_sri(resources, origin):
            continue
        needing += n
        found = judge_resources(resources, origin, served_from_json(item.get("served")))
        if found:
            failing += n
            for p in found:
                problems[p] += n
    if pages and not needing:
        return Judged(None, 0, f"none of {pages} pages loads a cross-origin resource or the client asset",
                      applicable=False)
    parts = [f"{failing} of {needing} pages load a resource without valid, matching integrity"]
    parts += [f"{text} ({n} pages)" for text, n in problems.most_common(_SHOWN)]
    return Judged(float(failing), needing, "; ".join(parts))


JUDGES: Final[dict[str, Callable[[Mapping[str, Any]], Judged]]] = {"csp": judge_csp, "sri": judge_sri}


def judge(row: Mapping[str, Any]) -> Judged:
    name = str(row["judge"])
    if name not in JUDGES:
        raise KeyError(f"no judge named {name!r}")
    return JUDGES[name](row)
