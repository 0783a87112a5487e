"""One store transaction: converted requests are inserted as they come and committed together.

The committer opens it inside the store gate (after the retention's room check,
see _storegate), inserts each handful of requests per table with ``INSERT … BY
NAME SELECT`` from their registered Arrow tables, with the trace bounds and the
error occurrences derived from them, and commits once the group is due. With
the spool (see _spoolwriter) the inserts run while the conversion process
builds the next requests: DuckDB writes each full row group to the file during
the insert, so the commit only writes what is left. A failure rolls the whole
transaction back and gives back the request digests it claimed; the caller then
stores the requests again on its own path, where one bad request fails alone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import duckdb
import pyarrow as pa

from liveobs.correlator._dedup import RecentRequests, record_digests
from liveobs.correlator._derive import (
    LOG_VIEW,
    SPAN_VIEW,
    insert_log_errors,
    insert_span_errors,
    trace_bounds,
)
from liveobs.correlator._staged import StagedRows, staged_select
from liveobs.correlator._storegate import StoreGate

if TYPE_CHECKING:
    from liveobs.correlator._writer import WriterStats, _Item

Mark = Callable[[duckdb.DuckDBPyConnection], object]

# Shape: which of the given ledger keys are already stored.
LEDGER_SEEN: Final = "SELECT SourceKey FROM liveobs_ingest_ledger WHERE list_contains(?, SourceKey)"
LEDGER_ADD: Final = 'INSERT INTO liveobs_ingest_ledger (SourceKey, Source, "Rows") VALUES (?, ?, ?)'


def _inserts(name: str, view: str) -> list[str]:
    """The statements that store the rows of ``view`` in table ``name`` (spans: with their trace bounds)."""
    insert = f"INSERT INTO {name} BY NAME SELECT * FROM {view}"
    return [insert, trace_bounds(view)] if name == "otel_traces" else [insert]


def _concat(tables: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


class OpenTransaction:
    """Begun on creation; :meth:`add` requests, then :meth:`commit` or :meth:`abandon` it, exactly once."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, gate: StoreGate, recent: RecentRequests, stats: WriterStats
    ) -> None:
        self._con = con
        self._recent = recent
        self._stats = stats
        self._started = time.perf_counter()
        self._cpu = 0.0
        self.requests = 0
        self.rows = 0
        self.fresh: list[_Item] = []  # inserted: neither a stored ledger key nor a recent duplicate
        self._claimed: list[_Item] = []  # digests claimed here, given back if the transaction fails
        gate.before_commit(con)
        self._gate = contextlib.ExitStack()
        self._gate.enter_context(gate.shared())
        try:
            con.execute("BEGIN TRANSACTION")
        except BaseException:
            self._gate.close()
            raise

    def add(self, group: list[_Item]) -> None:
        """Insert the requests' rows; an exception leaves the transaction to :meth:`abandon`."""
        con = self._con
        cpu = time.thread_time()
        views: list[str] = []
        try:
            fresh = self._claim_digests(self._claim_ledger(group))
            record_digests(con, [i.digest for i in fresh if i.digest])
            by_table: dict[str, list[pa.Table | StagedRows]] = {}
            span_errors: list[pa.Table] = []
            log_errors: list[pa.Table] = []
            for item in fresh:
                for name, table in item.converted.tables.items():
                    if table.num_rows:
                        by_table.setdefault(name, []).append(table)
                if item.converted.span_error_candidates is not None:
                    span_errors.append(item.converted.span_error_candidates)
                if item.converted.log_error_candidates is not None:
                    log_errors.append(item.converted.log_error_candidates)
            # Every insert in one script: DuckDB takes the GIL back after each call.
            script: list[str] = []
            for name, tables in by_table.items():
                # Identifiers come from the fixed set of store tables, never from input.
                staged = [t for t in tables if isinstance(t, StagedRows)]
                if staged:  # rows in files the conversion process wrote (see _staged)
                    view = f"liveobs_staged_{name}"
                    script.append(f"CREATE OR REPLACE TEMP VIEW {view} AS {staged_select(staged)}")
                    script.extend(_inserts(name, view))
                    script.append(f"DROP VIEW {view}")
                in_memory = [t for t in tables if not isinstance(t, StagedRows)]
                if in_memory:
                    view = SPAN_VIEW if name == "otel_traces" else f"liveobs_batch_{name}"
                    con.register(view, _concat(in_memory))
                    views.append(view)
                    script.extend(_inserts(name, view))
            if script:
                con.execute(";\n".join(script))
            if span_errors:
                if SPAN_VIEW in views:  # the error candidates take the span view's name
                    views.remove(SPAN_VIEW)
                    con.unregister(SPAN_VIEW)
                self._with_view(SPAN_VIEW, _concat(span_errors), insert_span_errors)
            if log_errors:
                self._with_view(LOG_VIEW, _concat(log_errors), insert_log_errors)
        finally:
            for view in views:
                with contextlib.suppress(duckdb.Error):
                    con.unregister(view)
            self._cpu += time.thread_time() - cpu
        self.requests += len(group)
        self.rows += sum(i.accepted for i in fresh)
        self.fresh.extend(fresh)

    def commit(self, mark: Mark | None = None) -> list[_Item]:
        """Run ``mark`` and commit; the requests stored (an exception leaves it to :meth:`abandon`)."""
        cpu = time.thread_time()
        try:
            if mark is not None:
                mark(self._con)
            self._con.execute("COMMIT")
        finally:
            self._cpu += time.thread_time() - cpu
        self._gate.close()
        stats = self._stats
        stats.commits += 1
        stats.requests += self.requests
        stats.rows += self.rows
        stats.max_commit_rows = max(stats.max_commit_rows, self.rows)
        stats.commit_seconds += time.perf_counter() - self._started
        stats.commit_cpu_seconds += self._cpu
        return self.fresh

    def abandon(self) -> None:
        """Roll back; the digests claimed here can be taken by a retry."""
        with contextlib.suppress(duckdb.Error):
            self._con.execute("ROLLBACK")
        for item in self._claimed:
            self._recent.forget(item.digest)
            item.claimed = False
        self._stats.errors += 1
        self._gate.close()

    def _claim_digests(self, group: list[_Item]) -> list[_Item]:
        """The requests not received before (a digest claimed now is given back if this fails)."""
        fresh: list[_Item] = []
        for item in group:
            if item.digest and not item.claimed:
                if not self._recent.claim(item.digest):
                    self._stats.duplicates += 1
                    continue
                item.claimed = True
                self._claimed.append(item)
            fresh.append(item)
        return fresh

    def _claim_ledger(self, group: list[_Item]) -> list[_Item]:
        keyed = [i for i in group if i.source_key is not None]
        if not keyed:
            return group
        seen = {r[0] for r in self._con.execute(LEDGER_SEEN, [[i.source_key for i in keyed]]).fetchall()}
        fresh: list[_Item] = []
        for item in group:
            if item.source_key is not None:
                if item.source_key in seen:
                    continue
                seen.add(item.source_key)
                self._con.execute(LEDGER_ADD, [item.source_key, item.source, item.accepted])
            fresh.append(item)
        return fresh

    def _with_view(self, view: str, table: pa.Table, action: Mark) -> None:
        con = self._con
        con.register(view, table)
        try:
            action(con)
        finally:
            with contextlib.suppress(duckdb.Error):
                con.unregister(view)
