"""The collector's durable spool: append-only segment files of acknowledged requests.

A request is answered 200 once its record is here and fsynced; the store commits
later, in large batches, and records in the same transaction how far into the
spool it has committed (``liveobs_spool``). On start, every record after that
position is replayed, exactly once. Segments wholly behind the position are
deleted.

A segment is a file ``<16-digit number>.spool``: the 8-byte header
``LOSPOOL\\x02`` and then records framed as (little endian)::

    magic "\\xd1\\x0bLR" | u32 length of the rest | u32 CRC32 of the rest | u32 CRC32 of the 12 bytes before
    rest: u8 signal | u8 media | u16 key length | u8 digest length | key | digest | body

The body is the request as received, after decompression. Reading streams the
file through a memory map, one record at a time. The header's own checksum makes
the length trustworthy, so a record whose body is damaged is skipped alone; a
damaged header is passed by searching for the next magic whose header and body
check out. Every skipped byte range is logged with its segment, offset and size
(:class:`Damage`) and counted. Segments written before this format (no header,
records ``u32 length | u32 CRC32 | rest`` without a digest) are still read, with
the same resynchronisation on their meta bytes.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import mmap
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from liveobs.correlator._otlp import JSON, LOGS, METRICS, PROTOBUF, TRACES, Signal

log = logging.getLogger("liveobs.correlator.spool")

SPOOL_SUFFIX: Final = ".spool"
SEGMENT_SUFFIX: Final = ".spool"
# A new segment is started once the current one holds this much; committed ones are deleted whole.
SEGMENT_BYTES: Final = 64 * 1024 * 1024
SEGMENT_HEADER: Final = b"LOSPOOL\x02"
RECORD_MAGIC: Final = b"\xd1\x0bLR"
_HEAD: Final = struct.Struct("<4sIII")
_META: Final = struct.Struct("<BBHB")
_V1_FRAME: Final = struct.Struct("<II")
_V1_META: Final = struct.Struct("<BBH")
_SIGNAL_CODES: Final = {TRACES.name: 1, LOGS.name: 2, METRICS.name: 3}
_SIGNALS: Final = {1: TRACES, 2: LOGS, 3: METRICS}
_MEDIA_CODES: Final = {PROTOBUF: 1, JSON: 2}
_MEDIA: Final = {1: PROTOBUF, 2: JSON}
# The meta bytes a version-1 record without a key starts with: where resynchronisation looks.
_V1_MARKS: Final = tuple(_V1_META.pack(s, m, 0) for s in _SIGNALS for m in _MEDIA)
# Buffers per writev call (Linux refuses more than 1024).
_IOV_MAX: Final = 512


class SpoolError(RuntimeError):
    """The spool cannot be opened or written (a clear one-line message)."""


def default_spool_dir(db: str | os.PathLike[str]) -> Path:
    """``<db path>.spool/`` next to the store."""
    return Path(os.path.abspath(db) + SPOOL_SUFFIX)


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A point in the spool: the end of a record (segment number, byte offset)."""

    segment: int
    offset: int


@dataclass(frozen=True, slots=True)
class Record:
    """One spooled request; ``digest`` identifies it for duplicate detection (empty in old segments)."""

    signal: Signal
    media: str
    body: bytes
    source_key: str | None
    digest: bytes = b""


@dataclass(frozen=True, slots=True)
class Damage:
    """A byte range of a segment that holds no intact record: skipped, its records lost."""

    segment: int
    offset: int
    size: int
    at_end: bool


def frame(
    signal: Signal, media: str, body: bytes, source_key: str | None, digest: bytes = b""
) -> tuple[bytes, bytes]:
    """(frame header + meta, body) of one record; written as two buffers to avoid copying the body."""
    key = (source_key or "").encode("utf-8")
    meta = _META.pack(_SIGNAL_CODES[signal.name], _MEDIA_CODES[media], len(key), len(digest)) + key + digest
    crc = zlib.crc32(body, zlib.crc32(meta))
    first = RECORD_MAGIC + struct.pack("<II", len(meta) + len(body), crc)
    return first + struct.pack("<I", zlib.crc32(first)) + meta, body


def _parse(rest: bytes) -> Record | None:
    if len(rest) < _META.size:
        return None
    signal_code, media_code, key_length, digest_length = _META.unpack_from(rest)
    signal, media = _SIGNALS.get(signal_code), _MEDIA.get(media_code)
    body_start = _META.size + key_length + digest_length
    if signal is None or media is None or body_start > len(rest):
        return None
    key = rest[_META.size:_META.size + key_length].decode("utf-8", "replace") or None
    return Record(signal, media, rest[body_start:], key, rest[_META.size + key_length:body_start])


