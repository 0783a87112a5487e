"""The HTTP side of the middleware: a server span per request, ids in and out, page head tags.

The span is named by the route template once the app's router has matched it
(``GET /board/{board_id}``). ``X-Request-ID`` is accepted when valid, else
minted, and echoed on every response: 5xx too, and a 500 the middleware sends
itself when the app fails or returns before starting a response. An incoming
``traceparent`` is a parent only for trusted callers; otherwise the request
starts a new trace that links to it. ``Server-Timing`` carries the app time
and the trace context.
"""

from __future__ import annotations

import contextvars
import html
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from liveobs.conventions import format_traceparent, keys, mint_request_id
from liveobs.sdk._asgi import Message, Scope, header, method_of, route_template, sdk_route
from liveobs.sdk._asgi_io import send_response
from liveobs.sdk._configure import current_telemetry
from liveobs.sdk._context import _SCOPE, LiveIds, current_ids, detach_quietly, reset_ids, set_ids
from liveobs.sdk._faults import fault
from liveobs.sdk._join import REQUEST_FAILURE
from liveobs.sdk._live import record_failure
from liveobs.sdk._span import start_span
from liveobs.sdk._trust import accept_id, enclosing_span, parent_within, propagate_inward

Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
_REQUEST_ID_HEADER: Final = keys.HEADER_REQUEST_ID.lower().encode()
_SERVER_TIMING_HEADER: Final = keys.HEADER_SERVER_TIMING.lower().encode()
_EVIDENCE_HEADER: Final = keys.HEADER_EVIDENCE_SOURCE.lower().encode()
# How the request being handled takes a session the app starts during it.
_SESSION_STARTER: Final[contextvars.ContextVar[Callable[[str | bytes], str] | None]] = contextvars.ContextVar(
    "liveobs_session_starter", default=None
)


