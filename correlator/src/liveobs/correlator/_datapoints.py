"""OTLP metrics → Arrow batches in the shape of the ``otel_metrics_*`` tables."""

from __future__ import annotations

from typing import Any, Final

import pyarrow as pa

from liveobs.conventions import keys
from liveobs.correlator._columns import TS_TYPE, attributes_dict, clamp_ns, list_of
from liveobs.correlator._correlation import Converted
from liveobs.correlator._maps import MapColumn
from liveobs.correlator._scrub import IngestScrubber

_U64: Final = pa.uint64()
_F64: Final = pa.float64()
_I32: Final = pa.int32()

# Extra columns per metric table, in the order of the schema.
EXTRA_COLUMNS: Final[dict[str, dict[str, pa.DataType]]] = {
    "otel_metrics_gauge": {"Value": _F64},
    "otel_metrics_sum": {"Value": _F64, "AggregationTemporality": _I32, "IsMonotonic": pa.bool_()},
    "otel_metrics_histogram": {
        "Count": _U64, "Sum": _F64, "BucketCounts": pa.list_(_U64), "ExplicitBounds": pa.list_(_F64),
        "Min": _F64, "Max": _F64, "AggregationTemporality": _I32,
    },
    "otel_metrics_exp_histogram": {
        "Count": _U64, "Sum": _F64, "Scale": _I32, "ZeroCount": _U64,
        "PositiveOffset": _I32, "PositiveBucketCounts": pa.list_(_U64),
        "NegativeOffset": _I32, "NegativeBucketCounts": pa.list_(_U64),
        "Min": _F64, "Max": _F64, "AggregationTemporality": _I32,
    },
    "otel_metrics_summary": {
        "Count": _U64, "Sum": _F64,
        "ValueAtQuantiles": pa.struct([("Quantile", pa.list_(_F64)), ("Value", pa.list_(_F64))]),
    },
}
_TABLE_OF: Final = {
    "gauge": "otel_metrics_gauge",
    "sum": "otel_metrics_sum",
    "histogram": "otel_metrics_histogram",
    "exponential_histogram": "otel_metrics_exp_histogram",
    "summary": "otel_metrics_summary",
}


class _Rows:
    """The rows of one metric table while a request is walked."""

    def __init__(self, table: str, scrubber: IngestScrubber) -> None:
        self.table = table
        self.common: dict[str, list[Any]] = {
            name: [] for name in (
                "ResourceSchemaUrl", "ScopeName", "ScopeVersion", "ScopeDroppedAttrCount", "ScopeSchemaUrl",
                "ServiceName", "MetricName", "MetricDescription", "MetricUnit", "StartTimeUnix", "TimeUnix", "Flags",
            )
        }
        self.resource = MapColumn(scrubber)
        self.scope = MapColumn(scrubber)
        self.attributes = MapColumn(scrubber)
        self.extra: dict[str, list[Any]] = {name: [] for name in EXTRA_COLUMNS[table]}
        self.ex_offsets = [0]
        self.ex_attrs = MapColumn(scrubber)
        self.ex_time: list[int] = []
        self.ex_value: list[float] = []
        self.ex_span: list[str] = []
        self.ex_trace: list[str] = []

    def add(self, context: dict[str, Any], resource: dict[str, str], scope: Any, point: Any) -> None:
        for name, value in context.items():
            self.common[name].append(value)
        self.common["StartTimeUnix"].append(clamp_ns(point.start_time_unix_nano))
        self.common["TimeUnix"].append(clamp_ns(point.time_unix_nano))
        self.common["Flags"].append(point.flags)
        self.resource.add_dict(resource)
        self.scope.add(scope.attributes)
        self.attributes.add(point.attributes)
        for ex in getattr(point, "exemplars", ()):  # summaries have none
            self.ex_attrs.add(ex.filtered_attributes)
            self.ex_time.append(clamp_ns(ex.time_unix_nano))
            self.ex_value.append(float(ex.as_double if ex.WhichOneof("value") == "as_double" else ex.as_int))
            self.ex_span.append(ex.span_id.hex())
            self.ex_trace.append(ex.trace_id.hex())
        self.ex_offsets.append(len(self.ex_time))

    def arrow(self) -> pa.Table:
        c = self.common
        columns: dict[str, pa.Array] = {
            "ResourceAttributes": self.resource.array(),
            "ResourceSchemaUrl": pa.array(c["ResourceSchemaUrl"], pa.string()),
            "ScopeName": pa.array(c["ScopeName"], pa.string()),
            "ScopeVersion": pa.array(c["ScopeVersion"], pa.string()),
            "ScopeAttributes": self.scope.array(),
            "ScopeDroppedAttrCount": pa.array(c["ScopeDroppedAttrCount"], pa.uint32()),
            "ScopeSchemaUrl": pa.array(c["ScopeSchemaUrl"], pa.string()),
            "ServiceName": pa.array(c["ServiceName"], pa.string()),
            "MetricName": pa.array(c["MetricName"], pa.string()),
            "MetricDescription": pa.array(c["MetricDescription"], pa.string()),
            "MetricUnit": pa.array(c["MetricUnit"], pa.string()),
            "Attributes": self.attributes.array(),
            "StartTimeUnix": pa.array(c["StartTimeUnix"], TS_TYPE),
            "TimeUnix": pa.array(c["TimeUnix"], TS_TYPE),
            "Flags": pa.array(c["Flags"], pa.uint32()),
            "Exemplars": pa.StructArray.from_arrays(
                [
                    list_of(self.ex_attrs.array(), self.ex_offsets),
                    list_of(pa.array(self.ex_time, TS_TYPE), self.ex_offsets),
                    list_of(pa.array(self.ex_value, _F64), self.ex_offsets),
                    list_of(pa.array(self.ex_span, pa.string()), self.ex_offsets),
                    list_of(pa.array(self.ex_trace, pa.string()), self.ex_offsets),
                ],
                names=["FilteredAttributes", "TimeUnix", "Value", "SpanId", "TraceId"],
            ),
        }
        for name, kind in EXTRA_COLUMNS[self.table].items():
            columns[name] = pa.array(self.extra[name], kind)
        return pa.table(columns)


