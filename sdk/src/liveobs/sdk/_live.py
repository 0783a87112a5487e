"""One live event: its own trace, its ids in context, its reply; and the framework-neutral API.

The WebSocket middleware drives :class:`EventRecorder` from the ``lo``
envelope. Live frameworks that do not use the envelope call
:func:`live_event` around their per-event handler; apps that catch their own
errors answer with :func:`error_reply` or decorate the handler with
:func:`handle_event`.
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final, ParamSpec, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from liveobs.conventions import (
    LiveReply,
    TraceParent,
    error_fingerprint,
    evidence,
    keys,
    mint_event_id,
    parse_traceparent,
    reply_text,
    valid_error_class,
)
from liveobs.sdk._compat import SPAN_KEY as _SPAN_KEY
from liveobs.sdk._configure import Telemetry, current_telemetry
from liveobs.sdk._context import _CURRENT, LiveIds, detach_quietly, reset_ids, set_event
from liveobs.sdk._faults import fault
from liveobs.sdk._join import mark_failure
from liveobs.sdk._span import LeanSpan, hex_ids, link, start_span
from liveobs.sdk._trust import NO_PARENT, clean, parent_and_links, unchanged

_P = ParamSpec("_P")
_T = TypeVar("_T")
_CONNECTION_LINK: Final = {keys.LINK_KIND: "connection"}
ERROR_CODE_INTERNAL: Final = "internal"


_DIMENSIONS: dict[tuple[str | None, str | None, str | None], dict[str, str]] = {}


def _dimensions(name: str | None, route: str | None, error: str | None) -> dict[str, str]:
    """The event duration's attributes, one shared dict per combination (a bounded set)."""
    hit = _DIMENSIONS.get((name, route, error))
    if hit is None:
        # http.route, as every performance metric names its route (the route id of the page's template).
        hit = {keys.EVENT_NAME: name or "", keys.HTTP_ROUTE: route or ""}
        if error:
            hit[keys.ERROR_TYPE] = error
        if len(_DIMENSIONS) >= 4096:
            _DIMENSIONS.clear()
        _DIMENSIONS[(name, route, error)] = hit
    return hit


_SPAN_NAMES: dict[str | None, str] = {}


def _span_name(event_name: str | None) -> str:
    """``live.event <name>``, one string per event name (a bounded set, as the names are validated)."""
    hit = _SPAN_NAMES.get(event_name)
    if hit is None:
        hit = f"live.event {event_name}" if event_name else "live.event"
        if len(_SPAN_NAMES) >= 4096:
            _SPAN_NAMES.clear()
        _SPAN_NAMES[event_name] = hit
    return hit


def connection_link_to(connection: Span) -> Link:
    """The link from each event span to its connection's span (build it once per connection)."""
    return link(connection.get_span_context(), _CONNECTION_LINK)


def error_class_of(exc: BaseException) -> str:
    """``module.Class`` (builtins by bare name), bounded to what a reply may carry."""
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    return valid_error_class(name) or valid_error_class(cls.__name__) or "Exception"


def top_frame(exc: BaseException) -> str | None:
    """``module:function`` of the frame that raised: the part of a stack that is stable across releases."""
    tb = exc.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    frame = tb.tb_frame
    return f"{frame.f_globals.get('__name__', '?')}:{frame.f_code.co_name}"


def record_failure(span: Span, exc: BaseException, service: str) -> tuple[str, str]:
    """Put ``exc`` on ``span`` as an ``exception`` event with ``error.type`` and fingerprint."""
    error_class = error_class_of(exc)
    fingerprint = error_fingerprint(service, error_class, str(exc), top_frame(exc))
    attributes = {keys.ERROR_TYPE: error_class, keys.ERROR_FINGERPRINT: fingerprint}
    span.record_exception(exc, attributes=attributes)
    span.set_attributes(attributes)
    span.set_status(Status(StatusCode.ERROR, error_class))
    mark_failure(exc, {keys.ERROR_FINGERPRINT: fingerprint})
    return error_class, fingerprint


