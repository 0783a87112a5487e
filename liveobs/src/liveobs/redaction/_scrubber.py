"""The scrubber: one pass that removes secrets from any value before it leaves."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Final

from liveobs.redaction._rules import (
    ALLOWED_KEYS,
    HIGH_ENTROPY_MIN_BITS,
    HIGH_ENTROPY_TOKEN,
    KEY_PATTERN,
    MARKER_PREFIX,
    VALUE_PATTERNS,
)

_KEY_FOLD: Final = re.compile(r"[\s.\-]+")
_MAX_DEPTH: Final = 32
_MAX_JSON_IN_STRING: Final = 256 * 1024


def marker(kind: str) -> str:
    """The text that replaces a secret: names its kind, never echoes it."""
    return f"{MARKER_PREFIX}:{kind}]"


def shannon_bits(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character."""
    if not text:
        return 0.0
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in Counter(text).values())


def _high_entropy(token: str) -> bool:
    classes = sum(
        (any(c.isdigit() for c in token), any(c.islower() for c in token), any(c.isupper() for c in token))
    )
    return classes == 3 and shannon_bits(token) >= HIGH_ENTROPY_MIN_BITS


class Scrubber:
    """Removes secrets from strings, mappings and sequences, recursively.

    A key that names a secret (``password``, ``authorization``, ``api_key``…)
    has its whole value replaced; every string is searched for secret formats
    (tokens, keys, JWTs, PEM blocks, credentials in URLs); JSON inside a string
    is parsed and scrubbed too. The liveobs id keys are allow-listed by name.
    """

    def __init__(
        self,
        extra_value_patterns: Iterable[tuple[str, re.Pattern[str] | str]] = (),
        extra_key_patterns: Iterable[re.Pattern[str] | str] = (),
        allowed_keys: Iterable[str] = ALLOWED_KEYS,
        high_entropy: bool = True,
    ) -> None:
        self._value_patterns = VALUE_PATTERNS + tuple(
            (kind, re.compile(p) if isinstance(p, str) else p) for kind, p in extra_value_patterns
        )
        self._key_patterns = (KEY_PATTERN, *tuple(re.compile(p) if isinstance(p, str) else p for p in extra_key_patterns))
        self._allowed = frozenset(allowed_keys)
        self._high_entropy = high_entropy

    def secret_key(self, key: str) -> bool:
        """Whether the value under ``key`` is a secret whatever it looks like."""
        if key in self._allowed:
            return False
        folded = _KEY_FOLD.sub("_", key.lower())
        return any(p.search(folded) for p in self._key_patterns)

    def scrub_text(self, text: str) -> str:
        """``text`` with every secret format replaced by its marker."""
        if not text:
            return text
        stripped = text.lstrip()
        if stripped[:1] in "{[" and len(text) <= _MAX_JSON_IN_STRING:
            embedded = self._scrub_json_text(text)
            if embedded is not None:
                return embedded
        for kind, pattern in self._value_patterns:
            text = pattern.sub(marker(kind), text)
        if self._high_entropy:
            text = HIGH_ENTROPY_TOKEN.sub(
                lambda m: marker("high_entropy") if _high_entropy(m.group(0)) else m.group(0), text
            )
        return text

    def _scrub_json_text(self, text: str) -> str | None:
        try:
            decoded = json.loads(text)
        except (ValueError, RecursionError):
            return None
        if not isinstance(decoded, dict | list):
            return None
        cleaned = self.scrub(decoded)
        if cleaned == decoded:
            return text
        return json.dumps(cleaned, separators=(",", ":"), ensure_ascii=False)

    def scrub(self, value: Any, key: str | None = None, _depth: int = 0) -> Any:
        """A scrubbed copy of ``value`` (strings, numbers, mappings, sequences).

        ``key`` is the name the value is stored under, when known.
        """
        if key is not None and self.secret_key(key):
            return marker("key") if value not in (None, "", b"") else value
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, bytes | bytearray):
            return self.scrub_text(bytes(value).decode("utf-8", "replace"))
        if _depth >= _MAX_DEPTH:
            return marker("too_deep") if isinstance(value, Mapping | list | tuple) else value
        if isinstance(value, Mapping):
            return {k: self.scrub(v, str(k), _depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            items = [self.scrub(v, None, _depth + 1) for v in value]
            return tuple(items) if isinstance(value, tuple) else items
        return value

    def scrub_mapping(self, mapping: Mapping[str, Any]) -> dict[str, Any]:
        """A scrubbed copy of a flat or nested mapping (attributes, a log event)."""
        return {k: self.scrub(v, k, 1) for k, v in mapping.items()}


DEFAULT_SCRUBBER: Final = Scrubber()
