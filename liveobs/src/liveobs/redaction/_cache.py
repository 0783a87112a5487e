"""One caching front for the scrubber, shared by the SDK and the collector.

The cache policy, in one place:

- only *clean* texts are remembered (the scrubber returned them unchanged), so
  the cache never holds a secret the rules know: a text that held one is
  scrubbed again each time it is seen, and its raw form is dropped at once;
- texts longer than :data:`CACHE_ITEM_MAX` characters are never remembered;
- the cache is bounded in bytes (the size of each string plus a fixed charge
  per entry), not in entries, and is emptied whole when full.

Two fast paths answer without scanning, and only under the built-in rules: up to
128 characters of lower-case hex and dashes (uuids, trace ids, commit hashes: no
rule matches them) and words of at most 14 characters of ``[A-Za-z0-9_./{}-]``
(every built-in format needs 15 characters or one of ``=:@`` or whitespace; a
test holds this). Hex answers are not cached: the check costs no more than a
lookup, and ids are mostly seen once.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

from liveobs.redaction._scrubber import DEFAULT_SCRUBBER, Scrubber, marker

CACHE_ITEM_MAX: Final = 1024
DEFAULT_CACHE_BYTES: Final = 8 << 20
_ENTRY_BYTES: Final = 64  # the dict slot and hash, charged per remembered string
# The characters of hex ids (trace, span, event ids, UUIDs): a text of only these needs no rule.
HEX_ID_CHARS: Final = "0123456789abcdef-"
_WORD: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./{}-"
_SCALARS: Final = (int, float, bool)
_SCALAR_CLASSES: Final = frozenset({int, float, bool, type(None)})


class CachedScrubber:
    """A :class:`Scrubber` behind a byte-bounded cache of clean texts and secret-key answers.

    Results equal ``scrubber.scrub*``; only the work differs.
    """

    def __init__(
        self, scrubber: Scrubber = DEFAULT_SCRUBBER, *, fast_paths: bool = True, max_bytes: int = DEFAULT_CACHE_BYTES
    ) -> None:
        self.scrubber = scrubber
        self._fast = fast_paths and scrubber.default_rules
        self._max_bytes = max_bytes
        self._bytes = 0
        self._texts: dict[str, str] = {}  # clean text -> itself
        self._keys: dict[str, bool] = {}
        self._plain_keys: set[str] = set()  # keys known not to name a secret
        self._key_marker = marker("key")

    @property
    def cached_bytes(self) -> int:
        """What the cache holds now, as charged against ``max_bytes``."""
        return self._bytes

    def _charge(self, text: str) -> bool:
        cost = sys.getsizeof(text) + _ENTRY_BYTES
        if self._bytes + cost > self._max_bytes:
            self._texts.clear()
            self._keys.clear()
            self._plain_keys.clear()
            self._bytes = 0
            if cost > self._max_bytes:
                return False
        self._bytes += cost
        return True

    def secret_key(self, key: str) -> bool:
        """Whether the value under ``key`` is replaced whole."""
        hit = self._keys.get(key)
        if hit is None:
            hit = self.scrubber.secret_key(key)
            if len(key) <= CACHE_ITEM_MAX and self._charge(key):
                self._keys[key] = hit
                if not hit:
                    self._plain_keys.add(key)
        return hit

    def text(self, text: str) -> str:
        """``text`` without secrets."""
        hit = self._texts.get(text)
        if hit is not None:
            return hit
        if self._fast and len(text) <= 128 and not text.strip(HEX_ID_CHARS):
            return text  # as cheap as a lookup: not worth a place in the cache (ids are mostly seen once)
        out = text if self._fast and len(text) <= 14 and not text.strip(_WORD) else self.scrubber.scrub_text(text)
        if out == text and len(text) <= CACHE_ITEM_MAX and self._charge(text):
            self._texts[text] = text
        return out

    def value(self, key: str | None, value: Any) -> Any:
        """``value`` stored under ``key``, scrubbed (recursively for containers)."""
        if key is not None and self.secret_key(key):
            return self._key_marker if value not in (None, "", b"") else value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, _SCALARS) or value is None:
            return value
        return self.scrubber.scrub(value)

    def clean_mapping(self, mapping: Mapping[str, Any] | None) -> bool:
        """Whether scrubbing ``mapping`` would change nothing (cheap for cached values)."""
        if not mapping:
            return True
        texts = self._texts
        if self._fast and self._plain_keys.issuperset(mapping):  # the common case, in one tight pass
            for v in mapping.values():
                if v.__class__ is str:  # cached as clean, or a hex id the fast path passes
                    if v not in texts and (len(v) > 128 or v.strip(HEX_ID_CHARS)):
                        break
                elif v.__class__ not in _SCALAR_CLASSES:
                    break
            else:
                return True
        secret = self._keys
        for k, v in mapping.items():
            if secret.get(k) is not False and self.secret_key(k):
                return False
            if v.__class__ is str:
                if v not in texts and self.text(v) != v:
                    return False
            elif not isinstance(v, _SCALARS) and self.value(k, v) != v:
                return False
        return True

    def mapping(self, mapping: Mapping[str, Any]) -> dict[str, Any]:
        """A scrubbed copy of a flat mapping of attributes."""
        return {k: self.value(k, v) for k, v in mapping.items()}

    def in_place(self, mapping: MutableMapping[str, Any]) -> None:
        """Scrub ``mapping``'s values where they stand, skipping clean ones."""
        for k, v in list(mapping.items()):
            if (isinstance(v, _SCALARS) or v is None) and not self.secret_key(k):
                continue
            cleaned = self.value(k, v)
            if cleaned is not v and cleaned != v:
                mapping[k] = cleaned
