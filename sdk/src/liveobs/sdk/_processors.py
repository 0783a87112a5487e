"""structlog processors: the ids on every line, and the liveobs processor chain.

Each is a plain structlog processor, so apps that configure structlog
themselves compose them by name::

    structlog.configure(processors=[
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        liveobs.sdk.add_timestamp,  # or structlog.processors.TimeStamper(fmt="iso", utc=True)
        liveobs.sdk.add_correlation_ids,
        structlog.processors.format_exc_info,
        liveobs.sdk.Redactor(),
        liveobs.sdk.LogBridge(redacted=True),
        structlog.processors.JSONRenderer(serializer=liveobs.sdk.render_json),
    ])
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import orjson
import structlog
from opentelemetry import trace

from liveobs.conventions import keys
from liveobs.sdk._asgi import route_template
from liveobs.sdk._context import _CURRENT, _SCOPE
from liveobs.sdk._logbridge import LogBridge
from liveobs.sdk._redact import FastScrubber, Redactor
from liveobs.sdk._span import hex_ids

_get_current_span = trace.get_current_span


def add_correlation_ids(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Add the bound liveobs ids and the current span's ``trace_id``/``span_id``/``trace_flags``.

    Values the log call passes itself win over the context's.
    """
    ids = _CURRENT.get()
    for key, value in ids.attributes.items():
        if key not in event_dict:
            event_dict[key] = value
    if ids.route_id is None and keys.ROUTE_ID not in event_dict:
        scope = _SCOPE.get()
        route = route_template(scope) if scope is not None else None
        if route is not None:
            event_dict[keys.ROUTE_ID] = route
    ctx = _get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict[keys.LOG_TRACE_ID], event_dict[keys.LOG_SPAN_ID], event_dict[keys.LOG_TRACE_FLAGS] = hex_ids(ctx)
    return event_dict


_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS
_time_ns = time.time_ns
# The formatted UTC second seen last: the lines of one second share it.
_second: tuple[int, str] = (-1, "")


def add_timestamp(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """``timestamp``: UTC ISO 8601 to the microsecond (``2026-11-27T21:01:04.123456Z``).

    What ``TimeStamper(fmt="iso", utc=True)`` writes, with the date and time of
    day formatted once per second.
    """
    global _second
    seconds, micros = divmod(_time_ns() // 1000, 1_000_000)
    cached, prefix = _second
    if cached != seconds:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second = (seconds, prefix)
    event_dict["timestamp"] = f"{prefix}.{micros:06d}Z"
    return event_dict


def render_json(event_dict: Any, default: Callable[[Any], Any] | None = None, **_: Any) -> str:
    """One JSON object as text, for :class:`structlog.processors.JSONRenderer`'s ``serializer``.

    orjson writes it several times faster than :func:`json.dumps`; what orjson
    refuses (an integer beyond 64 bits) goes through :func:`json.dumps`.
    """
    try:
        return orjson.dumps(event_dict, default=default, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(event_dict, default=default)


def liveobs_processors(
    *,
    scrubber: FastScrubber | None = None,
    bridge: LogBridge | None = None,
    json_lines: bool = True,
) -> list[Any]:
    """The processor chain :func:`liveobs.sdk.configure` installs.

    Context variables, level, UTC timestamp, the ids, rendered exceptions,
    redaction, the OTel bridge (when given) and, with ``json_lines``, one JSON
    object per line (rendered with orjson).
    """
    chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        add_timestamp,
        add_correlation_ids,
        structlog.processors.format_exc_info,
        Redactor(scrubber),
    ]
    if bridge is not None:
        chain.append(bridge)
    if json_lines:
        chain.append(structlog.processors.JSONRenderer(serializer=render_json))
    return chain
