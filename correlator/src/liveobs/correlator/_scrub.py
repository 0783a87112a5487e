"""The collector's line of redaction: the shared rules, made cheap enough for ingest.

The SDK already scrubs before export; the collector scrubs again (defence in
depth) with the same :class:`~liveobs.redaction.Scrubber`. Scanning a string
against every secret pattern costs microseconds, so this wrapper decides per
key once, skips the allow-listed id keys, answers short strings that cannot hold
any default pattern without scanning, and remembers recent answers.
"""

from __future__ import annotations

import re
from typing import Final

from liveobs.redaction import ALLOWED_KEYS, DEFAULT_SCRUBBER, Scrubber, marker

# Every default value pattern needs at least 15 characters, or whitespace, '=' or
# ':' (assignments, headers, URLs with passwords). A shorter string without those
# characters is clean under the default rules; a test holds this against the rules.
SHORT_CLEAN_MAX: Final = 14
_RISKY_CHARS: Final = re.compile(r"[\s=:]")
_KEY_ALLOWED: Final = 0
_KEY_SECRET: Final = 1
_KEY_SCAN: Final = 2
KEY_SCAN: Final = _KEY_SCAN
DEFAULT_CACHE_SIZE: Final = 65_536


class IngestScrubber:
    """Scrubs attribute values, bodies and messages on ingest, with a bounded cache."""

    def __init__(self, scrubber: Scrubber = DEFAULT_SCRUBBER, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._scrubber = scrubber
        self._short_fast_path = scrubber is DEFAULT_SCRUBBER
        # The id keys' values are pseudonymous ids by contract; only the default
        # rules are known to allow-list them.
        self._allowed = ALLOWED_KEYS if scrubber is DEFAULT_SCRUBBER else frozenset()
        self._cache_size = cache_size
        self._texts: dict[str, str] = {}
        self._keys: dict[str, int] = {}
        self._key_marker = marker("key")

    def key_kind(self, key: str) -> int:
        """0 allow-listed, 1 secret (value replaced whole), 2 scanned; cached."""
        kind = self._keys.get(key)
        if kind is None:
            if key in self._allowed:
                kind = _KEY_ALLOWED
            elif self._scrubber.secret_key(key):
                kind = _KEY_SECRET
            else:
                kind = _KEY_SCAN
            if len(self._keys) >= self._cache_size:
                self._keys.clear()
            self._keys[key] = kind
        return kind

    @property
    def key_marker(self) -> str:
        """What the value under a secret key becomes."""
        return self._key_marker

    def text(self, text: str) -> str:
        """``text`` with secret formats replaced by their markers."""
        if not text:
            return text
        if self._short_fast_path and len(text) <= SHORT_CLEAN_MAX and _RISKY_CHARS.search(text) is None:
            return text
        cached = self._texts.get(text)
        if cached is None:
            cached = self._scrubber.scrub_text(text)
            if len(self._texts) >= self._cache_size:
                self._texts.clear()
            self._texts[text] = cached
        return cached

    def value(self, key: str, text: str) -> str:
        """The value stored under attribute ``key``: kept, replaced whole, or scanned."""
        kind = self.key_kind(key)
        if kind == _KEY_ALLOWED:
            return text
        if kind == _KEY_SECRET:
            return self._key_marker if text else text
        return self.text(text)
