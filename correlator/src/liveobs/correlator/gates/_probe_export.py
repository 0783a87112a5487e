"""Probe evidence as OTLP: how ``liveobs probe`` records into a store a running collector owns.

While ``liveobs collect`` owns the store no other process may open it, so the probe
sends its steps to the collector the way any OpenTelemetry SDK would: one
``ExportTraceServiceRequest`` (protobuf) to ``<collector>/v1/traces`` with the
same bearer token as ingest. The spans carry what :func:`~._probe.record` writes
locally, so the gates read both alike.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Final

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from liveobs.conventions import evidence as ev
from liveobs.conventions import keys
from liveobs.correlator.gates._probe import ProbeReport

TRACES_PATH: Final = "/v1/traces"
_MAX_ERROR_TEXT: Final = 200


class ProbeExportError(Exception):
    """The collector did not accept the probe's spans."""


def _attributes(values: dict[str, str | None]) -> list[KeyValue]:
    return [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in values.items() if v]


def export_request(report: ProbeReport, now_ns: int | None = None) -> ExportTraceServiceRequest:
    """One span per probe step (kind client, scope ``liveobs.probe``) with the step's span events."""
    start = now_ns if now_ns is not None else time.time_ns()
    spans = []
    for step in report.steps:
        path = urllib.parse.urlsplit(step.url).path or "/"
        events = [
            Span.Event(time_unix_nano=start, name=name, attributes=_attributes(dict(attributes)))
            for name, attributes in step.events
        ]
        spans.append(Span(
            trace_id=os.urandom(16), span_id=os.urandom(8), name=f"probe {step.name}", kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=start, end_time_unix_nano=start + int(step.seconds * 1e9),
            attributes=_attributes({ev.PROBE_STEP: step.name, keys.URL_PATH: path}), events=events,
        ))
    resource = Resource(attributes=_attributes({
        keys.SERVICE_NAME: report.service, keys.SERVICE_VERSION: report.release,
        keys.DEPLOYMENT_ENVIRONMENT: report.environment,
    }))
    scope = ScopeSpans(scope=InstrumentationScope(name=ev.PROBE_SCOPE), spans=spans)
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=resource, scope_spans=[scope])])


def send(report: ProbeReport, collector_url: str, token: str | None, timeout: float = 10.0) -> int:
    """Send the probe's spans to a running collector; returns the number it accepted."""
    request = export_request(report)
    sent = len(request.resource_spans[0].scope_spans[0].spans)
    http = urllib.request.Request(
        collector_url.rstrip("/") + TRACES_PATH, data=request.SerializeToString(), method="POST",
        headers={"Content-Type": "application/x-protobuf"},
    )
    if token:
        http.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(http, timeout=timeout) as response:
            answer = response.read()
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace").strip()[:_MAX_ERROR_TEXT]
        raise ProbeExportError(f"the collector at {collector_url} answered {exc.code}: {text}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise ProbeExportError(f"the collector at {collector_url} did not answer: {getattr(exc, 'reason', exc)}") from None
    parsed = ExportTraceServiceResponse()
    try:
        parsed.ParseFromString(answer)
    except DecodeError as exc:
        raise ProbeExportError(f"the collector at {collector_url} sent a malformed answer: {exc}") from None
    rejected = int(parsed.partial_success.rejected_spans) if parsed.HasField("partial_success") else 0
    if rejected:
        raise ProbeExportError(f"the collector rejected {rejected} of {sent} probe spans: "
                               f"{parsed.partial_success.error_message}")
    return sent
