"""A small OTLP input shaped like a live app's traffic, for loading both engines the same way.

Two services and releases; a page render, a failing live event (Error status, an
``exception`` event, a link to its connection span), a client child span; logs with
ids, a browser error report with ``EventName``, a map body and a record with only an
observed time; every metric kind with exemplars. Values of every OTLP type (string,
int, double, bool, array, map, bytes) sit in the attribute maps.
"""

from __future__ import annotations

import random
from typing import Any

from ch_loader import OtlpInput
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from liveobs.conventions import keys

MS = 1_000_000


def value(raw: Any) -> AnyValue:
    if isinstance(raw, bool):
        return AnyValue(bool_value=raw)
    if isinstance(raw, int):
        return AnyValue(int_value=raw)
    if isinstance(raw, float):
        return AnyValue(double_value=raw)
    if isinstance(raw, bytes):
        return AnyValue(bytes_value=raw)
    if isinstance(raw, list):
        return AnyValue(array_value=ArrayValue(values=[value(v) for v in raw]))
    if isinstance(raw, dict):
        return AnyValue(kvlist_value=KeyValueList(values=kvs(raw)))
    return AnyValue(string_value=str(raw))


def kvs(mapping: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=value(v)) for k, v in mapping.items()]


def resource(service: str, version: str) -> dict[str, Any]:
    return {keys.SERVICE_NAME: service, keys.SERVICE_VERSION: version,
            keys.DEPLOYMENT_ENVIRONMENT: "production", "host.cores": 2, "process.pid": 4242}


