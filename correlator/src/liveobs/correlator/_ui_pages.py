"""The pages of the local web view: incidents, one incident, a trace, a session, the gates.

Each page is server-rendered HTML from one read-only store connection; there
is no script. Stored text goes through :func:`liveobs.correlator._visible.h`
(bounded, control and bidirectional characters shown escaped, HTML-escaped),
and every id in a URL is percent-encoded. A page answers ``(status, html)``.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from html import escape
from typing import Final

import duckdb

from liveobs.conventions import keys, valid_id
from liveobs.correlator._incidents import Incident, incidents
from liveobs.correlator._readapi import NotFoundError, ReadRequestError
from liveobs.correlator._render_html import _STYLE as _TRACE_STYLE
from liveobs.correlator._render_html import render_fragment, stack_html
from liveobs.correlator._trace import trace
from liveobs.correlator._traceresult import iso_from_ns
from liveobs.correlator._ui_gates import security_section
from liveobs.correlator._visible import h

TREND_BUCKETS: Final = 24
STYLE: Final = _TRACE_STYLE + """
nav{margin:0 0 16px;padding:0 0 8px;border-bottom:1px solid #e3e6ec} nav a{margin-right:16px}
table.list td,table.list th{padding:4px 12px 4px 0;border-bottom:1px solid #eef0f4}
form.filters input{width:9em;margin-right:8px} .muted{color:#5b6475} svg.trend rect{fill:#d93025}
"""
STYLE_HASH: Final = "sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP: Final = (
    f"default-src 'none'; style-src '{STYLE_HASH}'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
Page = tuple[int, str]


def url(kind: str, value: str) -> str:
    """The stable URL of a page: ``/incidents/<fingerprint>``, ``/traces/<id>``, ``/sessions/<id>``."""
    return f"/{kind}/{urllib.parse.quote(value, safe='')}"


def link(kind: str, value: str) -> str | None:
    """The web view's link for an id of a trace page (``render_fragment``'s ``link``)."""
    target = {"session": "sessions", "incident": "incidents", "trace": "traces"}.get(kind)
    return url(target, value) if target and value else None


def layout(title: str, body: str) -> str:
    nav = ("<nav><a href='/incidents'>incidents</a><a href='/gates'>gates</a>"
           "<span class='muted'>liveobs — read-only view of the store</span></nav>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='referrer' content='no-referrer'>"
        f"<title>{h(title, 200)} — liveobs</title><style>{STYLE}</style></head>"
        f"<body>{nav}{body}</body></html>\n"
    )


def _a(href: str, text: str, css: str = "") -> str:
    klass = f" class='{css}'" if css else ""
    return f"<a{klass} href='{escape(href, quote=True)}'>{text}</a>"


def _trend(counts: list[int]) -> str:
    """A small bar chart of occurrences over the listed window."""
    top = max(counts) or 1
    bars = "".join(
        f"<rect x='{i * 4}' y='{20 - round(18 * c / top)}' width='3' height='{round(18 * c / top)}'/>"
        for i, c in enumerate(counts) if c
    )
    return f"<svg class='trend' width='{len(counts) * 4}' height='20' role='img' aria-label='trend'>{bars}</svg>"


def _trends(con: duckdb.DuckDBPyConnection, found: list[Incident], lo: int, hi: int) -> dict[str, list[int]]:
    width = max(1, (hi - lo) // TREND_BUCKETS + 1)
    rows = con.execute(
        """SELECT Fingerprint, (epoch_ns("Timestamp") - ?) // ?, count(*) FROM liveobs_errors
           WHERE "Timestamp" BETWEEN make_timestamp_ns(?) AND make_timestamp_ns(?)
             AND list_contains(?, Fingerprint) GROUP BY 1, 2""",
        [lo, width, lo, hi, [i.fingerprint for i in found]],
    ).fetchall()
    trends = {i.fingerprint: [0] * TREND_BUCKETS for i in found}
    for fingerprint, bucket, count in rows:
        if fingerprint in trends and 0 <= bucket < TREND_BUCKETS:
            trends[fingerprint][int(bucket)] += int(count)
    return trends


FILTERS: Final = ("service", "release", "environment", "since", "until")


def incidents_page(con: duckdb.DuckDBPyConnection, query: dict[str, str]) -> Page:
    chosen = {k: query[k].strip()[:200] for k in FILTERS if query.get(k, "").strip()}
    try:
        found = incidents(con, since=chosen.get("since"), until=chosen.get("until"), release=chosen.get("release"),
                          service=chosen.get("service"), environment=chosen.get("environment"), limit=200,
                          stacks=False)
    except ReadRequestError as exc:
        return 400, layout("incidents", f"<h1>incidents</h1><p class='failed'>{h(exc)}</p>")
    hint = " placeholder='24h or ISO time'"
    inputs = "".join(
        f"<label>{k} <input name='{k}' value='{h(chosen.get(k, ''), 200)}'{hint if k in ('since', 'until') else ''}>"
        "</label>"
        for k in FILTERS
    )
    form = f"<form class='filters' method='get' action='/incidents'>{inputs}<button>filter</button></form>"
    if not found:
        return 200, layout("incidents", f"<h1>incidents</h1>{form}<p>no incidents</p>")
    lo = min(i.first_seen_unix_nano for i in found)
    hi = max(i.last_seen_unix_nano for i in found)
    trends = _trends(con, found, lo, hi)
    rows = "".join(
        "<tr>"
        f"<td>{_a(url('incidents', i.fingerprint), h(i.error_class, 120), 'failed')}"
        f"<div class='muted'>{h(i.message or '', 160)}</div></td>"
        f"<td>{i.count}</td><td>{i.affected_sessions}</td>"
        f"<td>{h(', '.join(i.services), 200)}</td><td>{h(', '.join(i.releases), 200)}</td>"
        f"<td>{h(', '.join(i.environments), 200)}</td>"
        f"<td>{i.first_seen}</td><td>{i.last_seen}</td><td>{_trend(trends[i.fingerprint])}</td>"
        "</tr>"
        for i in found
    )
    head = ("<tr><th>incident</th><th>count</th><th>sessions</th><th>service</th><th>releases</th>"
            "<th>environments</th><th>first seen</th><th>last seen</th><th>trend</th></tr>")
    return 200, layout("incidents", f"<h1>incidents</h1>{form}<table class='list'>{head}{rows}</table>")


def incident_page(con: duckdb.DuckDBPyConnection, fingerprint: str) -> Page:
    found = incidents(con, fingerprint=fingerprint, limit=1)
    if not found:
        return 404, layout("incident", f"<h1>no incident with fingerprint <code>{h(fingerprint, 200)}</code></h1>")
    i = found[0]
    stack = i.stack()
    events = con.execute(
        """SELECT EventId, any_value(TraceId) FILTER (WHERE TraceId IS NOT NULL AND TraceId <> ''),
                  max(epoch_ns("Timestamp")), any_value(SessionId), any_value(ServiceVersion)
           FROM liveobs_errors WHERE list_contains(?, EventId) GROUP BY EventId ORDER BY 3 DESC""",
        [list(i.sample_event_ids)],
    ).fetchall()
    sessions = con.execute(
        """SELECT SessionId, count(*), max(epoch_ns("Timestamp")) FROM liveobs_errors
           WHERE (Fingerprint = ? OR EventId IN (SELECT EventId FROM liveobs_errors WHERE Fingerprint = ?))
             AND SessionId IS NOT NULL AND SessionId <> ''
           GROUP BY 1 ORDER BY 3 DESC LIMIT 50""",
        [fingerprint, fingerprint],
    ).fetchall()
    facts = [
        ("error class", h(i.error_class, 200)), ("fingerprint", f"<code class='id'>{h(i.fingerprint, 200)}</code>"),
        ("message", h(i.message or "")), ("occurrences", str(i.count)), ("affected sessions", str(i.affected_sessions)),
        ("releases", h(", ".join(i.releases), 500)), ("services", h(", ".join(i.services), 500)),
        ("environments", h(", ".join(i.environments), 500)), ("routes", h(", ".join(i.routes), 500)),
        ("first seen", i.first_seen), ("last seen", i.last_seen), ("seen by", h(", ".join(i.sources), 200)),
    ]
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts)
    stack_part = stack_html(stack) if stack else "<p class='muted'>no stack trace stored for this incident</p>"
    event_rows = "".join(
        f"<tr><td><code class='id'>{h(e, 100)}</code></td>"
        f"<td>{_a(url('traces', t), f'<code>{h(t, 64)}</code>') if t else '-'}</td><td>{iso_from_ns(int(ts))}</td>"
        f"<td>{_a(url('sessions', s), f'<code>{h(s, 100)}</code>') if s else '-'}</td><td>{h(r or '', 100)}</td></tr>"
        for e, t, ts, s, r in events
    ) or "<tr><td colspan='5'>no sample events</td></tr>"
    session_rows = "".join(
        f"<tr><td>{_a(url('sessions', s), f'<code>{h(s, 100)}</code>')}</td><td>{n}</td><td>{iso_from_ns(int(ts))}</td></tr>"
        for s, n, ts in sessions
    ) or "<tr><td colspan='3'>no session ids recorded</td></tr>"
    body = (
        f"<h1>incident <span class='failed'>{h(i.error_class, 200)}</span></h1><table>{table}</table>"
        f"{security_section(con, i)}<h2>stack trace</h2>{stack_part}"
        "<h2>sample events</h2><table class='list'><tr><th>event</th><th>trace</th><th>seen</th><th>session</th>"
        f"<th>release</th></tr>{event_rows}</table>"
        f"<h2>affected sessions</h2><table class='list'><tr><th>session</th><th>records</th><th>last seen</th></tr>"
        f"{session_rows}</table>"
    )
    return 200, layout(f"incident {i.error_class}", body)


def trace_page(con: duckdb.DuckDBPyConnection, trace_id: str) -> Page:
    try:
        result = trace(con, trace_id=trace_id)
    except ReadRequestError as exc:
        return 400, layout("trace", f"<h1>trace</h1><p class='failed'>{h(exc)}</p>")
    except NotFoundError as exc:
        return 404, layout("trace", f"<h1>trace not found</h1><p>{h(exc)}</p>")
    extra = ""
    if result.error_fingerprint:
        extra = f"<p>{_a(url('incidents', result.error_fingerprint), 'open the incident')}</p>"
    if result.session_id:
        extra += f"<p>{_a(url('sessions', result.session_id), 'open the session')}</p>"
    return 200, layout(f"trace {trace_id}", render_fragment(result, link) + extra)


_SESSION_TRACES: Final = """
SELECT TraceId, min(epoch_ns("Timestamp")), max(EventId), max(EventName), max(RequestId), max(ErrorType),
       bool_or(ConnectionId IS NOT NULL), max(RouteId)
FROM liveobs_correlation WHERE SessionId = ? AND Signal = 'span' AND TraceId <> ''
GROUP BY TraceId ORDER BY 2 LIMIT 1000
"""
_SESSION_BROWSER: Final = """
SELECT epoch_ns("Timestamp"), EventName, ErrorType, EventId, TraceId FROM liveobs_correlation
WHERE SessionId = ? AND Signal = 'log' AND EventName IN (?, ?) ORDER BY 1 LIMIT 1000
"""
_SESSION_ERRORS: Final = """
SELECT DISTINCT TraceId, EventId, Fingerprint FROM liveobs_errors WHERE SessionId = ? AND Source <> 'browser'
"""


def session_page(con: duckdb.DuckDBPyConnection, session_id: str) -> Page:
    if valid_id(session_id) is None:
        return 400, layout("session", f"<h1>not a valid session id: <code>{h(session_id, 100)}</code></h1>")
    traces = con.execute(_SESSION_TRACES, [session_id]).fetchall()
    browser = con.execute(_SESSION_BROWSER, [session_id, keys.BROWSER_ACTION_EVENT, keys.BROWSER_ERROR_EVENT]).fetchall()
    if not traces and not browser:
        return 404, layout("session", f"<h1>no session <code>{h(session_id, 100)}</code> in the store</h1>")
    errors = con.execute(_SESSION_ERRORS, [session_id]).fetchall()
    by_trace = {t: f for t, _, f in errors if t}
    by_event = {e: f for _, e, f in errors if e}
    entries: list[tuple[int, str]] = []
    for trace_id, ts, event_id, event_name, request_id, error, connected, route in traces:
        # A routed request outside the live socket is a page load, except liveobs's own endpoints
        # (its script and the browser's reports, under /_liveobs/).
        page = route and not connected and not str(route).startswith("/_liveobs/")
        kind = "live event" if event_id else ("page load" if page else "request")
        what = h(event_name or route or request_id or "", 200)
        failing = by_trace.get(trace_id) or (by_event.get(event_id) if event_id else None)
        err = h(error or "", 200)
        if failing:
            err = _a(url("incidents", failing), err or "incident", "failed")
        entries.append((int(ts), (
            f"<tr class='{'failed' if error else ''}'><td>{iso_from_ns(int(ts))}</td><td>{kind}</td><td>{what}</td>"
            f"<td>{_a(url('traces', trace_id), f'<code>{h(trace_id, 64)}</code>')}</td>"
            f"<td><code class='id'>{h(event_id or request_id or '', 100)}</code></td><td>{err}</td></tr>"
        )))
    for ts, event_name, error, event_id, trace_id in browser:
        kind = "browser error" if event_name == keys.BROWSER_ERROR_EVENT else "browser action"
        target = _a(url("traces", trace_id), f"<code>{h(trace_id, 64)}</code>") if trace_id else "-"
        entries.append((int(ts), (
            f"<tr class='{'failed' if error else ''}'><td>{iso_from_ns(int(ts))}</td><td>{kind}</td>"
            f"<td>{h(event_name, 100)}</td><td>{target}</td><td><code class='id'>{h(event_id or '', 100)}</code></td>"
            f"<td>{h(error or '', 200)}</td></tr>"
        )))
    entries.sort(key=lambda entry: entry[0])
    head = "<tr><th>time</th><th>kind</th><th>what</th><th>trace</th><th>event / request</th><th>error</th></tr>"
    body = (f"<h1>session <code class='id'>{h(session_id, 100)}</code></h1>"
            f"<table class='list'>{head}{''.join(row for _, row in entries)}</table>")
    return 200, layout(f"session {session_id}", body)

