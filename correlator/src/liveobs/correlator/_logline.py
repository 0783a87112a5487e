"""One JSON log line (structlog's JSON output or an OTel-style JSON line) → an OTLP log record.

structlog lines carry the message under ``event``, the level under ``level``, an
ISO 8601 ``timestamp`` and the trace context as top-level ``trace_id``,
``span_id`` and ``trace_flags``; every other field is an attribute. OTel-style
lines use the log data model's names (``body``, ``severity_text``,
``attributes``, ``resource``, ``time_unix_nano``…), in snake or camel case.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final, cast

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from liveobs.conventions import keys

SEVERITY_NUMBERS: Final = {
    "trace": 1, "debug": 5, "info": 9, "notice": 10, "warn": 13, "warning": 13,
    "error": 17, "exception": 17, "critical": 21, "fatal": 21,
}
RESOURCE_KEYS: Final = (keys.SERVICE_NAME, keys.SERVICE_VERSION, keys.DEPLOYMENT_ENVIRONMENT)
_BODY_FIELDS: Final = ("event", "body", "message", "msg")
_LEVEL_FIELDS: Final = ("level", "severity_text", "severityText", "levelname")
_TIME_FIELDS: Final = ("timestamp", "time", "time_unix_nano", "timeUnixNano", "@timestamp")
_CONSUMED: Final = frozenset(
    {*_BODY_FIELDS, *_LEVEL_FIELDS, *_TIME_FIELDS, keys.LOG_TRACE_ID, keys.LOG_SPAN_ID, keys.LOG_TRACE_FLAGS,
     "traceId", "spanId", "flags", "severity_number", "severityNumber", "attributes", "resource",
     keys.LOG_EVENT_NAME, "eventName", "observed_time_unix_nano", "observedTimeUnixNano", *RESOURCE_KEYS}
)


class BadLine(ValueError):
    """A line that is not a usable log record; the message says why."""


def _time_ns(value: Any) -> int:
    if isinstance(value, bool):
        raise BadLine("timestamp is not a time")
    if isinstance(value, int | float):
        # Seconds, milliseconds, microseconds or nanoseconds since the epoch, by magnitude.
        number = float(value)
        for scale in (1e9, 1e6, 1e3, 1.0):
            if number * scale < 1e19:
                return int(number * scale)
        raise BadLine("timestamp out of range")
    if isinstance(value, str):
        if value.isdigit():
            return _time_ns(int(value))
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise BadLine(f"timestamp {value[:40]!r} is not ISO 8601") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    raise BadLine("timestamp is not a time")


def _hex_id(value: Any, size: int, name: str) -> bytes:
    if value in (None, "", 0):
        return b""
    if not isinstance(value, str):
        raise BadLine(f"{name} is not a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise BadLine(f"{name} is not a hex string") from None
    if len(raw) != size:
        raise BadLine(f"{name} must be {size * 2} hex digits")
    return raw


def set_any(target: AnyValue, value: Any) -> None:
    """Store a JSON value in an OTLP ``AnyValue`` (nested values as JSON text)."""
    if isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int) and -(1 << 63) <= value < (1 << 63):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif value is not None:
        target.string_value = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _add(attributes: Any, key: str, value: Any) -> None:
    kv: KeyValue = attributes.add()
    kv.key = key
    set_any(kv.value, value)


def _first(line: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in line:
            return line[name]
    return None


def resource_of(line: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The resource attributes a line names (top level or under ``resource``), as a grouping key."""
    found: dict[str, str] = {}
    resource = line.get("resource")
    if isinstance(resource, dict):
        inner = resource.get("attributes", resource)
        if isinstance(inner, dict):
            found.update({str(k): str(v) for k, v in inner.items() if isinstance(v, str | int | float)})
    for key in RESOURCE_KEYS:
        if isinstance(line.get(key), str):
            found[key] = line[key]
    return tuple(sorted(found.items()))


def log_record(line: Any, record: LogRecord, observed_ns: int) -> None:
    """Fill ``record`` from one parsed JSON line, or raise :class:`BadLine`."""
    if not isinstance(line, dict):
        raise BadLine("a log line must be a JSON object")
    when = _first(line, _TIME_FIELDS)
    record.observed_time_unix_nano = observed_ns
    if when is not None:
        record.time_unix_nano = _time_ns(when)
    level = _first(line, _LEVEL_FIELDS)
    if isinstance(level, str):
        record.severity_text = level.upper()
        record.severity_number = cast(Any, SEVERITY_NUMBERS.get(level.lower(), 0))
    number = _first(line, ("severity_number", "severityNumber"))
    if isinstance(number, int) and not isinstance(number, bool) and 0 <= number <= 24:
        record.severity_number = cast(Any, number)
    body = _first(line, _BODY_FIELDS)
    if body is not None:
        set_any(record.body, body)
    record.trace_id = _hex_id(_first(line, (keys.LOG_TRACE_ID, "traceId")), 16, "trace_id")
    record.span_id = _hex_id(_first(line, (keys.LOG_SPAN_ID, "spanId")), 8, "span_id")
    flags = _first(line, (keys.LOG_TRACE_FLAGS, "flags"))
    if isinstance(flags, str):
        try:
            flags = int(flags, 16)
        except ValueError:
            raise BadLine("trace_flags is not a hex number") from None
    if isinstance(flags, int) and not isinstance(flags, bool):
        record.flags = flags & 0xFF
    event_name = _first(line, (keys.LOG_EVENT_NAME, "eventName"))
    if isinstance(event_name, str):
        record.event_name = event_name
    attributes = line.get("attributes")
    if isinstance(attributes, dict):
        for key, value in attributes.items():
            _add(record.attributes, str(key), value)
    for key, value in line.items():
        if key not in _CONSUMED:
            _add(record.attributes, key, value)