def _optional(point: Any, field: str) -> float | None:
    return float(getattr(point, field)) if point.HasField(field) else None


def _extra(kind: str, data: Any, point: Any) -> dict[str, Any]:
    if kind == "gauge" or kind == "sum":
        number = float(point.as_double if point.WhichOneof("value") == "as_double" else point.as_int)
        if kind == "gauge":
            return {"Value": number}
        return {"Value": number, "AggregationTemporality": data.aggregation_temporality, "IsMonotonic": data.is_monotonic}
    if kind == "histogram":
        return {
            "Count": point.count, "Sum": _optional(point, "sum"), "BucketCounts": list(point.bucket_counts),
            "ExplicitBounds": list(point.explicit_bounds), "Min": _optional(point, "min"),
            "Max": _optional(point, "max"), "AggregationTemporality": data.aggregation_temporality,
        }
    if kind == "exponential_histogram":
        return {
            "Count": point.count, "Sum": _optional(point, "sum"), "Scale": point.scale, "ZeroCount": point.zero_count,
            "PositiveOffset": point.positive.offset, "PositiveBucketCounts": list(point.positive.bucket_counts),
            "NegativeOffset": point.negative.offset, "NegativeBucketCounts": list(point.negative.bucket_counts),
            "Min": _optional(point, "min"), "Max": _optional(point, "max"),
            "AggregationTemporality": data.aggregation_temporality,
        }
    return {
        "Count": point.count, "Sum": point.sum,
        "ValueAtQuantiles": {
            "Quantile": [q.quantile for q in point.quantile_values],
            "Value": [q.value for q in point.quantile_values],
        },
    }


def metrics_tables(request: Any, scrubber: IngestScrubber) -> Converted:
    """The data points of an ``ExportMetricsServiceRequest`` by table, and how many were rejected.

    A metric without a known data kind is rejected, one per metric.
    """
    rows: dict[str, _Rows] = {}
    rejected = 0
    text = scrubber.text
    for rm in request.resource_metrics:
        resource = attributes_dict(rm.resource.attributes)
        service = resource.get(keys.SERVICE_NAME, "")
        for sm in rm.scope_metrics:
            scope = sm.scope
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is None:
                    rejected += 1
                    continue
                table = _TABLE_OF[kind]
                target = rows.get(table)
                if target is None:
                    target = rows[table] = _Rows(table, scrubber)
                data = getattr(metric, kind)
                context = {
                    "ResourceSchemaUrl": rm.schema_url, "ScopeName": scope.name, "ScopeVersion": scope.version,
                    "ScopeDroppedAttrCount": scope.dropped_attributes_count, "ScopeSchemaUrl": sm.schema_url,
                    "ServiceName": service, "MetricName": metric.name, "MetricDescription": text(metric.description),
                    "MetricUnit": metric.unit,
                }
                for point in data.data_points:
                    target.add(context, resource, scope, point)
                    for name, value in _extra(kind, data, point).items():
                        target.extra[name].append(value)
    return Converted({name: r.arrow() for name, r in rows.items()}, rejected)
