"""Terminal views of a trace and of incidents: ids first, then a timeline with waterfall bars.

Colour comes from ``click.style``; ``click.echo`` drops it when the output is
not a terminal, so pipes and files get plain text.

Every stored text (names, messages, ids, releases) comes from whoever could send
to the collector, so it passes through :func:`printable` before it reaches the
terminal: control characters (escape sequences that set the window title, draw
links or clear the screen, carriage returns and newlines that forge lines) and
bidirectional overrides are shown escaped (``\x1b``, ``\u202e``), never
emitted. A printed follow-up command quotes its arguments for the shell.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Any, Final

import click

from liveobs.correlator._traceresult import iso_from_ns
from liveobs.correlator._visible import clip

if TYPE_CHECKING:
    from liveobs.correlator import Incident, SessionEvent, TraceResult
    from liveobs.correlator._stacktrace import StackTrace

BAR_WIDTH: Final = 40
# A stored message longer than this is cut, with a marker saying how much was left out.
MESSAGE_LIMIT: Final = 2_000
LABEL_WIDTH: Final = 46
_FULL: Final = "█"
_LOG: Final = "·"
# C0 and C1 controls and DEL; bidirectional marks, embeddings, overrides and isolates; line and paragraph
# separators; invisible format characters (zero-width, word joiner, BOM, interlinear annotation); surrogates.
_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
_NAMED: Final = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """``text`` safe to print on a terminal: control and bidirectional characters shown escaped."""
    value = "" if text is None else str(text)
    return _UNSAFE.sub(_escape, value)


def shell_command(*args: str) -> str:
    """A command line to copy and paste: each argument quoted for the shell, then made printable."""
    return printable(" ".join(shlex.quote(arg) for arg in args))


def _id_line(label: str, value: str | None, **style: Any) -> str:
    """``label value``: the stored value made printable first, then styled (so the style is never escaped)."""
    shown = click.style(printable(value), **style) if value else click.style("-", dim=True)
    return f"  {label:<12}{shown}"


def _bar(offset_ms: float, duration_ms: float, total_ms: float) -> str:
    """A waterfall bar: where the span starts and how long it lasts, on ``BAR_WIDTH`` cells."""
    scale = BAR_WIDTH / total_ms if total_ms > 0 else 0.0
    start = min(BAR_WIDTH - 1, max(0, int(offset_ms * scale)))
    if duration_ms <= 0:
        return " " * start + _LOG + " " * (BAR_WIDTH - start - 1)
    length = max(1, min(BAR_WIDTH - start, round(duration_ms * scale)))
    return " " * start + _FULL * length + " " * (BAR_WIDTH - start - length)


def _clip(text: str, width: int) -> str:
    """``text`` made printable, then cut to ``width`` characters (an escape is never cut into a control)."""
    text = printable(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def render_trace(result: TraceResult) -> str:
    """The whole answer as text: ids, error, browser reports, timeline, session context."""
    lines: list[str] = []
    if result.failed:
        status = click.style(f"FAILED {printable(result.error_class)}", fg="red", bold=True)
    elif result.browser_errors:
        status = click.style("BROWSER ERROR", fg="red", bold=True)
    else:
        status = click.style("ok", fg="green")
    shown = printable(result.trace_id) or "(no server trace in the store)"
    lines.append(
        f"{click.style('trace', bold=True)} {shown}  {status}  ({printable(result.resolved_by)} {printable(result.query)})"
    )
    lines.append(_id_line("event", result.event_id))
    lines.append(_id_line("session", result.session_id))
    lines.append(_id_line("request", result.request_id))
    lines.append(_id_line("route", result.route_id))
    lines.append(_id_line("connection", result.connection_id))
    lines.append(_id_line("release", " ".join(filter(None, (result.service, result.release, result.environment)))))
    lines.append(_id_line("started", f"{result.to_dict()['started_at']}  ({result.duration_ms:.1f} ms)"))
    if result.failed:
        lines.append(_id_line("error", result.error_class, fg="red"))
        lines.append(_id_line("fingerprint", result.error_fingerprint))
        lines.append(_id_line("message", clip(result.error_message or "", MESSAGE_LIMIT)))
    stack = result.stacktrace()
    if stack is not None:
        lines.append("")
        lines.extend(render_stack(stack))
    if result.browser_action or result.browser_errors:
        lines.append("")
        lines.append(click.style("browser", bold=True))
        if result.browser_action:
            action = result.browser_action
            lines.append(f"  {action.offset_ms:>10.1f} ms  {printable(action.event_name)}  {printable(clip(action.body, MESSAGE_LIMIT))}")
        for report in result.browser_errors:
            row = f"  {report.offset_ms:>10.1f} ms  {printable(report.event_name)}  {printable(clip(report.body, MESSAGE_LIMIT))}"
            lines.append(click.style(row, fg="red"))
    lines.append("")
    lines.extend(_timeline(result))
    if result.page_render or result.session_events:
        lines.append("")
        lines.append(click.style("session", bold=True))
        page = [result.page_render] if result.page_render else []
        for event in sorted((*page, *result.session_events), key=lambda e: e.offset_ms):
            lines.append(_session_line(event))
    if result.candidates:
        lines.append("")
        lines.append(click.style(f"{printable(result.resolved_by).replace('_', ' ')} covers {len(result.candidates)} traces (failures first)", bold=True))
        for event in result.candidates:
            lines.append(_session_line(event, absolute=True))
    return "\n".join(lines)


def render_stack(stack: StackTrace, *, indent: str = "", app_frames: int = 20) -> list[str]:
    """The stack trace: the failing app frame first, the app's frames, the library frames folded."""
    head = f"{printable(stack.error_class)}: {_clip(stack.message, 160)}" if stack.message else printable(stack.error_class)
    lines = [indent + click.style("stack trace", bold=True) + "  " + click.style(head, fg="red")]
    failing = stack.failing_frame
    if failing is not None:
        owner = " ".join(printable(v) for v in (stack.service, stack.release) if v) or "unknown release"
        lines.append(f"{indent}  failing frame  {_clip(failing.location, 120)}  ({owner})")
    for frame in stack.app_frames[:app_frames]:
        mark = "▶" if frame is failing else " "
        lines.append(f"{indent}  {mark} {_clip(frame.location, 120)}")
        if frame.code:
            lines.append(click.style(f"{indent}        {_clip(frame.code, 110)}", dim=True))
    hidden = len(stack.app_frames) - app_frames
    if hidden > 0:
        lines.append(f"{indent}    … {hidden} more app frames")
    folded = stack.library_packages()
    if folded:
        parts = ", ".join(f"{printable(package)} {count}" for package, count in folded[:8])
        lines.append(click.style(f"{indent}  + {len(stack.library_frames)} library frames folded: {parts}", dim=True))
    if not stack.frames and stack.text:
        for raw in stack.text.splitlines()[:20]:
            lines.append(f"{indent}    {_clip(raw, 120)}")
    if stack.chained:
        lines.append(click.style(f"{indent}  ({stack.chained} earlier exception(s) chained; see --json)", dim=True))
    return lines


