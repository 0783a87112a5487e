"""Trace and log conversion in a child process, so that the collector's second core converts them.

Conversion is Python and holds the GIL: in the collector's own process it shares
one core with the HTTP server, the spool's parse check and the committer's calls
into DuckDB, and every answer waits for its time slices. Here the converter
thread hands each batch of spooled trace and log bodies (see _convertbatch) to a
child process over a pipe and gets back, per request, its Arrow tables as IPC
streams (or why it failed); the collector then only reads them and commits.

Wire format, both ways: frames of an 8-byte little-endian length and the payload.
A request frame is the count of bodies, their lengths, their signals (a byte
each: the index in ``_convertbatch.BATCHED``) and the bodies. A reply
frame is a 4-byte header length, a JSON header (per request: the batches it has
in each stream and the rows it has in each staged file, its rejected count, or
its failure; the streams' names and byte lengths; the staged files' names; the
child's CPU seconds) and one IPC stream per table name, each holding the
requests' batches in request order.

Given a staging folder, the child writes the rows of the tables of
``_staged.STAGED_TABLES`` there, one Parquet file per batch (see ``_staged``),
instead of sending them; if it cannot, it sends them.

The child exits when its pipe closes (the collector stopped or died). A child
that fails or dies is logged once; what it held is converted in the
collector's own process, and so is everything after.
"""

from __future__ import annotations

import contextlib
import gc
import io
import itertools
import json
import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from liveobs.correlator._convertbatch import BATCHED, convert_batch
from liveobs.correlator._correlation import Converted
from liveobs.correlator._otlp import BodyError, ConversionFailed, MalformedBody, Signal
from liveobs.correlator._rawspans import AttributeInterner
from liveobs.correlator._scrub import IngestScrubber
from liveobs.correlator._staged import STAGED_TABLES, SUFFIX, StagedFile, StagedRows, write_staged

_LENGTH: Final = struct.Struct("<Q")
_HEADER: Final = struct.Struct("<I")
# Pseudo table names for a request's error candidates (never store tables).
_SPAN_ERRORS: Final = "#span_errors"
_LOG_ERRORS: Final = "#log_errors"
# The child's entry point, which keeps pandas out of it (see there).
CHILD_MODULE: Final = "liveobs.correlator._convertchild"
# How long a closing collector waits for the child to exit on its own before killing it.
EXIT_TIMEOUT_S: Final = 5.0
# A frame larger than this is refused (a broken peer): a batch of bodies is at most a few MiB.
MAX_FRAME_BYTES: Final = 1 << 31
# The child's cycle collector runs after this many allocations net of frees (see main).
GC_THRESHOLD: Final = 50_000


class WorkerGone(RuntimeError):
    """The child process died, closed its pipe or answered something unreadable."""


def _write_frame(out: io.BufferedIOBase, parts: Iterable[bytes | memoryview | pa.Buffer]) -> None:
    views = [memoryview(p).cast("B") for p in parts]
    out.write(_LENGTH.pack(sum(v.nbytes for v in views)))
    for view in views:
        out.write(view)
    out.flush()


