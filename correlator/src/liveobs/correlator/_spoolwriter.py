"""The writer with a durable spool: acknowledge on fsync, commit in large batches.

Three threads. The converter parses and converts each request (a bad body is
refused here, before anything is written). The spool thread appends every
request that arrived together to the spool with one fdatasync, then answers them
200. The committer inserts what was acknowledged once it holds
``commit_rows`` rows, or after ``max_delay``, or when a reader asks for a
flush, recording the spool position in the same transaction. At DuckDB's row
group size (122,880 rows) an insert is written straight to the database file
instead of twice (write-ahead log, then checkpoint), which is what makes large
commits cheaper per row.

Rows acknowledged but not committed are bounded by ``max_pending_rows``: past
it the converter waits, the collector's byte budget fills and new requests get
429 with Retry-After.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Final

import duckdb
from google.protobuf.message import Message

from liveobs.correlator._correlation import Converted
from liveobs.correlator._otlp import PROTOBUF, BodyError
from liveobs.correlator._scrub import IngestScrubber
from liveobs.correlator._spool import Position, Spool, SpoolError, frame
from liveobs.correlator._writer import _STOP, Writer, WriteResult, _convert, _Item, as_body_error

log = logging.getLogger("liveobs.correlator.spool")

# One DuckDB row group: from this size an insert skips the write-ahead log.
DEFAULT_COMMIT_ROWS: Final = 122_880
DEFAULT_MAX_DELAY_S: Final = 1.0
RETRY_DELAY_S: Final = 1.0
# When stopping, a store that keeps failing is given up on after this many tries
# (the records stay in the spool and are replayed on the next start).
STOP_RETRIES: Final = 3

# Shape: the one row (Segment, Offset) of the spool position the store has committed.
SPOOL_POSITION: Final = 'SELECT Segment, "Offset" FROM liveobs_spool WHERE Id = 1'
SPOOL_MARK: Final = 'UPDATE liveobs_spool SET Segment = ?, "Offset" = ? WHERE Id = 1'


class StoreUnavailable(SpoolError):
    """The spool or the store cannot take writes now (answered 503, retryable)."""


def _retryable(exc: BaseException) -> bool:
    """Errors of the store itself (disk, memory), as opposed to data it refuses."""
    return isinstance(exc, duckdb.IOException | duckdb.FatalException | duckdb.OutOfMemoryException | MemoryError)


def _acknowledged(result: WriteResult | BaseException) -> None:
    """The ``done`` of a request already answered when its record was fsynced."""


class SpoolWriter(Writer):
    """A :class:`Writer` that acknowledges once a request is in the fsynced spool.

    :meth:`start` first replays the records after the store's committed spool
    position; :meth:`flush` commits everything acknowledged so far (reads call
    it); :meth:`close` drains, commits everything and empties the spool.
    Requests with a ledger key (``liveobs ingest``) are answered after their
    commit, so that a duplicate is reported as one.
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
    ) -> None:
        super().__init__(con, scrubber=scrubber)
        self._spool = spool
        self._commit_rows = commit_rows
        self._max_delay = max_delay
        self._max_pending = max_pending_rows or 2 * commit_rows
        self._to_spool: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._pending: list[_Item] = []  # acknowledged, not yet committed, in spool order
        self._pending_rows = 0
        self._held_rows = 0  # reserved for the spool, pending, or being committed
        self._appended = 0
        self._committed = 0
        self._flush_target = 0
        self._stopping = False
        self._broken = False
        self._last_commit_end = 0.0
        self._threads.insert(1, threading.Thread(target=self._spool_loop, name="liveobs-spool", daemon=True))

    def start(self) -> SpoolWriter:
        if not self._started:
            self._replay()
        super().start()
        return self

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
        with self._cond:
            clean = not self._pending and not self._broken
        self._spool.close(empty=clean)

    # -- replay -----------------------------------------------------------------

    def _replay(self) -> None:
        row = self._con.execute(SPOOL_POSITION).fetchone()
        committed = Position(*row) if row else Position(0, 0)
        group: list[_Item] = []
        rows = records = 0
        for position, record in self._spool.recover(committed):
            item = _Item(record.signal, record.body, record.media, _acknowledged, record.source_key, record.source_key)
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
        if records:
            self.stats.replayed = records
            log.warning("liveobs spool: replayed %d acknowledged requests that were not yet committed", records)

    def _replay_commit(self, group: list[_Item]) -> None:
        if self._commit_spooled(group) < len(group):
            raise StoreUnavailable("cannot commit the spool's records to the store; they stay in the spool")

    # -- converter -> spool ---------------------------------------------------------

    def _converted(self, item: Any) -> None:
        if item is _STOP:
            self._to_spool.put(_STOP)
            return
        if item.accepted == 0 and item.source_key is None:
            item.done(WriteResult(0, item.rejected))  # nothing to store, nothing to spool
            return
        with self._cond:
            self._cond.wait_for(lambda: self._held_rows < self._max_pending or self._broken)
            if self._broken:
                item.done(StoreUnavailable("the store cannot commit; retry later"))
                return
            self._held_rows += item.accepted
        self._to_spool.put(item)

    def _spool_loop(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._to_spool.get()]
            while True:
                try:
                    batch.append(self._to_spool.get_nowait())
                except queue.Empty:
                    break
            if batch[-1] is _STOP:  # the converter sends nothing after it
                stopping = True
                batch.pop()
            if batch:
                self._spool_batch(batch)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def _spool_batch(self, batch: list[_Item]) -> None:
        records = []
        for item in batch:
            body, media = item.payload, item.media
            if isinstance(body, Message):
                body, media = body.SerializeToString(), PROTOBUF
            records.append(frame(item.signal, media, bytes(body), item.source_key))
            item.payload = b""
        started = time.perf_counter()
        try:
            positions = self._spool.append(records)
        except OSError as exc:
            with self._cond:
                self._held_rows -= sum(i.accepted for i in batch)
                self._cond.notify_all()
            failure = StoreUnavailable(f"cannot write the spool: {exc.strerror or exc}")
            for item in batch:
                item.done(failure)
            return
        took = time.perf_counter() - started
        self.stats.fsyncs += 1
        self.stats.fsync_seconds += took
        self.stats.max_fsync_seconds = max(self.stats.max_fsync_seconds, took)
        now = time.monotonic()
        answered = []
        with self._cond:
            for item, position in zip(batch, positions, strict=True):
                self._appended += 1
                item.seq, item.position, item.spooled_at = self._appended, position, now
                self._pending.append(item)
                self._pending_rows += item.accepted
                if item.source_key is not None:  # answered after its commit: commit soon
                    self._flush_target = max(self._flush_target, item.seq)
                else:
                    answered.append((item.done, WriteResult(item.accepted, item.rejected)))
                    item.done = _acknowledged
            self.stats.pending_rows = self._pending_rows
            self._cond.notify_all()
        for done, result in answered:
            done(result)

    # -- committer -----------------------------------------------------------------

    def _due(self) -> float | None:
        """0 when the pending requests should be committed now, else how long to wait (None: no limit)."""
        if not self._pending:
            return None
        if self._pending_rows >= self._commit_rows or self._stopping or self._flush_target > self._committed:
            return 0.0
        # Below a row group a commit costs about twice as much per row (log, then checkpoint), so
        # under load (half a row group already waiting) the delay is doubled, and it counts from
        # the end of the last commit, which took about as long as the delay.
        since = max(self._pending[0].spooled_at, self._last_commit_end)
        delay = self._max_delay * (2 if self._pending_rows >= self._commit_rows // 2 else 1)
        return max(0.0, delay - (time.monotonic() - since))

    def _commit_loop(self) -> None:
        failures = 0
        while True:
            with self._cond:
                while (wait := self._due()) != 0.0:
                    if wait is None and self._stopping:
                        return
                    self._cond.wait(wait)
                group, self._pending = self._pending, []
                self._pending_rows = 0
            done = self._commit_spooled(group)
            rest = group[done:]
            with self._cond:
                self._held_rows -= sum(i.accepted for i in group[:done])
                if done:
                    self._committed = group[done - 1].seq
                self._pending[:0] = rest
                self._pending_rows += sum(i.accepted for i in rest)
                self._last_commit_end = time.monotonic()
                self.stats.pending_rows = self._pending_rows
                self._cond.notify_all()
            if not rest:
                failures = 0
                continue
            failures += 1
            if self._stopping and failures >= STOP_RETRIES:
                log.error("liveobs spool: giving up on the store at shutdown; %d requests stay in the spool for"
                          " the next start", len(self._pending))
                with self._cond:
                    self._broken = True
                    self._cond.notify_all()
                return
            time.sleep(RETRY_DELAY_S)

    def _commit_spooled(self, group: list[_Item]) -> int:
        """Commit the group with its spool position; how many requests from the front are now settled."""
        end = group[-1].position

        def mark(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(SPOOL_MARK, [end.segment, end.offset])

        outcome = self._transact(group, mark)
        if not isinstance(outcome, Exception):
            self._acknowledge(group, outcome)
            self._spool.release(end)
            return len(group)
        if _retryable(outcome):
            log.error("liveobs spool: the store cannot commit (%s); retrying, the spool keeps the data", outcome)
            return 0
        if len(group) > 1:
            for n, item in enumerate(group):
                if not self._commit_spooled([item]):
                    return n
            return len(group)
        # The store refuses this request's data: it was acknowledged, so say so loudly, and move past it.
        item = group[0]
        failure = as_body_error(outcome)
        log.error("liveobs spool: an acknowledged %s request of %d rows cannot be stored and is dropped: %s",
                  item.signal.name, item.accepted, failure)
        try:
            self._con.execute("BEGIN TRANSACTION")
            mark(self._con)
            self._con.execute("COMMIT")
        except duckdb.Error:
            self._con.execute("ROLLBACK")
            return 0
        self.stats.dropped_rows += item.accepted
        item.done(failure if isinstance(failure, BodyError) else StoreUnavailable(str(failure)))
        item.converted = Converted()
        return 1
