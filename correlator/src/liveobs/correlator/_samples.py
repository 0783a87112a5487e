"""Realistic OTLP requests for benchmarks, demos and tests of the ingest path.

Spans look like what ``liveobs.sdk`` sends for a live event: a server span with
about ten attributes including every liveobs id, unique trace and span ids.
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
    count: int, *, service: str = SERVICE, release: str = RELEASE, start_ns: int | None = None
) -> ExportTraceServiceRequest:
    """``count`` spans with unique ids and the liveobs ids as attributes."""
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
    for i in range(count):
        span = ss.spans.add()
        span.trace_id = os.urandom(16)
        span.span_id = os.urandom(8)
        span.name = "live_event add_to_cart"
        span.kind = 2
        span.start_time_unix_nano = t0 + i * 1_000
        span.end_time_unix_nano = t0 + i * 1_000 + 850_000
        for key, value in (
            (keys.SESSION_ID, session),
            (keys.CONNECTION_ID, connection),
            (keys.EVENT_ID, os.urandom(8).hex()),
            (keys.REQUEST_ID, os.urandom(8).hex()),
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