def _timeline(result: TraceResult) -> list[str]:
    entries = result.timeline()
    total = max([result.duration_ms, *(e.offset_ms for e in entries)])
    end = f"{total:.1f} ms"
    head = f"  {'ms':>10}  {'timeline':<{LABEL_WIDTH}} |0{end:>{BAR_WIDTH - 1}}|"
    lines = [click.style(head, bold=True)]
    for entry in entries:
        marker = {"span": "▸", "log": "·", "browser": "◆"}[entry.kind]
        text = _clip(f"{'  ' * entry.depth}{marker} {entry.label}", LABEL_WIDTH)
        if entry.kind == "span":
            text = _clip(f"{text}  {entry.duration_ms:.1f}", LABEL_WIDTH)
        bar = _bar(entry.offset_ms, entry.duration_ms, total)
        row = f"  {entry.offset_ms:>10.1f}  {text:<{LABEL_WIDTH}} |{bar}|"
        if entry.failed:
            row = click.style(row, fg="red")
        elif entry.kind == "log":
            row = click.style(row, dim=True)
        elif entry.kind == "browser":
            row = click.style(row, fg="cyan")
        lines.append(row)
    return lines


def _session_line(event: SessionEvent, *, absolute: bool = False) -> str:
    when = iso_from_ns(event.time_unix_nano) if absolute else f"{event.offset_ms:>12.1f} ms"
    what = printable(event.event_name or ("page render" if event.kind == "page" else event.kind))
    ident = printable(event.event_id or event.request_id or event.trace_id)
    mark = "▶" if event.position == "this" else " "
    row = f"  {mark} {when}  {printable(event.kind):<7} {what:<18} {ident}"
    if event.error_class:
        return click.style(f"{row}  {printable(event.error_class)}", fg="red")
    return row


def render_incidents(found: list[Incident], ui: dict[str, Any] | None = None) -> str:
    """Incidents as a table, newest first, with the failing frame, sample event ids to trace and,
    when a web view runs (``ui``: its URL and key), the incident's page."""
    if not found:
        return "no incidents"
    lines = [click.style(f"{'count':>7}  {'sessions':>8}  {'error class':<22} {'fingerprint':<17} {'last seen':<28} releases", bold=True)]
    for incident in found:
        lines.append(
            f"{incident.count:>7}  {incident.affected_sessions:>8}  "
            + click.style(f"{_clip(incident.error_class, 22):<22}", fg="red")
            + f" {printable(incident.fingerprint):<17} {incident.last_seen:<28} {printable(', '.join(incident.releases))}"
        )
        if incident.message:
            lines.append(click.style(f"{'':>19}{_clip(incident.message, 90)}", dim=True))
        lines.append(f"{'':>19}routes: {printable(', '.join(incident.routes)) or '-'}   first seen {incident.first_seen}")
        stack = incident.stack()
        if stack is not None:
            lines.extend(render_stack(stack, indent=" " * 17, app_frames=3))
        if incident.sample_event_ids:
            lines.append(f"{'':>19}trace: {shell_command('liveobs', 'trace', '--event-id', incident.sample_event_ids[0])}")
        if ui is not None:
            from liveobs.correlator._ui_pages import url
            from liveobs.correlator._ui_server import page_url

            lines.append(f"{'':>19}page: {printable(page_url(ui['url'], ui['key'], url('incidents', incident.fingerprint)))}")
    return "\n".join(lines)
