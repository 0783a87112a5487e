"""The collector's line of redaction: the shared rules behind the shared cache.

The SDK already scrubs before export; the collector scrubs again (defence in
depth) with the same :class:`~liveobs.redaction.CachedScrubber` the SDK uses,
so both apply one implementation and one cache policy (clean texts only,
bounded in bytes). Every value is scanned, whoever sent it: the values of the
allow-listed id keys too (they are only exempt from being replaced by name),
so a secret a non-SDK sender puts in ``session.id`` is replaced while the
liveobs id formats (uuids, hex, ``key.hex`` pseudonyms) pass unchanged.
"""

from __future__ import annotations

from typing import Final

from liveobs.redaction import DEFAULT_CACHE_BYTES, DEFAULT_SCRUBBER, CachedScrubber, Scrubber

_KEY_SECRET: Final = 1
_KEY_SCAN: Final = 2
KEY_SCAN: Final = _KEY_SCAN


class IngestScrubber(CachedScrubber):
    """Scrubs attribute values, bodies and messages on ingest."""

    def __init__(self, scrubber: Scrubber = DEFAULT_SCRUBBER, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        super().__init__(scrubber, max_bytes=max_bytes)

    def key_kind(self, key: str) -> int:
        """1 secret (value replaced whole), 2 scanned; no key's value goes unscanned."""
        return _KEY_SECRET if self.secret_key(key) else _KEY_SCAN

    @property
    def key_marker(self) -> str:
        """What the value under a secret key becomes."""
        return self._key_marker
