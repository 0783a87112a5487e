"""The writer with a durable spool: acknowledge once the raw request is durable, convert and commit afterwards.

Three threads. The spool thread takes every request that arrived together,
checks each with a parse (a bad body is refused here, before anything is
written; a body with some unreadable items keeps the others, see _validate),
drops a request already received (see _dedup), appends the rest to the spool
with one fdatasync and answers them 200: acknowledgement latency is a parse and
an fsync, not a conversion. Once spooled, a request's body is no longer held
in memory: the converter reads it back from the spool (from the page cache, as
a rule) and builds its Arrow batch (with ``convert_process``, trace and log
batches are sent to a child process instead, which hands span and log rows back
in staged Parquet files, see _staged, and a fourth thread takes its answers in
order, see _spoolconvert), and the committer (see _spoolcommit) commits them in
groups, with the spool position reached in the same transaction.

Bounds: converted rows waiting for their commit (``max_pending_rows``, two
commits' worth, and ``max_pending_bytes`` of Arrow data and staged files: past
either the converter waits), and acknowledged bytes waiting for conversion
(``max_backlog_bytes``, 128 MiB by default, on disk in the spool rather than in
memory; a request counts at least ``MIN_BACKLOG_COST``): a request that would
pass it is answered 429 with Retry-After instead of being acknowledged. So the writer holds at most about ``max_pending_bytes``
of converted rows, one group being committed (at most as much again) and the
converter's current batch, whatever the backlog on disk.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any, Final

import duckdb
from google.protobuf.message import Message

from liveobs.correlator._correlation import Converted
from liveobs.correlator._dedup import request_digest
from liveobs.correlator._otlp import PROTOBUF, TRACES, BodyError, ConversionFailed
from liveobs.correlator._rawspans import AttributeInterner
from liveobs.correlator._scrub import IngestScrubber
from liveobs.correlator._spool import Position, Spool, frame
from liveobs.correlator._spoolcommit import (
    DEFAULT_COMMIT_BYTES,
    DEFAULT_COMMIT_ROWS,
    DEFAULT_EARLY_ROWS,
    DEFAULT_MAX_DELAY_S,
    DEFAULT_MAX_PENDING_BYTES,
    SpoolCommitter,
    StoreUnavailable,
)
from liveobs.correlator._spoolconvert import ConvertProcess, WorkerGone
from liveobs.correlator._staged import StagedRows, prepare_folder, remove_folder
from liveobs.correlator._storegate import StoreGate
from liveobs.correlator._validate import check_request, count_items
from liveobs.correlator._writer import _STOP, WriteResult, _batchable, _convert, _Item

log = logging.getLogger("liveobs.correlator.spool")

# Acknowledged request bytes not yet converted (held in the spool on disk, not in memory), at most; past it
# new requests get 429. A read first commits them all: at 10-20 MB/s of conversion that is up to 10 s.
DEFAULT_MAX_BACKLOG_BYTES: Final = 128 * 1024 * 1024
# What a request counts against that bound, at least. A small request costs its share of a conversion pass
# (about 4 ms for spans, 1.6 ms for log records, shared by a batch of up to 64 requests): about as much as
# converting 4 KiB of spans. Counted by bytes alone, 128 MiB of one-span requests would hold a read for
# minutes; counted so, at most 32,768 requests wait, a few seconds of conversion.
MIN_BACKLOG_COST: Final = 4096
# Batches handed to the conversion process and not yet answered, at most: one converting, one waiting
# (its bodies already in the pipe), so the child never waits for the next.
IN_FLIGHT: Final = 2
# The conversion process's staged files, inside the spool's folder.
STAGING_FOLDER: Final = "staged"


def _backlog_cost(size: int) -> int:
    """What a spooled body of ``size`` bytes counts against ``max_backlog_bytes`` until it is converted."""
    return max(size, MIN_BACKLOG_COST)

# Shape: the one row (Segment, Offset) of the spool position the store has committed.
SPOOL_POSITION: Final = 'SELECT Segment, "Offset" FROM liveobs_spool WHERE Id = 1'


class Backlogged(StoreUnavailable):
    """Too much acknowledged data waits for conversion (answered 429 with Retry-After)."""


def _arrow_bytes(converted: Converted) -> int:
    """The Arrow bytes a converted request holds (its slices of shared batches counted by their rows)."""
    size = 0
    for table in (*converted.tables.values(), converted.span_error_candidates, converted.log_error_candidates):
        if table is not None:
            size += int(table.nbytes)
    return size


def _acknowledged(result: WriteResult | BaseException) -> None:
    """The ``done`` of a request already answered when its record was fsynced."""


class SpoolWriter(SpoolCommitter):
    """A :class:`Writer` that acknowledges once a request is in the fsynced spool.

    :meth:`start` first replays the records after the store's committed spool
    position; :meth:`flush` converts and commits everything acknowledged so far
    (reads call it); :meth:`close` drains, commits everything and empties the
    spool. Requests with a ledger key (``liveobs ingest``) are answered after
    their commit, so that a duplicate is reported as one.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        spool: Spool,
        *,
        scrubber: IngestScrubber | None = None,
        commit_rows: int = DEFAULT_COMMIT_ROWS,
        max_delay: float = DEFAULT_MAX_DELAY_S,
        max_pending_rows: int | None = None,
        max_backlog_bytes: int = DEFAULT_MAX_BACKLOG_BYTES,
        commit_bytes: int = DEFAULT_COMMIT_BYTES,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        convert_process: bool = False,
        gate: StoreGate | None = None,
        early_rows: int = DEFAULT_EARLY_ROWS,
    ) -> None:
        super().__init__(
            con, spool, scrubber=scrubber, gate=gate, commit_rows=commit_rows, commit_bytes=commit_bytes,
            max_delay=max_delay, max_pending_rows=max_pending_rows, max_pending_bytes=max_pending_bytes,
            early_rows=early_rows,
        )
        # Trace batches converted by a child process (see _spoolconvert), when asked for and the scrubber is
        # the default one (the child builds its own).
        self._use_process = convert_process and scrubber is None
        # Where the child writes converted spans and log records for the committer to read (see _staged).
        self._staging: Path | None = None
        self._worker: ConvertProcess | None = None
        self._worker_dead = False
        self._retiring = False
        self._flight: collections.deque[list[_Item]] = collections.deque()
        self._flight_cond = threading.Condition()
        self._max_backlog = max_backlog_bytes
        self._to_convert: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._convert_source = self._to_convert
        self._backlog = 0  # acknowledged bytes not yet converted
        self._appended = 0
        self._threads.insert(0, threading.Thread(target=self._spool_loop, name="liveobs-spool", daemon=True))

    def start(self) -> SpoolWriter:
        if not self._started:
            self._recent.load(self._con)
            self._replay()
            if self._use_process:
                self._start_worker()
        super().start()
        return self

    def _start_worker(self) -> None:
        staging = self._spool.directory / STAGING_FOLDER
        try:
            prepare_folder(staging)
            self._staging = staging
        except OSError as exc:
            log.warning("liveobs spool: cannot prepare %s (%s); converted rows come back as Arrow data", staging, exc)
        try:
            self._worker = ConvertProcess(self._staging)
        except OSError as exc:
            log.error("liveobs spool: cannot start the conversion process (%s); converting in this process", exc)
            return
        self._threads.append(threading.Thread(target=self._receive_loop, name="liveobs-convert-results", daemon=True))

    def flush(self, timeout: float | None = None) -> bool:
        """Commit every request acknowledged so far; False if that took longer than ``timeout``."""
        with self._cond:
            target = self._appended
            if self._committed >= target:
                return True
            self._flush_target = max(self._flush_target, target)
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._committed >= target or self._broken, timeout) and not self._broken

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        if self._worker is not None:
            self._worker.close()
            if self._staging is not None:
                remove_folder(self._staging)
        with self._cond:
            clean = not self._pending and not self._broken
        self._spool.close(empty=clean)

    @property
    def worker_pid(self) -> int | None:
        """The conversion process's id while it converts, else None."""
        return None if self._worker is None or self._worker_dead else self._worker.pid

    # -- replay -----------------------------------------------------------------

    def _replay(self) -> None:
        row = self._con.execute(SPOOL_POSITION).fetchone()
        committed = Position(*row) if row else Position(0, 0)
        group: list[_Item] = []
        rows = records = 0
        for position, record in self._spool.recover(committed):
            item = _Item(record.signal, record.body, record.media, _acknowledged, record.source_key, record.source_key)
            item.digest, item.claimed = record.digest, True
            self._recent.claim(record.digest)
            try:
                _convert(item, self._scrubber, self._interner)
            except Exception as exc:  # spooled records converted once; a newer converter may disagree
                log.warning("liveobs spool: a spooled %s request no longer converts (%s); skipped",
                            record.signal.name, exc)
                item = _Item(record.signal, b"", record.media, _acknowledged)
            item.payload = b""
            item.position = position
            group.append(item)
            rows += item.accepted
            records += 1
            if rows >= self._commit_rows:
                self._replay_commit(group)
                group, rows = [], 0
        if group:
            self._replay_commit(group)
        self.stats.damaged_ranges = len(self._spool.damage)
        self.stats.damaged_bytes = sum(d.size for d in self._spool.damage)
        if records:
            self.stats.replayed = records
            log.warning("liveobs spool: replayed %d acknowledged requests that were not yet committed", records)

    def _replay_commit(self, group: list[_Item]) -> None:
        if self._commit_spooled(group) < len(group):
            raise StoreUnavailable("cannot commit the spool's records to the store; they stay in the spool")

    # -- spool: check, deduplicate, append, acknowledge -------------------------------

    def _spool_loop(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._incoming.get()]
            while True:
                try:
                    batch.append(self._incoming.get_nowait())
                except queue.Empty:
                    break
            if batch[-1] is _STOP:  # nothing is submitted after it
                stopping = True
                batch.pop()
            if batch:
                self._spool_batch(batch)
        self._to_convert.put(_STOP)

    def backlogged(self) -> bool:
        """True while acknowledged bytes waiting for conversion are at the bound (new requests get 429)."""
        return self._backlog >= self._max_backlog

    def _admit(self, item: _Item) -> bytes | None:
        """The bytes to spool for one request, or None when it was answered here (refused or a duplicate)."""
        payload = item.payload
        size = len(payload) if isinstance(payload, bytes | bytearray) else 0
        if self._backlog and self._backlog + _backlog_cost(size) > self._max_backlog:
            item.done(Backlogged("the collector is converting what it acknowledged; retry later"))
            return None  # refused before any work on it
        if isinstance(payload, Message):  # a parsed request (file ingest): nothing to check
            item.media = PROTOBUF
            item.accepted, item.rejected = count_items(item.signal, payload)
            return bytes(payload.SerializeToString())
        body = bytes(payload)
        if item.source_key is None:
            item.digest = request_digest(item.sender, item.signal.name, body)
            if not self._recent.claim(item.digest):
                self.stats.duplicates += 1
                item.done(WriteResult(0, 0, duplicate=True))
                return None
            item.claimed = True
        try:
            checked = check_request(item.signal, body, item.media)
        except BodyError as exc:
            self._recent.forget(item.digest)
            item.done(exc)
            return None
        item.media = checked.media or item.media
        # The converter reads trace bodies from the wire itself (see _rawspans); others it takes parsed.
        item.payload = checked.body if item.signal is TRACES and item.media == PROTOBUF else checked.message
        item.accepted, item.rejected, item.message = checked.items, checked.rejected, checked.reason
        return checked.body

    def _spool_batch(self, batch: list[_Item]) -> None:
        records = []
        kept: list[_Item] = []
        for item in batch:
            body = self._admit(item)
            if body is None:
                continue
            with self._cond:
                if self._backlog and self._backlog + _backlog_cost(len(body)) > self._max_backlog:
                    refused = True
                else:
                    refused = False
                    self._backlog += _backlog_cost(len(body))
                    self.stats.backlog_bytes = self._backlog
            if refused:
                self._recent.forget(item.digest)
                item.done(Backlogged("the collector is converting what it acknowledged; retry later"))
                continue
            item.size, item.acked_rows = len(body), item.accepted
            records.append(frame(item.signal, item.media, body, item.source_key, item.digest))
            kept.append(item)
        if not kept:
            return
        started = time.perf_counter()
        try:
            positions = self._spool.append(records)
        except OSError as exc:
            with self._cond:
                self._backlog -= sum(_backlog_cost(i.size) for i in kept)
                self.stats.backlog_bytes = self._backlog
                self._cond.notify_all()
            failure = StoreUnavailable(f"cannot write the spool: {exc.strerror or exc}")
            for item in kept:
                self._recent.forget(item.digest)
                item.done(failure)
            return
        took = time.perf_counter() - started
        self.stats.fsyncs += 1
        self.stats.fsync_seconds += took
        self.stats.max_fsync_seconds = max(self.stats.max_fsync_seconds, took)
        with self._cond:
            for item, position in zip(kept, positions, strict=True):
                self._appended += 1
                item.seq, item.position = self._appended, position
                item.payload = b""  # durable: the converter reads it back from the spool (see _load)
                self._backlog_rows += item.acked_rows
            self.stats.pending_rows = self._pending_rows + self._backlog_rows
        for item in kept:
            if item.source_key is None:  # keyed requests are answered after their commit
                done, item.done = item.done, _acknowledged
                done(WriteResult(item.accepted, item.rejected, message=item.message))
            self._to_convert.put(item)

    # -- converter -> committer ---------------------------------------------------

    def _load(self, item: _Item) -> None:
        """The spooled body read back for conversion; a failure is kept for :meth:`_convert_one` to report."""
        if item.position is None or item.payload or not item.size or item.unreadable is not None:
            return
        try:
            item.payload = self._spool.read(item.position, item.size)
        except OSError as exc:
            item.unreadable = exc

    def _convert_one(self, item: _Item, scrubber: IngestScrubber | None = None) -> list[_Item]:
        """Converted (with a scrubber of its own, if given); a request acknowledged and then failing conversion
        is logged, counted and passed over."""
        try:
            if item.unreadable is not None:
                raise ConversionFailed(f"cannot read the request back from the spool: {item.unreadable}"[:300])
            if scrubber is None:
                _convert(item, self._scrubber, self._interner)
            else:
                _convert(item, scrubber, AttributeInterner(scrubber))
        except Exception as exc:
            self._not_converted(item, exc if isinstance(exc, BodyError) else ConversionFailed(
                f"cannot convert the request: {type(exc).__name__}: {exc}"[:300]))
        return [item]

    def _commit_spooled(self, group: list[_Item]) -> int:
        # Reached when the open transaction failed: requests whose staged file went missing (deleted
        # behind the collector's back) are converted again here, from their spooled bodies.
        gone = [item for item in group if any(isinstance(t, StagedRows) and not t.readable()
                                               for t in item.converted.tables.values())]
        if gone:
            log.error("liveobs spool: the staged rows of %d requests are gone; converting them again", len(gone))
            scrubber = IngestScrubber()  # the converter thread's own are not shared; staged rows used the default
            for item in gone:
                self._load(item)
                self._convert_one(item, scrubber)
                item.payload = b""
        return super()._commit_spooled(group)

    def _not_converted(self, item: _Item, failure: BodyError) -> None:
        log.error("liveobs spool: an acknowledged %s request of %d items cannot be converted and is dropped: %s",
                  item.signal.name, item.accepted, failure)
        self.stats.dropped_rows += item.accepted
        item.converted, item.accepted = Converted(), 0
        item.done(failure)
        item.done = _acknowledged

    # -- the conversion process: the converter thread sends, the results thread receives -------

    def _hand_over(self, batch: list[_Item]) -> None:
        worker = self._worker
        if worker is not None and _batchable(batch[0]):
            with self._flight_cond:
                self._flight_cond.wait_for(lambda: len(self._flight) < IN_FLIGHT or self._worker_dead)
                sent = not self._worker_dead
                if sent:
                    self._flight.append(batch)
            if sent:
                requests = [(item.signal, bytes(item.payload)) for item in batch]
                for item in batch:
                    item.payload = b""  # read back from the spool again if the child fails
                try:
                    worker.send(requests)
                except WorkerGone:
                    worker.kill()  # the results thread then converts what is in flight
                return
        with self._flight_cond:  # in spool order: after every batch in flight
            self._flight_cond.wait_for(lambda: not self._flight)
        super()._hand_over(batch)

    def _receive_loop(self) -> None:
        while self._receive():
            pass

    def _receive(self) -> bool:
        """Take in the next batch's results; False once the child is gone (what it held is then converted here).

        Its own frame: nothing of a batch stays referenced while the next is awaited (a staged file is
        deleted once its requests are committed and let go).
        """
        assert self._worker is not None
        try:
            results, cpu = self._worker.receive()
            batch = self._flight[0]
            if len(results) != len(batch):
                raise WorkerGone(f"{len(results)} answers for {len(batch)} requests")
        except (WorkerGone, IndexError) as exc:
            self._worker_failed(exc)
            return False
        self.stats.convert_cpu_seconds += cpu
        self.stats.convert_batches += 1
        for item, result in zip(batch, results, strict=True):
            if isinstance(result, BodyError):
                self._not_converted(item, result)
            else:
                item.converted, item.accepted, item.rejected = result, result.accepted, result.rejected
                self.stats.staged_rows += sum(t.num_rows for t in result.tables.values() if isinstance(t, StagedRows))
            self._converted(item)
        with self._flight_cond:
            self._flight.popleft()
            self._flight_cond.notify_all()
        return True

    def _worker_failed(self, exc: BaseException) -> None:
        """The child is gone: convert what it held here, in order, and everything after it."""
        with self._flight_cond:
            self._worker_dead = True
            if not self._retiring:
                log.error("liveobs spool: the conversion process failed (%s); converting in this process", exc)
        assert self._worker is not None
        self._worker.kill()
        while True:
            with self._flight_cond:
                if not self._flight:
                    self._flight_cond.notify_all()
                    return
                batch = self._flight[0]
            for item in batch:
                self._load(item)
            super()._hand_over(batch)
            with self._flight_cond:
                self._flight.popleft()
                self._flight_cond.notify_all()

    def _converted(self, item: Any) -> None:
        if item is _STOP:
            with self._flight_cond:
                self._flight_cond.wait_for(lambda: not self._flight)
                self._retiring = True
            if self._worker is not None:
                self._worker.finish()  # the child exits, and so does the results thread
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            return
        item.payload = b""
        item.spooled_at = time.monotonic()
        item.nbytes = _arrow_bytes(item.converted)
        with self._cond:
            self._cond.wait_for(lambda: (self._pending_rows < self._max_pending
                                         and self._pending_bytes < self._max_pending_bytes) or self._broken)
            self._backlog -= _backlog_cost(item.size)
            self._backlog_rows -= item.acked_rows
            self.stats.backlog_bytes = self._backlog
            self._pending.append(item)
            self._pending_rows += item.accepted
            self._pending_bytes += item.nbytes
            if item.source_key is not None:  # answered after its commit: commit soon
                self._flush_target = max(self._flush_target, item.seq)
            self.stats.pending_rows = self._pending_rows + self._backlog_rows
            self._cond.notify_all()