class EventRecorder:
    """A live event in flight: a new trace, the ids bound, the reply measured.

    :meth:`start` opens the span (a child of a trusted client ``traceparent``,
    else a new trace linked to it and to the connection span) and binds the
    ids; :meth:`finish` ends it and restores the context.
    """

    __slots__ = (
        "_ids_token",
        "_otel_token",
        "_plain_id",
        "_vetted_extra",
        "attributes",
        "error_class",
        "event_id",
        "fingerprint",
        "ids",
        "name",
        "replied",
        "span",
        "started_ns",
        "telemetry",
    )

    def __init__(
        self, telemetry: Telemetry, ids: LiveIds, name: str | None, attributes: dict[str, Any], *,
        valid_event_id: bool = False, vetted_extra: bool = False,
    ) -> None:
        """``valid_event_id`` says the caller knows the event id passed ``valid_id`` (JSON writes it as it is);
        ``vetted_extra`` that the telemetry's scrubber leaves the span name and the attributes beyond the ids
        unchanged."""
        self.telemetry = telemetry
        self._vetted_extra = vetted_extra
        self.ids = ids
        self._plain_id = valid_event_id or not ids.event_id
        self.event_id: str = ids.event_id or mint_event_id()
        self.name = name
        self.attributes = attributes
        self.replied = False
        self.error_class: str | None = None
        self.fingerprint: str | None = None
        self.span: Span = trace.INVALID_SPAN
        self.started_ns = 0
        self._ids_token: contextvars.Token[LiveIds] | None = None
        self._otel_token: object = None

    def start(
        self, traceparent: TraceParent | None, trusted: bool, connection: Span | None, *,
        connection_link: Link | None = None,
    ) -> EventRecorder:
        """Open the span and bind the ids; ``connection_link`` is a ready link to ``connection``."""
        if connection_link is None and connection is not None:
            connection_link = connection_link_to(connection)
        if traceparent is None:  # the common event: a new trace, linked to its connection
            parent, links = NO_PARENT, [connection_link] if connection_link else []
        else:
            parent, links = parent_and_links(traceparent, trusted, [connection_link] if connection_link else None)
        self.started_ns = time.time_ns()
        name = _span_name(self.name)
        scrub = self.telemetry.scrubber
        vetted = self.ids.vetted_by is scrub and (
            self._vetted_extra or (unchanged(scrub, name) and clean(scrub, self.attributes)))
        self.span = start_span(
            self.telemetry.tracer, name, context=parent, kind=SpanKind.SERVER, attributes=self.attributes,
            links=links, start_time=self.started_ns, vetted_by=scrub if vetted else None,
        )
        self._ids_token = _CURRENT.set(self.ids)
        # The parent context holds nothing but its span (parent_and_links made it): the event's replaces it.
        current = Context({_SPAN_KEY: self.span}) if not parent or (len(parent) == 1 and _SPAN_KEY in parent) \
            else trace.set_span_in_context(self.span, parent)
        var = self.telemetry.context_var
        self._otel_token = var.set(current) if var is not None else otel_context.attach(current)
        # The context carries the ids, and the ids lead to their event (no registry to bound or forget).
        set_event(self.ids, self)
        return self

    def reply(self, patch_bytes: int | None = None, compressed_bytes: int | None = None) -> dict[str, Any]:
        """The ``lo`` object of the reply; records the patch sizes."""
        self.replied = True
        if patch_bytes is not None:
            self.reply_sizes(patch_bytes, compressed_bytes)
        trace_id, span_id, _ = hex_ids(self.span.get_span_context())
        return LiveReply(event_id=self.event_id, trace_id=trace_id, span_id=span_id,
                         server_time_ms=time.time_ns() / 1e6, patch_bytes=patch_bytes).to_wire()

    def reply_json(self, patch_bytes: int, compressed_bytes: int | None) -> str:
        """:meth:`reply` as compact JSON text (the contract's one encoder); records the patch sizes."""
        self.reply_sizes(patch_bytes, compressed_bytes)
        trace_id, span_id, _ = hex_ids(self.span.get_span_context())
        return reply_text(self.event_id, trace_id, span_id, time.time_ns(), patch_bytes, plain_id=self._plain_id)

    def reply_sizes(self, patch_bytes: int, compressed_bytes: int | None) -> None:
        """Mark the event answered and record the patch sizes, without building the ``lo`` object."""
        self.replied = True
        span = self.span
        inst = self.telemetry.instruments
        # The sizes are on the event span already: recorded without an exemplar.
        inst.patch_size.record_in(patch_bytes, None, None)
        if compressed_bytes is None:
            (span.set_number if span.__class__ is LeanSpan else span.set_attribute)(keys.PATCH_BYTES, patch_bytes)
            return
        if span.__class__ is LeanSpan:
            span.set_numbers(keys.PATCH_BYTES, patch_bytes, keys.PATCH_COMPRESSED_BYTES, compressed_bytes)
        else:
            span.set_attribute(keys.PATCH_BYTES, patch_bytes)
            span.set_attribute(keys.PATCH_COMPRESSED_BYTES, compressed_bytes)
        inst.patch_compressed_size.record_in(compressed_bytes, None, None)

    def record(self, exc: BaseException) -> tuple[str, str]:
        """Record ``exc`` on the event's span once (later calls keep the first); its class and fingerprint."""
        if self.error_class is None or self.fingerprint is None:
            self.error_class, self.fingerprint = record_failure(self.span, exc, self.telemetry.service_name)
        return self.error_class, self.fingerprint

    def fail(self, exc: BaseException) -> dict[str, Any]:
        """Record ``exc`` and return the error reply's ``lo`` object: class and code only."""
        self.record(exc)
        self.replied = True
        trace_id, span_id, _ = hex_ids(self.span.get_span_context())
        return LiveReply(
            event_id=self.event_id, trace_id=trace_id, span_id=span_id,
            server_time_ms=time.time_ns() / 1e6, ok=False, error_class=self.error_class,
            error_code=ERROR_CODE_INTERNAL,
        ).to_wire()

    def note_error_reply(self, lo: Mapping[str, Any]) -> None:
        """Record the field names of the error reply's ``lo`` object sent to the browser (sorted, comma-separated)."""
        self.span.set_attribute(evidence.ERROR_REPLY_FIELDS, ",".join(sorted(str(k) for k in lo)))

    def finish(self) -> None:
        """End the span, record the duration, restore the context (safe to call twice)."""
        if self._ids_token is None:
            return
        end = time.time_ns()
        self.span.end(end_time=end)
        self.telemetry.instruments.event_duration.record_in(
            (end - self.started_ns) / 1e6, _dimensions(self.name, self.ids.route_id, self.error_class),
            self.span.get_span_context(), at=end,
        )
        set_event(self.ids, None)
        otel_token, ids_token = self._otel_token, self._ids_token
        self._ids_token = None
        # The common case first (tokens made in this context), as detach_quietly and reset_ids try it.
        if otel_token.__class__ is contextvars.Token:
            try:
                otel_token.var.reset(otel_token)
            except ValueError:  # made in another context: detached quietly
                detach_quietly(otel_token)
        else:
            detach_quietly(otel_token)
        try:
            _CURRENT.reset(ids_token)
        except ValueError:
            reset_ids(ids_token)