def _parse_v1(rest: bytes) -> Record | None:
    if len(rest) < _V1_META.size:
        return None
    signal_code, media_code, key_length = _V1_META.unpack_from(rest)
    signal, media = _SIGNALS.get(signal_code), _MEDIA.get(media_code)
    if signal is None or media is None or _V1_META.size + key_length > len(rest):
        return None
    key = rest[_V1_META.size:_V1_META.size + key_length].decode("utf-8", "replace") or None
    return Record(signal, media, rest[_V1_META.size + key_length:], key)


# What reading at an offset found: a record and where it ends; a frame whose header is intact but
# whose body is damaged (skip exactly that frame); or nothing that can be trusted there.
_Read = tuple[Record | None, int]


def _read_v2(data: mmap.mmap, offset: int, size: int) -> _Read | None:
    if offset + _HEAD.size > size:
        return None
    magic, length, crc, head_crc = _HEAD.unpack_from(data, offset)
    if magic != RECORD_MAGIC or zlib.crc32(data[offset:offset + 12]) != head_crc:
        return None
    end = offset + _HEAD.size + length
    if end > size:
        return None
    rest = data[offset + _HEAD.size:end]
    record = _parse(rest) if zlib.crc32(rest) == crc else None
    return record, end


def _read_v1(data: mmap.mmap, offset: int, size: int) -> _Read | None:
    if offset + _V1_FRAME.size > size:
        return None
    length, crc = _V1_FRAME.unpack_from(data, offset)
    end = offset + _V1_FRAME.size + length
    if end > size:
        return None
    rest = data[offset + _V1_FRAME.size:end]
    if zlib.crc32(rest) != crc:
        return None  # no header checksum here: a bad CRC may as well mean a bad length
    record = _parse_v1(rest)
    return (record, end) if record is not None else None


def _next_v2(data: mmap.mmap, start: int, size: int) -> int:
    """The offset of the next frame at or after ``start`` whose header checks out, or ``size``."""
    at = start
    while (at := data.find(RECORD_MAGIC, at, size)) >= 0:
        if _read_v2(data, at, size) is not None:
            return at
        at += 1
    return size


def _next_v1(data: mmap.mmap, start: int, size: int) -> int:
    """The offset of the next intact version-1 record (without a key) at or after ``start``, or ``size``."""
    found = size
    for mark in _V1_MARKS:
        at = start + _V1_FRAME.size
        while (at := data.find(mark, at, min(found + _V1_FRAME.size, size))) >= 0:
            if _read_v1(data, at - _V1_FRAME.size, size) is not None:
                found = at - _V1_FRAME.size
                break
            at += 1
    return found


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def segment_numbers(directory: str | os.PathLike[str]) -> list[int]:
    """The numbers of the segment files in ``directory`` (none when it does not exist), ascending."""
    found = []
    for path in Path(directory).glob(f"*{SEGMENT_SUFFIX}"):
        with contextlib.suppress(ValueError):
            found.append(int(path.name.removesuffix(SEGMENT_SUFFIX)))
    return sorted(found)