def _read_exact(source: io.BufferedIOBase, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        n = source.readinto(view[got:])
        if not n:
            raise WorkerGone("the pipe closed")
        got += n
    return buffer


def _read_frame(source: io.BufferedIOBase) -> bytearray:
    (size,) = _LENGTH.unpack(_read_exact(source, _LENGTH.size))
    if size > MAX_FRAME_BYTES:
        raise WorkerGone(f"a frame of {size} bytes")
    return _read_exact(source, size)


# -- the collector's side ----------------------------------------------------------------


class ConvertProcess:
    """The child process and the two pipes to it; :meth:`send` and :meth:`receive` may run in two threads."""

    def __init__(self, staging: Path | None = None) -> None:
        self._staging = staging
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        # The child imports the same code as this process, wherever that came from.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", CHILD_MODULE, str(to_child_r), str(from_child_w),
                 *([str(staging)] if staging is not None else [])],
                pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._out = os.fdopen(to_child_w, "wb")
        self._in = os.fdopen(from_child_r, "rb")

    @property
    def pid(self) -> int:
        return self._process.pid

    def send(self, requests: list[tuple[Signal, bytes]]) -> None:
        """Ask for one batch of request bodies to be converted (answered in order by :meth:`receive`)."""
        count = len(requests)
        head = struct.pack(f"<I{count}Q{count}B", count, *(len(body) for _, body in requests),
                           *(BATCHED.index(signal) for signal, _ in requests))
        try:
            _write_frame(self._out, [head, *(body for _, body in requests)])
        except (OSError, ValueError) as exc:
            raise WorkerGone(f"cannot write to the conversion process: {exc}") from None

    def receive(self) -> tuple[list[Converted | BodyError], float]:
        """The next batch's results (a :class:`Converted` or the failure, per body) and the child's CPU seconds."""
        try:
            frame = _read_frame(self._in)
            return decode_reply(frame, self._staging)
        except (OSError, ValueError, KeyError, IndexError, pa.ArrowException) as exc:
            raise WorkerGone(f"cannot read the conversion process's answer: {exc}") from None

    def finish(self) -> None:
        """No more batches: close the pipe to the child, which answers what it holds and exits."""
        with contextlib.suppress(OSError):
            self._out.close()

    def kill(self) -> None:
        """Stop the child now (it failed); a thread reading its answers then sees the pipe close."""
        if self._process.poll() is None:
            self._process.kill()

    def close(self) -> None:
        """Close the pipes (the child then exits), and kill the child if it does not."""
        for stream in (self._out, self._in):
            with contextlib.suppress(OSError):
                stream.close()
        try:
            self._process.wait(EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def decode_reply(frame: bytearray, staging: Path | None = None) -> tuple[list[Converted | BodyError], float]:
    """A reply frame read back: per body its tables (zero-copy views of ``frame``, or its rows of a file in
    ``staging``) or its failure."""
    (head_size,) = _HEADER.unpack_from(frame)
    header = json.loads(bytes(frame[_HEADER.size:_HEADER.size + head_size]))
    data = pa.py_buffer(frame)
    offset = _HEADER.size + head_size
    batches: dict[str, list[pa.RecordBatch]] = {}
    schemas: dict[str, pa.Schema] = {}
    for name, size in header["streams"]:
        with pa.ipc.open_stream(data.slice(offset, size)) as reader:
            schemas[name] = reader.schema
            batches[name] = list(reader)
        offset += size
    cursor = dict.fromkeys(batches, 0)
    files: dict[str, StagedFile] = {}
    for name, (file_name, parts, size) in header.get("files", {}).items():
        if staging is None or name not in STAGED_TABLES:
            raise ValueError(f"a staged file for {name!r} that was not asked for")
        files[name] = StagedFile(staging / Path(file_name).name, parts, size)

    def take(name: str, count: int) -> pa.Table:
        start = cursor[name]
        cursor[name] = start + count
        return pa.Table.from_batches(batches[name][start:start + count], schemas[name])

    results: list[Converted | BodyError] = []
    for entry in header["items"]:
        failure = entry.get("failure")
        if failure is not None:
            kind, message = failure
            results.append(MalformedBody(message) if kind == "body" else ConversionFailed(message))
            continue
        out = Converted(rejected=entry["rejected"])
        for name, count in entry["tables"]:
            table = take(name, count)
            if name == _SPAN_ERRORS:
                out.span_error_candidates = table
            elif name == _LOG_ERRORS:
                out.log_error_candidates = table
            else:
                out.tables[name] = table
        for name, part, rows in entry.get("staged", ()):
            out.tables[name] = StagedRows(files[name], part, rows)
        results.append(out)
    return results, float(header["cpu"])


# -- the child's side ---------------------------------------------------------------------


Staged = tuple[dict[str, tuple[str, int, int]], list[list[tuple[str, int, int]]]]
# The tables this process could not stage at some point (see _stage).
_unstaged: set[str] = set()


def _stage(results: list[Converted | BodyError], staging: Path, number: int) -> Staged:
    """Write the staged tables' rows of this batch (``number``): per table, its file's name, parts and size;
    per request, its (table, part, rows) in those files.

    The requests' tables are taken out of ``results``; a file that cannot be written leaves them there (sent).
    """
    files: dict[str, tuple[str, int, int]] = {}
    staged: list[list[tuple[str, int, int]]] = [[] for _ in results]
    for name in STAGED_TABLES:
        parts = [r.tables.get(name) if isinstance(r, Converted) else None for r in results]
        held = sum(1 for t in parts if t is not None and t.num_rows)
        if not held:
            continue
        file_name = f"{os.getpid()}-{number}-{name}{SUFFIX}"
        try:
            size = write_staged(staging / file_name, parts)
        except (OSError, pa.ArrowException) as exc:
            if name not in _unstaged:  # said once per table: a full disk would repeat it every batch
                print(f"liveobs conversion: cannot stage {name} rows ({exc}); sending them instead", file=sys.stderr)
                _unstaged.add(name)
            continue
        files[name] = (file_name, held, size)
        for part, (result, table) in enumerate(zip(results, parts, strict=True)):
            if isinstance(result, Converted) and table is not None:
                del result.tables[name]
                if table.num_rows:
                    staged[part].append((name, part, table.num_rows))
    return files, staged


def encode_reply(results: list[Converted | BodyError], cpu: float, staged: Staged | None = None) -> list[bytes | pa.Buffer]:
    """The parts of one reply frame (see the module's docstring)."""
    by_name: dict[str, list[pa.RecordBatch]] = {}
    schemas: dict[str, pa.Schema] = {}
    items: list[dict[str, Any]] = []
    files, parts = staged or ({}, [[] for _ in results])
    for result, rows in zip(results, parts, strict=True):
        if isinstance(result, BodyError):
            kind = "conversion" if isinstance(result, ConversionFailed) else "body"
            items.append({"failure": [kind, str(result)]})
            continue
        tables = dict(result.tables)
        if result.span_error_candidates is not None:
            tables[_SPAN_ERRORS] = result.span_error_candidates
        if result.log_error_candidates is not None:
            tables[_LOG_ERRORS] = result.log_error_candidates
        entry = []
        for name, table in tables.items():
            chunks = table.to_batches()
            schemas.setdefault(name, table.schema)
            by_name.setdefault(name, []).extend(chunks)
            entry.append([name, len(chunks)])
        items.append({"rejected": result.rejected, "tables": entry, "staged": rows})
    streams: list[pa.Buffer] = []
    for name, chunks in by_name.items():
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, schemas[name]) as writer:
            for chunk in chunks:
                writer.write_batch(chunk)
        streams.append(sink.getvalue())
    header = json.dumps({
        "items": items, "cpu": cpu, "files": files,
        "streams": [[name, s.size] for name, s in zip(by_name, streams, strict=True)],
    }).encode()
    return [_HEADER.pack(len(header)), header, *streams]


