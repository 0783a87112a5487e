"""``liveobs ingest``: JSON-lines logs and OTLP-JSON files into the store.

A file is read twice: once to hash it, once to parse it line by line. Lines are
grouped into chunks of :data:`CHUNK_LINES`; each chunk is written in one
transaction together with a ledger row keyed by the file's hash and the chunk
number, so ingesting the same file again stores nothing twice (and an
interrupted ingest resumes where it stopped). Bad lines are counted and reported
with their line numbers; good lines are kept.

When a collector owns the store, chunks are sent to it as OTLP protobuf with
the ledger key in a header, and the collector's writer applies the same rule.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from liveobs.correlator._auth import bearer_header
from liveobs.correlator._logline import BadLine, log_record, resource_of
from liveobs.correlator._otlp import LOGS, PROTOBUF, SIGNALS_BY_NAME, BodyError, Signal, parse_json_object
from liveobs.correlator._writer import Writer, WriteResult

CHUNK_LINES: Final = 5_000
SOURCE_KEY_HEADER: Final = "X-Liveobs-Source-Key"
DUPLICATE_HEADER: Final = "X-Liveobs-Duplicate"
MAX_BAD_LINES_LISTED: Final = 100
_OTLP_ROOTS: Final = {"resourceSpans": "traces", "resourceLogs": "logs", "resourceMetrics": "metrics"}


class IngestError(RuntimeError):
    """A file could not be read or a chunk could not be stored."""


@dataclass
class FileReport:
    """What happened to one file."""

    path: str
    lines: int = 0
    rows: int = 0
    bad_lines: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)
    duplicate_chunks: int = 0
    chunks: int = 0

    @property
    def already_ingested(self) -> bool:
        return self.chunks > 0 and self.duplicate_chunks == self.chunks

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "lines": self.lines, "rows": self.rows, "bad_lines": self.bad_lines,
            "bad": [{"line": n, "reason": r} for n, r in self.bad], "chunks": self.chunks,
            "duplicate_chunks": self.duplicate_chunks, "already_ingested": self.already_ingested,
        }


@dataclass(frozen=True, slots=True)
class _Chunk:
    key: str
    signal: Signal
    message: Message
    end_offset: int


Send = Callable[[_Chunk, str], WriteResult]


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _LogChunk:
    def __init__(self) -> None:
        self.request = ExportLogsServiceRequest()
        self.scopes: dict[tuple[tuple[str, str], ...], Any] = {}
        self.records = 0

    def add(self, line: Any, observed_ns: int) -> None:
        if not isinstance(line, dict):
            raise BadLine("a log line must be a JSON object")
        resource = resource_of(line)
        scope = self.scopes.get(resource)
        if scope is None:
            rl = self.request.resource_logs.add()
            for key, value in resource:
                kv = rl.resource.attributes.add()
                kv.key = key
                kv.value.string_value = value
            scope = self.scopes[resource] = rl.scope_logs.add()
            scope.scope.name = "liveobs.ingest"
        record = scope.log_records.add()
        try:
            log_record(line, record, observed_ns)
        except BadLine:
            del scope.log_records[-1]
            raise
        self.records += 1


def _chunks(path: Path, digest: str, report: FileReport) -> Iterator[_Chunk]:
    observed_ns = time.time_ns()
    logs = _LogChunk()
    chunk_no = 0
    offset = 0
    with path.open("rb") as fh:
        first = fh.read(1 << 16).lstrip()
        fh.seek(0)
        if first.startswith(b"{") and _whole_document(path, report):
            obj = json.loads(path.read_bytes())
            signal = SIGNALS_BY_NAME[next(v for k, v in _OTLP_ROOTS.items() if k in obj)]
            report.lines = 1
            try:
                yield _Chunk(f"{digest}:doc", signal, parse_json_object(signal, obj), path.stat().st_size)
            except BodyError as exc:
                report.lines, report.bad_lines = 1, 1
                report.bad.append((1, str(exc)))
            return
        for number, raw in enumerate(fh, start=1):
            offset += len(raw)
            report.lines = number
            if raw.strip():
                try:
                    line = json.loads(raw)
                    root = next((v for k, v in _OTLP_ROOTS.items() if isinstance(line, dict) and k in line), None)
                    if root is not None:
                        signal = SIGNALS_BY_NAME[root]
                        yield _Chunk(f"{digest}:{number}", signal, parse_json_object(signal, line), offset)
                    else:
                        logs.add(line, observed_ns)
                except (ValueError, RecursionError, BadLine, BodyError) as exc:
                    report.bad_lines += 1
                    if len(report.bad) < MAX_BAD_LINES_LISTED:
                        report.bad.append((number, _reason(exc)))
            if number % CHUNK_LINES == 0:
                if logs.records:
                    yield _Chunk(f"{digest}:logs:{chunk_no}", LOGS, logs.request, offset)
                logs = _LogChunk()
                chunk_no += 1
    if logs.records:
        yield _Chunk(f"{digest}:logs:{chunk_no}", LOGS, logs.request, offset)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} at column {exc.colno}"
    return str(exc)[:200] or type(exc).__name__


def _whole_document(path: Path, report: FileReport) -> bool:
    """Whether the file is one (possibly pretty-printed) OTLP JSON document rather than JSON lines."""
    with path.open("rb") as fh:
        first_line = fh.readline()
    try:
        json.loads(first_line)
        return False
    except ValueError:
        pass
    try:
        obj = json.loads(path.read_bytes())
    except (ValueError, RecursionError):
        return False
    return isinstance(obj, dict) and any(k in obj for k in _OTLP_ROOTS)


def ingest_file(
    path: str | os.PathLike[str], send: Send, progress: Callable[[int], None] | None = None
) -> FileReport:
    """Ingest one file through ``send`` (a local writer or a running collector)."""
    target = Path(path)
    report = FileReport(str(path))
    try:
        digest = file_digest(target)
        done_offset = 0
        for chunk in _chunks(target, digest, report):
            result = send(chunk, str(target.resolve()))
            report.chunks += 1
            report.rows += result.accepted
            report.duplicate_chunks += int(result.duplicate)
            if progress is not None:
                progress(chunk.end_offset - done_offset)
                done_offset = chunk.end_offset
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc.strerror or exc}") from None
    return report


def local_sender(writer: Writer) -> Send:
    """Write chunks through ``writer`` (this process owns the store)."""

    def send(chunk: _Chunk, source: str) -> WriteResult:
        try:
            return writer.write(chunk.signal, chunk.message, source_key=chunk.key, source=source)
        except BodyError as exc:
            raise IngestError(f"the collector refused a chunk: {exc}") from None

    return send


def remote_sender(url: str, token: str | None, timeout: float = 120.0) -> Send:
    """Send chunks as OTLP protobuf to the collector that owns the store."""

    def send(chunk: _Chunk, source: str) -> WriteResult:
        body = chunk.message.SerializeToString()
        headers = {"Content-Type": PROTOBUF, SOURCE_KEY_HEADER: chunk.key, **bearer_header(token)}
        request = urllib.request.Request(f"{url}{chunk.signal.path}", data=body, headers=headers, method="POST")
        for attempt in range(30):
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    duplicate = response.headers.get(DUPLICATE_HEADER) == "1"
                    accepted = int(response.headers.get("X-Liveobs-Rows", "0"))
                    return WriteResult(accepted, 0, duplicate=duplicate)
            except urllib.error.HTTPError as exc:
                if exc.code in (429, 503) and attempt < 29:
                    time.sleep(float(exc.headers.get("Retry-After", "1")))
                    continue
                raise IngestError(f"the collector at {url} answered {exc.code}: {exc.read()[:200]!r}") from None
            except urllib.error.URLError as exc:
                raise IngestError(f"cannot reach the collector at {url}: {exc.reason}") from None
        raise IngestError(f"the collector at {url} stayed busy")

    return send


def ingest_files(
    paths: list[str],
    db: str | os.PathLike[str],
    *,
    token: str | None = None,
    progress: Callable[[int], None] | None = None,
    on_file: Callable[[FileReport], None] | None = None,
) -> list[FileReport]:
    """Ingest ``paths`` into the store ``db``: through its collector if one owns it, else directly.

    Raises :class:`IngestError` for an unreadable file or a refused chunk, and
    :class:`~liveobs.correlator._db.StoreBusyError` when another process holds
    the store without announcing a collector.
    """
    from liveobs.correlator._remote import discover

    running = discover(db)
    reports: list[FileReport] = []
    if running is not None:
        send = remote_sender(running.url, token)
        for path in paths:
            reports.append(ingest_file(path, send, progress))
            if on_file is not None:
                on_file(reports[-1])
        return reports
    from liveobs.correlator._db import connect

    con = connect(db)
    writer = Writer(con).start()
    try:
        send = local_sender(writer)
        for path in paths:
            reports.append(ingest_file(path, send, progress))
            if on_file is not None:
                on_file(reports[-1])
    finally:
        writer.close()
        con.close()
    return reports
