"""A reply's size on the wire: deflated as the permessage-deflate extension would send it.

The size is what a ``websockets`` server sends with its own defaults, which
uvicorn's default WebSocket protocol (``websockets-sansio``) uses too: level
6, ``memLevel`` 5, a window of 12 bits (4096 bytes) and context takeover, so
each message may refer back to the 4096 bytes sent before it. The ASGI app
never sees the frames, so the size is measured here.

A connection's first :data:`MEASURED_FIRST` replies are measured, then every
:data:`MEASURED_EVERY`-th (the 16th, the 32nd, ...), and any other reply while
the process has measured fewer than :data:`SPARE_PER_SECOND` of those others
in the last second: an app with a few events a second has every reply
measured, a busy one a sample. Deflating a reply costs about a tenth of a live
event's telemetry, and the compression ratio the gates judge is a
distribution, which a sample estimates as well. For its first replies a
connection keeps one compressor; after that it keeps only the last 4096 bytes
the app sent on it (replies and other messages alike), at most 8 KiB and a
message instead of a compressor's 38 KiB, and a measured reply is deflated by
a fresh compressor primed with them as its dictionary.
Either way the size is the very one the socket's own compressor gives (the
tests check it against ``websockets``).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from typing import Any, Final

WINDOW: Final = 4096  # 2 ** 12: the server's window
MEASURED_FIRST: Final = 8
MEASURED_EVERY: Final = 16
SPARE_PER_SECOND: Final = 64
_LEVEL: Final = -1  # zlib's default, 6
_MEM_LEVEL: Final = 5
_SYNC_TAIL: Final = b"\x00\x00\xff\xff"  # ends a flushed message; the frame leaves it out


class Allowance:
    """Up to ``per_second`` takes a second, a token bucket (a race between threads costs a take or two)."""

    __slots__ = ("_at", "_clock", "_left", "_per_second")

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_second = float(per_second)
        self._clock = clock
        self._left = self._per_second
        self._at = clock()

    def take(self) -> bool:
        """Whether one more is allowed now (and count it)."""
        now = self._clock()
        left = min(self._per_second, self._left + (now - self._at) * self._per_second)
        self._at = now
        if left >= 1:
            self._left = left - 1
            return True
        self._left = left
        return False


# The replies past every connection's sample that the process measures anyway.
_SPARE = Allowance(SPARE_PER_SECOND)


class ReplyDeflate:
    """The deflated sizes of one connection's replies (a sample of them, see the module)."""

    __slots__ = ("_compressor", "_recent", "_replies", "_spare")

    def __init__(self, spare: Callable[[], bool] | None = None) -> None:
        self._spare = spare or _SPARE.take  # whether a reply past the sample is measured all the same
        # While every reply is measured: a compressor that has seen all the connection sent, else None.
        self._compressor: Any = None
        self._recent = bytearray()  # the bytes sent last: at least WINDOW of them, at most 2 * WINDOW + a message
        self._replies = 0

    def size(self, raw: bytes) -> int | None:
        """The frame payload's size for the reply ``raw``; ``None`` when this reply is not measured."""
        n = self._replies
        self._replies = n + 1
        if n < MEASURED_FIRST:  # one compressor, kept from reply to reply while nothing else is sent
            compressor = self._compressor
            if compressor is None:
                compressor = _primed(self._recent)
            size: int | None = _size(compressor, raw)
            self._compressor = compressor if n + 1 < MEASURED_FIRST else None
        elif (n + 1) % MEASURED_EVERY == 0 or self._spare():
            size = deflated_size(raw, self._recent)
        else:
            size = None
        self._remember(raw)
        return size

    def sent(self, raw: bytes) -> None:
        """Note a message other than a reply: the next replies may refer back to it."""
        self._compressor = None  # it has not seen this message: the next reply primes a fresh one
        self._remember(raw)

    def _remember(self, raw: bytes) -> None:
        recent = self._recent
        recent += raw
        if len(recent) > 2 * WINDOW:
            del recent[:-WINDOW]


def deflated_size(raw: bytes, sent_before: bytes | bytearray = b"") -> int:
    """The size of ``raw`` deflated as one permessage-deflate message after ``sent_before`` on the same socket."""
    return _size(_primed(sent_before), raw)


def _primed(sent_before: bytes | bytearray) -> Any:
    """A compressor in the state the socket's own is in after sending ``sent_before``."""
    if not sent_before:
        return zlib.compressobj(_LEVEL, zlib.DEFLATED, -12, _MEM_LEVEL)
    return zlib.compressobj(_LEVEL, zlib.DEFLATED, -12, _MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, sent_before[-WINDOW:])


def _size(compressor: Any, raw: bytes) -> int:
    head = compressor.compress(raw)
    tail = compressor.flush(zlib.Z_SYNC_FLUSH)
    size = len(head) + len(tail)
    ends = tail if len(tail) >= 4 else head + tail
    return size - 4 if ends.endswith(_SYNC_TAIL) else size
