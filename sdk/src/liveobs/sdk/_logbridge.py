"""The structlog → OpenTelemetry log bridge.

:class:`LogBridge` is a structlog processor that emits each event as an OTel
``LogRecord`` (body, severity, attributes, trace context of the current span,
optional ``EventName``) and hands the event dict on unchanged, so a renderer
after it still writes JSON lines for apps that ship files.

Under the pipeline :func:`liveobs.sdk.configure` builds (a
:class:`BridgedLoggerProvider` whose only processors are its own, batching),
the bridge hands the finished record straight to the batch queue: the SDK's
``Logger.emit`` would validate the attributes the bridge just built, and its
batch processor would copy the record it just made. What it queues is a
:data:`PendingLogRecord`, a tuple of the record's fields; the batch exporter
builds the SDK objects (:func:`materialize`) on its own thread, a batch at a
time. Once anybody adds a processor, every record takes the ordinary
``Logger.emit`` path again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any, Final, TypeAlias

from opentelemetry import context as otel_context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, get_current_span

from liveobs.conventions import keys
from liveobs.sdk import _compat, _faults
from liveobs.sdk._compat import ApiLogger as Logger
from liveobs.sdk._compat import ApiLoggerProvider as LoggerProvider
from liveobs.sdk._compat import LoggerProvider as SdkLoggerProvider
from liveobs.sdk._compat import (
    LogRecordLimits,
    LogRecordProcessor,
    ReadableLogRecord,
    SeverityNumber,
    get_logger_provider,
)
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
_SCALAR_TYPES: Final = frozenset(_SCALARS)
_INFO: Final = (SeverityNumber.INFO, "INFO")
_time_ns = time.time_ns
_get_current = otel_context.get_current

# Where a bridged record comes from: the logger's resource and scope, and the provider's limits.
Origin: TypeAlias = tuple[Resource, InstrumentationScope | None, LogRecordLimits]
# A finished record on its way to the batch exporter: timestamp, severity number and text,
# body, attributes, event name, the span context it was emitted in, and its origin.
PendingLogRecord: TypeAlias = tuple[
    int, SeverityNumber, str, Any, dict[str, Any], str | None, SpanContext, Origin
]
# The direct path of one bridge: its sink, the records' origin (None: not direct), the attribute count
# limit and the logger's enabled check (None: always enabled).
_Direct: TypeAlias = tuple[Callable[[PendingLogRecord], None], Origin | None, int, Callable[[], bool] | None]


def materialize(pending: PendingLogRecord) -> ReadableLogRecord:
    """The SDK record for a :data:`PendingLogRecord`: what ``LogRecord(...)`` and ``ReadableLogRecord(...)`` build.

    Where the SDK's classes hold exactly the known fields, the objects are
    filled in directly, skipping their constructors' current-context lookups
    (see :func:`liveobs.sdk._compat.build_log_record`).
    """
    timestamp, severity, text, body, attributes, event_name, span, (resource, scope, limits) = pending
    return _compat.build_log_record(_compat.features().fill_log_record, timestamp, severity, text, body, attributes,
                                    event_name, span, resource, scope, limits)


def materialize_all(batch: Sequence[ReadableLogRecord | PendingLogRecord]) -> list[ReadableLogRecord]:
    """A batch as SDK records: :func:`materialize` for each :data:`PendingLogRecord`, SDK records as they are."""
    return _compat.build_log_records(_compat.features().fill_log_record, batch)


class BridgedLoggerProvider(SdkLoggerProvider):
    """A LoggerProvider that can tell the bridge where its one batch queue is.

    ``direct`` is set by :func:`liveobs.sdk.configure` once its own processors
    are in place, and cleared for good when any other processor is added.
    """

    def __init__(self, *args: Any, limits: LogRecordLimits | None = None, **kwargs: Any) -> None:
        self.limits = limits or LogRecordLimits()
        kwargs.update(_compat.logger_provider_kwargs(self.limits))
        super().__init__(*args, **kwargs)
        self.direct: Callable[[PendingLogRecord], None] | None = None

    def add_log_record_processor(self, log_record_processor: LogRecordProcessor) -> None:
        self.direct = None
        super().add_log_record_processor(log_record_processor)

    def feed_directly(self, sink: Callable[[PendingLogRecord], None]) -> None:
        """Let the bridge put its records on ``sink`` while the limits leave them unchanged."""
        if _compat.log_limits(self.limits)[1] is None:
            self.direct = sink


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
        self._direct: _Direct | None = None
        self._scrub = None if redacted else (scrubber or FastScrubber())

    def _get_logger(self) -> Logger:
        if self._logger is None:
            provider = self._provider or get_logger_provider()
            self._logger = provider.get_logger(BRIDGE_SCOPE)
        return self._logger

    def __call__(
        self, logger: object, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        scalar = _SCALAR_TYPES
        attributes: dict[str, Any] = {
            k: v if v.__class__ in scalar else _attribute(v)
            for k, v in event_dict.items() if v is not None and k not in _NOT_ATTRIBUTES
        }
        body = event_dict.get("event")
        if body is not None and body.__class__ is not str:
            body = repr(body)
        if self._scrub is not None:
            attributes = self._scrub.mapping(attributes)
            body = self._scrub.text(body) if body is not None else None
        level = event_dict.get("level", method_name)
        event_name = event_dict.get(keys.LOG_EVENT_NAME)
        self.emit(level, body, attributes, event_name if event_name.__class__ is str else None, None)
        return event_dict

    def emit(
        self, level: Any, body: Any, attributes: dict[str, Any], event_name: str | None, span: SpanContext | None
    ) -> None:
        """Emit one record: ``level`` as structlog names it, fields already scrubbed and flattened.

        ``span`` is the current span's context when the caller has it at hand.
        Never raises: a failure is counted and warned about once, and the
        app's log call goes on.
        """
        known = _SEVERITY.get(level) if level.__class__ is str else None
        severity, text = known if known is not None else _SEVERITY.get(str(level).lower(), _INFO)
        now = _time_ns()
        provider = self._provider or get_logger_provider()
        try:
            if isinstance(provider, BridgedLoggerProvider) and (sink := provider.direct) is not None:
                state = self._direct
                if state is None or state[0] is not sink:
                    state = self._direct = self._direct_state(provider, sink)
                origin, most, enabled = state[1], state[2], state[3]
                if origin is not None and len(attributes) <= most and (enabled is None or enabled()):
                    try:
                        sink((now, severity, text, body, attributes, event_name,
                              span if span is not None else get_current_span().get_span_context(), origin))
                    except Exception as error:  # the direct path broke: Logger.emit from now on
                        provider.direct = None
                        _faults.fault(_faults.LOG_BRIDGE, error)
                    else:
                        return
            otel_logger = self._logger or self._get_logger()
            otel_logger.emit(
                timestamp=now,
                context=_get_current(),
                severity_number=severity,
                severity_text=text,
                body=body,
                attributes=attributes,
                event_name=event_name,
            )
        except Exception as error:  # a log record processor or exporter that raises: the log call goes on
            _faults.fault(_faults.LOG_BRIDGE, error)

    def _direct_state(self, provider: BridgedLoggerProvider, sink: Callable[[PendingLogRecord], None]) -> _Direct:
        """How records go to ``sink``; the origin is ``None`` when the logger is not one the direct path knows."""
        otel_logger = self._logger or self._get_logger()
        found = _compat.features()
        origin = _compat.logger_origin(otel_logger)
        enabled = _compat.logger_enabled(otel_logger, found)
        most = _compat.log_limits(provider.limits)[0] or 0
        if origin is None or enabled is None:
            return (sink, None, most, None)
        return (sink, (origin[0], origin[1], provider.limits), most, None if enabled is _compat.always else enabled)
