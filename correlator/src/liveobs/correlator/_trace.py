"""Trace lookup: from any one id to the ids, error class, spans and logs around it.

Resolution goes through the correlation index (``liveobs_correlation``), never
through attribute maps: an event id, a request id or a session id names one or
more traces; a trace id names one directly. The trace's spans and logs are then
read with a time bound taken from ``otel_traces_trace_id_ts``, so that DuckDB
(or ClickHouse) prunes by time before it compares ids.

The function :func:`trace` serves both paths: a local store calls it on its own
connection, a running collector calls it through the ``trace`` read handler.
"""

from __future__ import annotations

import re
from typing import Any, Final

from liveobs.conventions import keys, valid_id
from liveobs.correlator import _trace_sql as sql
from liveobs.correlator._readapi import NotFoundError, ReadRequestError, read_handler
from liveobs.correlator._sqlcursor import Cursor
from liveobs.correlator._traceresult import (
    ErrorOccurrence,
    LogLine,
    SessionEvent,
    Span,
    SpanEvent,
    TraceResult,
)
from liveobs.redaction import DEFAULT_SCRUBBER

ID_KINDS: Final = ("event_id", "request_id", "trace_id", "session_id")
_TRACE_ID_RE: Final = re.compile(r"[0-9a-f]{32}")
_NS_PER_MS: Final = 1_000_000
# Logs and error rows are looked up this far around the trace's first and last span.
_LOG_SLACK_NS: Final = 5_000_000_000
_ERROR_SLACK_NS: Final = 60_000_000_000
# The session context: events this far around the trace, at most this many each side; the
# page render is looked for further back only when it is not in that window.
CONTEXT_WINDOW_NS: Final = 600_000_000_000
PAGE_WINDOW_NS: Final = 6 * 3_600_000_000_000
DEFAULT_CONTEXT: Final = 5
MAX_CANDIDATES: Final = 50

class AmbiguousIdError(NotFoundError):
    """An id names several unrelated traces, so no one answer; the message lists them."""


def parse_query(params: dict[str, Any]) -> tuple[str, str, int]:
    """``(kind, id, context)`` from read parameters; exactly one id kind must be given."""
    given = [(kind, params[kind]) for kind in ID_KINDS if params.get(kind) not in (None, "")]
    if len(given) != 1:
        raise ReadRequestError(f"give exactly one of {', '.join(ID_KINDS)} (got {len(given)})")
    kind, value = given[0]
    text = value.strip().lower() if kind == "trace_id" and isinstance(value, str) else value
    if kind == "trace_id":
        if not isinstance(text, str) or not _TRACE_ID_RE.fullmatch(text) or text == "0" * 32:
            raise ReadRequestError(f"not a trace id (32 hex digits): {str(value)[:80]!r}")
    elif valid_id(text) is None:
        raise ReadRequestError(f"not a valid {kind.replace('_', ' ')}: {str(value)[:80]!r}")
    context = params.get("context", DEFAULT_CONTEXT)
    if not isinstance(context, int) or isinstance(context, bool) or not 0 <= context <= 500:
        raise ReadRequestError("context must be an integer from 0 to 500")
    return kind, str(text), context


def trace(
    con: Cursor,
    *,
    event_id: str | None = None,
    request_id: str | None = None,
    trace_id: str | None = None,
    session_id: str | None = None,
    context: int = DEFAULT_CONTEXT,
) -> TraceResult:
    """Resolve one id to its trace and everything around it.

    Raises :class:`NotFoundError` when nothing carries the id,
    :class:`AmbiguousIdError` when an event id names several traces, and
    :class:`ReadRequestError` for a malformed id.
    """
    params = {"event_id": event_id, "request_id": request_id, "trace_id": trace_id, "session_id": session_id}
    kind, value, context = parse_query({**params, "context": context})
    cur = con.cursor()
    try:
        return _Lookup(cur, kind, value, context).run()
    finally:
        cur.close()


