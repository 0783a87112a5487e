"""A reply's size on the wire: deflated as the permessage-deflate extension would send it.

The size is what a ``websockets`` server sends with its own defaults, which
uvicorn's default WebSocket protocol (``websockets-sansio``) uses too: level
6, ``memLevel`` 5, a window of 12 bits (4096 bytes) and context takeover, so
each message may refer back to the 4096 bytes sent before it. The ASGI app
never sees the frames, so the size is measured here.

A connection keeps the last 4096 bytes the app sent on it (replies and other
messages alike), not a compressor: a measured reply is deflated by a fresh
compressor primed with them as its dictionary, which gives the very bytes the
connection's own compressor would (the tests check this against
``websockets``). A connection's first
:data:`MEASURED_FIRST` replies are measured, then every
:data:`MEASURED_EVERY`-th (the 16th, the 24th, ...). Deflating a reply costs
about a tenth of a live event's telemetry, and the compression ratio the gates
judge is a distribution, which a sample estimates as well. A busy socket holds
at most 8 KiB and a message for this, instead of a compressor's 38 KiB.
"""

from __future__ import annotations

import zlib
from typing import Final

WINDOW: Final = 4096  # 2 ** 12: the server's window
MEASURED_FIRST: Final = 8
MEASURED_EVERY: Final = 8
_LEVEL: Final = -1  # zlib's default, 6
_MEM_LEVEL: Final = 5
_SYNC_TAIL: Final = b"\x00\x00\xff\xff"  # ends a flushed message; the frame leaves it out


class ReplyDeflate:
    """The deflated sizes of one connection's replies (a sample of them, see the module)."""

    __slots__ = ("_recent", "_replies")

    def __init__(self) -> None:
        self._recent = bytearray()  # the bytes sent last: at least WINDOW of them, at most 2 * WINDOW + a message
        self._replies = 0

    def size(self, raw: bytes) -> int | None:
        """The frame payload's size for the reply ``raw``; ``None`` when this reply is not measured."""
        n = self._replies
        self._replies = n + 1
        size = deflated_size(raw, self._recent) if n < MEASURED_FIRST or (n + 1) % MEASURED_EVERY == 0 else None
        self.sent(raw)
        return size

    def sent(self, raw: bytes) -> None:
        """Note a message sent on the socket (a reply or any other): the next ones may refer back to it."""
        recent = self._recent
        recent += raw
        if len(recent) > 2 * WINDOW:
            del recent[:-WINDOW]


def deflated_size(raw: bytes, sent_before: bytes | bytearray = b"") -> int:
    """The size of ``raw`` deflated as one permessage-deflate message after ``sent_before`` on the same socket."""
    if sent_before:
        compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, -12, _MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY,
                                      sent_before[-WINDOW:])
    else:
        compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, -12, _MEM_LEVEL)
    head = compressor.compress(raw)
    tail = compressor.flush(zlib.Z_SYNC_FLUSH)
    size = len(head) + len(tail)
    ends = tail if len(tail) >= 4 else head + tail
    return size - 4 if ends.endswith(_SYNC_TAIL) else size
