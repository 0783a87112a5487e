"""Shared redaction rules and the scrubber that applies them.

The SDK scrubs every signal before it leaves the process; the collector scrubs
again on ingest. Both use this one definition and one cache
(:class:`CachedScrubber`).
"""

from liveobs.redaction._cache import CACHE_ITEM_MAX, DEFAULT_CACHE_BYTES, HEX_ID_CHARS, CachedScrubber
from liveobs.redaction._formats import FORMATS, Format
from liveobs.redaction._rules import (
    ALLOWED_KEYS,
    KEY_PATTERN,
    MARKER_PREFIX,
    VALUE_PATTERNS,
    fold_key,
)
from liveobs.redaction._scrubber import DEFAULT_SCRUBBER, Scrubber, marker, shannon_bits
from liveobs.redaction._vendors import VENDORS

__all__ = [
    "ALLOWED_KEYS",
    "CACHE_ITEM_MAX",
    "DEFAULT_CACHE_BYTES",
    "DEFAULT_SCRUBBER",
    "FORMATS",
    "HEX_ID_CHARS",
    "KEY_PATTERN",
    "MARKER_PREFIX",
    "VALUE_PATTERNS",
    "VENDORS",
    "CachedScrubber",
    "Format",
    "Scrubber",
    "fold_key",
    "marker",
    "shannon_bits",
]
