"""The WebSocket side of the middleware: a connection span, and a new trace per live event.

Rules, in ASGI terms:

* The connection gets an ``INTERNAL`` span ``live.connection`` (not a latency
  signal) with ``websocket.connect`` and ``websocket.close`` events, and the
  connection's ids are bound for the whole app call.
* A ``websocket.receive`` whose JSON object carries an ``lo`` envelope starts
  a live event (:class:`~liveobs.sdk._live.EventRecorder`); its ids and span
  are current for the handler until the reply. The app must read and handle
  the message in the same task (Starlette's ``WebSocketEndpoint`` and the
  usual ``while True: await ws.receive_json()`` loops do); otherwise use
  :func:`liveobs.sdk.live_event`.
* The reply is the first ``websocket.send`` after that message, except a
  message whose own ``lo`` names another event id (a push). A JSON-object
  reply gets the ``lo`` reply object added; the patch is measured raw and
  (a connection's first replies, then a sample) deflated as permessage-deflate
  would (:mod:`liveobs.sdk._deflate`).
* An exception escaping the app while an event is pending becomes an
  ``exception`` span event (with ``error.type`` and fingerprint) and an error
  reply with the class and code only, then close code 1011. A close the app
  sends while an event is unanswered is held until the app returns, so the
  error reply can still go out first.
* A message over ``max_message_bytes`` is not passed to the app: the socket is
  closed with 1009 and the refusal recorded as security evidence.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import parse_qsl

import orjson
import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind

from liveobs.conventions import (
    LiveEnvelope,
    evidence,
    keys,
    mint_connection_id,
    mint_event_id,
    mint_request_id,
    parse_envelope,
    parse_message,
    reply_message,
)
from liveobs.sdk import _lifecycle
from liveobs.sdk._asgi import Message, Scope, header, route_template
from liveobs.sdk._configure import Telemetry
from liveobs.sdk._context import LiveIds, detach_quietly, reset_ids, set_ids
from liveobs.sdk._deflate import ReplyDeflate
from liveobs.sdk._faults import fault
from liveobs.sdk._live import EventRecorder, _span_name, connection_link_to, record_failure
from liveobs.sdk._reply import OPAQUE, PUSH, classify, inject
from liveobs.sdk._span import start_span
from liveobs.sdk._trust import accept_id, enclosing_span, parent_within, propagate_inward, unchanged
from liveobs.sdk._trust import clean as vetted_clean

Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
_LO_TEXT: Final = '"' + keys.ENVELOPE_KEY + '"'
_LO_BYTES: Final = _LO_TEXT.encode()
CLOSE_TOO_BIG: Final = 1009
CLOSE_INTERNAL: Final = 1011
CONNECTION_ID_QUERY: Final = "lo_cid"
_EVIDENCE_HEADER: Final = keys.HEADER_EVIDENCE_SOURCE.lower().encode()
_MAX_QUERY: Final = 4096
_log = structlog.get_logger("liveobs.sdk")


def _query_value(scope: Scope, name: str) -> str | None:
    """The first value of query parameter ``name`` in the handshake URL, or ``None``."""
    raw = scope.get("query_string") or b""
    if not isinstance(raw, bytes) or not raw or len(raw) > _MAX_QUERY:
        return None
    for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=False):
        if key == name:
            return value
    return None


def _envelope(data: str | bytes, max_bytes: int) -> LiveEnvelope | None:
    """The message's validated ``lo`` envelope, or ``None`` (the size is checked by the caller).

    orjson decodes the common message; anything it refuses takes
    :func:`parse_message`, so every message is judged as the standard library would.
    """
    try:
        decoded = orjson.loads(data)
    except orjson.JSONDecodeError:
        return parse_message(data, max_bytes).envelope
    if decoded.__class__ is not dict or keys.ENVELOPE_KEY not in decoded:
        return None
    return parse_envelope(decoded[keys.ENVELOPE_KEY])


class Connection:
    """One WebSocket connection through the middleware."""

    def __init__(self, mw: Any, telemetry: Telemetry, scope: Scope, receive: Receive, send: Send) -> None:
        self.mw = mw
        self.tel = telemetry
        self.scope = scope
        self._receive = receive
        self._send = send
        # The browser names its connection in the URL (?lo_cid=...), so the connection span and
        # the reconnect bookkeeping carry the id its reports and envelopes carry, from the start.
        client_id = accept_id(_query_value(scope, CONNECTION_ID_QUERY), telemetry.scrubber)
        self.connection_id = client_id or mint_connection_id()
        self.session_id: str | None = mw.session_id(scope)
        self.request_id = accept_id(header(scope, b"x-request-id"), telemetry.scrubber) or mint_request_id()
        self.route_id: str | None = None
        self.trusted = mw.trust.trusted(scope)
        self.pending: EventRecorder | None = None
        self.held_close: Message | None = None
        self.accepted = False
        self.closed = False
        self.adopted_client_connection = client_id is not None
        self.driven = header(scope, _EVIDENCE_HEADER) == keys.EVIDENCE_DRIVEN
        self.span: Span = trace.INVALID_SPAN
        self._deflate = ReplyDeflate()
        self._link: Link | None = None
        self._vetted: tuple[tuple[str | None, ...], bool] = ((), False)
        self._names_clean: dict[str | None, bool] = {}
        self._connect_ns = time.perf_counter_ns()

    async def run(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        try:
            ids_token, otel_token = self._open()
        except Exception as exc:  # liveobs's own failure: the app runs uninstrumented
            fault("websocket connect", exc)
            with contextlib.suppress(Exception):
                _lifecycle.untrack(self)
                self._end_span()
            await app(self.scope, self._receive, self._send)
            return
        try:
            await app(self.scope, self.receive, self.send)
        except Exception as exc:
            try:
                await self._app_failed(exc)
            except Exception as own:
                fault("websocket failure reply", own)
            raise
        finally:
            try:
                self._finish_pending()
                if self.held_close is not None and not self.closed:
                    await self._raw_send(self.held_close)
                self._end_span()
                _lifecycle.untrack(self)
                detach_quietly(otel_token)
                reset_ids(ids_token)
            except Exception as exc:
                fault("websocket close", exc)

    def _open(self) -> tuple[Any, object]:
        """Start the connection span (a child of an enclosing instrumentation's span) and bind the ids."""
        enclosing = enclosing_span()
        parent, links = parent_within(enclosing, header(self.scope, b"traceparent"), self.trusted)
        ids = self._ids()
        if enclosing is not None:  # FastAPI's own span, or the ASGI instrumentation's, carries the ids too
            enclosing.set_attributes(ids.attributes)
        attrs: dict[str, Any] = {keys.CONNECTION_ID: self.connection_id, keys.REQUEST_ID: self.request_id}
        if self.session_id:
            attrs[keys.SESSION_ID] = self.session_id
        if self.driven:
            attrs[keys.EVIDENCE_SOURCE] = keys.EVIDENCE_DRIVEN
        self.span = start_span(
            self.tel.tracer, "live.connection", context=parent, kind=SpanKind.INTERNAL, attributes=attrs, links=links
        )
        _lifecycle.track(self, self._end_span)
        propagate_inward(self.scope, self.span)
        self._note_reconnect()
        ids_token = set_ids(ids)
        otel_token = otel_context.attach(trace.set_span_in_context(self.span))
        return ids_token, otel_token

    def _end_span(self) -> None:
        """End the connection span once: when the socket closes, or when the process stops first."""
        span, self.span = self.span, trace.INVALID_SPAN
        if span is not trace.INVALID_SPAN:
            if not self.closed:
                span.add_event("liveobs.shutdown")
            span.end()

    def _ids(self) -> LiveIds:
        return LiveIds(
            session_id=self.session_id, request_id=self.request_id, route_id=self.route_id,
            connection_id=self.connection_id,
        )

    def _note_reconnect(self) -> None:
        if not self.session_id:
            return
        previous = self.mw.reconnects.connected(self.session_id, self.connection_id)
        if previous is not None:
            self.span.set_attributes({keys.RECONNECT: True, keys.CONNECTION_PREVIOUS_ID: previous})
            self.tel.instruments.reconnects.add(1)

    # --- receive ------------------------------------------------------------------
    async def receive(self) -> Message:
        message = await self._receive()
        try:
            too_big = self._received(message)
        except Exception as exc:  # the message reaches the app whatever happened to its telemetry
            fault("websocket receive", exc)
            return message
        return message if too_big is None else await self._refuse(too_big)

    def _received(self, message: Message) -> int | None:
        """Note a message from the browser; the size of one over the limit (to refuse), else ``None``."""
        kind = message.get("type")
        if kind == "websocket.receive":
            if self.pending is not None:
                self._finish_pending()
            data = message.get("text")
            if data is None:
                data = message.get("bytes")
            if data is None:
                return None
            limit = self.mw.max_message_bytes
            if isinstance(data, bytes):
                size = len(data)
            else:  # UTF-8 takes at most 4 bytes per character: count them only near the limit
                size = len(data) if len(data) * 4 <= limit else len(data.encode("utf-8", "surrogatepass"))
            if size > limit:
                return size
            if (_LO_TEXT in data) if isinstance(data, str) else (_LO_BYTES in data):
                self._start_event(data)
        elif kind == "websocket.connect":
            self.route_id = route_template(self.scope)
            if self.route_id:
                self.span.set_attribute(keys.ROUTE_ID, self.route_id)
                set_ids(self._ids())  # same task: the app's context gains the route
        elif kind == "websocket.disconnect":
            self._finish_pending()
            self.closed = True
            code = message.get("code")
            self.span.add_event("websocket.close", {"websocket.close.code": code if isinstance(code, int) else 0})
        return None

    def _start_event(self, data: str | bytes) -> None:
        env = _envelope(data, self.mw.max_message_bytes)
        if env is None:
            return
        scrub = self.tel.scrubber
        if not self.adopted_client_connection and env.connection_id and accept_id(env.connection_id, scrub):
            # The browser's connection id, so its reports and our spans agree.
            self.adopted_client_connection = True
            if self.session_id and env.connection_id != self.connection_id:
                self.mw.reconnects.renamed(self.session_id, self.connection_id, env.connection_id)
            self.connection_id = env.connection_id
            self.span.set_attribute(keys.CONNECTION_ID, self.connection_id)
        if self.session_id is None and env.session_id and accept_id(env.session_id, scrub):
            self.session_id = env.session_id
            self.span.set_attribute(keys.SESSION_ID, self.session_id)
            self._note_reconnect()
        # parse_envelope validated the event id; it must still look like no secret.
        event_id = env.event_id if env.event_id_minted or unchanged(scrub, env.event_id) else None
        route_id = env.route_id if env.route_id and unchanged(scrub, env.route_id) else self.route_id
        ids = LiveIds(
            event_id=event_id or mint_event_id(), session_id=self.session_id, request_id=self.request_id,
            route_id=route_id, connection_id=self.connection_id,
            vetted_by=scrub if self._connection_ids_clean(route_id) else None,
        )
        attributes: dict[str, Any] = dict(ids.attributes)
        if env.event_name:
            attributes[keys.EVENT_NAME] = env.event_name
        if env.seq is not None:
            attributes[keys.EVENT_SEQ] = env.seq
        if env.client_time_ms is not None:
            attributes[keys.CLIENT_TIME] = env.client_time_ms
        if self.driven:
            attributes[keys.EVIDENCE_SOURCE] = keys.EVIDENCE_DRIVEN
        if self._link is None:
            self._link = connection_link_to(self.span)
        # The attributes beyond the ids: the validated event name (its span name too) and numbers.
        name = env.event_name
        vetted_extra = self._names_clean.get(name)
        if vetted_extra is None:
            span_name = _span_name(name)
            vetted_extra = name is None or (unchanged(scrub, name) and unchanged(scrub, span_name))
            if len(self._names_clean) < 256:  # event names: a small set per connection
                self._names_clean[name] = vetted_extra
        self.pending = EventRecorder(
            self.tel, ids, name, attributes, valid_event_id=True, vetted_extra=vetted_extra,
        ).start(
            env.traceparent, self.trusted, self.span, connection_link=self._link
        )

    def _connection_ids_clean(self, route_id: str | None) -> bool:
        """Whether the scrubber leaves the connection's ids (with this route) unchanged; decided once per change."""
        key = (self.session_id, self.request_id, route_id, self.connection_id)
        seen, clean = self._vetted
        if seen != key:
            names = (keys.SESSION_ID, keys.REQUEST_ID, keys.ROUTE_ID, keys.CONNECTION_ID)
            scrub = self.tel.scrubber
            ids = {n: v for n, v in zip(names, key, strict=True) if v is not None}
            clean = vetted_clean(scrub, ids)
            if clean:  # each through the scrubber's text cache too: the exporters check them again on every event
                clean = all(unchanged(scrub, v) for v in ids.values())
            self._vetted = (key, clean)
        return clean

    def _finish_pending(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            try:
                pending.finish()
            except Exception as exc:  # an exporter or processor that raises: the socket goes on
                fault("live event end", exc)

    async def _refuse(self, size: int) -> Message:
        self.span.add_event(evidence.SECURITY_EVENT, {
            evidence.SECURITY_CHECK: evidence.CHECK_BODY_LIMIT,
            evidence.SECURITY_OUTCOME: evidence.OUTCOME_REFUSED,
            evidence.LIMIT_BYTES: self.mw.max_message_bytes,
            evidence.OBSERVED_BYTES: size,
        })
        await self._raw_send({"type": "websocket.close", "code": CLOSE_TOO_BIG})
        self.closed = True
        return {"type": "websocket.disconnect", "code": CLOSE_TOO_BIG}

    # --- send ---------------------------------------------------------------------
    async def send(self, message: Message) -> None:
        kind = message.get("type")
        pending = self.pending
        if kind == "websocket.send" and pending is not None:
            try:
                message = self._as_reply(pending, message)
            except Exception as exc:  # the app's message goes out as it was
                fault("websocket reply", exc)
            if pending.replied:
                await self._send(message)  # a websocket.send: nothing for _raw_send to look at
                self._finish_pending()
                return
        elif kind == "websocket.send":  # outside a live event: later replies may still refer back to it
            try:
                text = message.get("text")
                self._deflate.sent(text.encode("utf-8", "surrogatepass") if text is not None
                                   else message.get("bytes") or b"")
            except Exception as exc:
                fault("websocket send", exc)
        elif kind == "websocket.accept":
            self.accepted = True
            self.span.add_event("websocket.connect")
            self.tel.instruments.connect_duration.record_in(
                (time.perf_counter_ns() - self._connect_ns) / 1e6, None, self.span.get_span_context())
        elif kind == "websocket.close":
            if pending is not None and not pending.replied:
                self.held_close = message
                return
            self.closed = True
        await self._raw_send(message)

    async def _raw_send(self, message: Message) -> None:
        if message.get("type") == "websocket.close":
            if self.closed and message is self.held_close:
                return
            self.closed = True
            self.held_close = None
        await self._send(message)

    def _as_reply(self, pending: EventRecorder, message: Message) -> Message:
        text = message.get("text")
        if text is None:
            data = message.get("bytes") or b""
            pending.reply_sizes(len(data), self._deflate.size(data))
            return message
        raw = text.encode("utf-8", "surrogatepass")
        kind, own = classify(raw, pending.event_id)
        if kind is PUSH:
            self._deflate.sent(raw)
            return message  # a push for another event, not this reply
        if own is not None:  # the app wrote the reply object itself
            self._deflate.sent(raw)
            if own.get("ok") is False:
                pending.note_error_reply(own)
            pending.replied = True
            return message
        compressed = self._deflate.size(raw)
        if kind is OPAQUE:  # not a JSON object liveobs may add to: measured, sent as it is
            pending.reply_sizes(len(raw), compressed)
            return message
        return {**message, "text": inject(text, pending.reply_json(len(raw), compressed))}

    async def _app_failed(self, exc: Exception) -> None:
        pending = self.pending
        if pending is None:
            record_failure(self.span, exc, self.tel.service_name)
            return
        lo = pending.fail(exc)
        _log.error("live event failed", **{keys.ERROR_TYPE: pending.error_class}, exc_info=exc)
        if self.accepted and not self.closed:
            pending.note_error_reply(lo)
            # The error reply belongs to the event's trace, whatever an enclosing instrumentation left current.
            token = otel_context.attach(trace.set_span_in_context(pending.span))
            try:
                await self._raw_send({"type": "websocket.send", "text": reply_message(lo)})
                await self._raw_send(self.held_close or {"type": "websocket.close", "code": CLOSE_INTERNAL})
            finally:
                detach_quietly(token)
