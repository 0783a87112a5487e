"""What the writer derives from each batch in SQL, in the batch's own transaction.

``otel_traces_trace_id_ts`` gets a row per trace of the registered span batch.
Error occurrences are rare: the converters set aside the candidate rows, which
are read here in SQL and fingerprinted in Python. (The correlation index is
built from ids captured during conversion, see ``_correlation``.)
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, Final

import duckdb
import pyarrow as pa

from liveobs.conventions import error_fingerprint, keys
from liveobs.correlator._columns import TS_TYPE

# Named parameters shared by the statements below: attribute keys are bound, never spliced.
KEY_PARAMS: Final[dict[str, str]] = {
    "service_version": keys.SERVICE_VERSION,
    "environment": keys.DEPLOYMENT_ENVIRONMENT,
    "event_id": keys.EVENT_ID,
    "session_id": keys.SESSION_ID,
    "request_id": keys.REQUEST_ID,
    "route_id": keys.ROUTE_ID,
    "http_route": keys.HTTP_ROUTE,
    "connection_id": keys.CONNECTION_ID,
    "event_name": keys.EVENT_NAME,
    "error_type": keys.ERROR_TYPE,
    "fingerprint": keys.ERROR_FINGERPRINT,
    "exception": keys.EXCEPTION_EVENT,
    "exception_type": keys.EXCEPTION_TYPE,
    "exception_message": keys.EXCEPTION_MESSAGE,
    "browser_error": keys.BROWSER_ERROR_EVENT,
    "browser_error_kind": keys.BROWSER_ERROR_KIND,
}


SPAN_VIEW: Final = "liveobs_batch_spans"
LOG_VIEW: Final = "liveobs_batch_logs"


def trace_bounds(view: str) -> str:
    """The statement that adds one (TraceId, Start, End) per trace of the spans in ``view`` (a fixed name);
    reads merge a trace's rows (see _trace_sql)."""
    return f"""
INSERT INTO otel_traces_trace_id_ts
SELECT TraceId, min("Timestamp"), max(make_timestamp_ns(epoch_ns("Timestamp") + Duration::BIGINT))
FROM {view} WHERE TraceId <> '' GROUP BY TraceId
"""


# Shape: spans with Error status or an exception event, with the first exception's attributes.
SPAN_ERROR_CANDIDATES: Final = f"""
WITH c AS (
    SELECT *, list_position(Events.Name, $exception) AS pos FROM {SPAN_VIEW}
    WHERE StatusCode = 'Error' OR list_contains(Events.Name, $exception)
)
SELECT "Timestamp", ServiceName, ResourceAttributes[$service_version], ResourceAttributes[$environment],
       coalesce(SpanAttributes[$error_type], CASE WHEN pos > 0 THEN Events.Attributes[pos][$exception_type] END),
       SpanAttributes[$fingerprint],
       coalesce(CASE WHEN pos > 0 THEN Events.Attributes[pos][$exception_message] END, nullif(StatusMessage, '')),
       TraceId, SpanId, SpanAttributes[$event_id], SpanAttributes[$session_id], SpanAttributes[$request_id],
       coalesce(SpanAttributes[$route_id], SpanAttributes[$http_route]), 'span'
FROM c
"""

# Shape: log records that report an error class, and every browser.error report.
LOG_ERROR_CANDIDATES: Final = f"""
WITH c AS (
    SELECT *, coalesce(nullif(EventName, ''), LogAttributes[$event_name]) = $browser_error AS browser
    FROM {LOG_VIEW}
    WHERE LogAttributes[$error_type] IS NOT NULL OR LogAttributes[$exception_type] IS NOT NULL
       OR EventName = $browser_error OR LogAttributes[$event_name] = $browser_error
)
SELECT "Timestamp", ServiceName, ResourceAttributes[$service_version], ResourceAttributes[$environment],
       coalesce(LogAttributes[$error_type], LogAttributes[$exception_type],
                CASE WHEN browser THEN LogAttributes[$browser_error_kind] END),
       LogAttributes[$fingerprint], coalesce(LogAttributes[$exception_message], nullif(Body, '')),
       TraceId, SpanId, LogAttributes[$event_id], LogAttributes[$session_id], LogAttributes[$request_id],
       coalesce(LogAttributes[$route_id], LogAttributes[$http_route]),
       CASE WHEN browser THEN 'browser' ELSE 'log' END
FROM c
"""

UNKNOWN_ERROR_CLASS: Final = "_OTHER"
_ERROR_COLUMNS: Final = (
    "Timestamp", "ServiceName", "ServiceVersion", "Environment", "ErrorType", "Fingerprint", "Message",
    "TraceId", "SpanId", "EventId", "SessionId", "RequestId", "RouteId", "Source",
)
INSERT_ERRORS: Final = "INSERT INTO liveobs_errors BY NAME SELECT * FROM liveobs_batch_errors"


_PARAM: Final = re.compile(r"\$(\w+)")


def _params(sql: str) -> dict[str, str]:
    return {name: KEY_PARAMS[name] for name in set(_PARAM.findall(sql))}


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    con.execute(sql, _params(sql))


def _error_rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    rows = []
    for row in con.execute(sql, _params(sql)).fetchall():
        ts, service, version, env, cls, fingerprint, message, *ids, source = row
        cls = cls or UNKNOWN_ERROR_CLASS
        fingerprint = fingerprint or error_fingerprint(service or "", cls, message)
        rows.append((ts, service, version, env, cls, fingerprint, message, *ids, source))
    return rows


def _insert_errors(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> int:
    if not rows:
        return 0
    columns = list(zip(*rows, strict=True))
    arrays = [pa.array(columns[0], TS_TYPE)] + [pa.array(c, pa.string()) for c in columns[1:]]
    con.register("liveobs_batch_errors", pa.Table.from_arrays(arrays, names=list(_ERROR_COLUMNS)))
    try:
        con.execute(INSERT_ERRORS)
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister("liveobs_batch_errors")
    return len(rows)


def insert_span_errors(con: duckdb.DuckDBPyConnection) -> int:
    """Error occurrences of the registered span candidates (Error status or exception events)."""
    return _insert_errors(con, _error_rows(con, SPAN_ERROR_CANDIDATES))


def insert_log_errors(con: duckdb.DuckDBPyConnection) -> int:
    """Error occurrences of the registered log candidates (error class or browser.error)."""
    return _insert_errors(con, _error_rows(con, LOG_ERROR_CANDIDATES))
