"""Performance evidence: every liveobs metric with its unit, low-cardinality attributes, ids on exemplars."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.trace import TracerProvider

import liveobs.sdk
from liveobs.conventions import evidence as ev
from liveobs.conventions import keys
from liveobs.sdk._perf import PerfRecorder, dimensions, perf_recorder, process_memory_bytes

ALLOWED_DIMENSIONS = {keys.HTTP_ROUTE, keys.EVENT_NAME, keys.ERROR_TYPE, ev.CPU_MODE,
                      keys.HTTP_RESPONSE_STATUS_CODE, keys.TELEMETRY_SIGNAL}
EVENT_ID = "0190f5c2-7a1b-7c3d-8e4f-a1b2c3d4e5f6"
SESSION_ID = "k1.0123456789abcdef0123456789abcdef"


def _points(data: MetricsData | None) -> dict[str, tuple[str, list[Any]]]:
    """metric name -> (unit, data points)."""
    assert data is not None
    out: dict[str, tuple[str, list[Any]]] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                _unit, points = out.setdefault(metric.name, (metric.unit or "", []))
                points.extend(metric.data.data_points)
    return out


@pytest.fixture
def recorder() -> Iterator[tuple[PerfRecorder, InMemoryMetricReader, TracerProvider]]:
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    tracers = TracerProvider()
    yield PerfRecorder(meters.get_meter("test")), reader, tracers
    meters.shutdown()
    tracers.shutdown()


def test_each_metric_has_its_unit_and_only_low_cardinality_attributes(recorder: Any) -> None:
    perf, reader, tracers = recorder
    with tracers.get_tracer("t").start_as_current_span("live.event add_card", attributes={
            keys.EVENT_ID: EVENT_ID, keys.SESSION_ID: SESSION_ID}) as span:
        perf.render(12.5, route="/board/{board_id}")
        perf.connect(3.0, route="/live")
        perf.event(8.0, route="/board/{board_id}", event_name="add_card")
        perf.event(9.0, route="/board/{board_id}", event_name="add_card", error_type="LookupError")
        perf.client_event(21.0, route="/board/{board_id}", event_name="add_card")
        perf.patch(2000, 500, route="/board/{board_id}", event_name="add_card")
        perf.reconnect(route="/live")
        perf.stream(3, 900, route="/board/{board_id}")
        perf.upload(4096, 40.0, route="/upload")
        perf.session_opened(route="/live")
        perf.session_opened(route="/live")
        perf.session_closed(route="/live")
    trace_id = span.get_span_context().trace_id
    points = _points(reader.get_metrics_data())

    expected_units = {
        ev.METRIC_RENDER_DURATION: "ms", ev.METRIC_CONNECT_DURATION: "ms", ev.METRIC_EVENT_DURATION: "ms",
        ev.METRIC_CLIENT_EVENT_LATENCY: "ms", ev.METRIC_PATCH_SIZE: "By", ev.METRIC_PATCH_COMPRESSED_SIZE: "By",
        ev.METRIC_COMPRESSION_RATIO: "1", ev.METRIC_RECONNECTS: "{reconnect}", ev.METRIC_STREAM_ITEMS: "{item}",
        ev.METRIC_STREAM_BYTES: "By", ev.METRIC_UPLOAD_BYTES: "By", ev.METRIC_UPLOAD_DURATION: "ms",
        ev.METRIC_ACTIVE_SESSIONS: "{session}", ev.METRIC_PROCESS_MEMORY: "By", ev.METRIC_PROCESS_CPU: "s",
    }
    assert {name: unit for name, (unit, _) in points.items()} == expected_units
    for _, data_points in points.values():
        for point in data_points:
            assert set(point.attributes or {}) <= ALLOWED_DIMENSIONS
            assert EVENT_ID not in json.dumps(dict(point.attributes or {}))
    assert points[ev.METRIC_COMPRESSION_RATIO][1][0].sum == pytest.approx(0.25)
    assert points[ev.METRIC_PATCH_COMPRESSED_SIZE][1][0].sum == 500
    assert points[ev.METRIC_ACTIVE_SESSIONS][1][0].value == 1
    assert (points[ev.METRIC_STREAM_ITEMS][1][0].value, points[ev.METRIC_STREAM_BYTES][1][0].value) == (3, 900)
    events = {tuple(sorted(dict(p.attributes).items())): p.count for p in points[ev.METRIC_EVENT_DURATION][1]}
    failed = tuple(sorted({keys.ERROR_TYPE: "LookupError", keys.EVENT_NAME: "add_card",
                           keys.HTTP_ROUTE: "/board/{board_id}"}.items()))
    assert events[failed] == 1
    # The ids travel on exemplars: the span's trace, not a dimension.
    (latency,) = points[ev.METRIC_CLIENT_EVENT_LATENCY][1]
    assert [e.trace_id for e in latency.exemplars] == [trace_id]


def test_invalid_dimension_values_are_dropped_not_recorded() -> None:
    assert dimensions("/board/{board_id}", "add_card", "KeyError") == {
        keys.HTTP_ROUTE: "/board/{board_id}", keys.EVENT_NAME: "add_card", keys.ERROR_TYPE: "KeyError"}
    assert dimensions("drop table x; --", "<script>", "x" * 300) == {}


def test_process_memory_and_cpu_are_observed_from_this_process(recorder: Any) -> None:
    _, reader, _ = recorder
    with open("/proc/self/status", encoding="ascii") as status:
        rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
    assert abs(process_memory_bytes() - rss) < 64 * 1024 * 1024
    points = _points(reader.get_metrics_data())
    assert points[ev.METRIC_PROCESS_MEMORY][1][0].value > 10 * 1024 * 1024
    cpu = {p.attributes[ev.CPU_MODE]: p.value for p in points[ev.METRIC_PROCESS_CPU][1]}
    assert set(cpu) == {"user", "system"}
    assert cpu["user"] > 0


def test_the_configured_recorder_shares_the_core_instruments(configured: Any) -> None:
    perf = perf_recorder()
    assert perf is perf_recorder()
    assert perf.render_duration is configured.telemetry.instruments.render_duration
    assert perf.event_duration is configured.telemetry.instruments.event_duration


def test_client_latency_from_a_report_lands_on_the_events_trace_as_an_exemplar(configured: Any, serve: Any) -> None:
    from starlette.applications import Starlette

    from liveobs.sdk._evidence_asgi import observe_live_app

    ring = liveobs.sdk.SessionKeyRing({"k1": "perf-test-session-key-0123456789"})
    server = serve(observe_live_app(Starlette(), session=liveobs.sdk.cookie_session("sid"), session_keys=ring))
    session_id = ring.pseudonymise("raw-cookie")
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    body = {"session_id": session_id, "route_id": "/board/{board_id}", "reports": [{
        "type": "browser.action", "event_id": EVENT_ID, "event_name": "add_card", "latency_ms": 42.5,
        "trace_id": trace_id, "span_id": span_id}]}
    response = httpx.post(f"{server.http}/_liveobs/report", json=body,
                          headers={"Origin": server.http, "Cookie": "sid=raw-cookie"})
    assert response.status_code == 202
    points = _points(configured.metrics.get_metrics_data())
    (latency,) = points[ev.METRIC_CLIENT_EVENT_LATENCY][1]
    assert dict(latency.attributes) == {keys.HTTP_ROUTE: "/board/{board_id}", keys.EVENT_NAME: "add_card"}
    assert latency.sum == 42.5
    assert [(f"{e.trace_id:032x}", f"{e.span_id:016x}") for e in latency.exemplars] == [(trace_id, span_id)]


def test_a_live_session_through_the_stack_records_connect_event_patch_and_active_sessions(
    configured: Any, serve: Any
) -> None:
    import asyncio

    import websockets
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    from liveobs.sdk._evidence_asgi import observe_live_app

    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(json.dumps({"patch": "<li>card</li>" * 50, "echo": json.loads(text)["n"]}))

    app = Starlette(routes=[WebSocketRoute("/live/{board_id}", live)])
    server = serve(observe_live_app(app, session=liveobs.sdk.cookie_session("sid")))
    active_during: list[int] = []

    async def session() -> None:
        async with websockets.connect(f"{server.ws}/live/7", additional_headers={"Cookie": "sid=s3cr3t-cookie"}) as ws:
            for n in range(3):
                await ws.send(json.dumps({"n": n, "lo": {"event_id": f"{EVENT_ID[:-1]}{n}", "event_name": "add_card"}}))
                assert json.loads(await ws.recv())["echo"] == n
            (active,) = _points(configured.metrics.get_metrics_data())[ev.METRIC_ACTIVE_SESSIONS][1]
            active_during.append(active.value)

    asyncio.run(session())
    assert active_during == [1]
    configured.receiver.spans_named("live.connection")
    points = _points(configured.metrics.get_metrics_data())
    (active,) = points[ev.METRIC_ACTIVE_SESSIONS][1]
    assert active.value == 0
    assert dict(active.attributes) == {keys.HTTP_ROUTE: "/live/{board_id}"}
    assert sum(p.count for p in points[ev.METRIC_CONNECT_DURATION][1]) == 1
    assert sum(p.count for p in points[ev.METRIC_EVENT_DURATION][1]) == 3
    (raw,) = points[ev.METRIC_PATCH_SIZE][1]
    (compressed,) = points[ev.METRIC_PATCH_COMPRESSED_SIZE][1]
    assert raw.count == compressed.count == 3
    assert compressed.sum < raw.sum
    (ratio,) = points[ev.METRIC_COMPRESSION_RATIO][1]
    assert ratio.count == 3
    assert ratio.sum == pytest.approx(sum(c / r for c, r in _patch_sizes(configured)), rel=1e-6)
    assert dict(ratio.attributes) == {keys.HTTP_ROUTE: "/live/{board_id}", keys.EVENT_NAME: "add_card"}
    exported = json.dumps([dict(p.attributes or {}) for _, pts in points.values() for p in pts])
    assert EVENT_ID[:-1] not in exported
    assert "s3cr3t-cookie" not in exported
    assert b"s3cr3t-cookie" not in configured.receiver.all_bytes()


def _patch_sizes(configured: Any) -> list[tuple[int, int]]:
    spans = configured.receiver.spans_named("live.event", 3)
    return [(s["attributes"][keys.PATCH_COMPRESSED_BYTES], s["attributes"][keys.PATCH_BYTES]) for s in spans]


def test_process_metrics_are_reported_from_the_first_request_of_an_observed_app(configured: Any, serve: Any) -> None:
    from starlette.applications import Starlette

    from liveobs.sdk._evidence_asgi import observe_live_app

    server = serve(observe_live_app(Starlette(), session=liveobs.sdk.cookie_session("sid")))
    assert httpx.get(f"{server.http}/nothing-here").status_code == 404
    points = _points(configured.metrics.get_metrics_data())
    assert points[ev.METRIC_PROCESS_MEMORY][1][0].value > 10 * 1024 * 1024
    assert {p.attributes[ev.CPU_MODE] for p in points[ev.METRIC_PROCESS_CPU][1]} == {"user", "system"}
