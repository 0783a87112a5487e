"""Minting and validation of the correlation ids.

Every id that arrives from outside (a header, the live envelope, a browser
report) passes :func:`valid_id` or is replaced. Validation never raises: a bad
value is rejected (``None``) or swapped for a fresh id.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

MAX_ID_LENGTH: Final = 128
# Letters, digits and the separators that UUIDs, ULIDs and common request-id
# formats use. No whitespace, no quotes, nothing a log or HTML parser cares about.
_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
_TRACEPARENT_RE: Final = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^\s]*)?"
)
MAX_TRACEPARENT_LENGTH: Final = 256


def uuid7() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b, 62 bits
    return uuid.UUID(int=value)


def mint_event_id() -> str:
    """A fresh, time-ordered event id (UUIDv7, canonical text form)."""
    return str(uuid7())


def mint_request_id() -> str:
    """A fresh, time-ordered request id (UUIDv7, 32 hex digits)."""
    return uuid7().hex


def mint_connection_id() -> str:
    """A fresh connection id (UUIDv7, 32 hex digits)."""
    return uuid7().hex


def valid_id(value: object) -> str | None:
    """``value`` if it is an acceptable id from outside, else ``None``.

    Acceptable: a ``str`` of 1 to 128 characters from ``[A-Za-z0-9._:-]``
    starting with a letter or digit.
    """
    if not isinstance(value, str) or len(value) > MAX_ID_LENGTH:
        return None
    return value if _ID_RE.fullmatch(value) else None


def id_or_mint(value: object, mint: Callable[[], str] = mint_event_id) -> tuple[str, bool]:
    """``(id, accepted)``: ``value`` when it is a valid id, else ``mint()`` and ``False``."""
    accepted = valid_id(value)
    if accepted is not None:
        return accepted, True
    return mint(), False


@dataclass(frozen=True, slots=True)
class TraceParent:
    """A parsed W3C ``traceparent``."""

    trace_id: str
    span_id: str
    flags: int

    @property
    def sampled(self) -> bool:
        return bool(self.flags & 0x01)

    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags & 0xFF:02x}"


def format_traceparent(trace_id: int, span_id: int, flags: int) -> str:
    """The W3C ``traceparent`` (version 00) of ids given as integers, as OpenTelemetry holds them."""
    return f"00-{trace_id:032x}-{span_id:016x}-{flags & 0xFF:02x}"


_HEX32: Final = re.compile(r"[0-9a-f]{32}")
_HEX16: Final = re.compile(r"[0-9a-f]{16}")


def valid_trace_id(value: object) -> str | None:
    """``value`` if it is a trace id in lower-case hex (32 digits), else ``None``."""
    return value if isinstance(value, str) and _HEX32.fullmatch(value) else None


def valid_span_id(value: object) -> str | None:
    """``value`` if it is a span id in lower-case hex (16 digits), else ``None``."""
    return value if isinstance(value, str) and _HEX16.fullmatch(value) else None


def parse_traceparent(value: object) -> TraceParent | None:
    """Parse a W3C ``traceparent``; ``None`` for anything invalid or oversized.

    Version ``ff`` and all-zero ids are invalid; versions above ``00`` are read
    by their version-00 prefix, as the specification asks.
    """
    if not isinstance(value, str) or len(value) > MAX_TRACEPARENT_LENGTH:
        return None
    match = _TRACEPARENT_RE.fullmatch(value.strip(" \t"))
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return TraceParent(trace_id, span_id, int(flags, 16))
