"""The structlog → OpenTelemetry log bridge.

:class:`LogBridge` is a structlog processor that emits each event as an OTel
``LogRecord`` (body, severity, attributes, trace context of the current span,
optional ``EventName``) and hands the event dict on unchanged, so a renderer
after it still writes JSON lines for apps that ship files.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry._logs import Logger, LoggerProvider, SeverityNumber, get_logger_provider

from liveobs.conventions import keys
from liveobs.sdk._redact import FastScrubber

BRIDGE_SCOPE: Final = "liveobs.sdk.structlog"

_SEVERITY: Final[Mapping[str, tuple[SeverityNumber, str]]] = {
    "debug": (SeverityNumber.DEBUG, "DEBUG"),
    "info": (SeverityNumber.INFO, "INFO"),
    "msg": (SeverityNumber.INFO, "INFO"),
    "warning": (SeverityNumber.WARN, "WARN"),
    "warn": (SeverityNumber.WARN, "WARN"),
    "error": (SeverityNumber.ERROR, "ERROR"),
    "exception": (SeverityNumber.ERROR, "ERROR"),
    "critical": (SeverityNumber.FATAL, "FATAL"),
    "fatal": (SeverityNumber.FATAL, "FATAL"),
}
# Fields that are part of the record itself, not attributes.
_NOT_ATTRIBUTES: Final = frozenset(
    {"event", "level", "timestamp", keys.LOG_TRACE_ID, keys.LOG_SPAN_ID, keys.LOG_TRACE_FLAGS, keys.LOG_EVENT_NAME}
)
_SCALARS: Final = (str, bool, int, float)


def _attribute(value: Any) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return repr(value) if not isinstance(value, bytes) else value.decode("utf-8", "replace")


class LogBridge:
    """structlog processor: emit the event as an OTel LogRecord, then pass it on.

    ``redacted=True`` says a :class:`~liveobs.sdk.Redactor` ran earlier in the
    chain; otherwise the bridge scrubs the record itself. The record's
    ``EventName`` comes from the ``event_name`` field when present.
    """

    def __init__(
        self,
        logger_provider: LoggerProvider | None = None,
        *,
        redacted: bool = False,
        scrubber: FastScrubber | None = None,
    ) -> None:
        self._provider = logger_provider
        self._logger: Logger | None = None
        self._scrub = None if redacted else (scrubber or FastScrubber())

    def _get_logger(self) -> Logger:
        if self._logger is None:
            provider = self._provider or get_logger_provider()
            self._logger = provider.get_logger(BRIDGE_SCOPE)
        return self._logger

    def __call__(
        self, logger: object, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        attributes = {k: _attribute(v) for k, v in event_dict.items() if k not in _NOT_ATTRIBUTES and v is not None}
        body = event_dict.get("event")
        if body is not None and not isinstance(body, str):
            body = repr(body)
        if self._scrub is not None:
            attributes = self._scrub.mapping(attributes)
            body = self._scrub.text(body) if body is not None else None
        severity, text = _SEVERITY.get(str(event_dict.get("level", method_name)).lower(), (SeverityNumber.INFO, "INFO"))
        event_name = event_dict.get(keys.LOG_EVENT_NAME)
        self._get_logger().emit(
            timestamp=time.time_ns(),
            context=otel_context.get_current(),
            severity_number=severity,
            severity_text=text,
            body=body,
            attributes=attributes,
            event_name=event_name if isinstance(event_name, str) else None,
        )
        return event_dict
