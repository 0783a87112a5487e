"""The secret scan kept between gate runs, so a repeat run scans only the rows added since.

The scan (``lo_secret_candidates`` in ``scope.sql``) groups every attribute, body and
resource entry of the subject's evidence and keeps the candidates; it is the costliest
part of a gate run. On a DuckDB store, for the whole window (no ``--since``/``--until``),
its result is kept per scope (service, release, environment as the gate binds them) in
``liveobs_secret_candidates``, with a mark per table (``liveobs_secret_scans``): the
rows below the mark are the ones scanned. DuckDB numbers rows in the order they are
appended (``rowid``), so the next run scans, with the same statement, only the rows at
or above the marks (``secret_delta.sql``) and adds what it finds to the kept candidates:
the same groups with the same counts as a scan of every row.

A mark holds while the rows below it are exactly the rows it was taken over: their
count is kept beside it and checked on every run. Deleting rows breaks that (and a
checkpoint may renumber the rest), so retention forgets every kept scan in the
transaction that deletes spans or log records; a count that no longer matches, a
change of the scan's rules or SQL, or a store opened read-only with nothing kept all
fall back to scanning every row, as a first run does. A first run scans as before and
keeps its result: it is no slower than a run without this module. Keeping the result
is best effort: a read-only store or a concurrent run that wrote first leaves the kept
scan as it was, and the run's own answer stands.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Final

import duckdb

from liveobs.correlator._sqlcursor import Cursor
from liveobs.correlator.gates._catalogue import bind, scope_statements
from liveobs.correlator.gates._model import WINDOW_END, WINDOW_START

SCAN_TABLE: Final = "lo_secret_candidates"
_NEW_TABLES: Final = {"lo_spans": "lo_secret_new_spans", "lo_logs": "lo_secret_new_logs",
                      SCAN_TABLE: "lo_secret_delta"}
_TABLE_NAME: Final = re.compile(r"\b(" + "|".join(_NEW_TABLES) + r")\b")
_SCOPE: Final = ("(ServiceName IS NOT DISTINCT FROM $service AND Release = $release "
                 "AND Environment IS NOT DISTINCT FROM $environment)")
# Whether the store has the kept scan's tables (a store of an older schema, opened read-only, has not).
_TABLES: Final = """
SELECT count(*) FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = current_schema()
  AND table_name IN ('liveobs_secret_scans', 'liveobs_secret_candidates')
"""
_STATE: Final = f"SELECT Rules, SpanMark, SpanCount, LogMark, LogCount FROM liveobs_secret_scans WHERE {_SCOPE}"
_BELOW: Final = "SELECT (SELECT count(*) FROM otel_traces WHERE rowid < $span), (SELECT count(*) FROM otel_logs WHERE rowid < $log)"
# The next marks: one past the last row of each table, with the row counts they cover.
_MARKS: Final = """
SELECT (SELECT coalesce(max(rowid) + 1, 0) FROM otel_traces), (SELECT count(*) FROM otel_traces),
       (SELECT coalesce(max(rowid) + 1, 0) FROM otel_logs), (SELECT count(*) FROM otel_logs)
"""
# The kept candidates and those of the new rows, grouped as the scan groups them.
_MERGE: Final = f"""
CREATE OR REPLACE TEMP TABLE {SCAN_TABLE} AS
SELECT place, key, value, sum(n) AS n, any_value(origin) AS origin
FROM (SELECT Place AS place, "Key" AS key, "Value" AS value, N AS n, Origin AS origin
      FROM liveobs_secret_candidates WHERE {_SCOPE}
      UNION ALL SELECT place, key, value, n, origin FROM lo_secret_delta)
