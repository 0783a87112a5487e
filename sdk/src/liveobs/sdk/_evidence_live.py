"""A live socket's performance evidence: active sessions from accept to end, and each reply's compression.

:func:`run_watched` runs the app for one WebSocket with a ``send`` that counts the
session as active once the app accepts it (until the socket ends) and records the
compression ratio of each reply from the patch sizes the middleware put on the
event span.
"""

from __future__ import annotations

from typing import Final

from opentelemetry import trace

from liveobs.conventions import keys
from liveobs.sdk._asgi import route_template
from liveobs.sdk._asgi_io import ASGIApp, Message, Receive, Scope, Send
from liveobs.sdk._perf import dimensions, perf_recorder

# Event spans already measured on one socket, kept to this many.
_MAX_MEASURED: Final = 1024


def _record_compression(span: trace.Span, measured: set[int]) -> None:
    """The reply's compression ratio, from the patch sizes the middleware put on the event span."""
    attributes = getattr(span, "attributes", None) or {}
    raw, compressed = attributes.get(keys.PATCH_BYTES), attributes.get(keys.PATCH_COMPRESSED_BYTES)
    span_id = span.get_span_context().span_id
    if not isinstance(raw, int) or not isinstance(compressed, int) or raw <= 0 or span_id in measured:
        return
    if len(measured) > _MAX_MEASURED:
        measured.clear()
    measured.add(span_id)
    route, name = attributes.get(keys.ROUTE_ID), attributes.get(keys.EVENT_NAME)
    perf_recorder().compression_ratio.record(
        compressed / raw, dimensions(route if isinstance(route, str) else None, name if isinstance(name, str) else None))


async def run_watched(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``app`` for one WebSocket, counting its session as active and measuring its replies."""
    route: list[str | None] = []
    measured: set[int] = set()

    async def watch(message: Message) -> None:
        kind = message.get("type")
        if kind == "websocket.accept" and not route:
            route.append(route_template(scope))
            perf_recorder().session_opened(route=route[0])
        # The event span is current until the middleware has sent the reply, so take it first.
        span = trace.get_current_span() if kind == "websocket.send" else None
        await send(message)
        if span is not None:
            _record_compression(span, measured)

    try:
        await app(scope, receive, watch)
    finally:
        if route:
            perf_recorder().session_closed(route=route[0])
