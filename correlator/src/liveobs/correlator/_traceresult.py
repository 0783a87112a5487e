"""The typed answer of a trace lookup, and its plain JSON form.

The same :class:`TraceResult` comes back from a local store and from a running
collector: the read handler sends :meth:`TraceResult.to_dict` and the remote
client rebuilds it with :meth:`TraceResult.from_dict`. Times are offsets in
milliseconds from the start of the trace, plus absolute Unix nanoseconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from liveobs.correlator._stacktrace import StackTrace

Position = Literal["before", "this", "after"]


def iso_from_ns(unix_ns: int) -> str:
    """Unix nanoseconds as an ISO 8601 UTC timestamp with microseconds."""
    return datetime.fromtimestamp(unix_ns / 1e9, tz=UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """An event recorded on a span (``exception``, ``liveobs.security``…)."""

    name: str
    offset_ms: float
    attributes: dict[str, str]


@dataclass(frozen=True, slots=True)
class Span:
    """One span of the trace, placed in the tree by ``depth``."""

    span_id: str
    parent_span_id: str
    name: str
    kind: str
    service: str
    start_unix_nano: int
    offset_ms: float
    duration_ms: float
    depth: int
    status_code: str
    status_message: str
    attributes: dict[str, str]
    events: tuple[SpanEvent, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status_code == "Error" or any(e.name == "exception" for e in self.events)


@dataclass(frozen=True, slots=True)
class LogLine:
    """A log record: a server log line or a browser report."""

    time_unix_nano: int
    offset_ms: float
    severity: str
    body: str
    trace_id: str
    span_id: str
    event_name: str
    attributes: dict[str, str]


@dataclass(frozen=True, slots=True)
class ErrorOccurrence:
    """One recorded error of this trace or event (from a span, a log line or the browser)."""

    source: str
    error_class: str
    fingerprint: str
    message: str
    time_unix_nano: int
    span_id: str


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """A trace of the same session: a page render, a socket join or a live event."""

    kind: str  # "page" | "request" | "event"
    time_unix_nano: int
    offset_ms: float
    trace_id: str
    event_id: str | None
    event_name: str | None
    request_id: str | None
    error_class: str | None
    position: Position


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """A span start or a log line, in time order: what the text and HTML views draw."""

    offset_ms: float
    kind: str  # "span" | "log" | "browser"
    depth: int
    label: str
    duration_ms: float
    failed: bool
    span_id: str


@dataclass(frozen=True, slots=True)
class TraceResult:
    """Everything known about one browser action, request, trace or session.

    ``resolved_by`` names the id that was asked for; ``candidates`` lists the
    other traces that id covers (a session's or a connection's events, failures
    first) so that a caller can follow them.
    """

    resolved_by: str
    query: str
    event_id: str | None
    request_id: str | None
    session_id: str | None
    route_id: str | None
    trace_id: str
    connection_id: str | None
    service: str | None
    release: str | None
    environment: str | None
    error_class: str | None
    error_fingerprint: str | None
    error_message: str | None
    start_unix_nano: int
    duration_ms: float
    spans: tuple[Span, ...]
    logs: tuple[LogLine, ...]
    errors: tuple[ErrorOccurrence, ...] = ()
    browser_action: LogLine | None = None
    browser_errors: tuple[LogLine, ...] = ()
    page_render: SessionEvent | None = None
    session_events: tuple[SessionEvent, ...] = ()
    candidates: tuple[SessionEvent, ...] = field(default=())

    @property
    def failed(self) -> bool:
        return self.error_class is not None

    def timeline(self) -> list[TimelineEntry]:
        """Span starts, log lines and browser reports interleaved in time."""
        depth = {s.span_id: s.depth for s in self.spans}
        entries = [
            TimelineEntry(s.offset_ms, "span", s.depth, s.name, s.duration_ms, s.failed, s.span_id)
            for s in self.spans
        ]
        for line in self.logs:
            entries.append(
                TimelineEntry(
                    line.offset_ms, "log", depth.get(line.span_id, 0) + 1, f"{line.severity} {line.body}", 0.0,
                    line.severity in ("ERROR", "FATAL", "CRITICAL"), line.span_id,
                )
            )
        browser = [self.browser_action] if self.browser_action else []
        for line in (*browser, *self.browser_errors):
            entries.append(
                TimelineEntry(line.offset_ms, "browser", 0, f"{line.event_name} {line.body}", 0.0,
                              line.event_name != "browser.action", line.span_id)
            )
        order = {"span": 0, "log": 1, "browser": 2}
        entries.sort(key=lambda e: (e.offset_ms, order[e.kind]))
        return entries

    def stacktrace(self) -> StackTrace | None:
        """The failing exception's stack: the app's frames apart from library frames (None without one)."""
        from liveobs.correlator._stacktrace import from_trace

        return from_trace(self)

    def _repr_html_(self) -> str:
        from liveobs.correlator._render_html import render_fragment

        return render_fragment(self)

    def timeline_rows(self) -> list[dict[str, Any]]:
        """The timeline as plain rows, for a table or a DataFrame."""
        return [asdict(entry) for entry in self.timeline()]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data with stable top-level keys."""
        data = {f.name: _plain(getattr(self, f.name)) for f in fields(self)}
        browser = {"action": data.pop("browser_action"), "errors": data.pop("browser_errors")}
        context = {"page_render": data.pop("page_render"), "events": data.pop("session_events")}
        data["started_at"] = iso_from_ns(self.start_unix_nano)
        data["browser"] = browser
        data["context"] = context
        data["timeline"] = self.timeline_rows()
        stack = self.stacktrace()
        data["stacktrace"] = stack.to_dict() if stack else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TraceResult:
        """The inverse of :meth:`to_dict`."""
        browser = data.get("browser") or {}
        context = data.get("context") or {}
        scalars: dict[str, Any] = {
            f.name: data.get(f.name) for f in fields(cls)
            if f.name not in _NESTED and f.name in data
        }
        return cls(
            **scalars,
            spans=tuple(_span(s) for s in data.get("spans", ())),
            logs=tuple(LogLine(**line) for line in data.get("logs", ())),
            errors=tuple(ErrorOccurrence(**e) for e in data.get("errors", ())),
            browser_action=LogLine(**browser["action"]) if browser.get("action") else None,
            browser_errors=tuple(LogLine(**line) for line in browser.get("errors", ())),
            page_render=SessionEvent(**context["page_render"]) if context.get("page_render") else None,
            session_events=tuple(SessionEvent(**e) for e in context.get("events", ())),
            candidates=tuple(SessionEvent(**e) for e in data.get("candidates", ())),
        )


_NESTED = frozenset(
    {"spans", "logs", "errors", "browser_action", "browser_errors", "page_render", "session_events", "candidates"}
)


def _span(data: dict[str, Any]) -> Span:
    events = tuple(SpanEvent(**e) for e in data.get("events", ()))
    return Span(**{**data, "events": events})


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    return value