def otlp_input(base_ns: int, *, seed: int = 1) -> OtlpInput:
    """The corpus, starting at ``base_ns``. The same seed gives the same ids; another seed, other ids."""
    rand = _Ids(seed)
    page_trace, event_trace, conn_trace = rand.trace(), rand.trace(), rand.trace()
    page_span, conn_span, event_span, child_span = rand.span(), rand.span(), rand.span(), rand.span()
    session, request, event_id, connection = f"sess-{seed}", f"req-{seed}", f"01JEVT{seed:020d}", f"conn-{seed}"

    page = Span(
        trace_id=page_trace, span_id=page_span, name="GET /cart", kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=base_ns, end_time_unix_nano=base_ns + 12 * MS,
        attributes=kvs({keys.HTTP_ROUTE: "/cart", keys.REQUEST_ID: request, keys.SESSION_ID: session,
                        keys.HTTP_RESPONSE_STATUS_CODE: 200, "http.server.ratio": 0.25, "cache.hit": True}),
        status=Status(code=Status.STATUS_CODE_OK),
    )
    connection_span = Span(
        trace_id=conn_trace, span_id=conn_span, name="live connect", kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=base_ns + 20 * MS, end_time_unix_nano=base_ns + 900 * MS,
        attributes=kvs({keys.CONNECTION_ID: connection, keys.SESSION_ID: session, keys.ROUTE_ID: "cart.show"}),
        trace_state="vendor=1,other=2",
    )
    failing = Span(
        trace_id=event_trace, span_id=event_span, name="live_event add_to_cart", kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=base_ns + 100 * MS, end_time_unix_nano=base_ns + 131 * MS,
        attributes=kvs({keys.EVENT_ID: event_id, keys.SESSION_ID: session, keys.CONNECTION_ID: connection,
                        keys.ROUTE_ID: "cart.show", keys.EVENT_NAME: "add_to_cart", keys.EVENT_SEQ: 7,
                        keys.ERROR_TYPE: "KeyError", keys.PATCH_BYTES: 0, "tags": ["a", "b", 3, 1.5],
                        "ctx": {"z": 1, "a": {"k": 2.0}, "m": "x"}, "raw": b"\x00\xffbytes",
                        "ratio.tiny": 1e-7, "ratio.huge": 1e22, "ratio.whole": 3.0}),
        events=[Span.Event(time_unix_nano=base_ns + 130 * MS, name=keys.EXCEPTION_EVENT,
                           attributes=kvs({keys.EXCEPTION_TYPE: "KeyError",
                                           keys.EXCEPTION_MESSAGE: "cart 42 has no item 'sku-9'",
                                           keys.EXCEPTION_STACKTRACE: "Traceback ...\nKeyError: 'sku-9'"}))],
        links=[Span.Link(trace_id=conn_trace, span_id=conn_span, trace_state="vendor=1",
                         attributes=kvs({keys.LINK_KIND: "connection"}))],
        status=Status(code=Status.STATUS_CODE_ERROR, message="add_to_cart failed"),
        parent_span_id=b"",
    )
    child = Span(
        trace_id=event_trace, span_id=child_span, parent_span_id=event_span, name="SELECT cart",
        kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=base_ns + 101 * MS, end_time_unix_nano=base_ns + 109 * MS,
        attributes=kvs({"db.system": "postgresql", "db.rows": 3}),
    )
    traces = ExportTraceServiceRequest()
    shop = traces.resource_spans.add()
    shop.resource.attributes.extend(kvs(resource("shop", "1.4.2")))
    scope = shop.scope_spans.add()
    scope.scope.name, scope.scope.version = "liveobs.sdk", "0.1.0"
    scope.spans.extend([page, connection_span, failing])
    db_scope = shop.scope_spans.add()
    db_scope.scope.name = "sqlalchemy"
    db_scope.spans.append(child)
    other = traces.resource_spans.add()
    other.resource.attributes.extend(kvs(resource("billing", "7.0.0")))
    other.scope_spans.add().spans.append(Span(
        trace_id=rand.trace(), span_id=rand.span(), name="charge", kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=base_ns + 5 * MS, end_time_unix_nano=base_ns + 6 * MS,
    ))

    logs = ExportLogsServiceRequest()
    shop_logs = logs.resource_logs.add()
    shop_logs.resource.attributes.extend(kvs(resource("shop", "1.4.2")))
    shop_logs.schema_url = "https://opentelemetry.io/schemas/1.26.0"
    log_scope = shop_logs.scope_logs.add()
    log_scope.scope.name, log_scope.scope.version = "structlog", "24.4"
    log_scope.scope.attributes.extend(kvs({"logger.kind": "structured"}))
    log_scope.schema_url = "https://opentelemetry.io/schemas/1.26.0"
    log_scope.log_records.extend([
        LogRecord(time_unix_nano=base_ns + 120 * MS, observed_time_unix_nano=base_ns + 121 * MS,
                  severity_number=17, severity_text="ERROR", body=value("add_to_cart failed for cart 42"),
                  trace_id=event_trace, span_id=event_span, flags=1,
                  attributes=kvs({keys.EVENT_ID: event_id, keys.SESSION_ID: session, keys.ERROR_TYPE: "KeyError",
                                  keys.ROUTE_ID: "cart.show", "attempt": 2})),
        LogRecord(time_unix_nano=base_ns + 140 * MS, severity_number=13, severity_text="WARN",
                  event_name=keys.BROWSER_ERROR_EVENT, body=value({"message": "Something went wrong", "code": 500}),
                  attributes=kvs({keys.EVENT_ID: event_id, keys.SESSION_ID: session,
                                  keys.BROWSER_ERROR_KIND: "reply_error", keys.ROUTE_ID: "cart.show"})),
        LogRecord(observed_time_unix_nano=base_ns + 150 * MS, severity_number=9, severity_text="INFO",
                  body=value("cart rendered"), attributes=kvs({keys.REQUEST_ID: request})),
    ])

    metrics = ExportMetricsServiceRequest()
    shop_metrics = metrics.resource_metrics.add()
    shop_metrics.resource.attributes.extend(kvs(resource("shop", "1.4.2")))
    metric_scope = shop_metrics.scope_metrics.add()
    metric_scope.scope.name = "liveobs.sdk"
    exemplar = m.Exemplar(time_unix_nano=base_ns + 130 * MS, as_double=31.0, trace_id=event_trace,
                          span_id=event_span, filtered_attributes=kvs({keys.EVENT_ID: event_id}))
    start, now = base_ns - 1000 * MS, base_ns + 200 * MS
    metric_scope.metrics.extend([
        m.Metric(name="process.memory.usage", unit="By", gauge=m.Gauge(data_points=[
            m.NumberDataPoint(start_time_unix_nano=start, time_unix_nano=now, as_int=52_428_800,
                              attributes=kvs({"process.pid": 4242}))])),
        m.Metric(name="liveobs.events", description="live events handled", unit="{event}", sum=m.Sum(
            aggregation_temporality=m.AGGREGATION_TEMPORALITY_CUMULATIVE, is_monotonic=True,
            data_points=[m.NumberDataPoint(start_time_unix_nano=start, time_unix_nano=now, as_double=14.0,
                                           attributes=kvs({keys.ROUTE_ID: "cart.show"}), exemplars=[exemplar])])),
        m.Metric(name="liveobs.event.duration", unit="ms", histogram=m.Histogram(
            aggregation_temporality=m.AGGREGATION_TEMPORALITY_DELTA,
            data_points=[m.HistogramDataPoint(
                start_time_unix_nano=start, time_unix_nano=now, count=4, sum=61.5, min=2.0, max=31.0,
                bucket_counts=[1, 2, 1, 0], explicit_bounds=[5.0, 10.0, 50.0],
                attributes=kvs({keys.ROUTE_ID: "cart.show", keys.EVENT_NAME: "add_to_cart"}), exemplars=[exemplar])])),
        m.Metric(name="liveobs.patch.size", unit="By", exponential_histogram=m.ExponentialHistogram(
            aggregation_temporality=m.AGGREGATION_TEMPORALITY_DELTA,
            data_points=[m.ExponentialHistogramDataPoint(
                start_time_unix_nano=start, time_unix_nano=now, count=3, sum=3000.0, scale=2, zero_count=0,
                min=500.0, max=1500.0,
                positive=m.ExponentialHistogramDataPoint.Buckets(offset=35, bucket_counts=[1, 1, 1]))])),
        m.Metric(name="http.server.duration.summary", unit="ms", summary=m.Summary(data_points=[
            m.SummaryDataPoint(start_time_unix_nano=start, time_unix_nano=now, count=10, sum=120.0,
                               quantile_values=[m.SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=11.0),
                                                m.SummaryDataPoint.ValueAtQuantile(quantile=0.99, value=40.0)])])),
    ])
    return OtlpInput(traces=traces, logs=logs, metrics=metrics)


class _Ids:
    """Distinct, valid ids drawn from a seed: the same seed gives the same ids (never all zero)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.count = 0
        self.random = random.Random(seed)

    def _next(self, size: int) -> bytes:
        self.count += 1
        raw = self.random.randbytes(size - 4)
        return self.seed.to_bytes(2, "big") + self.count.to_bytes(2, "big") + raw

    def trace(self) -> bytes:
        return self._next(16)

    def span(self) -> bytes:
        return self._next(8)
