"""The one writer: decode, convert to columns, group commit, then acknowledge.

Two threads form a pipeline. The converter parses each request and builds its
Arrow batch (Python work, holding the GIL); the committer takes every batch that
is ready, inserts them per table with ``INSERT … BY NAME SELECT`` from the
registered Arrow tables, derives the correlation index, trace bounds and error
occurrences in the same transaction, commits, and only then completes each
request. DuckDB syncs its write-ahead log on commit, so an acknowledged request
survives ``kill -9``; nothing is acknowledged before that (no spool needed).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import duckdb
import pyarrow as pa
from google.protobuf.message import Message

from liveobs.correlator._convertbatch import batchable, convert_batch
from liveobs.correlator._correlation import Converted
from liveobs.correlator._datapoints import metrics_tables
from liveobs.correlator._dedup import RecentRequests, request_digest
from liveobs.correlator._logrecords import logs_table
from liveobs.correlator._otlp import (
    LOGS,
    PROTOBUF,
    TRACES,
    BodyError,
    ConversionFailed,
    MalformedBody,
    Signal,
    parse_request,
)
from liveobs.correlator._rawspans import AttributeInterner, RawTraceRequest, raw_trace_request
from liveobs.correlator._scrub import IngestScrubber
from liveobs.correlator._spans import spans_table
from liveobs.correlator._storegate import StoreGate
from liveobs.correlator._transaction import Mark, OpenTransaction
from liveobs.correlator._validate import check_request

DEFAULT_GROUP_ROWS: Final = 200_000
# How long a commit waits for more requests to join it: fewer, larger commits
# (each one syncs the write-ahead log) for a few milliseconds of latency.
DEFAULT_LINGER_S: Final = 0.02
_STOP: Final = object()
# Requests converted in one batch, at most: about 4,000 spans of a typical SDK's export (fewer Arrow
# calls per span; past that the columns outgrow the CPU caches and a pass gets slower per span).
BATCH_REQUESTS: Final = 64
BATCH_BYTES: Final = 2 * 1024 * 1024

@dataclass(frozen=True, slots=True)
class WriteResult:
    """How a request ended: rows stored, items rejected (and why), or skipped as already received."""

    accepted: int
    rejected: int
    duplicate: bool = False
    message: str = ""


Done = Callable[[WriteResult | BaseException], None]


@dataclass(slots=True)
class _Item:
    signal: Signal
    payload: bytes | Message
    media: str
    done: Done
    source_key: str | None = None
    source: str | None = None
    sender: str | None = None
    converted: Converted = field(default_factory=Converted)
    accepted: int = 0
    rejected: int = 0
    message: str = ""
    # Idempotent ingest (see _dedup): the request's digest; claimed once checked against recent requests.
    digest: bytes = b""
    claimed: bool = False
    # Spool mode: bytes and rows acknowledged before conversion.
    size: int = 0
    acked_rows: int = 0
    # Spool mode (see _spoolwriter): where the record ends, its order, when it was acknowledged.
    position: Any = None
    seq: int = 0
    spooled_at: float = 0.0
    # Spool mode: the Arrow bytes of the converted tables, and why the body could not be read back.
    nbytes: int = 0
    unreadable: BaseException | None = None


@dataclass(slots=True)
class WriterStats:
    """Counters a health endpoint or a benchmark can read."""

    commits: int = 0
    rows: int = 0
    requests: int = 0
    commit_seconds: float = 0.0
    convert_seconds: float = 0.0
    # CPU seconds of the threads themselves (the wall times above include waiting for the GIL).
    commit_cpu_seconds: float = 0.0
    convert_cpu_seconds: float = 0.0
    # Conversion passes: requests that wait are converted together (see _convertbatch).
    convert_batches: int = 0
    errors: int = 0
    max_commit_rows: int = 0
    # Spool mode: rows inserted into their transaction while the commit was not yet due (see _spoolcommit).
    early_rows: int = 0
    # Spool mode: rows the conversion process handed over in staged files (see _staged).
    staged_rows: int = 0
    duplicates: int = 0
    # Spool mode only: group fsyncs, rows acknowledged but not yet committed, records replayed on start,
    # rows acknowledged that the store then refused (logged).
    fsyncs: int = 0
    fsync_seconds: float = 0.0
    max_fsync_seconds: float = 0.0
    pending_rows: int = 0
    replayed: int = 0
    dropped_rows: int = 0
    # Acknowledged requests not yet converted (raw bytes), and spool bytes skipped as damaged on start.
    backlog_bytes: int = 0
    damaged_bytes: int = 0
    damaged_ranges: int = 0


def _batchable(item: Any) -> bool:
    return (batchable(item.signal, item.media) and isinstance(item.payload, bytes | bytearray)
            and item.unreadable is None)


def _convert(item: _Item, scrubber: IngestScrubber, interner: AttributeInterner) -> None:
    message = item.payload
    if item.signal is TRACES and item.media == PROTOBUF and isinstance(message, bytes | bytearray):
        # Spans are read from the wire with their attributes as raw bytes (see _rawspans).
        message = raw_trace_request(bytes(message))
    elif isinstance(message, bytes | bytearray):
        message = parse_request(item.signal, bytes(message), item.media)
    if item.signal is TRACES:
        if not isinstance(message, RawTraceRequest):
            message = raw_trace_request(message)
        converted = spans_table(message, scrubber, interner)
    elif item.signal is LOGS:
        converted = logs_table(message, scrubber)
    else:
        converted = metrics_tables(message, scrubber)
    item.converted = converted
    item.accepted = converted.accepted
    item.rejected = converted.rejected


def as_body_error(exc: BaseException) -> BaseException:
    """A store error caused by the data itself becomes a 400; anything else stays as it is."""
    if isinstance(exc, duckdb.InvalidInputException | duckdb.ConversionException | pa.ArrowException):
        return MalformedBody(f"the data cannot be stored: {str(exc)[:200]}")
    return exc


class Writer:
    """Owns the store's write connection; every write goes through it.

    ``submit`` is thread-safe and returns at once; ``done`` is called from a
    writer thread with a :class:`WriteResult` after COMMIT, or with the exception
    (a :class:`~liveobs.correlator._otlp.BodyError` for a bad body).
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        scrubber: IngestScrubber | None = None,
        group_rows: int = DEFAULT_GROUP_ROWS,
        linger: float = DEFAULT_LINGER_S,
        ready_batches: int = 64,
        gate: StoreGate | None = None,
    ) -> None:
        self._con = con
        # Commits enter it beside the reads; the retention pass's checkpoint enters it alone (see _storegate).
        self.gate = gate or StoreGate()
        self._scrubber = scrubber or IngestScrubber()
        self._interner = AttributeInterner(self._scrubber)
        self._group_rows = group_rows
        self._linger = linger
        self._incoming: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._convert_source = self._incoming  # where the converter takes requests from
        self._recent = RecentRequests()
        self._ready: queue.Queue[Any] = queue.Queue(maxsize=ready_batches)
        self.stats = WriterStats()
        self._threads = [
            threading.Thread(target=self._convert_loop, name="liveobs-convert", daemon=True),
            threading.Thread(target=self._commit_loop, name="liveobs-commit", daemon=True),
        ]
        self._started = False
        self._closed = False

    def start(self) -> Writer:
        if not self._started:
            self._recent.load(self._con)
            self._started = True
            for thread in self._threads:
                thread.start()
        return self

    def submit(
        self,
        signal: Signal,
        payload: bytes | Message,
        done: Done,
        *,
        media: str = "application/x-protobuf",
        source_key: str | None = None,
        source: str | None = None,
        sender: str | None = None,
    ) -> None:
        """Queue one request (a raw body or a parsed ``Export*ServiceRequest``); ``sender`` names who sent it
        (a raw body sent again by the same sender within the window is stored once)."""
        if self._closed:
            raise RuntimeError("the writer is closed")
        self._incoming.put(_Item(signal, payload, media, done, source_key, source, sender))

    def write(
        self, signal: Signal, payload: bytes | Message, *, media: str = "application/x-protobuf",
        source_key: str | None = None, source: str | None = None, timeout: float | None = None,
    ) -> WriteResult:
        """Submit and wait until the request is committed (or failed)."""
        finished = threading.Event()
        outcome: list[WriteResult | BaseException] = []

        def done(result: WriteResult | BaseException) -> None:
            outcome.append(result)
            finished.set()

        self.submit(signal, payload, done, media=media, source_key=source_key, source=source)
        if not finished.wait(timeout):
            raise TimeoutError("the write was not committed in time")
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every acknowledged request is committed; here acknowledgement follows COMMIT."""
        return True

    def backlogged(self) -> bool:
        """True when new requests should be refused (429) before their body is read."""
        return False

    def close(self) -> None:
        """Finish every queued request (drain), then stop the threads."""
        if self._closed:
            return
        self._closed = True
        if self._started:
            self._incoming.put(_STOP)
            for thread in self._threads:
                thread.join()

    def _convert_loop(self) -> None:
        held: Any = None
        while True:
            item = self._convert_source.get() if held is None else held
            held = None
            if item is _STOP:
                break
            self._load(item)
            self._digest(item)
            batch = [item]
            if _batchable(item):
                # Requests already waiting are converted together (see _convertbatch).
                size = len(item.payload)
                while len(batch) < BATCH_REQUESTS:
                    try:
                        nxt = self._convert_source.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is not _STOP:
                        self._load(nxt)
                    if nxt is _STOP or not _batchable(nxt) or size + len(nxt.payload) > BATCH_BYTES:
                        held = nxt
                        break
                    self._digest(nxt)
                    batch.append(nxt)
                    size += len(nxt.payload)
            self._hand_over(batch)
        self._converted(_STOP)

    def _hand_over(self, batch: list[_Item]) -> None:
        """Convert a batch (in spool order) and hand each request to the committer."""
        started = time.perf_counter()
        cpu = time.thread_time()
        converted = self._convert_batch(batch) if len(batch) > 1 else self._convert_one(batch[0])
        self.stats.convert_seconds += time.perf_counter() - started
        self.stats.convert_cpu_seconds += time.thread_time() - cpu
        self.stats.convert_batches += 1
        for done in converted:
            self._converted(done)

    def _load(self, item: _Item) -> None:
        """Make the request's body available to the converter (here it is always held)."""

    def _digest(self, item: _Item) -> None:
        if not item.claimed and item.source_key is None and isinstance(item.payload, bytes | bytearray):
            item.digest = request_digest(item.sender, item.signal.name, bytes(item.payload))

    def _convert_one(self, item: _Item) -> list[_Item]:
        """The request converted (the items that parse, when the whole does not), or answered with its error."""
        try:
            try:
                _convert(item, self._scrubber, self._interner)
            except BodyError:
                if not isinstance(item.payload, bytes | bytearray):
                    raise
                checked = check_request(item.signal, bytes(item.payload), item.media)
                item.payload, item.media = checked.body, checked.media or item.media
                _convert(item, self._scrubber, self._interner)
                item.rejected, item.message = checked.rejected, checked.reason
        except BodyError as exc:
            item.done(exc)
            return []
        except Exception as exc:  # a converter bug must not stop the writer
            item.done(ConversionFailed(f"cannot convert the request: {type(exc).__name__}: {exc}"[:300]))
            return []
        return [item]

    def _convert_batch(self, batch: list[_Item]) -> list[_Item]:
        """Protobuf trace and log requests converted together (see _convertbatch); one that fails is
        converted again alone, where its error is answered (or its valid part kept)."""
        results = convert_batch([(i.signal, bytes(i.payload)) for i in batch], self._scrubber, self._interner)
        done: list[_Item] = []
        for item, converted in zip(batch, results, strict=True):
            if isinstance(converted, BodyError):
                done.extend(self._convert_one(item))
                continue
            item.converted = converted
            item.accepted = converted.accepted
            item.rejected = converted.rejected
            done.append(item)
        return done

    def _converted(self, item: Any) -> None:
        """Hand a converted request (or the stop mark) to the committer."""
        if item is not _STOP:
            item.payload = b""
        self._ready.put(item)

    def _commit_loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._ready.get()
            if first is _STOP:
                return
            group: list[_Item] = [first]
            rows = first.accepted
            deadline = time.monotonic() + self._linger
            while rows < self._group_rows:
                try:
                    nxt = self._ready.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                group.append(nxt)
                rows += nxt.accepted
            self._commit(group)

    def _commit(self, group: list[_Item]) -> None:
        outcome = self._transact(group)
        if isinstance(outcome, Exception):
            if len(group) > 1:
                # One bad request must not fail the others: commit them one by one.
                for item in group:
                    self._commit([item])
                return
            failure = as_body_error(outcome)
            for item in group:
                item.done(failure)
            return
        self._acknowledge(group, outcome)

    def _transact(self, group: list[_Item], mark: Mark | None = None) -> list[_Item] | Exception:
        """Insert the group in one transaction (``mark`` runs inside it); the requests stored, or the error."""
        try:
            transaction = self._begin()
        except Exception as exc:
            self.stats.errors += 1
            return exc
        try:
            transaction.add(group)
            return transaction.commit(mark)
        except Exception as exc:
            transaction.abandon()
            return exc

    def _begin(self) -> OpenTransaction:
        """A transaction open in the store gate (see _transaction)."""
        return OpenTransaction(self._con, self.gate, self._recent, self.stats)

    def _acknowledge(self, group: list[_Item], fresh: list[_Item]) -> None:
        fresh_ids = {id(i) for i in fresh}
        for item in group:
            if id(item) in fresh_ids:
                item.done(WriteResult(item.accepted, item.rejected, message=item.message))
            else:
                item.done(WriteResult(0, item.rejected, duplicate=True))
            item.converted = Converted()
