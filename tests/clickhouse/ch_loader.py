"""One OTLP input, loaded two ways: into ClickHouse as the Collector's exporter writes it, and into
DuckDB through a real ``liveobs collect``.

:func:`load_clickhouse` maps OTLP requests to the exporter's columns on its own terms (written
from the exporter's behaviour, not from liveobs's converters): attribute values through the
collector's ``AsString`` (ES6 numbers, JSON arrays and maps with sorted keys, base64 bytes),
hex ids (empty when invalid), ``SpanKind``/``StatusCode`` names, ``Events.*``/``Links.*`` and
``Exemplars.*`` nested columns, the resource's ``service.name``, scope name, version and
attributes, a log's observed time when it has no time, and the trace-id bounds by the
exporter's materialized view. :func:`load_duckdb` posts the same requests to ``liveobs collect``.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import math
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from liveobs.correlator.stores import Store

SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class OtlpInput:
    """One batch of each signal, as a Collector's OTLP receiver would get it."""

    traces: ExportTraceServiceRequest
    logs: ExportLogsServiceRequest
    metrics: ExportMetricsServiceRequest


# --- the exporter's value mapping -------------------------------------------------------------


def go_float(value: float) -> str:
    """A double as the collector writes it: ES6 number text (``1``, ``0.25``, ``1e-7``, ``1e+21``)."""
    if math.isinf(value) or math.isnan(value):
        return "json: unsupported value: " + ("NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf"))
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    shortest = Decimal(repr(value))
    if 1e-6 <= abs(value) < 1e21:
        text = format(shortest, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    sign, digits, exponent = shortest.normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    power = exponent + len(mantissa) - 1
    head = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    return f"{'-' if sign else ''}{head}e{'-' if power < 0 else '+'}{abs(power):02d}".replace("e-0", "e-")


def _raw(value: Any) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_raw(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _raw(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, which)


def _json(raw: Any) -> str:
    if isinstance(raw, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_json(raw[k])}" for k in sorted(raw)) + "}"
    if isinstance(raw, list):
        return "[" + ",".join(_json(v) for v in raw) + "]"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float):
        return go_float(raw)
    return json.dumps(raw, ensure_ascii=False)


def as_string(value: Any) -> str:
    """``pcommon.Value.AsString()``: what the exporter puts in a string column or map value."""
    which = value.WhichOneof("value")
    if which is None:
        return ""
    if which == "string_value":
        return str(value.string_value)
    if which == "bool_value":
        return "true" if value.bool_value else "false"
    if which == "int_value":
        return str(value.int_value)
    if which == "double_value":
        return go_float(value.double_value)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return _json(_raw(value))


def attributes(kvs: Any) -> dict[str, str]:
    return {kv.key: as_string(kv.value) for kv in kvs}


def hex_id(raw: bytes) -> str:
    return raw.hex() if raw and any(raw) else ""


# --- into ClickHouse, the exporter's way ---------------------------------------------------------

_SPAN_COLUMNS = [
    "Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "SpanName", "SpanKind", "ServiceName",
    "ResourceAttributes", "ScopeName", "ScopeVersion", "SpanAttributes", "Duration", "StatusCode", "StatusMessage",
    "Events.Timestamp", "Events.Name", "Events.Attributes",
    "Links.TraceId", "Links.SpanId", "Links.TraceState", "Links.Attributes",
]
_LOG_COLUMNS = [
    "Timestamp", "TraceId", "SpanId", "TraceFlags", "SeverityText", "SeverityNumber", "ServiceName", "Body",
    "ResourceSchemaUrl", "ResourceAttributes", "ScopeSchemaUrl", "ScopeName", "ScopeVersion", "ScopeAttributes",
    "LogAttributes",
]
_METRIC_COMMON = [
    "ResourceAttributes", "ResourceSchemaUrl", "ScopeName", "ScopeVersion", "ScopeAttributes",
    "ScopeDroppedAttrCount", "ScopeSchemaUrl", "ServiceName", "MetricName", "MetricDescription", "MetricUnit",
    "Attributes", "StartTimeUnix", "TimeUnix", "Flags",
]
_EXEMPLARS = ["Exemplars.FilteredAttributes", "Exemplars.TimeUnix", "Exemplars.Value", "Exemplars.SpanId",
              "Exemplars.TraceId"]
