"""The collector's durable spool: append-only segment files of acknowledged requests.

A request is answered 200 once its record is here and fsynced; the store commits
later, in large batches, and records in the same transaction how far into the
spool it has committed (``liveobs_spool``). On start, every record after that
position is replayed, exactly once. Segments wholly behind the position are
deleted.

A segment is a file ``<16-digit number>.spool`` of records framed as::

    u32 length of the rest | u32 CRC32 of the rest | u8 signal | u8 media | u16 key length | key | body

(little endian). The body is the request as received, after decompression. A
record cut short or failing its CRC was never acknowledged (its fsync did not
return): it is truncated on recovery and logged.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
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
_FRAME: Final = struct.Struct("<II")
_META: Final = struct.Struct("<BBH")
_SIGNAL_CODES: Final = {TRACES.name: 1, LOGS.name: 2, METRICS.name: 3}
_SIGNALS: Final = {1: TRACES, 2: LOGS, 3: METRICS}
_MEDIA_CODES: Final = {PROTOBUF: 1, JSON: 2}
_MEDIA: Final = {1: PROTOBUF, 2: JSON}
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
    """One spooled request."""

    signal: Signal
    media: str
    body: bytes
    source_key: str | None


def frame(signal: Signal, media: str, body: bytes, source_key: str | None) -> tuple[bytes, bytes]:
    """(frame header + meta, body) of one record; written as two buffers to avoid copying the body."""
    key = (source_key or "").encode("utf-8")
    meta = _META.pack(_SIGNAL_CODES[signal.name], _MEDIA_CODES[media], len(key)) + key
    crc = zlib.crc32(body, zlib.crc32(meta))
    return _FRAME.pack(len(meta) + len(body), crc) + meta, body


def _parse(rest: bytes) -> Record | None:
    if len(rest) < _META.size:
        return None
    signal_code, media_code, key_length = _META.unpack_from(rest)
    signal, media = _SIGNALS.get(signal_code), _MEDIA.get(media_code)
    if signal is None or media is None or _META.size + key_length > len(rest):
        return None
    key = rest[_META.size:_META.size + key_length].decode("utf-8", "replace") or None
    return Record(signal, media, rest[_META.size + key_length:], key)


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
    ``release`` deletes the segments the store has wholly committed.
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

    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:016d}{SEGMENT_SUFFIX}"

    def segments(self) -> list[int]:
        """The numbers of the segment files present, ascending."""
        return segment_numbers(self.directory)

    def recover(self, committed: Position) -> Iterator[tuple[Position, Record]]:
        """Every intact record after ``committed``, in order; torn tails are truncated and logged."""
        for segment in self.segments():
            if segment < committed.segment:
                self._path(segment).unlink()
                continue
            start = committed.offset if segment == committed.segment else 0
            yield from self._read_segment(segment, start)
        self._segment = max([committed.segment, *self.segments()])

    def _read_segment(self, segment: int, start: int) -> Iterator[tuple[Position, Record]]:
        path = self._path(segment)
        data = path.read_bytes()
        offset = start
        while offset < len(data):
            record: Record | None = None
            end = offset
            if offset + _FRAME.size <= len(data):
                length, crc = _FRAME.unpack_from(data, offset)
                end = offset + _FRAME.size + length
                rest = data[offset + _FRAME.size:end]
                if end <= len(data) and zlib.crc32(rest) == crc:
                    record = _parse(rest)
            if record is None:
                log.warning(
                    "liveobs spool: %s has a torn or corrupt record at byte %d (%d bytes, never acknowledged);"
                    " truncated", path, offset, len(data) - offset,
                )
                with open(path, "r+b") as file:
                    file.truncate(offset)
                    os.fsync(file.fileno())
                return
            yield Position(segment, end), record
            offset = end

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
        self._segment += 1
        self._fd = os.open(self._path(self._segment), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._size = 0
        _fsync_dir(self.directory)  # the new file's name must survive a crash too

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
