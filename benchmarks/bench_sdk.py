"""CPU cost of liveobs per live event and per HTTP request, side by side with its baselines.

Every variant drives the same ASGI app in-process (fake receive/send, no
network) with the same no-op span exporter, and writes its one structlog line
to /dev/null. Variants alternate in rounds; the figures are medians of CPU
time (process_time: all threads) per message.

  bare      the app alone
  liveobs   LiveObsMiddleware + configure(): event trace, ids in context,
            reply measurement, redaction, metrics, log line bridged to OTel logs
  (a)       the app with a hand-written OTel span (5 attributes) and one
            structlog line with 5 bound context variables
  (b)       opentelemetry-instrumentation-asgi on the app + the same log line
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import structlog
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import liveobs.sdk
from liveobs.conventions import mint_event_id
from liveobs.sdk._logbridge import LogBridge
from liveobs.sdk._processors import liveobs_processors

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "400"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "400"))
TARGET_A, TARGET_B = 1.15, 0.65
PATCH = "<li class='card' id='card-17'><span>Ship the release notes</span></li>" * 12


class NoopExporter(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class NoopLogExporter:
    def export(self, batch: Any) -> Any:
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


DEVNULL = open(os.devnull, "w")  # noqa: SIM115  # lives for the whole run
PLAIN_CHAIN = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.JSONRenderer(),
]


def plain_logger() -> Any:
    return structlog.wrap_logger(structlog.WriteLogger(DEVNULL), processors=PLAIN_CHAIN)


def live_app(on_event: Callable[[dict[str, Any]], Any], log: Any) -> Any:
    """A bare live app: decode the message, handle it, send a patch."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if log is not None:
                log.info("page rendered")
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/html; charset=utf-8")]})
            await send({"type": "http.response.body", "body": b"<html><body>board</body></html>"})
            return
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.connect":
                await send({"type": "websocket.accept"})
            elif kind == "websocket.receive":
                data = json.loads(message["text"])
                with on_event(data):
                    if log is not None:
                        log.info("event handled", action=data["action"])
                    await send({"type": "websocket.send", "text": json.dumps({"patch": PATCH})})
            else:
                return

    return app


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


NOTHING = _Nothing()


def messages(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"type": "websocket.connect"}]
    for seq in range(n):
        lo = {"event_id": mint_event_id(), "event_name": "add_card", "seq": seq,
              "session_id": "k1.3f2a9c1b7d4e6f8a0b1c2d3e4f5a6b7c", "connection_id": "0190a1b2c3d47e5f8a9b0c1d2e3f4a5b",
              "route_id": "/board/{board_id}"}
        out.append({"type": "websocket.receive", "text": json.dumps({"action": "add_card", "title": "x", "lo": lo})})
    out.append({"type": "websocket.disconnect", "code": 1000})
    return out


def run_ws(app: Any, n: int) -> float:
    """CPU seconds per message for one connection of ``n`` messages."""
    incoming = messages(n)
    scope = {"type": "websocket", "path": "/live", "raw_path": b"/live", "headers": [(b"host", b"bench")],
             "scheme": "ws", "query_string": b"", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
             "subprotocols": [], "asgi": {"version": "3.0"}}
    position = iter(incoming)

    async def receive() -> dict[str, Any]:
        return next(position)

    async def send(message: dict[str, Any]) -> None:
        return None

    loop = asyncio.new_event_loop()
    try:
        start = time.process_time()
        loop.run_until_complete(app(scope, receive, send))
        return (time.process_time() - start) / n
    finally:
        loop.close()


def run_http(app: Any, n: int) -> float:
    async def many() -> None:
        for _ in range(n):
            scope = {"type": "http", "method": "GET", "path": "/board/7", "raw_path": b"/board/7",
                     "headers": [(b"host", b"bench"), (b"x-request-id", b"5c9f1c2e-8b0a-4e5d-9f3a-2b7c6d1e0f4a")], "scheme": "http",
                     "query_string": b"", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
                     "http_version": "1.1", "asgi": {"version": "3.0"}}

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                return None

            await app(scope, receive, send)

    loop = asyncio.new_event_loop()
    try:
        start = time.process_time()
        loop.run_until_complete(many())
        return (time.process_time() - start) / n
    finally:
        loop.close()


