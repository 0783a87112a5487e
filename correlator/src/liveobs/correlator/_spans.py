"""OTLP spans → one Arrow batch in the shape of ``otel_traces``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from liveobs.conventions import keys
from liveobs.correlator._columns import (
    MAX_NS,
    TS_TYPE,
    clamp_ns,
    hex_ids,
    list_of,
    repeat,
    sparse_offsets,
)
from liveobs.correlator._correlation import Converted, correlation_rows, per_request
from liveobs.correlator._maps import MapColumn, Resources, enum_names, scrubbed_texts, wire_map_array
from liveobs.correlator._rawspans import AttributeInterner, parse_part
from liveobs.correlator._scrub import IngestScrubber

SPAN_KINDS: Final = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES: Final = ("Unset", "Ok", "Error")
_ZERO_TRACE: Final = "0" * 32
_ZERO_SPAN: Final = "0" * 16


def spans_table(request: Any, scrubber: IngestScrubber, interner: AttributeInterner | None = None) -> Converted:
    """The spans of a ``RawTraceRequest`` (see ``_rawspans``) as rows, their correlation rows and error candidates."""
    return spans_tables([request], scrubber, interner)[0]


def spans_tables(
    requests: Sequence[Any], scrubber: IngestScrubber, interner: AttributeInterner | None = None
) -> list[Converted]:
    """Several ``RawTraceRequest``s converted together, then split back into one :class:`Converted` each.

    A span whose trace or span id does not have the OTLP length is rejected (it
    could never be found again); all-zero ids are stored empty, as the exporter does.

    This loop is the collector's hottest Python: it reads each protobuf field
    once and appends it to a plain list through bound ``append`` methods, and
    keeps each span's attributes as their raw bytes. After it, each attribute is
    one dict lookup in ``interner`` (which keeps its pairs across requests), and
    those it lacks are decoded together as columns (see ``_maps.wire_map_array``). Clamping, zero ids, enum names, durations and
    error rows are computed afterwards over whole columns with Arrow compute,
    once for all the requests: each compute call costs the same for 1,000 rows
    as for 8,000, and releases the GIL, which another thread may then hold. Each
    request's rows are zero-copy slices of the shared columns.
    """
    if interner is None:
        interner = AttributeInterner(scrubber)
    interner.start_request()
    starts: list[int] = []
    ends: list[int] = []
    trace_ids: list[bytes] = []
    span_ids: list[bytes] = []
    parent_ids: list[bytes] = []
    trace_states: list[str] = []
    names: list[str] = []
    kinds: list[int] = []
    status_codes: list[int] = []
    status_messages: list[str] = []
    resource_index: list[int] = []
    scope_index: list[int] = []
    resources = Resources(scrubber)
    scope_names: list[str] = []
    scope_versions: list[str] = []
    attr_raws: list[bytes] = []
    attr_offsets = [0]
    statuses: dict[bytes, tuple[int, str]] = {b"": (0, "")}
    ev_rows: list[int] = []
    ev_ts: list[int] = []
    ev_names: list[str] = []
    ev_attrs = MapColumn(scrubber)
    ln_rows: list[int] = []
    ln_trace: list[str] = []
    ln_span: list[str] = []
    ln_state: list[str] = []
    ln_attrs = MapColumn(scrubber)
    exception_rows: list[int] = []
    rejected = 0
    request_ends: list[int] = []
    request_rejected: list[int] = []
    exception_event = keys.EXCEPTION_EVENT
    # Bound methods, looked up once: each saves an attribute lookup per span or attribute.
    add_start, add_end = starts.append, ends.append
    add_trace, add_span, add_parent = trace_ids.append, span_ids.append, parent_ids.append
    add_state, add_name, add_kind = trace_states.append, names.append, kinds.append
    add_code, add_message = status_codes.append, status_messages.append
    add_raws, add_offset = attr_raws.extend, attr_offsets.append
    for request in requests:
        for rs in request.resource_spans:
            r_no = resources.add(rs.resource.attributes)
            for ss in rs.scope_spans:
                s_no = len(scope_names)
                scope_names.append(ss.scope.name)
                scope_versions.append(ss.scope.version)
                first = len(starts)
                for span in ss.spans:
                    tid = span.trace_id
                    sid = span.span_id
                    pid = span.parent_span_id
                    if len(tid) != 16 or len(sid) != 8 or (pid and len(pid) != 8):
                        rejected += 1
                        continue
                    add_trace(tid)
                    add_span(sid)
                    add_parent(pid)
                    add_start(span.start_time_unix_nano)
                    add_end(span.end_time_unix_nano)
                    add_state(span.trace_state)
                    add_name(span.name)
                    add_kind(span.kind)
                    raw_status = span.status
                    status = statuses.get(raw_status)
                    if status is None:
                        status = statuses[raw_status] = _status(raw_status)
                    add_code(status[0])
                    add_message(status[1])
                    add_raws(span.attributes[:])  # a slice is one list built in C: a fifth cheaper than iterating
                    add_offset(len(attr_raws))
                    events = span.events
                    if events:
                        row = len(starts) - 1
                        ev_rows.append(row)
                        for raw_event in events:
                            event = parse_part(Span.Event, raw_event, "event")
                            ev_ts.append(clamp_ns(event.time_unix_nano))
                            ev_names.append(event.name)
                            ev_attrs.add(event.attributes)
                            if event.name == exception_event:
                                exception_rows.append(row)
                        ev_rows.append(len(ev_names))
                    links = span.links
                    if links:
                        ln_rows.append(len(starts) - 1)
                        for raw_link in links:
                            link = parse_part(Span.Link, raw_link, "link")
                            ln_trace.append(link.trace_id.hex())
                            ln_span.append(link.span_id.hex())
                            ln_state.append(link.trace_state)
                            ln_attrs.add(link.attributes)
                        ln_rows.append(len(ln_trace))
                resource_index.extend([r_no] * (len(starts) - first))
                scope_index.extend([s_no] * (len(starts) - first))
        request_ends.append(len(starts))
        request_rejected.append(rejected)

    rows = len(starts)
    event_offsets = sparse_offsets(ev_rows, rows)
    events = pa.StructArray.from_arrays(
        [
            list_of(pa.array(ev_ts, TS_TYPE), event_offsets),
            list_of(pa.array(ev_names, pa.string()), event_offsets),
            list_of(ev_attrs.array(), event_offsets),
        ],
        names=["Timestamp", "Name", "Attributes"],
    )
    link_offsets = sparse_offsets(ln_rows, rows)
    links = pa.StructArray.from_arrays(
        [
            list_of(pa.array(ln_trace, pa.string()), link_offsets),
            list_of(pa.array(ln_span, pa.string()), link_offsets),
            list_of(pa.array(ln_state, pa.string()), link_offsets),
            list_of(ln_attrs.array(), link_offsets),
        ],
        names=["TraceId", "SpanId", "TraceState", "Attributes"],
    )
    timestamp, duration = _times(starts, ends)
    span_attributes, captured = wire_map_array(attr_raws, attr_offsets, interner)
    codes = pa.array(status_codes, pa.int32())
    table = pa.table(
        {
            "Timestamp": timestamp,
            "TraceId": _unless_zero(hex_ids(trace_ids, 16), _ZERO_TRACE),
            "SpanId": _unless_zero(hex_ids(span_ids, 8), _ZERO_SPAN),
            "ParentSpanId": _unless_zero(hex_ids(parent_ids), _ZERO_SPAN),
            "TraceState": pa.array(trace_states, pa.string()),
            "SpanName": scrubbed_texts(scrubber, names),
            "SpanKind": enum_names(kinds, SPAN_KINDS),
            "ServiceName": repeat(pa.array(resources.services, pa.string()), resource_index),
            # One map per resource, each row pointing at its own: DuckDB checks a map's keys as it reads
            # it from Arrow (about 1 µs per row for three keys), so here once per resource.
            "ResourceAttributes": pa.DictionaryArray.from_arrays(
                pa.array(resource_index, pa.int32()), resources.maps.array()
            ),
            "ScopeName": repeat(pa.array(scope_names, pa.string()), scope_index),
            "ScopeVersion": repeat(pa.array(scope_versions, pa.string()), scope_index),
            "SpanAttributes": span_attributes,
            "Duration": duration,
            "StatusCode": enum_names(codes, STATUS_CODES),
            "StatusMessage": scrubbed_texts(scrubber, status_messages),
            "Events": events,
            "Links": links,
        }
    )
    correlation = correlation_rows(
        "span", table, repeat(pa.array(resources.versions, pa.string()), resource_index), captured
    )
    failed = pc.equal(codes, 2)
    if exception_rows:
        failed = pc.or_(failed, pc.is_in(pa.array(range(rows), pa.int32()), pa.array(exception_rows, pa.int32())))
    errors = (table.filter(failed), failed) if pc.any(failed).as_py() else None
    outs = []
    for out, candidates in per_request("otel_traces", table, request_ends, request_rejected, correlation, errors):
        out.span_error_candidates = candidates
        outs.append(out)
    return outs


def _status(raw: bytes) -> tuple[int, str]:
    status = parse_part(Status, raw, "status")
    return status.code, status.message


def _times(starts: list[int], ends: list[int]) -> tuple[pa.Array, pa.Array]:
    """Start times clamped to :data:`MAX_NS`, and durations that keep Start + Duration valid."""
    start = pc.min_element_wise(pa.array(starts, pa.uint64()), pa.scalar(MAX_NS, pa.uint64()))
    end = pa.array(ends, pa.uint64())
    # The unchecked subtractions wrap where end <= start; those rows become 0.
    duration = pc.if_else(
        pc.greater(end, start),
        pc.min_element_wise(pc.subtract(end, start), pc.subtract(pa.scalar(MAX_NS, pa.uint64()), start)),
        pa.scalar(0, pa.uint64()),
    )
    return start.cast(pa.int64()).view(TS_TYPE), duration


def _unless_zero(values: pa.Array, zero: str) -> pa.Array:
    """Hex ids with the all-zero id stored empty."""
    is_zero = pc.equal(values, zero)
    return pc.if_else(is_zero, "", values) if pc.any(is_zero).as_py() else values