def current_event() -> EventRecorder | None:
    """The live event being handled in this context, if any."""
    recorder: EventRecorder | None = _CURRENT.get().event
    return recorder


_unconfigured: Telemetry | None = None


def _telemetry() -> Telemetry:
    """The active configuration; before configure(), one that records nothing (and a warning, once)."""
    global _unconfigured
    telemetry = current_telemetry()
    if telemetry is not None:
        return telemetry
    if _unconfigured is None:
        from liveobs.sdk._build import Settings, build

        fault("live_event before configure()", RuntimeError("call liveobs.sdk.configure(...) first"))
        _unconfigured = build(Settings("unknown_service", batch=False))
    return _unconfigured


@contextmanager
def live_event(
    name: str | None = None,
    *,
    event_id: str | None = None,
    seq: int | None = None,
    session_id: str | None = None,
    connection_id: str | None = None,
    route_id: str | None = None,
    traceparent: str | None = None,
    trust_traceparent: bool = False,
) -> Iterator[EventRecorder]:
    """Handle one live event of a framework that does not use the ``lo`` envelope.

    Starts a new trace for the event (linked to the span current at entry,
    e.g. the connection's), binds the ids for the block, and records an
    exception that escapes it before re-raising. ``reply()`` on the yielded
    recorder gives the ``lo`` object to put in the framework's reply.
    """
    base = _CURRENT.get()
    ids = LiveIds(
        event_id=event_id or mint_event_id(),
        session_id=session_id or base.session_id,
        request_id=base.request_id,
        route_id=route_id or base.route_id,
        connection_id=connection_id or base.connection_id,
    )
    attributes: dict[str, Any] = dict(ids.attributes)
    if name:
        attributes[keys.EVENT_NAME] = name
    if seq is not None:
        attributes[keys.EVENT_SEQ] = seq
    current = trace.get_current_span()
    link_to = current if current.get_span_context().is_valid else None
    recorder = EventRecorder(_telemetry(), ids, name, attributes)
    try:
        recorder.start(parse_traceparent(traceparent), trust_traceparent, link_to)
    except Exception as own:  # the app's handler runs all the same, with a recorder that records nothing
        fault("live_event start", own)
        recorder.span = trace.INVALID_SPAN
    try:
        yield recorder
    except Exception as exc:
        try:
            recorder.fail(exc)
        except Exception as own:
            fault("live_event failure", own)
        raise
    finally:
        try:
            recorder.finish()
        except Exception as own:
            fault("live_event end", own)


def error_reply(exc: BaseException) -> dict[str, Any]:
    """Record ``exc`` on the current live event and return the error reply message.

    ``await websocket.send_json(liveobs.sdk.error_reply(exc))`` answers the
    browser with the error class and code only, and keeps the connection.
    """
    recorder = current_event()
    if recorder is None:
        return {keys.ENVELOPE_KEY: {"ok": False, "error_class": error_class_of(exc), "error_code": ERROR_CODE_INTERNAL}}
    lo = recorder.fail(exc)
    recorder.note_error_reply(lo)
    return {keys.ENVELOPE_KEY: lo}


def handle_event(fn: Callable[_P, Awaitable[_T]]) -> Callable[_P, Awaitable[_T | None]]:
    """Decorate a per-message handler so that a failure becomes an error reply, not a closed socket.

    The handler takes the Starlette ``WebSocket`` (anything with ``send_json``)
    among its positional arguments, as ``WebSocketEndpoint.on_receive(self,
    websocket, data)`` does. The exception is recorded on the event's span.
    """

    @functools.wraps(fn)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T | None:
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            socket = next((a for a in args if hasattr(a, "send_json")), None)
            if socket is None:
                raise
            await socket.send_json(error_reply(exc))
            return None

    return wrapper
