"""A trace as one self-contained HTML page: ids, error, an SVG waterfall, logs, context.

No scripts, no external styles or fonts: the file opens the same from disk, in
a mail attachment or in a notebook cell. Every stored value is bounded, its
control and bidirectional characters shown escaped, and HTML-escaped
(:func:`liveobs.correlator._visible.h`). The web view draws the same fragment
with links to the session and the incident (``link``).
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Final

from liveobs.correlator._stacktrace import Frame, StackTrace
from liveobs.correlator._traceresult import TimelineEntry, TraceResult
from liveobs.correlator._visible import h

# ``link(kind, value)``: the URL of the page of a session or incident (kind "session", "incident"), or None.
Linker = Callable[[str, str], str | None]

ROW_HEIGHT: Final = 22
LABEL_WIDTH: Final = 360
CHART_WIDTH: Final = 640
_TICKS: Final = 5

_STYLE: Final = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330}
h1{font-size:18px;margin:0 0 12px} h2{font-size:15px;margin:24px 0 8px}
table{border-collapse:collapse} td,th{padding:2px 10px 2px 0;text-align:left;vertical-align:top}
th{color:#5b6475;font-weight:600} code{font:12px ui-monospace,monospace}
.failed{color:#b3261e;font-weight:600} .ok{color:#1e7b34} .id{user-select:all}
ol.frames{padding-left:20px;margin:4px 0} ol.frames li{margin:2px 0} .lib{color:#5b6475}
pre{font:12px ui-monospace,monospace;margin:0 0 0 16px;white-space:pre-wrap;overflow-wrap:anywhere}
li.failing>code{background:#fde7e6}
svg text{font:12px ui-monospace,monospace} .log{fill:#5b6475} svg text.failed{fill:#b3261e}
"""


def _value(kind: str, value: str | None, link: Linker | None) -> str:
    text = f"<code class='id'>{h(value or '-')}</code>"
    url = link(kind, value) if link is not None and value else None
    return f"<a href='{escape(url, quote=True)}'>{text}</a>" if url else text


def _ids_table(result: TraceResult, link: Linker | None = None) -> str:
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
    kinds = {"session id": "session", "fingerprint": "incident", "trace id": "trace"}
    body = "".join(f"<tr><th>{escape(k)}</th><td>{_value(kinds.get(k, ''), v, link)}</td></tr>" for k, v in rows)
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
        f"viewBox='0 0 {width} {height}' role='img' aria-label='waterfall of trace {h(result.trace_id, 64)}'>"
    ]
    for i in range(_TICKS + 1):
        x = LABEL_WIDTH + i * CHART_WIDTH / _TICKS
        value = lo + i * span / _TICKS
        parts.append(f"<line x1='{x:.1f}' y1='{ROW_HEIGHT}' x2='{x:.1f}' y2='{height}' stroke='#e3e6ec'/>")
        parts.append(f"<text x='{x:.1f}' y='14' text-anchor='middle' class='log'>{value:.1f} ms</text>")
    for row, entry in enumerate(entries, start=1):
        y = row * ROW_HEIGHT + 4
        label = h(("  " * entry.depth + entry.label)[:48])
        title = h(f"{entry.label} @ {entry.offset_ms:.3f} ms" + (f", {entry.duration_ms:.3f} ms" if entry.kind == "span" else ""), 500)
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
        f"<td><code>{line.offset_ms:.3f}</code></td><td>{h(line.severity, 20)}</td>"
        f"<td>{h(line.event_name, 100)}</td><td>{h(line.body)}</td></tr>"
        for line in lines
    )
    return f"<table><tr><th>ms</th><th>level</th><th>event</th><th>message</th></tr>{rows}</table>"


def _context_table(result: TraceResult, link: Linker | None = None) -> str:
    events = sorted(
        [*([result.page_render] if result.page_render else []), *result.session_events], key=lambda e: e.offset_ms
    )
    if not events:
        return "<p>no session context</p>"
    rows = "".join(
        f"<tr class='{'failed' if e.error_class else ''}'><td><code>{e.offset_ms:.1f}</code></td>"
        f"<td>{h(e.kind, 20)}{' (this)' if e.position == 'this' else ''}</td><td>{h(e.event_name or '', 200)}</td>"
        f"<td>{_value('trace', e.trace_id, link) if e.position != 'this' else _value('', e.event_id or e.trace_id, None)}</td>"
        f"<td>{h(e.error_class or '', 200)}</td></tr>"
        for e in events
    )
    return f"<table><tr><th>ms</th><th>kind</th><th>name</th><th>id</th><th>error</th></tr>{rows}</table>"


def _frame(frame: Frame, failing: Frame | None) -> str:
    css = "failing" if frame is failing else ("app" if frame.app else "lib")
    code = f"<pre>{h(frame.code, 500)}</pre>" if frame.code else ""
    return f"<li class='{css}'><code>{h(frame.location, 1000)}</code>{code}</li>"


def stack_html(stack: StackTrace) -> str:
    """The stack trace: the failing app frame first, then the app's frames, the library frames folded."""
    failing = stack.failing_frame
    parts = [f"<p class='failed'>{h(stack.error_class, 200)}: {h(stack.message)}</p>"]
    if failing is not None:
        owner = " ".join(v for v in (stack.service, stack.release) if v) or "unknown release"
        parts.append(f"<p>failing frame <code class='id'>{h(failing.location, 1000)}</code> "
                     f"in release <code>{h(owner, 200)}</code></p>")
    if stack.app_frames:
        parts.append(f"<ol class='frames'>{''.join(_frame(f, failing) for f in stack.app_frames)}</ol>")
    library = stack.library_frames
    if library:
        folded = ", ".join(f"{h(p, 100)} {n}" for p, n in stack.library_packages())
        rows = "".join(_frame(f, failing) for f in reversed(library))
        parts.append(f"<details><summary>{len(library)} library frames folded: {folded}</summary>"
                     f"<ol class='frames'>{rows}</ol></details>")
    if not stack.frames and stack.text:
        parts.append(f"<pre>{h(stack.text)}</pre>")
    if stack.chained or stack.truncated:
        notes = [f"{stack.chained} earlier exception(s) chained"] if stack.chained else []
        notes += ["the stored stack was cut"] if stack.truncated else []
        parts.append(f"<p class='lib'>{escape('; '.join(notes))}</p>")
    return "".join(parts)


def render_fragment(result: TraceResult, link: Linker | None = None) -> str:
    """The trace as an HTML fragment (a notebook cell shows this); ``link`` adds links to other pages."""
    if result.failed:
        status = f"<span class='failed'>failed: {h(result.error_class or '', 200)}</span>"
    elif result.browser_errors:
        status = "<span class='failed'>browser error</span>"
    else:
        status = "<span class='ok'>ok</span>"
    shown = h(result.trace_id, 64) if result.trace_id else "(no server trace in the store)"
    stack = result.stacktrace()
    stack_part = f"<h2>stack trace</h2>{stack_html(stack)}" if stack is not None else ""
    return (
        f"<h1>trace <code class='id'>{shown}</code> — {status}</h1>"
        f"{_ids_table(result, link)}{stack_part}<h2>waterfall</h2>{waterfall_svg(result)}"
        f"<h2>logs and browser reports</h2>{_logs_table(result)}"
        f"<h2>session</h2>{_context_table(result, link)}"
    )


def render_html(result: TraceResult) -> str:
    """The trace as one self-contained HTML document."""
    title = h(f"liveobs trace {result.event_id or result.trace_id}", 200)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{_STYLE}</style></head>"
        f"<body>{render_fragment(result)}</body></html>\n"
    )
