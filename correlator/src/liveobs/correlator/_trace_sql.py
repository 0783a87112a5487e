"""The queries of a trace lookup, one named constant each, with the shape of its rows.

Lookups by id go through the correlation index (``liveobs_correlation``) and
read exporter tables with a time bound, so that the engine prunes by time
before it compares ids. Values are always bound parameters.
"""

from __future__ import annotations

from typing import Final

# Every correlated row of one event id, spans and logs (browser reports included).
# shape: (ts_ns, Signal, TraceId, SpanId, EventName, ErrorType, SessionId, RequestId, RouteId, ConnectionId)
ROWS_BY_EVENT: Final = """
SELECT epoch_ns("Timestamp"), Signal, TraceId, SpanId, EventName, ErrorType,
       SessionId, RequestId, RouteId, ConnectionId
FROM liveobs_correlation WHERE EventId = ?
"""

# The traces one request id or session id covers, one row per trace, newest first.
# shape: (TraceId, first_ts_ns, EventId, EventName, RequestId, ErrorType, has_connection, RouteId)
_TRACES_BY: Final = """
SELECT TraceId, min(epoch_ns("Timestamp")), max(EventId), max(EventName), max(RequestId), max(ErrorType),
       bool_or(ConnectionId IS NOT NULL), max(RouteId)
FROM liveobs_correlation WHERE {column} = ? AND Signal = 'span' AND TraceId <> ''
GROUP BY TraceId ORDER BY 2 DESC
"""
TRACES_BY_REQUEST: Final = _TRACES_BY.format(column="RequestId")
TRACES_BY_SESSION: Final = _TRACES_BY.format(column="SessionId")

# The session context in one read of the index: the traces around one trace, and the page renders
# (routed request traces without event or connection) further back. Each trace's rows are grouped
# by which side of the window's start they fall on: ``around`` groups hold the rows within the
# window (from $around_from to $until), the others the rows with a request id from $page_from up to
# the window's start, kept only when they make a page render.
# shape: (around, TraceId, first_ts_ns, EventId, EventName, RequestId, ErrorType, has_connection, RouteId)
SESSION_CONTEXT: Final = """
SELECT "Timestamp" >= make_timestamp_ns($around_from) AS around,
       TraceId, min(epoch_ns("Timestamp")), max(EventId), max(EventName), max(RequestId), max(ErrorType),
       bool_or(ConnectionId IS NOT NULL), max(RouteId)
FROM liveobs_correlation
WHERE SessionId = $session AND Signal = 'span' AND TraceId <> ''
  AND "Timestamp" BETWEEN make_timestamp_ns($page_from) AND make_timestamp_ns($until)
  AND ("Timestamp" >= make_timestamp_ns($around_from) OR RequestId IS NOT NULL)
GROUP BY around, TraceId
HAVING around OR (max(EventId) IS NULL AND NOT bool_or(ConnectionId IS NOT NULL) AND max(RouteId) IS NOT NULL)
ORDER BY 3
"""

# First and last time of a trace. shape: (start_ns, end_ns)
# The exporter's table keeps whole seconds and one row per insert until its parts merge, so
# the rows are merged here and the end widened to the end of its second.
TRACE_BOUNDS: Final = """
SELECT epoch_ns(min("Start")), epoch_ns(max("End")) + 999999999 FROM otel_traces_trace_id_ts WHERE TraceId = ?
"""
# Fallback when the trace index has no row. shape: (start_ns, end_ns)
TRACE_BOUNDS_SCAN: Final = """
SELECT min(epoch_ns("Timestamp")), max(epoch_ns("Timestamp") + Duration) FROM otel_traces WHERE TraceId = ?
"""

# Last fallback, for a trace whose spans never arrived: its correlated log lines. shape: (start_ns, end_ns)
LOG_BOUNDS: Final = """
SELECT min(epoch_ns("Timestamp")), max(epoch_ns("Timestamp")) FROM liveobs_correlation WHERE TraceId = ?
"""

# shape: (ts_ns, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, Duration, StatusCode,
#         StatusMessage, SpanAttributes, Events, ResourceAttributes)
SPANS: Final = """
SELECT epoch_ns("Timestamp"), SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, Duration, StatusCode,
       StatusMessage, SpanAttributes,
       list_transform(Events."Timestamp", lambda t: epoch_ns(t)), Events."Name", Events.Attributes,
       ResourceAttributes
FROM otel_traces
WHERE TraceId = ? AND "Timestamp" BETWEEN make_timestamp_ns(?) AND make_timestamp_ns(?)
ORDER BY "Timestamp", SpanId
"""

# shape: (ts_ns, TraceId, SpanId, SeverityText, Body, EventName, LogAttributes)
LOG_COLUMNS: Final = """
SELECT epoch_ns("Timestamp"), TraceId, SpanId, SeverityText, Body, EventName, LogAttributes FROM otel_logs
"""
LOGS: Final = LOG_COLUMNS + """
WHERE TraceId = ? AND "Timestamp" BETWEEN make_timestamp_ns(?) AND make_timestamp_ns(?)
ORDER BY "Timestamp"
"""
# Browser reports of one event, at the times the correlation index gave.
BROWSER_LOGS: Final = LOG_COLUMNS + """
WHERE "Timestamp" BETWEEN make_timestamp_ns(?) AND make_timestamp_ns(?)
  AND EventName IN (?, ?) AND map_extract_value(LogAttributes, ?) = ?
ORDER BY "Timestamp"
"""

# shape: (ts_ns, Source, ErrorType, Fingerprint, Message, SpanId, ServiceVersion, Environment)
# An error occurrence's time is kept to the microsecond (DuckDB's writer stores it so; an index may keep more).
ERRORS: Final = """
SELECT epoch_us("Timestamp") * 1000, Source, ErrorType, Fingerprint, coalesce(Message, ''), coalesce(SpanId, ''),
       ServiceVersion, Environment
FROM liveobs_errors
WHERE (TraceId = ? OR EventId = ?) AND "Timestamp" BETWEEN make_timestamp_ns(?) AND make_timestamp_ns(?)
ORDER BY "Timestamp"
"""
