"""Decoding OTLP/HTTP request bodies: content types and the JSON mapping (Content-Encoding: ``_decompress``).

Protobuf bodies are parsed as they are. JSON bodies follow the OTLP JSON
mapping, whose trace and span ids are hex (not the base64 of the protobuf JSON
mapping), so ids are rewritten before the standard parser reads the object.
Every failure is a :class:`BodyError` carrying the HTTP status it deserves.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Final

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
DEFAULT_MAX_BODY_BYTES: Final = 16 * 1024 * 1024


class BodyError(ValueError):
    """A request body that cannot be accepted; ``status`` is the HTTP answer."""

    status = 400


class MalformedBody(BodyError):
    status = 400


class BodyTooLarge(BodyError):
    status = 413


class UnsupportedMediaType(BodyError):
    status = 415


class ConversionFailed(BodyError):
    """The collector could not convert a well-formed request (a bug): not worth retrying."""

    status = 500


@dataclass(frozen=True, slots=True)
class Signal:
    """One OTLP signal: its path, messages and the name of its rejected-items count."""

    name: str
    path: str
    request: type[Message]
    response: type[Message]
    rejected_field: str


TRACES: Final = Signal("traces", "/v1/traces", ExportTraceServiceRequest, ExportTraceServiceResponse, "rejected_spans")
LOGS: Final = Signal("logs", "/v1/logs", ExportLogsServiceRequest, ExportLogsServiceResponse, "rejected_log_records")
METRICS: Final = Signal(
    "metrics", "/v1/metrics", ExportMetricsServiceRequest, ExportMetricsServiceResponse, "rejected_data_points"
)
SIGNALS: Final = {s.path: s for s in (TRACES, LOGS, METRICS)}
SIGNALS_BY_NAME: Final = {s.name: s for s in (TRACES, LOGS, METRICS)}


def media_type(content_type: str) -> str:
    """The ``type/subtype`` of a Content-Type header, or raise 415."""
    base = content_type.split(";", 1)[0].strip().lower()
    if base not in (PROTOBUF, JSON):
        raise UnsupportedMediaType(f"unsupported content type {base or '(none)'!r}; use {PROTOBUF} or {JSON}")
    return base


def _b64(value: Any, what: str) -> Any:
    if not isinstance(value, str) or not value:
        return value
    try:
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    except ValueError:
        raise MalformedBody(f"{what} is not a hex string: {value[:40]!r}") from None


def _fix_ids(obj: Any, fields: tuple[str, ...], what: str) -> None:
    if isinstance(obj, dict):
        for field in fields:
            if field in obj:
                obj[field] = _b64(obj[field], f"{what}.{field}")


def _items(obj: Any, key: str) -> list[Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []


def _hex_ids_to_base64(signal: Signal, obj: dict[str, Any]) -> None:
    """Rewrite the OTLP JSON hex ids in place into the protobuf JSON mapping's base64."""
    ids = ("traceId", "spanId")
    if signal is TRACES:
        for rs in _items(obj, "resourceSpans"):
            for ss in _items(rs, "scopeSpans"):
                for span in _items(ss, "spans"):
                    _fix_ids(span, (*ids, "parentSpanId"), "span")
                    for link in _items(span, "links"):
                        _fix_ids(link, ids, "link")
    elif signal is LOGS:
        for rl in _items(obj, "resourceLogs"):
            for sl in _items(rl, "scopeLogs"):
                for record in _items(sl, "logRecords"):
                    _fix_ids(record, ids, "logRecord")
    else:
        for rm in _items(obj, "resourceMetrics"):
            for sm in _items(rm, "scopeMetrics"):
                for metric in _items(sm, "metrics"):
                    for kind in ("gauge", "sum", "histogram", "exponentialHistogram", "summary"):
                        data = metric.get(kind) if isinstance(metric, dict) else None
                        for point in _items(data, "dataPoints"):
                            for exemplar in _items(point, "exemplars"):
                                _fix_ids(exemplar, ids, "exemplar")


def parse_json_object(signal: Signal, obj: Any) -> Message:
    """An ``Export*ServiceRequest`` from an already-parsed OTLP JSON object."""
    if not isinstance(obj, dict):
        raise MalformedBody("an OTLP JSON body must be a JSON object")
    _hex_ids_to_base64(signal, obj)
    message = signal.request()
    try:
        json_format.ParseDict(obj, message, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, TypeError, ValueError) as exc:
        raise MalformedBody(f"invalid OTLP JSON: {str(exc)[:200]}") from None
    return message


def parse_request(signal: Signal, body: bytes, media: str) -> Message:
    """An ``Export*ServiceRequest`` from a (decompressed) body, or raise 400."""
    if media == JSON:
        try:
            obj = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise MalformedBody(f"invalid JSON: {str(exc)[:200]}") from None
        return parse_json_object(signal, obj)
    message = signal.request()
    try:
        message.ParseFromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise MalformedBody(f"invalid protobuf {signal.request.__name__}: {str(exc)[:200]}") from None
    return message


def response_body(signal: Signal, media: str, rejected: int, message: str) -> bytes:
    """The ``Export*ServiceResponse`` in the request's content type, with partial success if any."""
    response = signal.response()
    if rejected:
        partial = response.partial_success
        setattr(partial, signal.rejected_field, rejected)
        partial.error_message = message
    if media == JSON:
        return str(json_format.MessageToJson(response, indent=None)).encode()
    return bytes(response.SerializeToString())


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def status_body(media: str, code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` error body (JSON for JSON requests, else protobuf).

    Encoded by hand (field 1 ``code``, field 2 ``message``): two fields do not
    justify a dependency on the googleapis protos.
    """
    if media == JSON:
        return json.dumps({"code": code, "message": message}).encode()
    text = message.encode("utf-8")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text