_METRIC_OWN = {
    "gauge": ("otel_metrics_gauge", ["Value", *_EXEMPLARS]),
    "sum": ("otel_metrics_sum", ["Value", *_EXEMPLARS, "AggregationTemporality", "IsMonotonic"]),
    "histogram": ("otel_metrics_histogram", ["Count", "Sum", "BucketCounts", "ExplicitBounds", *_EXEMPLARS,
                                             "Min", "Max", "AggregationTemporality"]),
    "exponential_histogram": ("otel_metrics_exp_histogram", [
        "Count", "Sum", "Scale", "ZeroCount", "PositiveOffset", "PositiveBucketCounts", "NegativeOffset",
        "NegativeBucketCounts", *_EXEMPLARS, "Min", "Max", "AggregationTemporality"]),
    "summary": ("otel_metrics_summary", ["Count", "Sum", "ValueAtQuantiles.Quantile", "ValueAtQuantiles.Value"]),
}


def _service(resource: Any) -> str:
    for kv in resource.attributes:
        if kv.key == "service.name":
            return str(kv.value.string_value)
    return ""


def span_rows(request: ExportTraceServiceRequest) -> list[list[Any]]:
    rows = []
    for rs in request.resource_spans:
        resource, service = attributes(rs.resource.attributes), _service(rs.resource)
        for ss in rs.scope_spans:
            for span in ss.spans:
                rows.append([
                    span.start_time_unix_nano, hex_id(span.trace_id), hex_id(span.span_id),
                    hex_id(span.parent_span_id), span.trace_state, span.name, SPAN_KINDS[span.kind], service,
                    resource, ss.scope.name, ss.scope.version, attributes(span.attributes),
                    max(span.end_time_unix_nano - span.start_time_unix_nano, 0), STATUS_CODES[span.status.code],
                    span.status.message,
                    [e.time_unix_nano for e in span.events], [e.name for e in span.events],
                    [attributes(e.attributes) for e in span.events],
                    [hex_id(link.trace_id) for link in span.links], [hex_id(link.span_id) for link in span.links],
                    [link.trace_state for link in span.links], [attributes(link.attributes) for link in span.links],
                ])
    return rows


def log_rows(request: ExportLogsServiceRequest, *, event_name: bool) -> list[list[Any]]:
    rows = []
    for rl in request.resource_logs:
        resource, service = attributes(rl.resource.attributes), _service(rl.resource)
        for sl in rl.scope_logs:
            scope = attributes(sl.scope.attributes)
            for record in sl.log_records:
                row = [
                    record.time_unix_nano or record.observed_time_unix_nano, hex_id(record.trace_id),
                    hex_id(record.span_id), record.flags & 0xFF, record.severity_text, record.severity_number,
                    service, as_string(record.body), rl.schema_url, resource, sl.schema_url, sl.scope.name,
                    sl.scope.version, scope, attributes(record.attributes),
                ]
                if event_name:
                    row.append(record.event_name)
                rows.append(row)
    return rows


def _exemplars(points_exemplars: Any) -> list[Any]:
    exemplars = list(points_exemplars)
    return [
        [attributes(x.filtered_attributes) for x in exemplars], [x.time_unix_nano for x in exemplars],
        [x.as_double if x.WhichOneof("value") == "as_double" else float(x.as_int) for x in exemplars],
        [hex_id(x.span_id) for x in exemplars], [hex_id(x.trace_id) for x in exemplars],
    ]


