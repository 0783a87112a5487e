"""Realistic OTLP requests for benchmarks, demos and tests of the ingest path.

Spans look like what ``liveobs.sdk`` sends for a live event: a server span and
its children, about ten attributes each including every liveobs id.
"""

from __future__ import annotations

import os
import time
from typing import Final

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from liveobs.conventions import keys

SERVICE: Final = "shop"
RELEASE: Final = "1.4.2"


def sample_spans_request(
    count: int,
    *,
    service: str = SERVICE,
    release: str = RELEASE,
    start_ns: int | None = None,
    spans_per_trace: int = 4,
) -> ExportTraceServiceRequest:
    """``count`` spans with unique span ids, in traces of ``spans_per_trace`` (a live
    event's server span and its children), each with the liveobs ids as attributes."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    for key, value in (
        (keys.SERVICE_NAME, service),
        (keys.SERVICE_VERSION, release),
        (keys.DEPLOYMENT_ENVIRONMENT, "production"),
    ):
        attr = rs.resource.attributes.add()
        attr.key = key
        attr.value.string_value = value
    ss = rs.scope_spans.add()
    ss.scope.name = "liveobs.sdk"
    ss.scope.version = "0.1.0"
    t0 = start_ns if start_ns is not None else time.time_ns()
    session = os.urandom(8).hex()
    connection = os.urandom(6).hex()
    trace_id = span_id = event_id = request_id = b""
    for i in range(count):
        span = ss.spans.add()
        if i % spans_per_trace == 0:
            trace_id = os.urandom(16)
            span_id = os.urandom(8)
            event_id = os.urandom(8)
            request_id = os.urandom(8)
            span.span_id = span_id
            span.name = "live.event add_to_cart"  # as liveobs.sdk names a live event's span
            span.kind = 2
        else:
            span.span_id = os.urandom(8)
            span.parent_span_id = span_id
            span.name = "SELECT cart_items"
            span.kind = 3
        span.trace_id = trace_id
        span.start_time_unix_nano = t0 + i * 1_000
        span.end_time_unix_nano = t0 + i * 1_000 + 850_000
        for key, value in (
            (keys.SESSION_ID, session),
            (keys.CONNECTION_ID, connection),
            (keys.EVENT_ID, event_id.hex()),
            (keys.REQUEST_ID, request_id.hex()),
            (keys.ROUTE_ID, "cart.show"),
            (keys.HTTP_ROUTE, "/cart/{cart_id}"),
            (keys.EVENT_NAME, "add_to_cart"),
            (keys.HTTP_REQUEST_METHOD, "POST"),
            (keys.URL_PATH, f"/cart/{i % 500}"),
        ):
            attr = span.attributes.add()
            attr.key = key
            attr.value.string_value = value
        attr = span.attributes.add()
        attr.key = keys.PATCH_BYTES
        attr.value.int_value = 200 + i % 300
    return request