@read_handler("trace")
def trace_handler(con: Cursor, params: dict[str, Any]) -> dict[str, Any]:
    """Read API: ``{"event_id" | "request_id" | "trace_id" | "session_id": ID, "context": N}``."""
    kind, value, context = parse_query(params)
    return trace(con, **{kind: value}, context=context).to_dict()


def _candidate(row: tuple[Any, ...], position: str = "this") -> SessionEvent:
    trace_id, ts, event_id, event_name, request_id, error_type, has_connection, route_id = row
    # A page render is a routed request outside the live socket; a request without a route
    # (a browser report, a health check) or the socket's own upgrade is just a request.
    kind = "event" if event_id else ("page" if route_id and not has_connection else "request")
    return SessionEvent(kind, int(ts), 0.0, trace_id, event_id, event_name, request_id, error_type, position)  # type: ignore[arg-type]


def _failures_first(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows (newest first) reordered: failing traces, then the rest, each newest first."""
    return [r for r in rows if r[5]] + [r for r in rows if not r[5]]


class _Lookup:
    """One trace lookup on one cursor; each step is one short query."""

    def __init__(self, cur: Cursor, kind: str, value: str, context: int) -> None:
        self.cur = cur
        self.kind = kind
        self.value = value
        self.context = context
        self.event_rows: list[tuple[Any, ...]] = []
        self.candidates: list[SessionEvent] = []
        self._error_meta: list[tuple[Any, ...]] = []

    def run(self) -> TraceResult:
        trace_id = self._resolve()
        return self._build(trace_id)

    # --- resolution -------------------------------------------------------------
    def _resolve(self) -> str:
        label = self.kind.replace("_", " ")
        if self.kind == "trace_id":
            return self.value
        if self.kind == "event_id":
            return self._resolve_event(label)
        query = sql.TRACES_BY_REQUEST if self.kind == "request_id" else sql.TRACES_BY_SESSION
        rows = self.cur.execute(query, [self.value]).fetchall()
        if not rows:
            raise NotFoundError(f"no trace carries {label} {self.value}")
        ranked = _failures_first(rows)
        chosen, at = ranked[0][0], int(ranked[0][1])
        if len(rows) > 1 or self.kind == "session_id":
            self.candidates = [
                _with_offset(_candidate(r, "this" if r[0] == chosen else ("before" if r[1] < at else "after")), at)
                for r in ranked[:MAX_CANDIDATES]
            ]
        return str(chosen)

    def _resolve_event(self, label: str) -> str:
        self.event_rows = self.cur.execute(sql.ROWS_BY_EVENT, [self.value]).fetchall()
        if not self.event_rows:
            raise NotFoundError(f"no span or log carries {label} {self.value}")
        traces: dict[str, bool] = {}
        for _, signal, trace_id, *_rest in sorted(self.event_rows):
            if signal == "span" and trace_id:
                traces.setdefault(trace_id, False)
                traces[trace_id] |= _rest[2] is not None
        if len(traces) > 1:
            listed = ", ".join(f"{t}{' (failed)' if failed else ''}" for t, failed in traces.items())
            raise AmbiguousIdError(f"{label} {self.value} names {len(traces)} traces: {listed}; pass --trace-id")
        if traces:
            return next(iter(traces))
        # No span carries it (its spans were lost, or only the browser reported it): answer
        # with the log lines' trace, or with the browser reports alone.
        logged = [r[2] for r in sorted(self.event_rows) if r[2]]
        return str(logged[0]) if logged else ""

    # --- the trace ----------------------------------------------------------------
    def _bounds(self, trace_id: str) -> tuple[int, int] | None:
        if not trace_id:
            return None
        row = self.cur.execute(sql.TRACE_BOUNDS, [trace_id]).fetchone()
        if row is None or row[0] is None:
            row = self.cur.execute(sql.TRACE_BOUNDS_SCAN, [trace_id]).fetchone()
        if row is None or row[0] is None:
            row = self.cur.execute(sql.LOG_BOUNDS, [trace_id]).fetchone()
        if row is None or row[0] is None:
            return None
        return int(row[0]), int(row[1])

    def _build(self, trace_id: str) -> TraceResult:
        bounds = self._bounds(trace_id)
        if bounds is None and not self.event_rows:
            raise NotFoundError(f"no spans or logs of trace {trace_id} in the store")
        lo, hi = bounds or (min(r[0] for r in self.event_rows), max(r[0] for r in self.event_rows))
        span_rows = self.cur.execute(sql.SPANS, [trace_id, lo, hi]).fetchall() if trace_id else []
        log_rows = self.cur.execute(sql.LOGS, [trace_id, lo - _LOG_SLACK_NS, hi + _LOG_SLACK_NS]).fetchall() if trace_id else []
        # Browser reports that carry the trace context are shown as browser reports, not log lines.
        log_rows = [r for r in log_rows if r[5] not in _BROWSER_EVENTS]
        probe = _merged_attributes([r[9] or {} for r in span_rows] + [r[6] or {} for r in log_rows])
        event_id = probe.get(keys.EVENT_ID) or (self.value if self.kind == "event_id" else None)
        if event_id and not self.event_rows:
            self.event_rows = self.cur.execute(sql.ROWS_BY_EVENT, [event_id]).fetchall()
        browser_rows = self._browser_rows(event_id)
        starts = [int(r[0]) for r in span_rows] or [int(r[0]) for r in log_rows] or [int(r[0]) for r in browser_rows]
        if not starts:
            raise NotFoundError(f"no spans or logs of trace {trace_id} in the store")
        t0 = min(starts)
        spans = _spans(span_rows, t0)
        logs = tuple(_log(r, t0) for r in log_rows)
        browser = [_log(r, t0) for r in browser_rows]
        root_attrs = _merged_attributes(
            [s.attributes for s in sorted(spans, key=lambda s: s.depth)] + [line.attributes for line in (*logs, *browser)]
        )
        resource = (span_rows[0][13] if span_rows else None) or {}
        errors = self._errors(trace_id, event_id, lo, hi, t0) if _may_have_errors(spans, logs, browser, self.event_rows) else ()
        ids = {
            "session_id": root_attrs.get(keys.SESSION_ID),
            "request_id": root_attrs.get(keys.REQUEST_ID),
            "route_id": root_attrs.get(keys.ROUTE_ID) or root_attrs.get(keys.HTTP_ROUTE),
            "connection_id": root_attrs.get(keys.CONNECTION_ID),
        }
        error_class, fingerprint, message = _error_summary(spans, errors)
        page, around = self._context(ids["session_id"], trace_id, t0)
        end = max([0.0, *(s.offset_ms + s.duration_ms for s in spans), *(line.offset_ms for line in logs)])
        release = resource.get(keys.SERVICE_VERSION) or next((e[6] for e in self._error_meta if e[6]), None)
        environment = resource.get(keys.DEPLOYMENT_ENVIRONMENT) or next((e[7] for e in self._error_meta if e[7]), None)
        return TraceResult(
            resolved_by=self.kind,
            query=self.value,
            event_id=event_id,
            trace_id=trace_id,
            service=(spans[0].service if spans else None) or resource.get(keys.SERVICE_NAME),
            release=release,
            environment=environment,
            error_class=error_class,
            error_fingerprint=fingerprint,
            error_message=message,
            start_unix_nano=t0,
            duration_ms=round(end, 3),
            spans=spans,
            logs=logs,
            errors=errors,
            browser_action=next((b for b in browser if b.event_name == keys.BROWSER_ACTION_EVENT), None),
            browser_errors=tuple(b for b in browser if b.event_name != keys.BROWSER_ACTION_EVENT),
            page_render=page,
            session_events=around,
            candidates=tuple(self.candidates),
            **ids,
        )

    def _browser_rows(self, event_id: str | None) -> list[tuple[Any, ...]]:
        times = [r[0] for r in self.event_rows if r[1] == "log" and r[4] in _BROWSER_EVENTS]
        if not event_id or not times:
            return []
        rows: list[tuple[Any, ...]] = self.cur.execute(
            sql.BROWSER_LOGS,
            [min(times), max(times), keys.BROWSER_ACTION_EVENT, keys.BROWSER_ERROR_EVENT, keys.EVENT_ID, event_id],
        ).fetchall()
        return rows

    def _errors(self, trace_id: str, event_id: str | None, lo: int, hi: int, t0: int) -> tuple[ErrorOccurrence, ...]:
        rows = self.cur.execute(
            sql.ERRORS, [trace_id or None, event_id or None, lo - _ERROR_SLACK_NS, hi + _ERROR_SLACK_NS]
        ).fetchall()
        self._error_meta = rows
        return tuple(
            ErrorOccurrence(
                source=r[1], error_class=r[2], fingerprint=r[3], message=_scrub(r[4]),
                time_unix_nano=int(r[0]), span_id=r[5],
            )
            for r in rows
        )

    def _context(self, session_id: str | None, trace_id: str, t0: int) -> tuple[SessionEvent | None, tuple[SessionEvent, ...]]:
        """The session's page render before this trace, and its events before and after."""
        if not session_id:
            return None, ()
        found_rows = self.cur.execute(sql.SESSION_CONTEXT, {
            "session": session_id, "page_from": t0 - PAGE_WINDOW_NS, "around_from": t0 - CONTEXT_WINDOW_NS,
            "until": t0 + CONTEXT_WINDOW_NS,
        }).fetchall()
        rows = [r[1:] for r in found_rows if r[0]]
        # Page renders before the window, newest first (the trace id breaks a tie).
        older = sorted((r[1:] for r in found_rows if not r[0]), key=lambda r: (-int(r[1]), r[0]))
        # The browser's reports name the page they came from: its request id, when known.
        page_request = next(
            (r[7] for r in self.event_rows if r[1] == "log" and r[4] in _BROWSER_EVENTS and r[7]), None
        )
        page = None
        before: list[SessionEvent] = []
        after: list[SessionEvent] = []
        for row in rows:
            position = "this" if row[0] == trace_id else ("before" if int(row[1]) < t0 else "after")
            found = _with_offset(_candidate(row, position), t0)
            if position == "before" and found.kind == "page" and (page is None or page.request_id != page_request):
                page = found
            if found.kind == "event" or position == "this":
                (after if position != "before" else before).append(found)
        if page_request and (page is None or page.request_id != page_request):
            named = self.cur.execute(sql.TRACES_BY_REQUEST, [page_request]).fetchall()
            if len(named) == 1:
                page = _with_offset(_candidate(named[0], "before"), t0)
        if page is None and older:
            page = _with_offset(_candidate(older[0], "before"), t0)
        around = before[-self.context:] if self.context else []
        around += after[: self.context + 1]
        return page, tuple(around)


_BROWSER_EVENTS: Final = frozenset({keys.BROWSER_ACTION_EVENT, keys.BROWSER_ERROR_EVENT})


def _may_have_errors(
    spans: tuple[Span, ...], logs: tuple[LogLine, ...], browser: list[LogLine], event_rows: list[tuple[Any, ...]]
) -> bool:
    """Whether the collector can have recorded an error occurrence for this trace or event."""
    return (
        any(s.failed or keys.ERROR_TYPE in s.attributes for s in spans)
        or any(keys.ERROR_TYPE in line.attributes or keys.EXCEPTION_TYPE in line.attributes for line in logs)
        or any(line.event_name == keys.BROWSER_ERROR_EVENT for line in browser)
        or any(row[5] is not None for row in event_rows)
    )


def _with_offset(event: SessionEvent, t0: int) -> SessionEvent:
    return SessionEvent(
        event.kind, event.time_unix_nano, _ms(event.time_unix_nano - t0), event.trace_id, event.event_id,
        event.event_name, event.request_id, event.error_class, event.position,
    )


def _ms(ns: int) -> float:
    return round(ns / _NS_PER_MS, 3)


def _scrub(text: str | None) -> str:
    return DEFAULT_SCRUBBER.scrub_text(text or "")


def _scrub_map(mapping: dict[str, str] | None) -> dict[str, str]:
    if not mapping:
        return {}
    return {k: str(v) for k, v in DEFAULT_SCRUBBER.scrub_mapping(mapping).items()}


def _spans(rows: list[tuple[Any, ...]], t0: int) -> tuple[Span, ...]:
    """Spans in tree order (parents before children, siblings by start), with depth."""
    by_id = {r[1]: r for r in rows}
    children: dict[str, list[tuple[Any, ...]]] = {}
    roots = []
    for r in rows:
        if r[2] and r[2] in by_id and r[2] != r[1]:
            children.setdefault(r[2], []).append(r)
        else:
            roots.append(r)
    ordered: list[Span] = []

    def visit(row: tuple[Any, ...], depth: int) -> None:
        ts, span_id, parent, name, kind, service, duration, status, status_msg, attrs, ev_ts, ev_names, ev_attrs, _ = row
        events = tuple(
            SpanEvent(name=n, offset_ms=_ms(int(t) - t0), attributes=_scrub_map(a))
            for t, n, a in zip(ev_ts or [], ev_names or [], ev_attrs or [], strict=False)
        )
        ordered.append(
            Span(
                span_id=span_id, parent_span_id=parent or "", name=name or "", kind=kind or "",
                service=service or "", start_unix_nano=int(ts), offset_ms=_ms(int(ts) - t0),
                duration_ms=_ms(int(duration or 0)), depth=depth, status_code=status or "Unset",
                status_message=_scrub(status_msg), attributes=_scrub_map(attrs), events=events,
            )
        )
        for child in children.get(span_id, ()):
            visit(child, depth + 1)

    for root in roots:
        visit(root, 0)
    return tuple(ordered)


def _merged_attributes(attribute_maps: list[dict[str, str]]) -> dict[str, str]:
    """The correlation ids, each from the first map that has it (root span first)."""
    merged: dict[str, str] = {}
    for attributes in attribute_maps:
        for key in (*keys.CORRELATION_KEYS, keys.HTTP_ROUTE):
            value = attributes.get(key)
            if value and key not in merged:
                merged[key] = value
    return merged


def _log(row: tuple[Any, ...], t0: int) -> LogLine:
    ts, trace_id, span_id, severity, body, event_name, attrs = row
    return LogLine(
        time_unix_nano=int(ts), offset_ms=_ms(int(ts) - t0), severity=severity or "", body=_scrub(body),
        trace_id=trace_id or "", span_id=span_id or "", event_name=event_name or "", attributes=_scrub_map(attrs),
    )


def _error_summary(
    spans: tuple[Span, ...], errors: tuple[ErrorOccurrence, ...]
) -> tuple[str | None, str | None, str | None]:
    """The error class, fingerprint and message: the exception nearest the root wins."""
    for span in sorted(spans, key=lambda s: s.depth):
        for event in span.events:
            if event.name == keys.EXCEPTION_EVENT:
                error_class = span.attributes.get(keys.ERROR_TYPE) or event.attributes.get(keys.EXCEPTION_TYPE)
                fingerprint = span.attributes.get(keys.ERROR_FINGERPRINT)
                fingerprint = fingerprint or next((e.fingerprint for e in errors if e.error_class == error_class), None)
                return error_class, fingerprint, event.attributes.get(keys.EXCEPTION_MESSAGE)
    for span in sorted(spans, key=lambda s: s.depth):
        error_class = span.attributes.get(keys.ERROR_TYPE)
        if error_class:
            fingerprint = span.attributes.get(keys.ERROR_FINGERPRINT)
            fingerprint = fingerprint or next((e.fingerprint for e in errors if e.error_class == error_class), None)
            return error_class, fingerprint, span.status_message or None
    if errors:
        first = errors[0]
        return first.error_class, first.fingerprint, first.message or None
    return None, None, None
