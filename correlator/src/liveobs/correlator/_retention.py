"""A bounded store: the oldest spans, log records and metric points are deleted in the background.

Two limits: an age (rows whose time is older than ``max_age`` go) and a size
(when the store's used blocks pass :data:`HIGH_WATER` of ``max_bytes``, the oldest
rows go, by share of the time range, to bring it to :data:`LOW_WATER`). A pass
runs every ``interval`` seconds on its own cursor, and at once when a commit
finds the store past the high-water mark, so ingest (the writer's connection)
and reads go on meanwhile: DuckDB's transactions let an append and a delete of
older rows run side by side. The checkpoint that vacuums the deleted rows is
taken alone, in a moment between commits and reads (see ``_storegate``): beside
an open transaction it would leave their blocks used, and the next pass would
delete again. Commits wait (acknowledgement does not: the spool answers) while
the store is past :data:`STOP_WATER`, until a pass has made room, so ingest
faster than the passes cannot carry the file past its limit.

Space: DuckDB frees the blocks of deleted rows at a checkpoint (``VACUUM`` does
not), once every row of a row group (122,880 rows) is deleted, and reuses them
for new rows; the file does not shrink. Each checkpoint writes its new blocks
before it frees the old ones (the event id index is rewritten whole), so the file
holds about as many free blocks as used ones: hence the low marks. The file may
pass the limit by what arrives during a pass (one commit group, about 23 MB of
spans, is the smallest step). Only the bulk tables are trimmed: error
occurrences (incidents and their sample events), gate runs, the ingest ledger and
migrations are small and kept. Spans, log records and metric points are folded,
before they go, into the release facts, baseline samples and incident stacks of
``_rollups``, which are kept too (the samples and stacks for 90 days): the gates
still find a release and judge against a baseline whose raw rows are gone, and an
incident still shows its stack.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Final

import duckdb

from liveobs.correlator._dedup import expire_digests
from liveobs.correlator._rollups import (
    KEPT_FOR_S,
    KEPT_SAMPLES,
    expire_kept,
    fold_gauges,
    fold_histograms,
    fold_logs,
    fold_spans,
    fold_sums,
)
from liveobs.correlator._storegate import StoreGate

log = logging.getLogger("liveobs.correlator.retention")

DEFAULT_MAX_AGE: Final = "7d"
DEFAULT_MAX_SIZE: Final = "20GB"
DEFAULT_INTERVAL_S: Final = 60.0
# The size limit is for the file. DuckDB writes each checkpoint's blocks before it frees the ones they
# replace (the id index is rewritten whole), so the file holds about as many free blocks, reused later, as
# used ones: a pass starts once the used blocks pass HIGH_WATER of the limit and deletes down to LOW_WATER.
HIGH_WATER: Final = 0.5
LOW_WATER: Final = 0.4
# Past this share of the limit, commits wait for a pass to make room (at most ROOM_WAIT_S each).
STOP_WATER: Final = 0.7
ROOM_WAIT_S: Final = 10.0
# How long a pass waits for the commits and reads inside the store to finish, to take its checkpoint alone
# (new ones wait meanwhile). A commit of a row group takes about a second, and the transaction that ends
# last after a large delete also cleans up its old row versions (about 1.5 s for 450,000 rows).
CHECKPOINT_PATIENCE_S: Final = 5.0

# The bulk tables and their time column. Identifiers come from this fixed list, never from input.
TRIMMED: Final = (
    ("otel_traces", '"Timestamp"'),
    ("liveobs_correlation", '"Timestamp"'),
    ("otel_traces_trace_id_ts", '"End"'),
    ("otel_logs", '"Timestamp"'),
    ("otel_metrics_gauge", "TimeUnix"),
    ("otel_metrics_sum", "TimeUnix"),
    ("otel_metrics_histogram", "TimeUnix"),
    ("otel_metrics_exp_histogram", "TimeUnix"),
    ("otel_metrics_summary", "TimeUnix"),
)
# Folded into the kept tables (release facts, baseline samples, incident stacks) before their rows go.
_FOLDS: Final = {"otel_traces": fold_spans, "otel_logs": fold_logs, "otel_metrics_gauge": fold_gauges,
                 "otel_metrics_sum": fold_sums, "otel_metrics_histogram": fold_histograms}
# The gates' kept secret scans mark the spans and log records they covered by row number; deleting rows
# (and the checkpoint's vacuum after) breaks those marks, so a delete forgets every kept scan with it.
FORGET_SECRET_SCANS: Final = ("DELETE FROM liveobs_secret_candidates", "DELETE FROM liveobs_secret_scans")
_MARKED: Final = frozenset({"otel_traces", "otel_logs"})
# Shape: (block size, total blocks, used blocks) of the store file.
DATABASE_SIZE: Final = "SELECT block_size, total_blocks, used_blocks FROM pragma_database_size() LIMIT 1"
# Shape: the file of the main database (one row).
DATABASE_FILE: Final = "SELECT path FROM duckdb_databases() WHERE database_name = current_database() AND path IS NOT NULL"
# Shape: the oldest and newest event time of the spans and logs, in epoch nanoseconds.
TIME_RANGE: Final = """
SELECT min(lo), max(hi) FROM (
    SELECT epoch_ns(min("Timestamp")) AS lo, epoch_ns(max("Timestamp")) AS hi FROM otel_traces
    UNION ALL SELECT epoch_ns(min("Timestamp")), epoch_ns(max("Timestamp")) FROM otel_logs
)"""

_UNITS_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_UNITS_B: Final = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
                   "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_OFF: Final = frozenset({"0", "off", "none", "unlimited"})


def parse_duration(text: str) -> float | None:
    """Seconds of ``30s``, ``15m``, ``12h``, ``7d``, ``2w``; None for ``off``/``0``."""
    value = text.strip().lower()
    if value in _OFF:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", value)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration such as 12h or 7d (or off)")
    return float(match.group(1)) * _UNITS_S[match.group(2)]


def parse_size(text: str) -> int | None:
    """Bytes of ``500MB``, ``20GB``, ``1.5GiB``; None for ``off``/``0``."""
    value = text.strip().lower()
    if value in _OFF:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?", value)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a size such as 500MB or 20GB (or off)")
    return int(float(match.group(1)) * _UNITS_B[match.group(2) or ""])


@dataclass
class RetentionStats:
    """What the passes did so far, for the log and ``/healthz``."""

    passes: int = 0
    deleted_rows: dict[str, int] = field(default_factory=dict)
    used_bytes: int = 0
    file_bytes: int = 0
    oldest_kept_ns: int = 0
    last_pass_seconds: float = 0.0
    errors: int = 0
    skipped_checkpoints: int = 0
    held_commits: int = 0

    def health(self) -> list[tuple[str, float, str | None]]:
        deleted = self.deleted_rows
        return [
            ("retention:passes", self.passes, None),
            ("retention:deletedSpans", deleted.get("otel_traces", 0), None),
            ("retention:deletedLogRecords", deleted.get("otel_logs", 0), None),
            ("retention:deletedMetricPoints", sum(n for t, n in deleted.items() if t.startswith("otel_metrics")), None),
            ("retention:usedBytes", self.used_bytes, "By"),
            ("retention:fileBytes", self.file_bytes, "By"),
            ("retention:lastPassTime", round(self.last_pass_seconds, 3), "s"),
            ("retention:heldCommits", self.held_commits, None),
        ]


class Retention:
    """Deletes what is past the age or size limit, every ``interval`` seconds, on a thread of its own."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        max_age: float | None,
        max_bytes: int | None,
        interval: float = DEFAULT_INTERVAL_S,
        kept_samples: int = KEPT_SAMPLES,
        kept_for: float = KEPT_FOR_S,
        gate: StoreGate | None = None,
    ) -> None:
        self._con = con
        # The writer's commits and the reads enter it too; with a size limit, commits check for room first.
        self._gate = gate or StoreGate()
        if max_bytes is not None:
            self._gate.room = self.make_room
        self.kept_samples = kept_samples
        self.kept_for = kept_for
        self.max_age = max_age
        self.max_bytes = max_bytes
        self.interval = interval
        self.stats = RetentionStats()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._passed = threading.Condition()
        self._finished_passes = 0  # failed ones included: a commit waiting for room waits for the next
        self._unvacuumed = False  # rows were deleted since the last checkpoint taken alone
        self._con.execute("SET enable_progress_bar = false")
        self._thread = threading.Thread(target=self._loop, name="liveobs-retention", daemon=True)

    def start(self) -> Retention:
        if self.max_age is not None or self.max_bytes is not None:
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._passed:
            self._passed.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        self._gate.room = None
        self._con.close()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.run_once()
            except duckdb.Error as exc:  # a pass that fails is logged and tried again at the next interval
                self.stats.errors += 1
                log.error("liveobs retention: a pass failed: %s", str(exc).splitlines()[0])
            with self._passed:
                self._finished_passes += 1
                self._passed.notify_all()

    def make_room(self, con: duckdb.DuckDBPyConnection) -> None:
        """The writer's hook before a commit, on its connection: past the high-water mark, start a pass now;
        past the stop mark, wait (at most :data:`ROOM_WAIT_S`) until passes have brought the store under it."""
        if self.max_bytes is None or not self._thread.is_alive():
            return
        used = self._used(con)
        if used <= self.max_bytes * HIGH_WATER:
            return
        self._wake.set()
        if used <= self.max_bytes * STOP_WATER:
            return
        self.stats.held_commits += 1
        deadline = time.monotonic() + ROOM_WAIT_S
        while used > self.max_bytes * STOP_WATER and not self._stop.is_set():
            if not self._next_pass(deadline):
                return  # the passes are slow: commit anyway rather than stall ingest for longer
            used = self._used(con)

    def _used(self, con: duckdb.DuckDBPyConnection) -> int:
        """The store's used bytes, read through the gate: a query of its own beside the pass's checkpoint would
        make the checkpoint fail."""
        with self._gate.shared():
            return _store_bytes(con)[1]

    def _next_pass(self, deadline: float) -> bool:
        """Start a pass and wait until it (or a later one) has finished; False when ``deadline`` came first."""
        with self._passed:
            seen = self._finished_passes
            self._wake.set()
            return self._passed.wait_for(lambda: self._finished_passes > seen or self._stop.is_set(),
                                         deadline - time.monotonic())

    def run_once(self, now_ns: int | None = None) -> dict[str, int]:
        """One pass; the rows deleted per table."""
        started = time.perf_counter()
        now = now_ns if now_ns is not None else time.time_ns()
        deleted: dict[str, int] = {}
        reasons = []
        if self.max_age is not None:
            cutoff = now - int(self.max_age * 1e9)
            if self._delete_before(cutoff, deleted):
                reasons.append(f"older than {self.max_age / 86400:g} days")
        # Alone only when there is something to vacuum: otherwise commits and reads need not wait.
        vacuumed = self._checkpoint(alone=bool(deleted) or self._unvacuumed)
        if self.max_bytes is not None:
            used = vacuumed[1] if vacuumed is not None else self._measure()[1]
            if used > self.max_bytes * HIGH_WATER and vacuumed is None:
                # Perhaps the write-ahead log or rows not vacuumed yet: measure after a checkpoint alone.
                vacuumed = self._checkpoint(alone=True)
                used = vacuumed[1] if vacuumed is not None else used
            # One round per pass, on a measure taken after a checkpoint alone (every deleted row vacuumed):
            # the blocks of a row group are free only once all its rows are deleted, so the next pass
            # measures what this one freed before deleting more.
            if used > self.max_bytes * HIGH_WATER and vacuumed is not None:
                by_size = self._size_cutoff(used)
                if by_size is not None and self._delete_before(by_size, deleted):
                    self._checkpoint(alone=True)
                    reasons.append(f"over {self.max_bytes / 1e9:g} GB")
        expire_digests(self._con)
        expire_kept(self._con, now - int(self.kept_for * 1e9))
        self.stats.file_bytes, self.stats.used_bytes = self._measure()
        self.stats.passes += 1
        self.stats.last_pass_seconds = time.perf_counter() - started
        for table, rows in deleted.items():
            self.stats.deleted_rows[table] = self.stats.deleted_rows.get(table, 0) + rows
        if any(deleted.values()):
            log.warning(
                "liveobs retention: removed %d spans, %d log records and %d metric points (%s) in %.2f s; the store"
                " now uses %.1f MB of its %.1f MB file",
                deleted.get("otel_traces", 0), deleted.get("otel_logs", 0),
                sum(n for t, n in deleted.items() if t.startswith("otel_metrics")), ", ".join(dict.fromkeys(reasons)),
                self.stats.last_pass_seconds, self.stats.used_bytes / 1e6, self.stats.file_bytes / 1e6,
            )
        return deleted

    def _delete_before(self, cutoff_ns: int, deleted: dict[str, int]) -> bool:
        """Delete the rows of every trimmed table older than ``cutoff_ns``, one table per transaction; spans,
        log records and metric points are first folded into what the gates and incidents keep (``_rollups``),
        in the same transaction as their delete."""
        any_deleted = False
        for table, column in TRIMMED:
            fold = _FOLDS.get(table)
            self._con.execute("BEGIN TRANSACTION")
            try:
                if fold is not None:
                    fold(self._con, cutoff_ns, self.kept_samples)
                rows = self._con.execute(
                    f"DELETE FROM {table} WHERE {column} < make_timestamp_ns(?)", [cutoff_ns]
                ).fetchall()
                if table in _MARKED and rows and rows[0][0]:
                    for sql in FORGET_SECRET_SCANS:
                        self._con.execute(sql)
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            count = int(rows[0][0]) if rows else 0
            if count:
                deleted[table] = deleted.get(table, 0) + count
                any_deleted = True
        return any_deleted

    def _size_cutoff(self, used: int) -> int | None:
        """A time before which deleting the rows should bring the store to the low-water mark (by time share)."""
        # Every result is read to its end: a result left open holds a transaction, and the checkpoint then
        # cannot vacuum the rows that transaction could still see.
        row = next(iter(self._con.execute(TIME_RANGE).fetchall()), None)
        if not row or row[0] is None or row[1] is None or row[1] <= row[0]:
            return None
        oldest, newest = int(row[0]), int(row[1])
        share = min(1.0, (used - self.max_bytes * LOW_WATER) / used) if self.max_bytes else 0.0
        # Never less than 5% of the time range, so a pass makes progress.
        return oldest + max(int((newest - oldest) * share), (newest - oldest) // 20, 1)

    def _measure(self) -> tuple[int, int]:
        """(file bytes, used bytes) of the store now, its write-ahead log included in both."""
        return _store_bytes(self._con)

    def _checkpoint(self, *, alone: bool = True) -> tuple[int, int] | None:
        """Write the log to the file and vacuum the deleted rows, freeing their blocks for new ones.

        ``alone``: in a moment with no commit or read open (see ``_storegate``), which frees every deleted row;
        then the store's (file, used) bytes right after, or None when no such moment came in time (the rows
        deleted so far stay to vacuum, by the next pass). Otherwise beside them, and None.
        """
        if not alone:
            with contextlib.suppress(duckdb.TransactionException):
                self._con.execute("CHECKPOINT")
            return None
        with self._gate.alone(CHECKPOINT_PATIENCE_S) as quiet:
            try:
                self._con.execute("CHECKPOINT")
            except duckdb.TransactionException:  # a transaction of another connection to the same file
                quiet = False
            if quiet:
                self._unvacuumed = False
                return self._measure()
        self._unvacuumed = True
        self.stats.skipped_checkpoints += 1
        return None


def _store_bytes(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(file bytes, used bytes) of the store, its write-ahead log included in both."""
    row = next(iter(con.execute(DATABASE_SIZE).fetchall()), None)
    if not row:
        return 0, 0
    block, total, used = int(row[0]), int(row[1]), int(row[2])
    wal = 0
    for (path,) in con.execute(DATABASE_FILE).fetchall():
        with contextlib.suppress(OSError):
            wal += os.stat(f"{path}.wal").st_size
    return block * total + wal, block * used + wal
