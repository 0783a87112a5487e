"""Content-Encoding of request bodies: gzip (one or more members) and deflate, in linear time.

Each member is fed to its inflater in slices that start small and double, so
the bytes left over after a member (``unused_data``, a copy) are never more
than about twice what that member used: the work is linear in the body, where
handing the whole rest of the body to each member made a body of many tiny
members quadratic. The output is capped at ``limit`` bytes (413 as soon as it
would exceed it) and a body may hold at most :data:`MAX_GZIP_MEMBERS` members
(exporters send one). The server runs this in a worker thread, never on its
event loop.
"""

from __future__ import annotations

import zlib
from typing import Final

from liveobs.correlator._otlp import BodyTooLarge, MalformedBody, UnsupportedMediaType

# Exporters send a single member; a few concatenated ones are still valid gzip.
MAX_GZIP_MEMBERS: Final = 1000
_FIRST_SLICE: Final = 1024
_MAX_SLICE: Final = 256 * 1024
_GZIP_WBITS: Final = 31
_ZLIB_WBITS: Final = 15
_RAW_DEFLATE_WBITS: Final = -15
SUPPORTED_ENCODINGS: Final = ("gzip", "deflate")


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"decompressed body exceeds the limit of {limit} bytes")


def _inflate_stream(view: memoryview, start: int, wbits: int, out: bytearray, limit: int, what: str) -> int:
    """Inflate one stream that begins at ``start`` into ``out``; the position just after it."""
    inflater = zlib.decompressobj(wbits)
    pos = start
    step = _FIRST_SLICE
    try:
        while not inflater.eof:
            if pos >= len(view):
                raise MalformedBody(f"invalid {what} body: truncated stream")
            piece: bytes | memoryview = view[pos:pos + step]
            pos += len(piece)
            step = min(step * 2, _MAX_SLICE)
            while piece and not inflater.eof:
                out += inflater.decompress(piece, limit + 1 - len(out))
                if len(out) > limit:
                    raise _too_large(limit)
                piece = inflater.unconsumed_tail
    except zlib.error as exc:
        raise MalformedBody(f"invalid {what} body: {exc}") from None
    return pos - len(inflater.unused_data)


def gunzip(data: bytes, limit: int, max_members: int = MAX_GZIP_MEMBERS) -> bytes:
    """Decompress a gzip body of one or more members; 413 beyond ``limit`` bytes, 400 when malformed."""
    view = memoryview(data)
    out = bytearray()
    pos = 0
    members = 0
    while pos < len(view):
        members += 1
        if members > max_members:
            raise MalformedBody(f"gzip body has more than {max_members} members")
        pos = _inflate_stream(view, pos, _GZIP_WBITS, out, limit, "gzip")
    return bytes(out)


def inflate(data: bytes, limit: int) -> bytes:
    """Decompress a ``deflate`` body: the zlib format (RFC 1950), or raw deflate as some clients send it."""
    view = memoryview(data)
    zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
    out = bytearray()
    end = _inflate_stream(view, 0, _ZLIB_WBITS if zlib_header else _RAW_DEFLATE_WBITS, out, limit, "deflate")
    if end != len(view):
        raise MalformedBody("invalid deflate body: data after the end of the stream")
    return bytes(out)


def decode_body(body: bytes, encoding: str, limit: int) -> bytes:
    """The body after its Content-Encoding (identity, gzip or deflate)."""
    coding = encoding.strip().lower()
    if coding in ("", "identity"):
        return body
    if coding in ("gzip", "x-gzip"):
        return gunzip(body, limit)
    if coding == "deflate":
        return inflate(body, limit)
    raise UnsupportedMediaType(f"unsupported content encoding {coding!r}; use gzip, deflate or none")