class Spool:
    """The segment files of one spool directory; used by one writer thread at a time.

    ``recover`` (once, before appending) yields the records after the committed
    position; ``append`` writes a batch of records with one fdatasync;
    ``release`` deletes the segments the store has wholly committed. ``damage``
    lists what recovery had to skip.
    """

    def __init__(self, directory: str | os.PathLike[str], *, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SpoolError(f"cannot open the spool {self.directory}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise SpoolError(f"the spool {self.directory} is used by another process") from None
        self._fd: int | None = None
        self._segment = 0
        self._size = 0
        self.fsyncs = 0
        self.damage: list[Damage] = []

    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:016d}{SEGMENT_SUFFIX}"

    def segments(self) -> list[int]:
        """The numbers of the segment files present, ascending."""
        return segment_numbers(self.directory)

    def recover(self, committed: Position) -> Iterator[tuple[Position, Record]]:
        """Every intact record after ``committed``, in order; damaged ranges are skipped and logged."""
        segments = self.segments()
        for segment in segments:
            if segment < committed.segment:
                self._path(segment).unlink()
                continue
            start = committed.offset if segment == committed.segment else 0
            yield from self._read_segment(segment, start, last=segment == segments[-1])
        self._segment = max([committed.segment, *self.segments()])

    def _read_segment(self, segment: int, start: int, *, last: bool) -> Iterator[tuple[Position, Record]]:
        path = self._path(segment)
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size <= start:
                return
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                # A damaged segment header still leaves the first record's magic to tell the format by.
                header = len(SEGMENT_HEADER)
                current = data[:header] == SEGMENT_HEADER or data[header:header + 4] == RECORD_MAGIC
                read, resync = (_read_v2, _next_v2) if current else (_read_v1, _next_v1)
                offset = max(start, len(SEGMENT_HEADER)) if current else start
                while offset < size:
                    found = read(data, offset, size)
                    if found is not None and found[0] is not None:
                        yield Position(segment, found[1]), found[0]
                        offset = found[1]
                        continue
                    # A frame with a good header and a bad body is skipped alone; otherwise search onwards.
                    end = found[1] if found is not None else resync(data, offset + 1, size)
                    self._damaged(Damage(segment, offset, end - offset, at_end=end == size and last))
                    offset = end

    def _damaged(self, damage: Damage) -> None:
        self.damage.append(damage)
        if damage.at_end:
            log.warning(
                "liveobs spool: segment %d: bytes %d-%d (%d bytes) at its end hold no intact record; skipped"
                " (a write cut short by a crash, never acknowledged, or damaged data)",
                damage.segment, damage.offset, damage.offset + damage.size, damage.size,
            )
        else:
            log.error(
                "liveobs spool: segment %d: bytes %d-%d (%d bytes) are damaged; the acknowledged records in them"
                " are lost and skipped; every intact record after them is replayed",
                damage.segment, damage.offset, damage.offset + damage.size, damage.size,
            )

    def append(self, records: list[tuple[bytes, bytes]]) -> list[Position]:
        """Write framed records (see :func:`frame`), fdatasync once; the end position of each."""
        if self._fd is None or self._size >= self.segment_bytes:
            self._roll()
        assert self._fd is not None
        positions = []
        buffers: list[bytes] = []
        size = self._size
        for head, body in records:
            buffers += (head, body)
            size += len(head) + len(body)
            positions.append(Position(self._segment, size))
        try:
            for i in range(0, len(buffers), _IOV_MAX):
                chunk = buffers[i:i + _IOV_MAX]
                written, total = 0, sum(len(b) for b in chunk)
                while written < total:  # writev may write less than asked
                    written += os.writev(self._fd, _skip(chunk, written))
            os.fdatasync(self._fd)
        except OSError:
            # Nothing of this batch is acknowledged: take it back, so no later start replays it.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size = size
        self.fsyncs += 1
        return positions

    def _roll(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._segment += 1
        fd = os.open(self._path(self._segment), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            os.write(fd, SEGMENT_HEADER)
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        self._size = len(SEGMENT_HEADER)
        _fsync_dir(self.directory)  # the new file's name must survive a crash too

    def read(self, end: Position, size: int) -> bytes:
        """The last ``size`` bytes of the record that ends at ``end`` (its body), read back from its segment.

        Safe beside :meth:`append` in another thread: it reads bytes already written, through its own descriptor.
        """
        fd = os.open(self._path(end.segment), os.O_RDONLY)
        try:
            data = os.pread(fd, size, end.offset - size)
        finally:
            os.close(fd)
        if len(data) != size:
            raise OSError(f"segment {end.segment}: {len(data)} of {size} bytes at offset {end.offset - size}")
        return data

    def release(self, committed: Position) -> None:
        """Delete the segments before the one holding ``committed`` (all their records are stored)."""
        for segment in self.segments():
            if segment >= committed.segment:
                break
            with contextlib.suppress(FileNotFoundError):
                self._path(segment).unlink()

    def close(self, *, empty: bool) -> None:
        """Close the current segment; with ``empty`` (everything committed) delete the segments and the directory."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if empty:
            for segment in self.segments():
                with contextlib.suppress(FileNotFoundError):
                    self._path(segment).unlink()
            # Nothing left to replay: leave no directory behind (unlinked while still locked).
            with contextlib.suppress(OSError):
                (self.directory / "LOCK").unlink()
                self.directory.rmdir()
        os.close(self._lock_fd)

    def pending_bytes(self) -> int:
        return sum(self._path(s).stat().st_size for s in self.segments())


def _skip(buffers: list[bytes], written: int) -> list[bytes | memoryview]:
    """The buffers left after the first ``written`` bytes."""
    if not written:
        return list(buffers)
    out: list[bytes | memoryview] = []
    for buffer in buffers:
        if written >= len(buffer):
            written -= len(buffer)
            continue
        out.append(memoryview(buffer)[written:] if written else buffer)
        written = 0
    return out