def metric_rows(request: ExportMetricsServiceRequest) -> dict[str, list[list[Any]]]:
    out: dict[str, list[list[Any]]] = {}
    for rm in request.resource_metrics:
        resource, service = attributes(rm.resource.attributes), _service(rm.resource)
        for sm in rm.scope_metrics:
            scope = [resource, rm.schema_url, sm.scope.name, sm.scope.version, attributes(sm.scope.attributes),
                     sm.scope.dropped_attributes_count, sm.schema_url, service]
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                table, _ = _METRIC_OWN[kind]
                data = getattr(metric, kind)
                for point in data.data_points:
                    common = [*scope, metric.name, metric.description, metric.unit, attributes(point.attributes),
                              point.start_time_unix_nano, point.time_unix_nano, point.flags]
                    if kind in ("gauge", "sum"):
                        value = point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)
                        own = [value, *_exemplars(point.exemplars)]
                        if kind == "sum":
                            own += [data.aggregation_temporality, data.is_monotonic]
                    elif kind == "histogram":
                        own = [point.count, point.sum, list(point.bucket_counts), list(point.explicit_bounds),
                               *_exemplars(point.exemplars), point.min, point.max, data.aggregation_temporality]
                    elif kind == "exponential_histogram":
                        own = [point.count, point.sum, point.scale, point.zero_count, point.positive.offset,
                               list(point.positive.bucket_counts), point.negative.offset,
                               list(point.negative.bucket_counts), *_exemplars(point.exemplars), point.min,
                               point.max, data.aggregation_temporality]
                    else:
                        own = [point.count, point.sum, [q.quantile for q in point.quantile_values],
                               [q.value for q in point.quantile_values]]
                    out.setdefault(table, []).append(common + own)
    return out


def load_clickhouse(store: Store, otlp: OtlpInput) -> dict[str, int]:
    """Insert ``otlp`` into the store's exporter tables as the Collector's exporter does; rows per table."""
    insert = store.insert  # type: ignore[attr-defined]
    layout = store.layout
    counts: dict[str, int] = {}
    spans = span_rows(otlp.traces)
    insert("otel_traces", _exact(store, "otel_traces", spans, _SPAN_COLUMNS), _SPAN_COLUMNS)
    counts["otel_traces"] = len(spans)
    event_name = layout.logs_event_name
    log_columns = [*_LOG_COLUMNS, "EventName"] if event_name else _LOG_COLUMNS
    logs = log_rows(otlp.logs, event_name=event_name)
    insert("otel_logs", _exact(store, "otel_logs", logs, log_columns), log_columns)
    counts["otel_logs"] = len(logs)
    for table, rows in metric_rows(otlp.metrics).items():
        kind = next(k for k, (t, _) in _METRIC_OWN.items() if t == table)
        columns = [*_METRIC_COMMON, *_METRIC_OWN[kind][1]]
        insert(table, _exact(store, table, rows, columns), columns)
        counts[table] = len(rows)
    return counts


def _exact(store: Store, table: str, rows: list[list[Any]], columns: list[str]) -> list[list[Any]]:
    """Times as the column's type takes them: nanosecond ticks for ``DateTime64(9)``, seconds for ``DateTime``."""
    types = store.layout.columns(table)
    for position, column in enumerate(columns):
        kind = types[column]
        if "DateTime64(9" in kind:
            def convert(ns: int) -> int:
                return ns  # ticks of the column's precision
        elif "DateTime" in kind and "DateTime64" not in kind:
            def convert(ns: int) -> int:
                return ns // 1_000_000_000
        else:
            continue
        nested = kind.startswith("Array(")
        for row in rows:
            row[position] = [convert(v) for v in row[position]] if nested else convert(row[position])
    return rows


# --- into DuckDB, through liveobs collect --------------------------------------------------------


def _collector_fixtures() -> Any:
    name = "liveobs_tests_collector_conftest"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "correlator" / "conftest.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_duckdb(db: Path, otlp: OtlpInput) -> None:
    """Post ``otlp`` to a real ``liveobs collect`` over ``db`` and stop it cleanly (its data committed)."""
    running = _collector_fixtures().start_collector(db)
    try:
        with httpx.Client(timeout=30) as client:
            for path, message in (("/v1/traces", otlp.traces), ("/v1/logs", otlp.logs),
                                  ("/v1/metrics", otlp.metrics)):
                answer = client.post(running.url + path, content=message.SerializeToString(),
                                     headers={"Content-Type": "application/x-protobuf"})
                assert answer.status_code == 200, (path, answer.status_code, answer.text)
    finally:
        status = running.stop(timeout=60)
    assert status == 0, running.output