async def handle_http(mw: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """Handle one HTTP request; a failure of liveobs itself before the app ran lets the app run uninstrumented."""
    started = [False]
    try:
        await _instrumented(mw, started, scope, receive, send)
    except Exception as exc:
        if started[0]:
            raise
        fault("http request", exc)
        await mw.app(scope, receive, send)


async def _instrumented(mw: Any, started: list[bool], scope: Scope, receive: Receive, send: Send) -> None:
    tel = mw.telemetry()
    request_id = accept_id(header(scope, b"x-request-id"), tel.scrubber) or mint_request_id()
    request_id_bytes = request_id.encode()
    path = scope.get("path")
    if mw.health is not None and path in mw.health_paths:
        await mw.health.serve(path, send, request_id)
        return
    method = method_of(scope)
    session_id = mw.session_id(scope)
    enclosing = enclosing_span()
    parent, links = parent_within(enclosing, header(scope, b"traceparent"), mw.trust.trusted(scope))
    attributes: dict[str, Any] = {keys.HTTP_REQUEST_METHOD: method, keys.REQUEST_ID: request_id}
    if isinstance(path, str):
        attributes[keys.URL_PATH] = path[:2048]
    scheme = scope.get("scheme")
    if scheme in ("http", "https"):
        attributes[keys.URL_SCHEME] = scheme
    user_agent = header(scope, b"user-agent")
    if user_agent:
        attributes[keys.USER_AGENT_ORIGINAL] = user_agent[:512]
    if session_id:
        attributes[keys.SESSION_ID] = session_id
    if header(scope, _EVIDENCE_HEADER) == keys.EVIDENCE_DRIVEN:
        attributes[keys.EVIDENCE_SOURCE] = keys.EVIDENCE_DRIVEN
    start = time.perf_counter_ns()
    span = start_span(tel.tracer, method, context=parent, kind=SpanKind.SERVER, attributes=attributes, links=links)
    propagate_inward(scope, span)
    ids = LiveIds(session_id=session_id, request_id=request_id)
    if enclosing is not None:  # FastAPI's own span, or the ASGI instrumentation's, carries the ids too
        enclosing.set_attributes(ids.attributes)
    ids_token = set_ids(ids)
    scope_token = _SCOPE.set(scope)
    otel_token = otel_context.attach(trace.set_span_in_context(span, parent))
    state: dict[str, Any] = {"status": None, "route": None, "template": None, "failed": None}

    def failed(exc: BaseException) -> tuple[str, str]:
        if state["failed"] is None:
            state["failed"] = record_failure(span, exc, tel.service_name)
        named: tuple[str, str] = state["failed"]
        return named

    failure_token = REQUEST_FAILURE.set(failed)

    def session_started(raw: str | bytes) -> str:
        started: str = mw.session_keys.pseudonymise(raw)
        span.set_attribute(keys.SESSION_ID, started)
        set_ids(current_ids().replace(session_id=started))
        return started

    starter_token = _SESSION_STARTER.set(session_started)

    def name_route() -> None:
        template = route_template(scope)
        # The SDK's own endpoints are named by their template whatever the app's route_id maps.
        own = sdk_route(scope)
        route = own or (mw.route_id(scope) if mw.route_id is not None else template)
        if template and state["route"] is None:
            span.update_name(f"{method} {template}")
            span.set_attribute(keys.HTTP_ROUTE, template)
            state["template"] = template
        if route and state["route"] is None:
            span.set_attribute(keys.ROUTE_ID, route)
            if enclosing is not None:
                enclosing.set_attribute(keys.ROUTE_ID, route)
            state["route"] = route

    async def send_with_ids(message: Message) -> None:
        if message.get("type") == "http.response.start":
            try:
                message = with_ids(message)
            except Exception as exc:  # the app's response goes out as it was
                fault("http response headers", exc)
        await send(message)

    def with_ids(message: Message) -> Message:
        name_route()
        status = message.get("status")
        state["status"] = status
        ctx = span.get_span_context()
        timing = (
            f'{keys.SERVER_TIMING_APP};dur={(time.perf_counter_ns() - start) / 1e6:.1f}, '
            f'{keys.SERVER_TIMING_TRACEPARENT};desc="{format_traceparent(ctx.trace_id, ctx.span_id, ctx.trace_flags)}"'
        )
        headers = [(k, v) for k, v in message.get("headers") or () if k.lower() != _REQUEST_ID_HEADER]
        headers.append((_REQUEST_ID_HEADER, request_id_bytes))
        if mw.server_timing:
            headers.append((_SERVER_TIMING_HEADER, timing.encode()))
        return {**message, "headers": headers}

    try:
        started[0] = True  # from here on an exception is the app's (or its response's): it propagates
        await mw.app(scope, receive, send_with_ids)
        if state["status"] is None:
            await _send_500(send, request_id_bytes)
            state["status"] = 500
    except Exception as exc:
        try:
            failed(exc)
        except Exception as own:
            fault("http failure", own)
        if state["status"] is None:
            await _send_500(send, request_id_bytes)
            state["status"] = 500
        raise
    finally:
        try:
            _close(mw, tel, span, state, start, name_route)
        except Exception as exc:
            fault("http request end", exc)
        detach_quietly(otel_token)
        REQUEST_FAILURE.reset(failure_token)
        _SESSION_STARTER.reset(starter_token)
        _SCOPE.reset(scope_token)
        reset_ids(ids_token)


def _close(mw: Any, tel: Any, span: Any, state: dict[str, Any], start: int, name_route: Callable[[], None]) -> None:
    """End the request's span: route, status, and the render duration."""
    name_route()
    status = state["status"]
    if isinstance(status, int):
        span.set_attribute(keys.HTTP_RESPONSE_STATUS_CODE, status)
        if status >= 500 and not state["failed"]:
            span.set_attribute(keys.ERROR_TYPE, str(status))
            span.set_status(Status(StatusCode.ERROR))
    span.end()
    tel.instruments.render_duration.record_in(
        (time.perf_counter_ns() - start) / 1e6,
        _render_dimensions(state["template"] or state["route"] or "", status or 0), span.get_span_context(),
    )


_RENDER_DIMENSIONS: dict[tuple[str, int], dict[str, str | int]] = {}


def _render_dimensions(route: str, status: int) -> dict[str, str | int]:
    """The render duration's attributes, one shared dict per route and status (a bounded set)."""
    hit = _RENDER_DIMENSIONS.get((route, status))
    if hit is None:
        if len(_RENDER_DIMENSIONS) >= 4096:
            _RENDER_DIMENSIONS.clear()
        hit = _RENDER_DIMENSIONS[(route, status)] = {keys.HTTP_ROUTE: route, keys.HTTP_RESPONSE_STATUS_CODE: status}
    return hit


def start_session(session_key: str | bytes) -> str | None:
    """Tell liveobs the app has just started a session in the request it is handling.

    A first visit arrives without a session; once the app mints one, the
    request's span, its later log lines and :func:`head_tags` carry the new
    session's pseudonymous id, the one the live socket then joins with.
    Returns that id, or ``None`` outside a request the middleware handles.
    """
    starter = _SESSION_STARTER.get()
    return starter(session_key) if starter is not None else None


async def _send_500(send: Send, request_id: bytes) -> None:
    await send_response(send, 500, b"Internal Server Error", headers=[(_REQUEST_ID_HEADER, request_id)])


def head_tags() -> str:
    """The page's ``<meta>`` tags: ``traceparent`` and the ids the browser client needs.

    Call it while rendering a page inside a request the middleware handles. The
    session id here is the one the live socket joins with.
    """
    ids = current_ids()
    tel = current_telemetry()
    ctx = trace.get_current_span().get_span_context()
    traceparent = format_traceparent(ctx.trace_id, ctx.span_id, ctx.trace_flags) if ctx.is_valid else None
    route = ids.route_id
    scope = _SCOPE.get()
    if route is None and scope is not None:
        route = route_template(scope)
    metas: list[tuple[str, str | None]] = [
        (keys.META_TRACEPARENT, traceparent),
        (keys.META_SESSION_ID, ids.session_id),
        (keys.META_ROUTE_ID, route),
        (keys.META_REQUEST_ID, ids.request_id),
        (keys.META_RELEASE, tel.release_id if tel is not None else None),
    ]
    return "\n".join(
        f'<meta name="{html.escape(name)}" content="{html.escape(value)}">' for name, value in metas if value
    )
