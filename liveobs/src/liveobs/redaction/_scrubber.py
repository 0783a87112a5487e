"""The scrubber: one pass that removes secrets from any value before it leaves."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from liveobs.redaction._formats import FORMATS, Format, min_length
from liveobs.redaction._rules import (
    ALLOWED_KEYS,
    HIGH_ENTROPY_MIN_BITS,
    HIGH_ENTROPY_TOKEN,
    KEY_NOT_SECRET,
    KEY_PATTERN,
    MARKER_PREFIX,
    fold_key,
)
from liveobs.redaction._structure import cookie_string, pem_blocks, settings, url_userinfo
from liveobs.redaction._vendors import VENDORS

_NAME_CACHE_MAX: Final = 4096
# Files put in text as base64 (data: URLs, images): long and random, but not keys.
_DATA_MAGIC: Final = ("iVBORw0KGg", "/9j/", "R0lGOD", "UklGR", "PHN2Zy", "JVBERi0", "AAABAA", "T2dnUw")
_MAX_DEPTH: Final = 32
_MAX_JSON_IN_STRING: Final = 256 * 1024


def marker(kind: str) -> str:
    """The text that replaces a secret: names its kind, never echoes it."""
    return f"{MARKER_PREFIX}:{kind}]"


# Characters ranked from rare to common in ordinary text: a keyword is filed under
# its rarest character, and looked for only when the text holds that character.
_RARITY: Final = "~^|`$#!@%&*+<>[]{}\\0123456789_=.:-/'\" zqxjkvbpygfwmucldrhsnioate"


def _keyword_groups(formats: tuple[Format, ...]) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
    groups: dict[str, list[tuple[str, int]]] = {}
    for i, fmt in enumerate(formats):
        for word in fmt.keywords:
            char = min(word, key=lambda c: _RARITY.find(c) if c in _RARITY else -1)
            groups.setdefault(char, []).append((word, i))
    return tuple((c, tuple(words)) for c, words in groups.items())


def _replacer(fmt: Format) -> str | Callable[[re.Match[str]], str]:
    """What replaces a match of ``fmt``: the whole match, or only its ``v`` group."""
    text = marker(fmt.kind)
    if "v" not in fmt.pattern.groupindex:
        return text

    def value_only(m: re.Match[str]) -> str:
        whole, start = m.group(0), m.start()
        return whole[: m.start("v") - start] + text + whole[m.end("v") - start :]

    return value_only


def shannon_bits(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character."""
    if not text:
        return 0.0
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in Counter(text).values())


def _high_entropy(token: str) -> bool:
    if token.startswith(_DATA_MAGIC):
        return False
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
        extra = tuple(
            Format(kind, (), re.compile(p) if isinstance(p, str) else p) for kind, p in extra_value_patterns
        )
        self._formats: tuple[Format, ...] = (*FORMATS, *VENDORS, *extra)
        self._min_lengths = tuple(min_length(f) for f in self._formats)
        self._always = tuple(i for i, f in enumerate(self._formats) if not f.keywords)
        self._groups = _keyword_groups(self._formats)
        self._key_patterns = (KEY_PATTERN, *tuple(re.compile(p) if isinstance(p, str) else p for p in extra_key_patterns))
        self._allowed = frozenset(allowed_keys)
        self._high_entropy = high_entropy
        self._names: dict[str, bool] = {}
        self._marker = marker

    @property
    def default_rules(self) -> bool:
        """Whether this scrubber runs the built-in rules only (what the fast paths assume)."""
        return len(self._formats) == len(FORMATS) + len(VENDORS) and len(self._key_patterns) == 1 and self._high_entropy

    def secret_key(self, key: str) -> bool:
        """Whether the value under ``key`` is a secret whatever it looks like."""
        if key in self._allowed:
            return False
        return self._secret_name(key)

    def _secret_name(self, key: str) -> bool:
        hit = self._names.get(key)
        if hit is None:
            folded = fold_key(key)
            hit = any(p.search(folded) for p in self._key_patterns) and not KEY_NOT_SECRET.search(folded)
            if len(key) <= 256:
                if len(self._names) >= _NAME_CACHE_MAX:
                    self._names.clear()
                self._names[key] = hit
        return hit

    def scrub_text(self, text: str) -> str:
        """``text`` with every secret format replaced by its marker.

        Every step is linear in ``len(text)``: one bounded pattern or ``str.find``
        walk each, and a format's pattern runs only when one of its literals occurs.
        """
        if not text:
            return text
        stripped = text.lstrip()
        if stripped[:1] in "{[" and len(text) <= _MAX_JSON_IN_STRING:
            embedded = self._scrub_json_text(text)
            if embedded is not None:
                return embedded
        mark = self._marker
        if "-----BEGIN " in text:
            text = pem_blocks(text, mark)
        text = url_userinfo(text, mark)
        text = cookie_string(text, mark)
        for i in self._candidates(text):
            fmt = self._formats[i]
            text = fmt.pattern.sub(_replacer(fmt), text)
        text = settings(text, self._secret_name, mark)
        if self._high_entropy and len(text) >= 32:
            text = HIGH_ENTROPY_TOKEN.sub(self._entropy_replace, text)
        return text

    def _candidates(self, text: str) -> list[int]:
        """The formats whose literals occur in ``text`` (and that fit in it), in catalogue order."""
        low = text.lower()
        present = set(low)
        size = len(text)
        lengths = self._min_lengths
        hits = {i for i in self._always if lengths[i] <= size}
        for char, words in self._groups:
            if char in present:
                for word, i in words:
                    if i not in hits and lengths[i] <= size and word in low:
                        hits.add(i)
        return sorted(hits)

    def _entropy_replace(self, m: re.Match[str]) -> str:
        token = m.group(0)
        if not _high_entropy(token) or m.string.endswith("base64,", 0, m.start()):
            return token
        return marker("high_entropy")

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
