"""Incidents: error occurrences grouped by fingerprint.

An occurrence is one failing event (or, without an event id, one failing span
or log record): the same failure seen on the server span, in an error log line
and in the browser's report counts once, under the fingerprint the server gave
it (the browser only knows the message it showed, so its own fingerprint differs). Each incident tells how often, since
when, in which releases and routes, how many sessions it hit, and the newest
event ids to trace.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from liveobs.conventions import keys
from liveobs.correlator._readapi import ReadRequestError, read_handler
from liveobs.correlator._sqlcursor import Cursor
from liveobs.correlator._stacktrace import StackTrace
from liveobs.correlator._stacktrace import build as build_stack
from liveobs.correlator._traceresult import iso_from_ns
from liveobs.redaction import DEFAULT_SCRUBBER

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 1000
SAMPLE_EVENTS: Final = 5
_RELATIVE: Final = re.compile(r"(\d+)\s*([smhdw])")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

# One row per fingerprint, newest last-seen first (times to the microsecond, as DuckDB's writer keeps them);
# occurrences are distinct events, and an event's rows all count under its earliest server-side fingerprint.
# The message shown is the exception's own (a failing span's), else a log line's, else what the browser reported.
# shape: (Fingerprint, ErrorType, occurrences, records, first_ns, last_ns, releases[], routes[],
#         services[], sessions, message, sources[], sample_event_ids[], environments[],
#         [TraceId, SpanId, ts_ns, ServiceVersion] of the newest failing span)
_INCIDENTS: Final = """
WITH raw AS (
    SELECT * FROM liveobs_errors
    WHERE "Timestamp" >= make_timestamp_ns(?) AND "Timestamp" < make_timestamp_ns(?)
      AND (?::VARCHAR IS NULL OR ServiceVersion = ?)
      AND (?::VARCHAR IS NULL OR ServiceName = ?) AND (?::VARCHAR IS NULL OR Environment = ?)
      AND (?::VARCHAR IS NULL OR Fingerprint = ? OR EventId IN (
            SELECT EventId FROM liveobs_errors WHERE Fingerprint = ? AND EventId IS NOT NULL AND EventId <> ''))
),
by_event AS (
    SELECT EventId, arg_min(Fingerprint, (Source = 'browser', "Timestamp")) AS event_fingerprint
    FROM raw WHERE EventId IS NOT NULL AND EventId <> '' GROUP BY EventId
),
scoped AS (
    SELECT * REPLACE (coalesce(b.event_fingerprint, r.Fingerprint) AS Fingerprint),
           coalesce(nullif(r.EventId, ''), nullif(r.TraceId, '') || ':' || coalesce(r.SpanId, ''),
                    r.Source || ':' || epoch_ns(r."Timestamp")::VARCHAR) AS occurrence
    FROM raw r LEFT JOIN by_event b USING (EventId)
),
newest AS (
    SELECT Fingerprint, EventId, max("Timestamp") AS seen FROM scoped
    WHERE EventId IS NOT NULL AND EventId <> '' GROUP BY Fingerprint, EventId
    QUALIFY row_number() OVER (PARTITION BY Fingerprint ORDER BY seen DESC, EventId) <= ?
),
samples AS (
    SELECT Fingerprint, list(EventId ORDER BY seen DESC, EventId) AS events FROM newest GROUP BY Fingerprint
)
SELECT s.Fingerprint, mode(s.ErrorType), count(DISTINCT s.occurrence), count(*),
       min(epoch_us(s."Timestamp")) * 1000, max(epoch_us(s."Timestamp")) * 1000,
       list(DISTINCT s.ServiceVersion ORDER BY s.ServiceVersion) FILTER (WHERE s.ServiceVersion IS NOT NULL),
       list(DISTINCT s.RouteId ORDER BY s.RouteId) FILTER (WHERE s.RouteId IS NOT NULL),
       list(DISTINCT s.ServiceName ORDER BY s.ServiceName) FILTER (WHERE s.ServiceName IS NOT NULL),
       count(DISTINCT s.SessionId),
       arg_max(s.Message, (s.Source = 'span', s.Source <> 'browser', s."Timestamp"))
           FILTER (WHERE s.Message IS NOT NULL AND s.Message <> ''),
       list(DISTINCT s.Source ORDER BY s.Source),
       any_value(p.events),
       list(DISTINCT s.Environment ORDER BY s.Environment) FILTER (WHERE s.Environment IS NOT NULL),
       arg_max([s.TraceId, s.SpanId, (epoch_us(s."Timestamp") * 1000)::VARCHAR, s.ServiceVersion], s."Timestamp")
           FILTER (WHERE s.Source = 'span' AND s.TraceId IS NOT NULL AND s.SpanId IS NOT NULL)
