"""A trace as one self-contained HTML page: ids, error, an SVG waterfall, logs, context.

No scripts, no external styles or fonts: the file opens the same from disk, in
a mail attachment or in a notebook cell. Every value is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Final

from liveobs.correlator._traceresult import TimelineEntry, TraceResult

ROW_HEIGHT: Final = 22
LABEL_WIDTH: Final = 360
CHART_WIDTH: Final = 640
_TICKS: Final = 5

_STYLE: Final = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330}
h1{font-size:18px;margin:0 0 12px} h2{font-size:15px;margin:24px 0 8px}
table{border-collapse:collapse} td,th{padding:2px 10px 2px 0;text-align:left;vertical-align:top}
th{color:#5b6475;font-weight:600} code{font:12px ui-monospace,monospace}
.failed{color:#b3261e;font-weight:600} .ok{color:#1e7b34}
svg text{font:12px ui-monospace,monospace} .log{fill:#5b6475} svg text.failed{fill:#b3261e}
"""


def _ids_table(result: TraceResult) -> str:
    rows = [
        ("event id", result.event_id), ("session id", result.session_id), ("request id", result.request_id),
        ("route id", result.route_id), ("trace id", result.trace_id), ("connection id", result.connection_id),
        ("service", result.service), ("release", result.release), ("environment", result.environment),
        ("started", result.to_dict()["started_at"]), ("duration", f"{result.duration_ms:.3f} ms"),
    ]
    if result.failed:
        rows += [
            ("error class", result.error_class), ("fingerprint", result.error_fingerprint),
            ("message", result.error_message),
        ]
    body = "".join(f"<tr><th>{escape(k)}</th><td><code>{escape(v or '-')}</code></td></tr>" for k, v in rows)
    return f"<table class='ids'>{body}</table>"


def _colour(entry: TimelineEntry) -> str:
    if entry.failed:
        return "#d93025"
    return {"span": "#3b6fd8", "log": "#8a93a6", "browser": "#0b8a8a"}[entry.kind]


def waterfall_svg(result: TraceResult) -> str:
    """The timeline as an SVG picture: one row per span (a bar) or log line (a dot)."""
    entries = result.timeline()
    total = max([result.duration_ms, *(e.offset_ms for e in entries), 0.001])
    lo = min([0.0, *(e.offset_ms for e in entries)])
    span = total - lo
    scale = CHART_WIDTH / span
    height = (len(entries) + 2) * ROW_HEIGHT
    width = LABEL_WIDTH + CHART_WIDTH + 70
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='waterfall of trace {escape(result.trace_id)}'>"
    ]
    for i in range(_TICKS + 1):
        x = LABEL_WIDTH + i * CHART_WIDTH / _TICKS
        value = lo + i * span / _TICKS
        parts.append(f"<line x1='{x:.1f}' y1='{ROW_HEIGHT}' x2='{x:.1f}' y2='{height}' stroke='#e3e6ec'/>")
        parts.append(f"<text x='{x:.1f}' y='14' text-anchor='middle' class='log'>{value:.1f} ms</text>")
    for row, entry in enumerate(entries, start=1):
        y = row * ROW_HEIGHT + 4
        label = escape(("  " * entry.depth + entry.label)[:48])
        title = escape(f"{entry.label} @ {entry.offset_ms:.3f} ms" + (f", {entry.duration_ms:.3f} ms" if entry.kind == "span" else ""))
        css = "failed" if entry.failed else ("log" if entry.kind != "span" else "")
        parts.append(f"<text x='4' y='{y + 12}' class='{css}' xml:space='preserve'>{label}</text>")
        x = LABEL_WIDTH + (entry.offset_ms - lo) * scale
        if entry.kind == "span":
            w = max(2.0, entry.duration_ms * scale)
            parts.append(
                f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='{ROW_HEIGHT - 8}' rx='2' "
                f"fill='{_colour(entry)}'><title>{title}</title></rect>"
            )
        else:
            parts.append(
                f"<circle cx='{x:.1f}' cy='{y + 7}' r='4' fill='{_colour(entry)}'><title>{title}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _logs_table(result: TraceResult) -> str:
    lines = [*result.logs, *([result.browser_action] if result.browser_action else []), *result.browser_errors]
    if not lines:
        return "<p>no log lines</p>"
    lines.sort(key=lambda line: line.offset_ms)
    rows = "".join(
        f"<tr class='{'failed' if line.severity in ('ERROR', 'FATAL', 'CRITICAL') else ''}'>"
        f"<td><code>{line.offset_ms:.3f}</code></td><td>{escape(line.severity)}</td>"
        f"<td>{escape(line.event_name)}</td><td>{escape(line.body)}</td></tr>"
        for line in lines
    )
    return f"<table><tr><th>ms</th><th>level</th><th>event</th><th>message</th></tr>{rows}</table>"


def _context_table(result: TraceResult) -> str:
    events = sorted(
        [*([result.page_render] if result.page_render else []), *result.session_events], key=lambda e: e.offset_ms
    )
    if not events:
        return "<p>no session context</p>"
    rows = "".join(
        f"<tr class='{'failed' if e.error_class else ''}'><td><code>{e.offset_ms:.1f}</code></td>"
        f"<td>{escape(e.kind)}{' (this)' if e.position == 'this' else ''}</td><td>{escape(e.event_name or '')}</td>"
        f"<td><code>{escape(e.event_id or e.request_id or e.trace_id)}</code></td><td>{escape(e.error_class or '')}</td></tr>"
        for e in events
    )
    return f"<table><tr><th>ms</th><th>kind</th><th>name</th><th>id</th><th>error</th></tr>{rows}</table>"


def render_fragment(result: TraceResult) -> str:
    """The trace as an HTML fragment (a notebook cell shows this)."""
    if result.failed:
        status = f"<span class='failed'>failed: {escape(result.error_class or '')}</span>"
    elif result.browser_errors:
        status = "<span class='failed'>browser error</span>"
    else:
        status = "<span class='ok'>ok</span>"
    shown = escape(result.trace_id) if result.trace_id else "(no server trace in the store)"
    return (
        f"<h1>trace <code>{shown}</code> — {status}</h1>"
        f"{_ids_table(result)}<h2>waterfall</h2>{waterfall_svg(result)}"
        f"<h2>logs and browser reports</h2>{_logs_table(result)}"
        f"<h2>session</h2>{_context_table(result)}"
    )


def render_html(result: TraceResult) -> str:
    """The trace as one self-contained HTML document."""
    title = escape(f"liveobs trace {result.event_id or result.trace_id}")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{_STYLE}</style></head>"
        f"<body>{render_fragment(result)}</body></html>\n"
    )
