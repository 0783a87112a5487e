"""The secret scan: a coarse SQL prefilter, then the shared redaction rules decide.

DuckDB's regular expressions (RE2) have no lookaround, so the prefilter uses the
shared value patterns with their lookarounds removed: that only widens what they
match, so no secret the rules would find is filtered out. Candidate rows then go
through the same :class:`~liveobs.redaction.Scrubber` the SDK and collector use,
and a hit is reported by where it is and what kind it is, never by its value.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from liveobs.redaction import (
    ALLOWED_KEYS,
    DEFAULT_SCRUBBER,
    KEY_PATTERN,
    MARKER_PREFIX,
    VALUE_PATTERNS,
    Scrubber,
)

_LOOKAROUND_OPEN: Final = ("(?<=", "(?<!", "(?=", "(?!")
_MARKER_KIND: Final = re.compile(re.escape(MARKER_PREFIX) + r":([a-z_]+)\]")


def strip_lookarounds(pattern: str) -> str:
    """``pattern`` without its lookaround groups (a superset of its matches, RE2-safe)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        opener = next((o for o in _LOOKAROUND_OPEN if pattern.startswith(o, i)), None)
        if opener is None:
            out.append(pattern[i])
            i += 1
            continue
        depth, i = 1, i + len(opener)
        in_class = False
        while i < len(pattern) and depth:
            ch = pattern[i]
            if ch == "\\":
                i += 2
                continue
            if in_class:
                in_class = ch != "]"
            elif ch == "[":
                in_class = True
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            i += 1
    return "".join(out)


@functools.cache
def value_prefilter() -> str:
    """One RE2 pattern matching at least every text a shared value pattern matches."""
    parts = []
    for _, pattern in VALUE_PATTERNS:
        body = strip_lookarounds(pattern.pattern)
        flags = "(?i)" if pattern.flags & re.IGNORECASE else ""
        if body.startswith("(?i)"):
            flags, body = "(?i)", body[4:]
        parts.append(f"(?:{flags}{body})" if not flags else f"(?i:{body})")
    return "|".join(parts)


@functools.cache
def key_prefilter() -> str:
    """An RE2 pattern over raw keys matching at least every key the shared key rule names."""
    # KEY_PATTERN runs on keys folded to lower case with separators turned into "_".
    return "(?i)" + KEY_PATTERN.pattern.replace("_", r"[_.\- ]")


def scan_params() -> dict[str, Any]:
    return {
        "secret_value_re": value_prefilter(),
        "secret_key_re": key_prefilter(),
        "secret_marker": MARKER_PREFIX,
        "secret_allowed_keys": sorted(ALLOWED_KEYS),
    }


@dataclass(frozen=True, slots=True)
class SecretHit:
    location: str
    key: str
    kind: str

    def describe(self) -> str:
        return f"{self.kind} in {self.location} under {self.key!r}"


def find_secrets(
    candidates: Iterable[dict[str, Any]], kinds: frozenset[str] | None = None, scrubber: Scrubber = DEFAULT_SCRUBBER
) -> list[SecretHit]:
    """The secrets in candidate rows (``{"location", "entries": [{"key", "value"}]}``)."""
    hits: list[SecretHit] = []
    for row in candidates:
        for entry in row["entries"] or ():
            key, value = entry["key"] or "", entry["value"]
            if not value or value.startswith(MARKER_PREFIX):
                continue
            found: list[str] = []
            if scrubber.secret_key(key):
                found.append("key")
            else:
                before = set(_MARKER_KIND.findall(value))
                found.extend(k for k in _MARKER_KIND.findall(scrubber.scrub_text(value)) if k not in before)
            for kind in dict.fromkeys(found):
                if kinds is None or kind in kinds:
                    hits.append(SecretHit(row["location"], key, kind))
    return hits
