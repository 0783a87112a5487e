"""The official OpenTelemetry exporters send to a running ``liveobs collect``."""

from __future__ import annotations

import duckdb
import httpx
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from liveobs.conventions import keys

RESOURCE = Resource.create(
    {keys.SERVICE_NAME: "shop", keys.SERVICE_VERSION: "2.0.1", keys.DEPLOYMENT_ENVIRONMENT: "staging"}
)


def test_spans_land_with_attributes_resource_ids_and_derived_rows(collector) -> None:
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.url}/v1/traces")))
    tracer = provider.get_tracer("test.scope", "9.9")
    ids = {}
    with tracer.start_as_current_span("live_event add_to_cart") as parent:
        parent.set_attributes({keys.EVENT_ID: "01JEVENT", keys.SESSION_ID: "sess-1", keys.REQUEST_ID: "req-1",
                               keys.ROUTE_ID: "cart.show", keys.EVENT_NAME: "add_to_cart", "db.rows": 3})
        ids["trace"] = format(parent.get_span_context().trace_id, "032x")
        ids["parent"] = format(parent.get_span_context().span_id, "016x")
        with tracer.start_as_current_span("db query") as child:
            try:
                raise KeyError("cart 42")
            except KeyError as exc:
                child.record_exception(exc)
                child.set_status(Status(StatusCode.ERROR, "lookup failed"))
            ids["child"] = format(child.get_span_context().span_id, "016x")
    provider.shutdown()
    assert httpx.post(f"{collector.url}/api/v1/flush", headers=collector.headers).json()["committed"]
    # The conversion process handed the spans over in a staged file (see _staged).
    checks = httpx.get(f"{collector.url}/healthz").json()["checks"]
    assert checks["ingest:stagedRows"][0]["observedValue"] == 2
    assert collector.stop() == 0

    con = duckdb.connect(str(collector.db), read_only=True)
    rows = con.execute(
        "SELECT SpanId, ParentSpanId, TraceId, SpanName, ServiceName, ResourceAttributes['service.version'], "
        "ScopeName, ScopeVersion, SpanAttributes['db.rows'], StatusCode, StatusMessage, Events.Name "
        "FROM otel_traces ORDER BY SpanName"
    ).fetchall()
    assert rows == [
        (ids["child"], ids["parent"], ids["trace"], "db query", "shop", "2.0.1", "test.scope", "9.9", None,
         "Error", "lookup failed", ["exception"]),
        (ids["parent"], "", ids["trace"], "live_event add_to_cart", "shop", "2.0.1", "test.scope", "9.9", "3",
         "Unset", "", []),
    ]
    corr = con.execute(
        "SELECT Signal, TraceId, SpanId, EventId, SessionId, RequestId, RouteId, EventName, ServiceVersion "
        "FROM liveobs_correlation"
    ).fetchall()
    assert corr == [("span", ids["trace"], ids["parent"], "01JEVENT", "sess-1", "req-1", "cart.show", "add_to_cart", "2.0.1")]
    errors = con.execute("SELECT Source, ErrorType, Message, SpanId, Environment FROM liveobs_errors").fetchall()
    assert errors == [("span", "KeyError", "'cart 42'", ids["child"], "staging")]
    bounds = con.execute("SELECT TraceId, \"Start\" <= \"End\" FROM otel_traces_trace_id_ts").fetchall()
    assert bounds == [(ids["trace"], True)]


def test_log_records_land_with_event_name_severity_and_body(collector) -> None:
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{collector.url}/v1/logs")))
    logger = provider.get_logger("browser")
    from opentelemetry._logs import LogRecord, SeverityNumber

    logger.emit(LogRecord(body="click failed", severity_number=SeverityNumber.ERROR, severity_text="ERROR",
                          event_name="browser.error",
                          attributes={keys.EVENT_ID: "01JB", keys.ERROR_TYPE: "TypeError", "password": "hunter22"}))
    logger.emit(LogRecord(body="ok", severity_number=SeverityNumber.INFO, severity_text="INFO"))
    provider.shutdown()
    assert collector.stop() == 0
    con = duckdb.connect(str(collector.db), read_only=True)
    rows = con.execute(
        "SELECT Body, SeverityText, SeverityNumber, EventName, LogAttributes['password'], ServiceName "
        "FROM otel_logs ORDER BY Body"
    ).fetchall()
    assert rows == [
        ("click failed", "ERROR", 17, "browser.error", "[REDACTED:key]", "shop"),
        ("ok", "INFO", 9, "", None, "shop"),
    ]
    assert con.execute("SELECT Source, ErrorType, EventId FROM liveobs_errors").fetchall() == [
        ("browser", "TypeError", "01JB")
    ]
    assert con.execute("SELECT Signal, EventId, EventName FROM liveobs_correlation").fetchall() == [
        ("log", "01JB", "browser.error")
    ]


def test_metric_data_points_land_in_their_tables(collector) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = provider.get_meter("liveobs.sdk")
    meter.create_counter("liveobs.reconnects").add(3, {keys.ROUTE_ID: "cart.show"})
    histogram = meter.create_histogram("liveobs.event.duration", unit="ms")
    for value in (5, 12, 40):
        histogram.record(value, {keys.ROUTE_ID: "cart.show"})
    meter.create_gauge("process.memory.usage").set(1024)
    data = reader.get_metrics_data()
    exporter = OTLPMetricExporter(endpoint=f"{collector.url}/v1/metrics")
    assert exporter.export(data).name == "SUCCESS"
    exporter.shutdown()
    provider.shutdown()
    assert collector.stop() == 0
    con = duckdb.connect(str(collector.db), read_only=True)
    assert con.execute("SELECT MetricName, \"Value\", IsMonotonic, Attributes['liveobs.route.id'] FROM otel_metrics_sum").fetchall() == [
        ("liveobs.reconnects", 3.0, True, "cart.show")
    ]
    assert con.execute("SELECT MetricName, MetricUnit, \"Count\", \"Sum\", \"Min\", \"Max\", ServiceName FROM otel_metrics_histogram").fetchall() == [
        ("liveobs.event.duration", "ms", 3, 57.0, 5.0, 40.0, "shop")
    ]
    assert con.execute("SELECT MetricName, \"Value\" FROM otel_metrics_gauge").fetchall() == [("process.memory.usage", 1024.0)]
