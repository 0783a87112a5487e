"""CPU cost of liveobs per live event and per HTTP request, side by side with its baselines.

Every variant drives the same ASGI app in-process (fake receive/send, no
network). Every variant that traces has its own TracerProvider with a
BatchSpanProcessor (liveobs: its counting subclass, as configure() installs
it) in front of the same counting no-op span exporter; every variant that
records metrics has the same in-memory metric reader; each writes the same
structlog line (level, UTC timestamp, JSON) to /dev/null. A run ends with a
flush inside the timed window, so work the export threads do is charged to
the variant that caused it. Variants alternate in rounds (the order rotates);
the figures are medians of CPU time (process_time: all threads) per message.

  bare      the app alone
  liveobs   configure() + LiveObsMiddleware: event trace with all ids, ids in
            the log context, reply measurement (raw and deflated bytes),
            redaction of every signal, the log line bridged to OTel logs,
            metrics, dropped counting
  (a)       the app with a hand-written OTel span (5 attributes) and one
            structlog line with 5 bound context variables
  (b)       opentelemetry-instrumentation-asgi on the app + the same log line

The concurrent figure runs 50 connections interleaved on one event loop.
Exported spans and log records are counted: liveobs may lose none (the run fails if it does);
the baselines keep the OpenTelemetry default queue of 2048 and report what it drops.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import liveobs.sdk
from liveobs.conventions import mint_event_id

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "40"))  # fewer leave the medians (and the ratios) noisy
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "400"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "400"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "50"))
# (a): at most 1.25x on every supported OpenTelemetry release, 1.15x the goal on the newest; (b): at most 0.65x.
TARGET_A, GOAL_A, TARGET_B = 1.25, 1.15, 0.65
PATCH = "<li class='card' id='card-17'><span>Ship the release notes</span></li>" * 12


class NoopExporter(SpanExporter):
    """Exports nothing; counts what it was given."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