def build_variants() -> tuple[dict[str, Any], dict[str, Any]]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(NoopExporter()))
    tracer = provider.get_tracer("bench")

    # liveobs: the full instrumentation, same no-op span exporter, a no-op log exporter
    telemetry = liveobs.sdk.configure("bench", "1.0.0", "bench", span_exporter=NoopExporter(),
                                      log_exporter=NoopLogExporter(), batch=False,  # type: ignore[arg-type]
                                      configure_structlog=False, set_global=False)
    live_log = structlog.wrap_logger(
        structlog.WriteLogger(DEVNULL),
        processors=liveobs_processors(scrubber=telemetry.scrubber,
                                      bridge=LogBridge(telemetry.logger_provider, redacted=True)),
    )
    liveobs_app = liveobs.sdk.LiveObsMiddleware(live_app(lambda data: NOTHING, live_log), telemetry=telemetry)

    # (a) hand-written span with 5 attributes and one log line with 5 bound context variables
    plain = plain_logger()

    class HandWritten:
        def __init__(self, data: dict[str, Any]) -> None:
            lo = data.get("lo") or {}
            structlog.contextvars.bind_contextvars(
                event_id=lo.get("event_id"), session_id=lo.get("session_id"), connection_id=lo.get("connection_id"),
                route_id=lo.get("route_id"), request_id="5c9f1c2e-8b0a-4e5d-9f3a-2b7c6d1e0f4a",
            )
            self.cm = tracer.start_as_current_span("live.event", attributes={
                "liveobs.event.id": lo.get("event_id"), "liveobs.event.name": data["action"],
                "liveobs.event.seq": lo.get("seq"), "session.id": lo.get("session_id"),
                "liveobs.route.id": lo.get("route_id"),
            })

        def __enter__(self) -> None:
            self.cm.__enter__()

        def __exit__(self, *exc: Any) -> None:
            self.cm.__exit__(*exc)
            structlog.contextvars.clear_contextvars()

    hand_app = live_app(HandWritten, plain)

    # (b) opentelemetry-instrumentation-asgi + the same log line
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    otel_app = OpenTelemetryMiddleware(live_app(lambda data: NOTHING, plain), tracer_provider=provider)

    bare = live_app(lambda data: NOTHING, None)
    ws = {"bare": bare, "liveobs": liveobs_app, "(a) hand-written": hand_app, "(b) otel-asgi": otel_app}

    from asgi_correlation_id import CorrelationIdMiddleware

    http = {
        "bare": bare,
        "liveobs": liveobs_app,
        "asgi-correlation-id + log": CorrelationIdMiddleware(live_app(lambda data: NOTHING, plain)),
    }
    return ws, http


def measure(variants: dict[str, Any], run: Callable[[Any, int], float], n: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for name in names:  # warm-up
        run(variants[name], max(20, n // 10))
    for r in range(ROUNDS):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order each round
            samples[name].append(run(variants[name], n))
    return {name: statistics.median(values) * 1e6 for name, values in samples.items()}


def main() -> int:
    ws, http = build_variants()
    print(f"liveobs-sdk CPU per live event (median of {ROUNDS} rounds x {MESSAGES} messages, µs)")
    event = measure(ws, run_ws, MESSAGES)
    for name, us in event.items():
        print(f"  {name:<22} {us:8.1f}   over bare {us - event['bare']:8.1f}")
    ratio_a = event["liveobs"] / event["(a) hand-written"]
    ratio_b = event["liveobs"] / event["(b) otel-asgi"]
    print(f"  liveobs / (a) = {ratio_a:.2f} (target <= {TARGET_A})  {'MET' if ratio_a <= TARGET_A else 'MISSED'}")
    print(f"  liveobs / (b) = {ratio_b:.2f} (target <= {TARGET_B})  {'MET' if ratio_b <= TARGET_B else 'MISSED'}")
    print(f"liveobs-sdk CPU per HTTP request (median of {ROUNDS} rounds x {REQUESTS} requests, µs)")
    request = measure(http, run_http, REQUESTS)
    for name, us in request.items():
        print(f"  {name:<26} {us:8.1f}   over bare {us - request['bare']:8.1f}")
    print(f"  liveobs / asgi-correlation-id + log = {request['liveobs'] / request['asgi-correlation-id + log']:.2f}")
    liveobs.sdk.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
