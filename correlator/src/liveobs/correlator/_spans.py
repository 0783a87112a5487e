"""OTLP spans → one Arrow batch in the shape of ``otel_traces``."""

from __future__ import annotations

from typing import Any, Final

import pyarrow as pa

from liveobs.conventions import keys
from liveobs.correlator._columns import (
    MAX_NS,
    TS_TYPE,
    attributes_dict,
    clamp_ns,
    list_of,
    repeat,
)
from liveobs.correlator._correlation import Converted, correlation_table
from liveobs.correlator._maps import MapColumn, enum_names, scrubbed_texts
from liveobs.correlator._scrub import IngestScrubber

SPAN_KINDS: Final = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES: Final = ("Unset", "Ok", "Error")
_ZERO_TRACE: Final = "0" * 32
_ZERO_SPAN: Final = "0" * 16


def spans_table(request: Any, scrubber: IngestScrubber) -> Converted:
    """The spans of an ``ExportTraceServiceRequest`` as rows, their correlation rows and error candidates.

    A span whose trace or span id does not have the OTLP length is rejected (it
    could never be found again); all-zero ids are stored empty, as the exporter does.
    """
    ts: list[int] = []
    trace_ids: list[str] = []
    span_ids: list[str] = []
    parent_ids: list[str] = []
    trace_states: list[str] = []
    names: list[str] = []
    kinds: list[int] = []
    durations: list[int] = []
    status_codes: list[int] = []
    status_messages: list[str] = []
    resource_index: list[int] = []
    scope_index: list[int] = []
    services: list[str] = []
    versions: list[str | None] = []
    error_rows: list[int] = []
    resource_maps = MapColumn(scrubber)
    scope_names: list[str] = []
    scope_versions: list[str] = []
    attrs = MapColumn(scrubber, capture=True)
    ev_offsets = [0]
    ev_ts: list[int] = []
    ev_names: list[str] = []
    ev_attrs = MapColumn(scrubber)
    ln_offsets = [0]
    ln_trace: list[str] = []
    ln_span: list[str] = []
    ln_state: list[str] = []
    ln_attrs = MapColumn(scrubber)
    rejected = 0
    for r_no, rs in enumerate(request.resource_spans):
        resource = attributes_dict(rs.resource.attributes)
        services.append(resource.get(keys.SERVICE_NAME, ""))
        versions.append(resource.get(keys.SERVICE_VERSION))
        resource_maps.add_dict(resource)
        for ss in rs.scope_spans:
            s_no = len(scope_names)
            scope_names.append(ss.scope.name)
            scope_versions.append(ss.scope.version)
            first = len(ts)
            for span in ss.spans:
                tid = span.trace_id
                sid = span.span_id
                pid = span.parent_span_id
                if len(tid) != 16 or len(sid) != 8 or (pid and len(pid) != 8):
                    rejected += 1
                    continue
                tid_hex = tid.hex()
                sid_hex = sid.hex()
                pid_hex = pid.hex()
                trace_ids.append("" if tid_hex == _ZERO_TRACE else tid_hex)
                span_ids.append("" if sid_hex == _ZERO_SPAN else sid_hex)
                parent_ids.append("" if pid_hex == _ZERO_SPAN else pid_hex)
                start = span.start_time_unix_nano
                end = span.end_time_unix_nano
                start = start if start <= MAX_NS else MAX_NS
                ts.append(start)
                # Start + Duration must stay a valid timestamp (the trace bounds add them).
                durations.append(min(end - start, MAX_NS - start) if end > start else 0)
                trace_states.append(span.trace_state)
                names.append(span.name)
                kinds.append(span.kind)
                status = span.status
                code = status.code
                failed = code == 2
                status_codes.append(code)
                status_messages.append(status.message)
                attrs.add(span.attributes)
                for event in span.events:
                    ev_ts.append(clamp_ns(event.time_unix_nano))
                    ev_names.append(event.name)
                    ev_attrs.add(event.attributes)
                    failed = failed or event.name == keys.EXCEPTION_EVENT
                if failed:
                    error_rows.append(len(ev_offsets) - 1)
                ev_offsets.append(len(ev_names))
                for link in span.links:
                    ln_trace.append(link.trace_id.hex())
                    ln_span.append(link.span_id.hex())
                    ln_state.append(link.trace_state)
                    ln_attrs.add(link.attributes)
                ln_offsets.append(len(ln_trace))
            resource_index.extend([r_no] * (len(ts) - first))
            scope_index.extend([s_no] * (len(ts) - first))

    events = pa.StructArray.from_arrays(
        [
            list_of(pa.array(ev_ts, TS_TYPE), ev_offsets),
            list_of(pa.array(ev_names, pa.string()), ev_offsets),
            list_of(ev_attrs.array(), ev_offsets),
        ],
        names=["Timestamp", "Name", "Attributes"],
    )
    links = pa.StructArray.from_arrays(
        [
            list_of(pa.array(ln_trace, pa.string()), ln_offsets),
            list_of(pa.array(ln_span, pa.string()), ln_offsets),
            list_of(pa.array(ln_state, pa.string()), ln_offsets),
            list_of(ln_attrs.array(), ln_offsets),
        ],
        names=["TraceId", "SpanId", "TraceState", "Attributes"],
    )
    table = pa.table(
        {
            "Timestamp": pa.array(ts, TS_TYPE),
            "TraceId": pa.array(trace_ids, pa.string()),
            "SpanId": pa.array(span_ids, pa.string()),
            "ParentSpanId": pa.array(parent_ids, pa.string()),
            "TraceState": pa.array(trace_states, pa.string()),
            "SpanName": scrubbed_texts(scrubber, names),
            "SpanKind": enum_names(kinds, SPAN_KINDS),
            "ServiceName": repeat(pa.array(services, pa.string()), resource_index),
            "ResourceAttributes": repeat(resource_maps.array(), resource_index),
            "ScopeName": repeat(pa.array(scope_names, pa.string()), scope_index),
            "ScopeVersion": repeat(pa.array(scope_versions, pa.string()), scope_index),
            "SpanAttributes": attrs.array(),
            "Duration": pa.array(durations, pa.uint64()),
            "StatusCode": enum_names(status_codes, STATUS_CODES),
            "StatusMessage": scrubbed_texts(scrubber, status_messages),
            "Events": events,
            "Links": links,
        }
    )
    out = Converted({"otel_traces": table}, rejected)
    correlation = correlation_table(
        "span", table, repeat(pa.array(versions, pa.string()), resource_index), attrs.captured()
    )
    if correlation is not None:
        out.tables["liveobs_correlation"] = correlation
    if error_rows:
        out.span_error_candidates = table.take(pa.array(error_rows, pa.int32()))
    return out
