"""The secret scan: a coarse SQL prefilter, then the independent detector decides.

The scan must find what redaction missed, so it does not use the redaction
rules at all: both the prefilter (RE2 in DuckDB) and the judgement come from
:mod:`liveobs.correlator.gates._detect`, a second detector with its own key
words, its own vendor prefixes, structure checks and an entropy test. Nothing is
exempt by key name: the values of the liveobs id keys are scanned too (only
their own id shapes pass). A hit names where the secret is (place, record, key)
and what kind it is, never its value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from liveobs.correlator.gates._detect import detect, key_prefilter, value_prefilter
from liveobs.redaction import MARKER_PREFIX


def scan_params() -> dict[str, Any]:
    return {
        "secret_value_re": value_prefilter(),
        "secret_key_re": key_prefilter(),
        "secret_marker": MARKER_PREFIX,
        # No key is exempt from the scan; the list only needs one element for its type.
        "secret_allowed_keys": [""],
    }


@dataclass(frozen=True, slots=True)
class SecretHit:
    location: str
    key: str
    kind: str

    def describe(self) -> str:
        return f"{self.kind} in {self.location} under {self.key!r}"


def find_secrets(candidates: Iterable[dict[str, Any]], kinds: frozenset[str] | None = None) -> list[SecretHit]:
    """The secrets in candidate rows (``{"location", "entries": [{"key", "value"}]}``)."""
    hits: list[SecretHit] = []
    for row in candidates:
        for entry in row["entries"] or ():
            key, value = entry["key"] or "", entry["value"]
            if not value:
                continue
            for kind in detect(key, value):
                if kinds is None or kind in kinds:
                    hits.append(SecretHit(row["location"], key, kind))
    return hits
