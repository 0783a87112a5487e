"""Shared redaction rules and the scrubber that applies them.

The SDK scrubs every signal before it leaves the process; the collector scrubs
again on ingest. Both use this one definition.
"""

from liveobs.redaction._rules import (
    ALLOWED_KEYS,
    KEY_PATTERN,
    MARKER_PREFIX,
    VALUE_PATTERNS,
)
from liveobs.redaction._scrubber import DEFAULT_SCRUBBER, Scrubber, marker, shannon_bits

__all__ = [
    "ALLOWED_KEYS",
    "DEFAULT_SCRUBBER",
    "KEY_PATTERN",
    "MARKER_PREFIX",
    "VALUE_PATTERNS",
    "Scrubber",
    "marker",
    "shannon_bits",
]
