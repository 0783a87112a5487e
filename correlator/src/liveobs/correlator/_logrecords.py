"""OTLP log records → one Arrow batch in the shape of ``otel_logs``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from liveobs.correlator._columns import TS_TYPE, any_text, clamp_ns, repeat
from liveobs.correlator._correlation import Converted, correlation_rows, log_error_mask, per_request
from liveobs.correlator._maps import MapColumn, Resources
from liveobs.correlator._scrub import IngestScrubber


def logs_table(request: Any, scrubber: IngestScrubber) -> Converted:
    """The records of an ``ExportLogsServiceRequest`` as rows, and how many were rejected.

    A record with a trace or span id of the wrong length is rejected; ids are
    optional on logs, so absent ones are stored empty. The time is the event time,
    else the observed time (the OTLP rule for records without one).
    """
    return logs_tables([request], scrubber)[0]


def logs_tables(requests: Sequence[Any], scrubber: IngestScrubber) -> list[Converted]:
    """Several ``ExportLogsServiceRequest``s converted together, then split back into one :class:`Converted` each.

    A pass costs about the same for one record as for a few thousand (the Arrow
    calls), so requests of a few records each, as a simple log processor sends
    them, are converted many at a time. Each request's rows are zero-copy slices.
    """
    ts: list[int] = []
    trace_ids: list[str] = []
    span_ids: list[str] = []
    flags: list[int] = []
    sev_text: list[str] = []
    sev_num: list[int] = []
    bodies: list[str] = []
    event_names: list[str] = []
    resource_index: list[int] = []
    scope_index: list[int] = []
    resources = Resources(scrubber)
    resource_urls: list[str] = []
    scope_urls: list[str] = []
    scope_names: list[str] = []
    scope_versions: list[str] = []
    scope_maps = MapColumn(scrubber)
    attrs = MapColumn(scrubber, capture=True)
    rejected = 0
    text = scrubber.text
    request_ends: list[int] = []  # per request: the rows before its end, and the records rejected so far
    request_rejected: list[int] = []
    for request in requests:
        for rl in request.resource_logs:
            r_no = resources.add(rl.resource.attributes)
            resource_urls.append(rl.schema_url)
            for sl in rl.scope_logs:
                s_no = len(scope_names)
                scope_names.append(sl.scope.name)
                scope_versions.append(sl.scope.version)
                scope_urls.append(sl.schema_url)
                scope_maps.add(sl.scope.attributes)
                for record in sl.log_records:
                    tid = record.trace_id
                    sid = record.span_id
                    if (tid and len(tid) != 16) or (sid and len(sid) != 8):
                        rejected += 1
                        continue
                    trace_ids.append(tid.hex() if tid.count(0) != 16 else "")
                    span_ids.append(sid.hex() if sid.count(0) != 8 else "")
                    ts.append(clamp_ns(record.time_unix_nano or record.observed_time_unix_nano))
                    flags.append(record.flags & 0xFF)
                    sev_text.append(record.severity_text)
                    sev_num.append(record.severity_number if 0 <= record.severity_number <= 255 else 0)
                    body = record.body
                    bodies.append(text(body.string_value if body.WhichOneof("value") == "string_value" else any_text(body)))
                    event_names.append(record.event_name)
                    attrs.add(record.attributes)
                    resource_index.append(r_no)
                    scope_index.append(s_no)
        request_ends.append(len(ts))
        request_rejected.append(rejected)

    table = pa.table(
        {
            "Timestamp": pa.array(ts, TS_TYPE),
            "TraceId": pa.array(trace_ids, pa.string()),
            "SpanId": pa.array(span_ids, pa.string()),
            "TraceFlags": pa.array(flags, pa.uint8()),
            "SeverityText": pa.array(sev_text, pa.string()),
            "SeverityNumber": pa.array(sev_num, pa.uint8()),
            "ServiceName": repeat(pa.array(resources.services, pa.string()), resource_index),
            "Body": pa.array(bodies, pa.string()),
            "ResourceSchemaUrl": repeat(pa.array(resource_urls, pa.string()), resource_index),
            "ResourceAttributes": repeat(resources.maps.array(), resource_index),
            "ScopeSchemaUrl": repeat(pa.array(scope_urls, pa.string()), scope_index),
            "ScopeName": repeat(pa.array(scope_names, pa.string()), scope_index),
            "ScopeVersion": repeat(pa.array(scope_versions, pa.string()), scope_index),
            "ScopeAttributes": repeat(scope_maps.array(), scope_index),
            "LogAttributes": attrs.array(),
            "EventName": pa.array(event_names, pa.string()),
        }
    )
    captured = attrs.captured()
    names = table.column("EventName").combine_chunks()
    versions = repeat(pa.array(resources.versions, pa.string()), resource_index)
    correlation = correlation_rows("log", table, versions, captured, names)
    errors = None
    if table.num_rows:
        failed = log_error_mask(captured, names)
        if pc.any(failed).as_py():
            errors = (table.filter(failed), failed)
    outs = []
    for out, candidates in per_request("otel_logs", table, request_ends, request_rejected, correlation, errors):
        out.log_error_candidates = candidates
        outs.append(out)
    return outs