class NoopLogExporter:
    def __init__(self) -> None:
        self.count = 0

    def export(self, batch: Sequence[Any]) -> Any:
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        self.count += len(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


DEVNULL = open(os.devnull, "w")  # noqa: SIM115  # lives for the whole run
PLAIN_CHAIN: list[Any] = [
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


def nothing(data: dict[str, Any]) -> _Nothing:
    return NOTHING


@dataclass
class Variant:
    """An app under test, how to flush what it buffered, and what it exported."""

    app: Any
    flush: Callable[[], object] = lambda: None
    spans: NoopExporter | None = None
    logs: NoopLogExporter | None = None
    counts: Callable[[], dict[str, int]] = dict
    events: int = 0
    connections: int = 0
    requests: int = 0


def messages(n: int, connection: int = 0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"type": "websocket.connect"}]
    for seq in range(n):
        lo = {"event_id": mint_event_id(), "event_name": "add_card", "seq": seq,
              "session_id": "k1.3f2a9c1b7d4e6f8a0b1c2d3e4f5a6b7c",
              "connection_id": f"0190a1b2c3d47e5f8a9b0c1d2e3f{connection:04x}", "route_id": "/board/{board_id}"}
        out.append({"type": "websocket.receive", "text": json.dumps({"action": "add_card", "title": "x", "lo": lo})})
    out.append({"type": "websocket.disconnect", "code": 1000})
    return out


def ws_scope() -> dict[str, Any]:
    return {"type": "websocket", "path": "/live", "raw_path": b"/live", "headers": [(b"host", b"bench")],
            "scheme": "ws", "query_string": b"", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
            "subprotocols": [], "asgi": {"version": "3.0"}}


async def _send(message: dict[str, Any]) -> None:
    return None


def _timed(variant: Variant, work: Callable[[], Any], n: int) -> float:
    """CPU seconds per item of ``work`` (a coroutine factory), the variant's flush included."""
    loop = asyncio.new_event_loop()
    try:
        start = time.process_time()
        loop.run_until_complete(work())
        variant.flush()
        return (time.process_time() - start) / n
    finally:
        loop.close()


def run_ws(variant: Variant, n: int) -> float:
    """CPU seconds per message for one connection of ``n`` messages."""
    position = iter(messages(n))
    variant.events += n
    variant.connections += 1

    async def receive() -> dict[str, Any]:
        return next(position)

    return _timed(variant, lambda: variant.app(ws_scope(), receive, _send), n)


def run_ws_concurrent(variant: Variant, n: int) -> float:
    """CPU seconds per message for ``CONNECTIONS`` connections of ``n`` messages each, interleaved."""

    def connection(index: int) -> Any:
        position = iter(messages(n, index))

        async def receive() -> dict[str, Any]:
            await asyncio.sleep(0)  # let the other connections run between messages
            return next(position)

        return variant.app(ws_scope(), receive, _send)

    variant.events += n * CONNECTIONS
    variant.connections += CONNECTIONS

    async def many() -> None:
        await asyncio.gather(*(connection(i) for i in range(CONNECTIONS)))

    return _timed(variant, many, n * CONNECTIONS)


def run_http(variant: Variant, n: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def many() -> None:
        for _ in range(n):
            scope = {"type": "http", "method": "GET", "path": "/board/7", "raw_path": b"/board/7",
                     "headers": [(b"host", b"bench"), (b"x-request-id", b"5c9f1c2e-8b0a-4e5d-9f3a-2b7c6d1e0f4a")],
                     "scheme": "http", "query_string": b"", "client": ("127.0.0.1", 5000),
                     "server": ("127.0.0.1", 80), "http_version": "1.1", "asgi": {"version": "3.0"}}
            await variant.app(scope, receive, _send)

    variant.requests += n
    return _timed(variant, many, n)


def _traced() -> tuple[TracerProvider, NoopExporter]:
    exporter = NoopExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, exporter


def build_variants() -> tuple[dict[str, Variant], dict[str, Variant]]:
    # liveobs: the full instrumentation an app gets from configure() and the middleware
    live_spans, live_logs = NoopExporter(), NoopLogExporter()
    telemetry = liveobs.sdk.configure(
        "bench", "1.0.0", "bench", span_exporter=live_spans, log_exporter=live_logs,  # type: ignore[arg-type]
        metric_readers=[InMemoryMetricReader()], log_file=DEVNULL, set_global=False,
    )

    def live_flush() -> None:
        telemetry.tracer_provider.force_flush()
        telemetry.logger_provider.force_flush()

    live = liveobs.sdk.LiveObsMiddleware(live_app(nothing, structlog.get_logger("bench")), telemetry=telemetry)
    liveobs_variant = Variant(live, live_flush, live_spans, live_logs, telemetry.drops.counts)

    # (a) hand-written span with 5 attributes and one log line with 5 bound context variables
    plain = plain_logger()
    hand_provider, hand_spans = _traced()
    tracer = hand_provider.get_tracer("bench")

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

    hand = Variant(live_app(HandWritten, plain), hand_provider.force_flush, hand_spans)

    # (b) opentelemetry-instrumentation-asgi + the same log line
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    otel_provider, otel_spans = _traced()
    otel_meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
    otel = Variant(OpenTelemetryMiddleware(live_app(nothing, plain), tracer_provider=otel_provider,
                                           meter_provider=otel_meters), otel_provider.force_flush, otel_spans)

    bare = Variant(live_app(nothing, None))
    ws = {"bare": bare, "liveobs": liveobs_variant, "(a) hand-written": hand, "(b) otel-asgi": otel}

    from asgi_correlation_id import CorrelationIdMiddleware

    http = {
        "bare": bare,
        "liveobs": liveobs_variant,
        "asgi-correlation-id + log": Variant(CorrelationIdMiddleware(live_app(nothing, plain))),
        "(b) otel-asgi + log": otel,
    }
    return ws, http


def measure(variants: dict[str, Variant], run: Callable[[Variant, int], float], n: int, rounds: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for name in names:  # warm-up
        run(variants[name], max(20, n // 10))
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order each round
            samples[name].append(run(variants[name], n))
    return {name: statistics.median(values) * 1e6 for name, values in samples.items()}


def _exported(name: str, v: Variant, spans: int, logs: int | None = None) -> int:
    """Print what the variant exported against what it should have (``spans``/``logs`` expected); the missing."""
    assert v.spans is not None
    v.flush()
    line = f"  {name:<22} spans {v.spans.count} of {spans}"
    if v.logs is not None:
        line += f", log records {v.logs.count} of {logs}, counted as dropped {v.counts()}"
    missing = spans - v.spans.count + ((logs or 0) - v.logs.count if v.logs is not None else 0)
    print(line + ("" if missing == 0 else f"  MISSING {missing}"))
    return missing


def main() -> int:
    from importlib.metadata import version

    ws, http = build_variants()
    print(f"OpenTelemetry {version('opentelemetry-sdk')}, structlog {version('structlog')}, "
          f"Python {sys.version.split()[0]}")
    print(f"liveobs-sdk CPU per live event (median of {ROUNDS} rounds x {MESSAGES} messages, µs)")
    event = measure(ws, run_ws, MESSAGES, ROUNDS)
    for name, us in event.items():
        print(f"  {name:<22} {us:8.1f}   over bare {us - event['bare']:8.1f}")
    ratio_a = event["liveobs"] / event["(a) hand-written"]
    ratio_b = event["liveobs"] / event["(b) otel-asgi"]
    print(f"  liveobs / (a) = {ratio_a:.2f} (target <= {TARGET_A}, goal {GOAL_A})  "
          f"{'MET' if ratio_a <= TARGET_A else 'MISSED'}{', goal met' if ratio_a <= GOAL_A else ''}")
    print(f"  liveobs / (b) = {ratio_b:.2f} (target <= {TARGET_B})  {'MET' if ratio_b <= TARGET_B else 'MISSED'}")

    per_connection = max(1, MESSAGES // 10)
    concurrent_rounds = max(3, ROUNDS // 3)
    print(f"{CONNECTIONS} interleaved connections on one loop (median of {concurrent_rounds} rounds x "
          f"{CONNECTIONS * per_connection} messages, µs)")
    many = measure(ws, run_ws_concurrent, per_connection, concurrent_rounds)
    for name, us in many.items():
        print(f"  {name:<22} {us:8.1f}   over bare {us - many['bare']:8.1f}")
    print(f"  liveobs / (a) = {many['liveobs'] / many['(a) hand-written']:.2f}   "
          f"liveobs / (b) = {many['liveobs'] / many['(b) otel-asgi']:.2f}")

    print(f"liveobs-sdk CPU per HTTP request (median of {ROUNDS} rounds x {REQUESTS} requests, µs)")
    request = measure(http, run_http, REQUESTS, ROUNDS)
    for name, us in request.items():
        print(f"  {name:<26} {us:8.1f}   over bare {us - request['bare']:8.1f}")
    print(f"  liveobs / asgi-correlation-id + log = {request['liveobs'] / request['asgi-correlation-id + log']:.2f}")
    print("exported by each variant over the whole run (liveobs may miss nothing; a baseline's own full queue"
          " drops are its own)")
    live, hand, otel = ws["liveobs"], ws["(a) hand-written"], ws["(b) otel-asgi"]
    missing = _exported("liveobs", live, live.events + live.connections + live.requests, live.events + live.requests)
    _exported("(a) hand-written", hand, hand.events)
    # otel-asgi: a send and a receive span per message; connect, accept, close and the server span
    # per connection; the server span and two send spans per request
    _exported("(b) otel-asgi", otel, 2 * otel.events + 4 * otel.connections + 3 * otel.requests)
    liveobs.sdk.shutdown()
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