GROUP BY place, key, value
"""
_FORGET: Final = (f"DELETE FROM liveobs_secret_candidates WHERE {_SCOPE}", f"DELETE FROM liveobs_secret_scans WHERE {_SCOPE}")
_KEEP: Final = (
    f"INSERT INTO liveobs_secret_candidates SELECT $service, $release, $environment, place, key, value, n, origin FROM {SCAN_TABLE}",
    "INSERT INTO liveobs_secret_scans VALUES ($service, $release, $environment, $rules, $span_mark, $span_count, "
    "$log_mark, $log_count, CAST(now() AS TIMESTAMP))",
)


@functools.cache
def _scan_sql() -> str:
    return next(s.sql for s in scope_statements("scope.sql") if s.creates == SCAN_TABLE)


def rules_digest(params: dict[str, Any]) -> str:
    """A digest of what decides the scan's candidates: its SQL, the new rows' SQL and the rules the scan binds."""
    texts = [_scan_sql(), *(s.sql for s in scope_statements("secret_delta.sql"))]
    rules = sorted((name, repr(value)) for name, value in bind(_scan_sql(), params, "secret scan").items())
    return hashlib.sha256(json.dumps([texts, rules]).encode()).hexdigest()[:32]


@dataclass(slots=True)
class KeptScan:
    """One run's use of the kept scan: the marks it starts from (0: scan every row) and the ones it reaches."""

    key: dict[str, Any]
    rules: str
    span_mark: int
    log_mark: int
    marks: tuple[int, int, int, int]

    @property
    def cold(self) -> bool:
        """No usable kept scan: the scope scans every row (``$scan_secrets``) as without one."""
        return self.span_mark == 0 and self.log_mark == 0

    @classmethod
    def begin(cls, cur: Cursor, params: dict[str, Any]) -> KeptScan | None:
        """The kept scan for this run's scope, or None when it cannot serve (another engine, a time window,
        a store without its tables). Runs inside the transaction that builds the scope, so the marks and
        the scoped rows are one snapshot."""
        if not isinstance(cur, duckdb.DuckDBPyConnection):
            return None
        if params["since"] != WINDOW_START or params["until"] != WINDOW_END:
            return None
        # Looked up, not tried: a failed statement would abort the transaction the scope is built in.
        if cur.execute(_TABLES).fetchone() != (2,):
            return None
        key = {"service": params["service"], "release": params["release"], "environment": params["environment"]}
        rules = rules_digest(params)
        state = cur.execute(_STATE, key).fetchall()
        marks = cur.execute(_MARKS).fetchone()
        assert marks is not None
        scan = cls(key, rules, 0, 0, (int(marks[0]), int(marks[1]), int(marks[2]), int(marks[3])))
        if len(state) == 1 and state[0][0] == rules:
            _, span_mark, span_count, log_mark, log_count = state[0]
            below = cur.execute(_BELOW, {"span": span_mark, "log": log_mark}).fetchone()
            if below == (span_count, log_count) and (span_mark, log_mark) != (0, 0):
                scan.span_mark, scan.log_mark = int(span_mark), int(log_mark)
        return scan

    def scan_new_rows(self, cur: Cursor, params: dict[str, Any]) -> None:
        """Fill ``lo_secret_candidates`` from the kept candidates and the rows at or above the marks."""
        values = {**params, "span_mark": self.span_mark, "log_mark": self.log_mark}
        for statement in scope_statements("secret_delta.sql"):
            cur.execute(statement.sql, bind(statement.sql, values, "secret scan of new rows"))
        delta = _TABLE_NAME.sub(lambda m: _NEW_TABLES[m[1]], _scan_sql())
        cur.execute(delta, bind(delta, params, "secret scan of new rows"))
        cur.execute(_MERGE, self.key)

    def keep(self, cur: Cursor) -> bool:
        """Keep this run's candidates with the marks reached, in a transaction of its own; False when the store
        would not take them (read-only, or another run wrote the same scope first)."""
        if (self.span_mark, self.log_mark) == (self.marks[0], self.marks[2]):
            return True
        values = {**self.key, "rules": self.rules, "span_mark": self.marks[0], "span_count": self.marks[1],
                  "log_mark": self.marks[2], "log_count": self.marks[3]}
        try:
            cur.execute("BEGIN TRANSACTION")
            for sql in (*_FORGET, *_KEEP):
                cur.execute(sql, bind(sql, values, "kept secret scan"))
            cur.execute("COMMIT")
        except duckdb.Error:
            with contextlib.suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            return False
        return True
