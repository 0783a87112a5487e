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

:func:`liveobs.sdk.configure` installs the same chain as one processor,
:class:`LiveObsChain`, which gives the same line and the same record in one
pass over the event.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Callable, MutableMapping
from typing import Any, Final

import orjson
import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace

from liveobs.conventions import keys
from liveobs.sdk import _compat, _faults
from liveobs.sdk._asgi import route_template
from liveobs.sdk._compat import SPAN_KEY
from liveobs.sdk._context import _CURRENT, _SCOPE, LiveIds
from liveobs.sdk._logbridge import _NOT_ATTRIBUTES, _SCALAR_TYPES, LogBridge, _attribute
from liveobs.sdk._redact import _GENERATED_FIELDS, FastScrubber, Redactor
from liveobs.sdk._span import LeanSpan, hex_ids

_get_current_span = trace.get_current_span
_get_current = otel_context.get_current


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
    event_dict["timestamp"] = "%s.%06dZ" % (prefix, micros)  # noqa: UP031  # the cheapest of the formats here
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


_STRUCTLOG_PREFIX: Final = len(structlog.contextvars.STRUCTLOG_KEY_PREFIX)
_merge_contextvars = structlog.contextvars.merge_contextvars
_var_get = contextvars.ContextVar.get
_format_exc_info = structlog.processors.format_exc_info
_LEVELS: Final = {"warn": "warning", "exception": "error"}
_INVALID_SPAN: Final = trace.INVALID_SPAN_CONTEXT


class LiveObsChain:
    """The chain of :func:`liveobs_processors` as one structlog processor.

    Context variables, level, timestamp, the ids, rendered exceptions,
    redaction, the OTel bridge and the JSON line: the same fields, the same
    record and the same line as the separate processors give (only the order
    of the keys in the line may differ), with each field visited once. The ids
    of a :class:`~liveobs.sdk.LiveIds` are checked for secrets once, not on
    every line (not at all when this chain's scrubber vetted them).
    """

    def __init__(
        self, scrubber: FastScrubber | None = None, bridge: LogBridge | None = None, *, json_lines: bool = True
    ) -> None:
        self._scrub = scrubber or FastScrubber()
        self._bridge = bridge
        self._json_lines = json_lines
        # What JSONRenderer hands its serializer for objects JSON has no type for.
        self._default = _compat.json_default
        # structlog's context variables by their prefixed names, where this structlog keeps them so.
        self._vars = _compat.structlog_vars()
        # OpenTelemetry's current-context variable, where this OpenTelemetry keeps it so.
        self._context_var = _compat.context_var()
        # The ids seen last and whether they passed the scrubber unchanged.
        self._clean_ids: tuple[LiveIds | None, bool] = (None, False)

    def _merge_contextvars(self, event_dict: MutableMapping[str, Any]) -> None:
        bound = self._vars
        if bound is None:
            _merge_contextvars(None, "", event_dict)
            return
        try:
            values = list(map(_var_get, bound.values()))  # every variable ever bound, most unset (Ellipsis) now
            if values.count(Ellipsis) == len(values):
                return
            for name, value in zip(bound, values, strict=True):
                if value is not Ellipsis:
                    event_dict.setdefault(name[_STRUCTLOG_PREFIX:], value)
        except (RuntimeError, ValueError):  # another thread bound a new key meanwhile
            _merge_contextvars(None, "", event_dict)

    def _ids_clean(self, ids: LiveIds) -> bool:
        seen, clean = self._clean_ids
        if seen is not ids:
            clean = self._scrub.clean_mapping(ids.attributes)
            self._clean_ids = (ids, clean)
        return clean

    def __call__(self, logger: object, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        try:
            return self._process(logger, method_name, event_dict)
        except Exception as error:  # never the app's log call's failure: a scrubbed, minimal line instead
            _faults.fault(_faults.LOG_CHAIN, error)
            return self._fallback(method_name, event_dict)

    def _fallback(self, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        """The line when the chain failed: level and timestamp only (nothing unscrubbed)."""
        line: dict[str, Any] = {"event": "liveobs: log line withheld (the liveobs chain failed)",
                                "level": _LEVELS.get(method_name, method_name)}
        add_timestamp(None, method_name, line)
        return render_json(line) if self._json_lines else line

    def _process(self, logger: object, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        bound = self._vars
        if bound is None or bound:
            self._merge_contextvars(event_dict)
        if "exc_info" in event_dict:
            event_dict = _format_exc_info(logger, method_name, event_dict)
        bridge = self._bridge
        scrub = self._scrub
        texts, secret_keys = scrub._texts, scrub._keys
        attributes: dict[str, Any] = {}
        # Redaction (what Redactor does) and the bridge's attributes (what LogBridge takes), in one pass.
        for k, v in event_dict.items():
            if k in _GENERATED_FIELDS:
                continue
            cls = v.__class__
            if cls is str:
                cleaned = texts.get(v)
                if cleaned is None or secret_keys.get(k) is not False:
                    cleaned = scrub.value(k, v)
            elif (cls is int or cls is float or cls is bool or v is None) and secret_keys.get(k) is False:
                cleaned = v
            else:
                cleaned = scrub.value(k, v)
            if cleaned is not v:
                event_dict[k] = cleaned
            if bridge is not None and cleaned is not None and k not in _NOT_ATTRIBUTES:
                attributes[k] = cleaned if cleaned.__class__ in _SCALAR_TYPES else _attribute(cleaned)
        level = _LEVELS.get(method_name, method_name)
        event_dict["level"] = level
        add_timestamp(logger, method_name, event_dict)
        ids = _CURRENT.get()
        clean = ids.vetted_by is scrub or self._ids_clean(ids)
        if clean and event_dict.keys().isdisjoint(ids.attributes):  # the common case, in two updates
            event_dict.update(ids.attributes)
            attributes.update(ids.attributes)
        else:
            for key, value in ids.attributes.items():
                if key not in event_dict:
                    if not clean:
                        value = scrub.value(key, value)
                    event_dict[key] = attributes[key] = value
        if ids.route_id is None and keys.ROUTE_ID not in event_dict:
            scope = _SCOPE.get()
            route = route_template(scope) if scope is not None else None
            if route is not None:
                event_dict[keys.ROUTE_ID] = attributes[keys.ROUTE_ID] = scrub.value(keys.ROUTE_ID, route)
        var = self._context_var
        current = (var.get() if var is not None else _get_current()).get(SPAN_KEY)
        span = (current if current.__class__ is LeanSpan else _get_current_span()).get_span_context()
        if span.is_valid:
            event_dict[keys.LOG_TRACE_ID], event_dict[keys.LOG_SPAN_ID], event_dict[keys.LOG_TRACE_FLAGS] = hex_ids(span)
        if bridge is not None:
            body = event_dict.get("event")
            if body is not None and body.__class__ is not str:
                body = repr(body)
            event_name = event_dict.get(keys.LOG_EVENT_NAME)
            bridge.emit(level, body, attributes, event_name if event_name.__class__ is str else None, span)
        return render_json(event_dict, self._default) if self._json_lines else event_dict