def serve(source: io.BufferedIOBase, out: io.BufferedIOBase, staging: Path | None = None) -> None:
    """Answer batches until the pipe closes."""
    scrubber = IngestScrubber()
    interner = AttributeInterner(scrubber)
    for number in itertools.count():
        try:
            frame = _read_frame(source)
        except WorkerGone:
            return
        (count,) = struct.unpack_from("<I", frame)
        sizes = struct.unpack_from(f"<{count}Q", frame, 4)
        signals = struct.unpack_from(f"<{count}B", frame, 4 + 8 * count)
        offset = 4 + 9 * count
        requests = []
        view = memoryview(frame)
        for size, code in zip(sizes, signals, strict=True):
            requests.append((BATCHED[code], bytes(view[offset:offset + size])))  # one copy of each body
            offset += size
        view.release()
        del frame
        cpu = time.thread_time()
        results = convert_batch(requests, scrubber, interner)
        del requests
        staged = _stage(results, staging, number) if staging is not None else None
        parts = encode_reply(results, time.thread_time() - cpu, staged)
        try:
            _write_frame(out, parts)
        except OSError:
            return


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C stops the collector, which closes the pipe
    # A pass allocates tens of thousands of short-lived objects, freed by their counts: with the default
    # threshold (700) the cycle collector ran every few hundred spans, about 6% of the conversion's time.
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)
    with os.fdopen(int(argv[0]), "rb") as source, os.fdopen(int(argv[1]), "wb") as out:
        serve(source, out, Path(argv[2]) if len(argv) > 2 else None)