FROM scoped s LEFT JOIN samples p USING (Fingerprint)
WHERE ?::VARCHAR IS NULL OR s.Fingerprint = ?
GROUP BY s.Fingerprint
ORDER BY max(s."Timestamp") DESC, s.Fingerprint
LIMIT ?
"""


@dataclass(frozen=True, slots=True)
class Incident:
    """Error occurrences sharing one fingerprint."""

    fingerprint: str
    error_class: str
    count: int
    records: int
    first_seen_unix_nano: int
    last_seen_unix_nano: int
    releases: tuple[str, ...]
    routes: tuple[str, ...]
    services: tuple[str, ...]
    affected_sessions: int
    message: str | None
    sources: tuple[str, ...]
    sample_event_ids: tuple[str, ...]
    environments: tuple[str, ...] = ()
    sample_trace_id: str | None = None
    sample_release: str | None = None
    stacktrace: str | None = None  # the newest failing span's exception.stacktrace, scrubbed

    def stack(self) -> StackTrace | None:
        """The parsed stack of the newest failing span (None when none was stored)."""
        if not self.stacktrace:
            return None
        return build_stack(self.stacktrace, error_class=self.error_class, message=self.message or "",
                           release=self.sample_release, service=self.services[0] if self.services else None)

    @property
    def first_seen(self) -> str:
        return iso_from_ns(self.first_seen_unix_nano)

    @property
    def last_seen(self) -> str:
        return iso_from_ns(self.last_seen_unix_nano)

    def to_dict(self) -> dict[str, Any]:
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        data["first_seen"] = self.first_seen
        data["last_seen"] = self.last_seen
        stack = self.stack()
        data["stack"] = stack.to_dict() if stack else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Incident:
        names = cls.__dataclass_fields__
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
        return cls(**kwargs)


def parse_since(value: str | datetime | None, now: datetime | None = None) -> datetime | None:
    """``"90m"``, ``"24h"``, ``"7d"`` (before now) or an ISO 8601 time, as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = value.strip()
    match = _RELATIVE.fullmatch(text)
    if match:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReadRequestError(f"since: expected e.g. 90m, 24h, 7d or an ISO 8601 time, got {text[:60]!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def incidents(
    con: Cursor,
    *,
    since: str | datetime | None = None,
    release: str | None = None,
    limit: int = DEFAULT_LIMIT,
    service: str | None = None,
    environment: str | None = None,
    until: str | datetime | None = None,
    fingerprint: str | None = None,
    stacks: bool = True,
) -> list[Incident]:
    """Incidents newest first, optionally since (and until) a time, for one release (``service.version``),
    service, environment or fingerprint; ``stacks`` reads each incident's newest stack trace."""
    start = parse_since(since)
    end = parse_since(until)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise ReadRequestError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    for name, value in (("release", release), ("service", service), ("environment", environment),
                        ("fingerprint", fingerprint)):
        if value is not None and not isinstance(value, str):
            raise ReadRequestError(f"{name} must be a string")
    since_ns = int(start.timestamp() * 1e9) if start else 0
    until_ns = int(end.timestamp() * 1e9) if end else _NEVER_NS
    cur = con.cursor()
    try:
        rows = cur.execute(_INCIDENTS, [
            since_ns, until_ns, release, release, service, service, environment, environment,
            fingerprint, fingerprint, fingerprint, SAMPLE_EVENTS, fingerprint, fingerprint, limit,
        ]).fetchall()
        texts = [_stack_text(cur, r[14]) if stacks else None for r in rows]
    finally:
        cur.close()
    return [
        Incident(
            fingerprint=r[0], error_class=r[1], count=int(r[2]), records=int(r[3]),
            first_seen_unix_nano=int(r[4]), last_seen_unix_nano=int(r[5]),
            releases=tuple(r[6] or ()), routes=tuple(r[7] or ()), services=tuple(r[8] or ()),
            affected_sessions=int(r[9]),
            message=DEFAULT_SCRUBBER.scrub_text(r[10]) if r[10] else None,
            sources=tuple(r[11] or ()), sample_event_ids=tuple(r[12] or ()),
            environments=tuple(r[13] or ()), sample_trace_id=r[14][0] if r[14] else None,
            sample_release=r[14][3] if r[14] else None, stacktrace=text,
        )
        for r, text in zip(rows, texts, strict=True)
    ]


_NEVER_NS: Final = 2**62
# The stored stack of one failing span (its error row's time is the span's start, kept to the microsecond).
_SPAN_STACK: Final = """
SELECT list_filter(list_transform(Events.Attributes, lambda a: a[?]), lambda t: t IS NOT NULL AND t <> '')
FROM otel_traces
WHERE "Timestamp" BETWEEN make_timestamp_ns(?) AND make_timestamp_ns(?) AND TraceId = ? AND SpanId = ?
LIMIT 1
"""
# The same stack as retention kept it once the span was deleted (see _rollups).
_KEPT_STACK: Final = """
SELECT [StackTrace] FROM liveobs_kept_stacks
WHERE "Timestamp" BETWEEN make_timestamp_ns(?) AND make_timestamp_ns(?) AND TraceId = ? AND SpanId = ?
LIMIT 1
"""


def _stack_text(cur: Cursor, sample: list[str] | None) -> str | None:
    """The scrubbed ``exception.stacktrace`` of an incident's newest failing span."""
    if not sample:
        return None
    trace_id, span_id, ts, _release = sample
    at = int(ts)
    row = cur.execute(_SPAN_STACK, [keys.EXCEPTION_STACKTRACE, at - 1_000, at + 1_000, trace_id, span_id]).fetchone()
    if row is None:
        row = cur.execute(_KEPT_STACK, [at - 1_000, at + 1_000, trace_id, span_id]).fetchone()
    if row is None or not row[0]:
        return None
    return DEFAULT_SCRUBBER.scrub_text(str(row[0][0]))


@read_handler("incidents")
def incidents_handler(con: Cursor, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Read API: ``{"since": ISO time | "24h", "release": str, "service": str, "limit": int}``."""
    unknown = set(params) - {"since", "release", "service", "limit"}
    if unknown:
        raise ReadRequestError(f"unknown parameters: {', '.join(sorted(unknown))}")
    since = params.get("since")
    if since is not None and not isinstance(since, str):
        raise ReadRequestError("since must be a string")
    found = incidents(con, since=since, release=params.get("release"), service=params.get("service"),
                      limit=params.get("limit", DEFAULT_LIMIT))
    return [incident.to_dict() for incident in found]
