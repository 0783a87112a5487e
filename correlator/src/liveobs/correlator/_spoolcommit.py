"""The spool writer's committer: when converted requests are committed, and how, with the spool position.

Converted requests wait in ``_pending`` (in spool order) until a commit is due:
``commit_rows`` rows (one DuckDB row group: from that size an insert is written
straight to the database file instead of to the write-ahead log and again at
checkpoint) or ``commit_bytes`` of Arrow data, ``max_delay`` after the first
(doubled under load), a flush that has all it waits for converted, or the stop.
Until then, every ``early_rows`` converted rows are already inserted into the
open transaction (see _transaction), so that inserting overlaps with converting
and the commit only has the rest to do. The commit records the spool position
it reached in the same transaction. If the open transaction fails, it is rolled
back and the group committed again from scratch by :meth:`_commit_spooled`,
where one bad request fails alone and a failing store is retried.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Final

import duckdb

from liveobs.correlator._correlation import Converted
from liveobs.correlator._otlp import BodyError
from liveobs.correlator._scrub import IngestScrubber
from liveobs.correlator._spool import Spool, SpoolError
from liveobs.correlator._storegate import StoreGate
from liveobs.correlator._transaction import Mark, OpenTransaction
from liveobs.correlator._writer import Writer, _Item, as_body_error

log = logging.getLogger("liveobs.correlator.spool")

# One DuckDB row group: from this size an insert skips the write-ahead log.
DEFAULT_COMMIT_ROWS: Final = 122_880
DEFAULT_MAX_DELAY_S: Final = 1.0
# A commit is also due once the converted rows hold this many bytes of Arrow data (large values), and the
# converter waits while this many bytes wait for their commit. A row group of spans as apps send them
# (unique ids, 8 attributes) is about 92 MB of Arrow data, so it still commits whole.
DEFAULT_COMMIT_BYTES: Final = 96 * 1024 * 1024
DEFAULT_MAX_PENDING_BYTES: Final = 128 * 1024 * 1024
# Converted rows inserted into the open transaction at a time, before the commit is due. On the ingest
# bench (16 senders, alternating runs) the last span was queryable after 4.7 s on average with 32,768
# or 49,152, and after 5.2 s with 16,384.
DEFAULT_EARLY_ROWS: Final = 49_152
RETRY_DELAY_S: Final = 1.0
# When stopping, a store that keeps failing is given up on after this many tries
# (the records stay in the spool and are replayed on the next start).
STOP_RETRIES: Final = 3

SPOOL_MARK: Final = 'UPDATE liveobs_spool SET Segment = ?, "Offset" = ? WHERE Id = 1'


class StoreUnavailable(SpoolError):
    """The spool or the store cannot take writes now (answered 503, retryable)."""


def _retryable(exc: BaseException) -> bool:
    """Errors of the store itself (disk, memory), as opposed to data it refuses."""
    # A transaction conflict (with the retention's deletes) is tried again, too.
    return isinstance(exc, duckdb.IOException | duckdb.FatalException | duckdb.OutOfMemoryException | MemoryError
                      | duckdb.TransactionException)


def _mark(group: list[_Item]) -> Mark:
    """What records, in the group's transaction, that the spool is committed up to the group's end."""
    end = group[-1].position
    return lambda con: con.execute(SPOOL_MARK, [end.segment, end.offset])


class SpoolCommitter(Writer):
    """The commit side of :class:`~liveobs.correlator._spoolwriter.SpoolWriter`: its ``_commit_loop`` thread
    and the state it shares with the threads that fill ``_pending`` (guarded by ``_cond``)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        spool: Spool,
        *,
        scrubber: IngestScrubber | None,
        gate: StoreGate | None,
        commit_rows: int,
        commit_bytes: int,
        max_delay: float,
        max_pending_rows: int | None,
        max_pending_bytes: int,
        early_rows: int,
    ) -> None:
        super().__init__(con, scrubber=scrubber, gate=gate)
        self._spool = spool
        self._commit_rows = commit_rows
        self._commit_bytes = commit_bytes
        self._max_delay = max_delay
        # Two commits' worth: the converter fills the next group while the committer inserts and commits this
        # one. With one, the conversion process stopped whenever a group was due during an early insert
        # (its rows reached the bound before the commit took them): on the ingest bench (2 senders, ten
        # alternating runs on a loaded machine) the last span was queryable at 34k spans/s, 39k with two.
        self._max_pending = max_pending_rows or 2 * commit_rows
        self._max_pending_bytes = max(max_pending_bytes, commit_bytes)
        self._early_rows = early_rows
        self._cond = threading.Condition()
        self._pending: list[_Item] = []  # converted, not yet committed, in spool order
        self._pending_rows = 0
        self._pending_bytes = 0
        self._backlog_rows = 0  # acknowledged rows not yet converted
        self._committed = 0  # the sequence number of the last request committed
        self._flush_target = 0
        self._stopping = False
        self._broken = False
        self._last_commit_end = 0.0
        self._open: OpenTransaction | None = None  # holds the first _inserted requests of _pending
        self._inserted = 0
        self._inserted_rows = 0
        self._insert_failed = False

    def _due(self) -> float | None:
        """0 when the pending requests should be committed now, else how long to wait (None: no limit)."""
        if not self._pending:
            return None
        if (self._pending_rows >= self._commit_rows or self._pending_bytes >= self._commit_bytes or self._stopping
                or self._pending[-1].seq >= self._flush_target > self._committed):
            return 0.0
        if self._flush_target > self._committed:
            # A flush commits once everything it waits for is converted (or a row group is): one commit
            # of the backlog costs less per row than one per batch the converter hands over.
            return None
        # Below a row group a commit costs about twice as much per row (log, then checkpoint), so
        # under load (half a row group already waiting) the delay is doubled, and it counts from
        # the end of the last commit, which took about as long as the delay.
        since = max(self._pending[0].spooled_at, self._last_commit_end)
        delay = self._max_delay * (2 if self._pending_rows >= self._commit_rows // 2 else 1)
        return max(0.0, delay - (time.monotonic() - since))

    def _to_insert(self) -> list[_Item]:
        """Converted requests to insert into the open transaction now (at least ``early_rows`` rows of them)."""
        # Counted, not summed: thousands of small requests may wait, and this runs on every one converted.
        if self._insert_failed or self._pending_rows - self._inserted_rows < self._early_rows:
            return []
        return self._pending[self._inserted:]

    def _commit_loop(self) -> None:
        failures = 0
        while True:
            with self._cond:
                while (wait := self._due()) != 0.0 and not (now := self._to_insert()):
                    if wait is None and self._stopping:
                        return
                    self._cond.wait(wait)
                if wait != 0.0:
                    self._insert_early(now)
                    continue
                group, self._pending = self._pending, []
                self._pending_rows = self._pending_bytes = 0
            done = self._commit_open(group)
            if done is None:
                done = self._commit_spooled(group)
            rest = group[done:]
            with self._cond:
                if done:
                    self._committed = group[done - 1].seq
                self._pending[:0] = rest
                self._pending_rows += sum(i.accepted for i in rest)
                self._pending_bytes += sum(i.nbytes for i in rest)
                self._last_commit_end = time.monotonic()
                self.stats.pending_rows = self._pending_rows + self._backlog_rows
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

    # -- inserting before the commit is due ---------------------------------------------
    # The requests converted so far go into an open transaction while the next ones are converted; the
    # commit then inserts the rest and commits. Any failure rolls it back, and the group is committed on
    # the path of _commit_spooled instead (where one bad request fails alone, and a store error is retried).

    def _insert_early(self, items: list[_Item]) -> None:
        """Insert the items into the open transaction (opened here); called holding ``_cond``, released meanwhile."""
        self._cond.release()
        try:
            if self._open is None:
                self._open = self._begin()
            self._open.add(items)
        except Exception as exc:
            self._abandon(exc)
            self._insert_failed = True
            return
        finally:
            self._cond.acquire()
        rows = sum(i.accepted for i in items)
        self._inserted += len(items)
        self._inserted_rows += rows
        self.stats.early_rows += rows

    def _abandon(self, exc: BaseException) -> None:
        log.debug("liveobs spool: the open transaction failed (%s); committing the group again", exc)
        if self._open is not None:
            self._open.abandon()
            self._open = None

    def _commit_open(self, group: list[_Item]) -> int | None:
        """Commit the group through the open transaction: how many requests are settled, None if that failed."""
        inserted, failed = self._inserted, self._insert_failed
        self._inserted, self._inserted_rows, self._insert_failed = 0, 0, False
        if failed or self._open is None:
            return None
        try:
            self._open.add(group[inserted:])
            fresh = self._open.commit(_mark(group))
        except Exception as exc:
            self._abandon(exc)
            return None
        self._open = None
        return self._stored(group, fresh)

    def _stored(self, group: list[_Item], fresh: list[_Item]) -> int:
        """The group is committed: answer its requests and free the spool up to its end."""
        self._acknowledge(group, fresh)
        self._spool.release(group[-1].position)
        return len(group)

    def _commit_spooled(self, group: list[_Item]) -> int:
        """Commit the group with its spool position; how many requests from the front are now settled."""
        mark = _mark(group)
        outcome = self._transact(group, mark)
        if not isinstance(outcome, Exception):
            return self._stored(group, outcome)
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
        with self.gate.shared():
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
