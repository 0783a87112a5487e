"""Every use of a private name of OpenTelemetry or structlog, detected once and with a public fallback.

The SDK's fast paths lean on a few internals of its dependencies: the SDK
tracer's span limits and scope, the batch processor's queue, the metric
reader's collect hook, the classes of ended spans and log records, and
structlog's context variables. They live here and nowhere else. Nothing is
probed at import: :func:`detect` (run by :func:`liveobs.sdk.configure`, or by
the first caller that needs an answer) tries each internal once and records
in :class:`Features` which are there and behave as expected. Where one is
missing, the caller takes the public-API path instead, which gives the same
telemetry more slowly; a probe that raises counts as missing and is reported
through :func:`liveobs.sdk._faults.fault`.

The experimental logs API and SDK are only published as
``opentelemetry._logs`` and ``opentelemetry.sdk._logs``; their names are
re-exported from here so that no other module imports a private package.
"""

from __future__ import annotations

import collections
import contextvars
import dataclasses
import inspect
import operator
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import structlog
from opentelemetry import trace
from opentelemetry._logs import Logger as ApiLogger
from opentelemetry._logs import LoggerProvider as ApiLoggerProvider
from opentelemetry._logs import (
    LogRecord,
    NoOpLogger,
    SeverityNumber,
    get_logger_provider,
    set_logger_provider,
)
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk._logs import (
    LoggerProvider,
    LogRecordLimits,
    LogRecordProcessor,
    ReadableLogRecord,
    ReadWriteLogRecord,
)
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import Histogram as SdkHistogram
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import propagation

from liveobs.sdk import _faults

__all__ = [
    "SPAN_KEY", "ApiLogger", "ApiLoggerProvider", "BatchLogRecordProcessor", "Features", "LogRecord", "LogRecordExportResult",
    "LogRecordExporter", "LogRecordLimits", "LogRecordProcessor", "LoggerProvider", "NoOpLogger", "ReadWriteLogRecord",
    "ReadableLogRecord", "SeverityNumber", "SimpleLogRecordProcessor", "detect", "features", "get_logger_provider",
    "otlp_log_exporter", "set_logger_provider", "unset_provider",
]


def _span_key() -> str:
    key = getattr(propagation, "_SPAN_KEY", None)
    if isinstance(key, str):
        return key
    return next(iter(trace.set_span_in_context(trace.INVALID_SPAN, Context())))  # the one key it sets


# The context key under which OpenTelemetry keeps the current span (read, never probed, at import).
SPAN_KEY: Final[str] = _span_key()


@dataclasses.dataclass(frozen=True, slots=True)
class Features:
    """Which internals this process's dependency versions have, as :func:`detect` found them."""

    lean_tracer: bool = False       # SDK Tracer: _span_limits, _instrumentation_scope (the lean span path)
    tracer_enabled: bool = False    # SDK Tracer._is_enabled (tracer configs, 1.40+)
    tracer_metrics: bool = False    # SDK Tracer._tracer_metrics.start_span (span metrics, 1.40+)
    on_ending: bool = False         # SpanProcessor._on_ending (1.40+)
    sampler_delegates: bool = False  # ParentBased's delegate fields (the default sampler, decided inline)
    fill_span: bool = False         # ReadableSpan holds exactly the fields its constructor sets
    fill_log_record: bool = False   # LogRecord and ReadableLogRecord are plain holders of known fields
    logger_enabled: bool = False    # SDK Logger._is_enabled (logger configs, 1.41+)
    provider_limits: bool = False   # LoggerProvider(log_record_limits=...) (1.45+)
    batch_queue: bool = False       # the batch processor's queue and worker fields
    collect_hook: bool = False      # MetricReader._collect, _set_collect_callback, _instrument_class_temporality
    structlog_vars: bool = False    # structlog.contextvars._CONTEXT_VARS with the Ellipsis default
    context_var: bool = False       # opentelemetry.context._RUNTIME_CONTEXT._current_context: the current Context
    multi_processor: bool = False   # SynchronousMultiSpanProcessor._span_processors: a tuple replaced on each add


_detected: Features | None = None
_lock = threading.Lock()


def features() -> Features:
    """What :func:`detect` found (detecting now if nobody did yet)."""
    found = _detected
    return found if found is not None else detect()


def detect(*, again: bool = False) -> Features:
    """Probe every internal once (again with ``again``); never raises."""
    global _detected
    with _lock:
        if _detected is not None and not again:
            return _detected
        found = {}
        for field in dataclasses.fields(Features):
            try:
                found[field.name] = bool(_PROBES[field.name]())
            except Exception as error:  # a changed internal: its public fallback is used
                _faults.fault(_faults.COMPAT, f"probe {field.name}: {type(error).__name__}: {error}")
                found[field.name] = False
        _detected = Features(**found)
        return _detected


def _probe_tracer() -> SdkTracer:
    from opentelemetry.sdk.trace import TracerProvider

    return TracerProvider(shutdown_on_exit=False).get_tracer("liveobs.sdk.probe")  # type: ignore[return-value]


def _lean_tracer() -> bool:
    tracer = _probe_tracer()
    limits = getattr(tracer, "_span_limits", None)
    return (
        isinstance(tracer, SdkTracer) and hasattr(limits, "max_span_attributes")
        and hasattr(limits, "max_span_attribute_length") and hasattr(tracer, "_instrumentation_scope")
        and all(hasattr(tracer, name) for name in ("sampler", "id_generator", "span_processor", "resource"))
    )


def _tracer_enabled() -> bool:
    return callable(getattr(_probe_tracer(), "_is_enabled", None)) and _probe_tracer()._is_enabled() is True


def _tracer_metrics() -> bool:
    metrics = getattr(_probe_tracer(), "_tracer_metrics", None)
    return callable(getattr(metrics, "start_span", None))


def _on_ending() -> bool:
    return callable(getattr(_probe_tracer().span_processor, "_on_ending", None))


_DELEGATES: Final = (
    ("_root", ALWAYS_ON), ("_remote_parent_sampled", ALWAYS_ON), ("_remote_parent_not_sampled", ALWAYS_OFF),
    ("_local_parent_sampled", ALWAYS_ON), ("_local_parent_not_sampled", ALWAYS_OFF),
)


def _sampler_delegates() -> bool:
    return default_sampler(ParentBased(ALWAYS_ON), probing=True)


_SPAN_FIELDS: Final = frozenset({
    "_name", "_context", "_kind", "_instrumentation_info", "_instrumentation_scope", "_parent", "_start_time",
    "_end_time", "_attributes", "_events", "_links", "_resource", "_status",
})


def _fill_span() -> bool:
    return set(vars(ReadableSpan("probe", resource=Resource.get_empty()))) == _SPAN_FIELDS


_RECORD_FIELDS: Final = frozenset({
    "timestamp", "observed_timestamp", "context", "trace_id", "span_id", "trace_flags", "severity_text",
    "severity_number", "body", "attributes", "event_name",
})
_READABLE_FIELDS: Final = ["log_record", "resource", "instrumentation_scope", "limits"]
_record_extra: dict[str, Any] = {}  # fields a newer LogRecord adds, with the value a bridged record has


def _fill_log_record() -> bool:
    probe = LogRecord(timestamp=1, observed_timestamp=1, context=Context(), body="")
    readable = ReadableLogRecord(probe, Resource.get_empty())
    fields = set(vars(probe))
    extra = fields - _RECORD_FIELDS
    if not fields >= _RECORD_FIELDS or not extra <= {"exception"}:
        return False
    _record_extra.clear()
    _record_extra.update(dict.fromkeys(extra))
    return [f.name for f in dataclasses.fields(ReadableLogRecord)] == list(vars(readable)) == _READABLE_FIELDS


def _logger_enabled() -> bool:
    logger: Any = LoggerProvider(shutdown_on_exit=False).get_logger("liveobs.sdk.probe")
    return callable(getattr(logger, "_is_enabled", None)) and logger._is_enabled() is True


def _provider_limits() -> bool:
    return "log_record_limits" in inspect.signature(LoggerProvider.__init__).parameters


_BATCH_FIELDS: Final = ("_queue", "_shutdown", "_worker_awaken", "_max_export_batch_size", "_max_queue_size")


def _batch_queue() -> bool:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    processor = BatchSpanProcessor(InMemorySpanExporter())
    try:
        batch = getattr(processor, "_batch_processor", None)
        queue = getattr(batch, "_queue", None)
        return (
            hasattr(os, "register_at_fork") and all(hasattr(batch, name) for name in _BATCH_FIELDS)
            and isinstance(queue, collections.deque) and queue.maxlen is not None
            and isinstance(getattr(batch, "_worker_awaken", None), threading.Event)
        )
    finally:
        processor.shutdown()  # type: ignore[no-untyped-call]  # untyped upstream


def _collect_hook() -> bool:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    try:
        original = getattr(reader, "_collect", None)
        seen: list[bool] = []

        def collect(reader: MetricReader, timeout_millis: float = 10_000) -> Any:
            seen.append(True)
            return original(reader, timeout_millis=timeout_millis)  # type: ignore[misc]

        if not callable(original) or not callable(getattr(reader, "_set_collect_callback", None)) \
                or reader_temporality(reader) is not AggregationTemporality.CUMULATIVE:
            return False
        reader._set_collect_callback(collect)
        reader.get_metrics_data()
        return seen == [True]
    finally:
        provider.shutdown()


def _structlog_vars() -> bool:
    bound = getattr(structlog.contextvars, "_CONTEXT_VARS", None)
    if not isinstance(bound, dict):
        return False
    name = "liveobs_sdk_probe"

    def probe() -> bool:
        structlog.contextvars.bind_contextvars(**{name: 1})
        var = bound.get(structlog.contextvars.STRUCTLOG_KEY_PREFIX + name)
        bound_value = var.get() if isinstance(var, contextvars.ContextVar) else None
        structlog.contextvars.unbind_contextvars(name)
        return bound_value == 1 and var is not None and var.get() is Ellipsis

    try:
        return contextvars.copy_context().run(probe)
    finally:
        bound.pop(structlog.contextvars.STRUCTLOG_KEY_PREFIX + name, None)


def _runtime_var() -> Any:
    from opentelemetry import context

    return getattr(getattr(context, "_RUNTIME_CONTEXT", None), "_current_context", None)


def _context_var() -> bool:
    from opentelemetry import context

    var = _runtime_var()
    if not isinstance(var, contextvars.ContextVar):
        return False

    def probe() -> bool:
        mine = Context({"liveobs.sdk.probe": True})
        token = context.attach(mine)
        try:
            attached = var.get() is mine and context.get_current() is mine
        finally:
            context.detach(token)
        ours = var.set(mine)  # what attach() would do, undone as detach() would
        try:
            read = context.get_current() is mine and context.get_value("liveobs.sdk.probe") is True
        finally:
            var.reset(ours)
        return attached and read and context.get_current() is not mine

    return contextvars.copy_context().run(probe)


_PROCESSORS: Final = operator.attrgetter("_span_processors")


def _multi_processor() -> bool:
    from opentelemetry.sdk.trace import SpanProcessor, SynchronousMultiSpanProcessor, TracerProvider

    provider = TracerProvider(shutdown_on_exit=False)
    multi = provider.get_tracer("liveobs.sdk.probe").span_processor  # type: ignore[attr-defined]  # the SDK's
    first, second = SpanProcessor(), SpanProcessor()
    provider.add_span_processor(first)
    before = _PROCESSORS(multi)
    provider.add_span_processor(second)
    after = _PROCESSORS(multi)
    return type(multi) is SynchronousMultiSpanProcessor and before == (first,) and after == (first, second) \
        and after is not before and isinstance(before, tuple)


_PROBES: Final[Mapping[str, Callable[[], bool]]] = {
    "lean_tracer": _lean_tracer, "tracer_enabled": _tracer_enabled, "tracer_metrics": _tracer_metrics,
    "on_ending": _on_ending, "sampler_delegates": _sampler_delegates, "fill_span": _fill_span,
    "fill_log_record": _fill_log_record, "logger_enabled": _logger_enabled, "provider_limits": _provider_limits,
    "batch_queue": _batch_queue, "collect_hook": _collect_hook, "structlog_vars": _structlog_vars,
    "context_var": _context_var, "multi_processor": _multi_processor,
}


# --- the tracer (the lean span path) ----------------------------------------------------------


def span_limits(tracer: Any) -> Any:
    """The SDK tracer's :class:`~opentelemetry.sdk.trace.SpanLimits`."""
    return tracer._span_limits


def tracer_scope(tracer: Any) -> Any:
    """The SDK tracer's instrumentation scope."""
    return tracer._instrumentation_scope


def always() -> bool:
    """The enabled check of a tracer or logger from before tracer and logger configs."""
    return True


def tracer_enabled(tracer: SdkTracer, found: Features) -> Callable[[], bool] | None:
    """A check of whether the tracer records; ``None`` when that cannot be known (the caller uses the SDK span)."""
    if found.tracer_enabled:
        sdk: Any = tracer
        check: Callable[[], bool] = sdk._is_enabled
        return check
    # Before tracer configs (1.39) a tracer is always enabled; a version with configs but no check is unknown.
    return None if hasattr(tracer, "_tracer_config") else always


def _no_metrics() -> None:
    return None


def span_metrics_start(tracer: SdkTracer, found: Features) -> Callable[[Any, Any], Callable[[], None]] | None:
    """The SDK's span metrics hook of ``tracer``; ``None`` when it has span metrics the lean path cannot feed."""
    if found.tracer_metrics:
        sdk: Any = tracer
        start: Callable[[Any, Any], Callable[[], None]] = sdk._tracer_metrics.start_span
        return start
    return None if hasattr(tracer, "_tracer_metrics") else (lambda _parent, _decision: _no_metrics)


def on_ending(processor: Any, found: Features) -> Callable[[Any], None] | None:
    """The processor's ``_on_ending`` hook (``None`` where the SDK has none)."""
    return getattr(processor, "_on_ending", None) if found.on_ending else None


def span_processors(processor: Any, found: Features) -> Callable[[Any], tuple[Any, ...]] | None:
    """How to read the processors the tracer's ``processor`` forwards to (call it with ``processor``), or ``None``.

    Only for the SDK's ``SynchronousMultiSpanProcessor``, which replaces its tuple
    whenever a processor is added: a tuple read once stays what it was.
    """
    from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor

    if not found.multi_processor or type(processor) is not SynchronousMultiSpanProcessor:
        return None
    return _PROCESSORS


def default_sampler(sampler: Any, *, probing: bool = False) -> bool:
    """Whether ``sampler`` is ``ParentBased(ALWAYS_ON)`` with the default delegates (the SDK's default)."""
    if not probing and not features().sampler_delegates:
        return False
    return type(sampler) is ParentBased and all(
        getattr(sampler, name, None) is delegate for name, delegate in _DELEGATES
    )


def clean_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """``attributes`` as the SDK keeps them (invalid values dropped, sequences made tuples); public API."""
    return dict(BoundedAttributes(None, attributes, immutable=False))


def clean_value(key: str, value: Any) -> Any:
    """One attribute value as the SDK keeps it, or ``None`` when the SDK would drop it."""
    return BoundedAttributes(None, {key: value}, immutable=False).get(key)


_new = object.__new__
_set = object.__setattr__


def readable_span(
    cls: type[ReadableSpan], fill: bool, name: str, context: Any, parent: Any, resource: Any, attributes: Any,
    events: Any, links: Any, kind: Any, info: Any, status: Any, start: int, end: int | None, scope: Any,
) -> ReadableSpan:
    """``cls(...)`` (a :class:`ReadableSpan` or subclass); with ``fill`` (``Features.fill_span``) filled directly."""
    if fill:  # what ReadableSpan.__init__ sets, set directly (its fields were checked by detect())
        ended = _new(cls)
        ended.__dict__ = {  # one dict made whole: cheaper than filling the instance's own
            "_name": name, "_context": context, "_kind": kind, "_instrumentation_info": info,
            "_instrumentation_scope": scope, "_parent": parent, "_start_time": start, "_end_time": end,
            "_attributes": attributes, "_events": events, "_links": links, "_resource": resource, "_status": status,
        }
        return ended
    return cls(name=name, context=context, parent=parent, resource=resource, attributes=attributes, events=events,
               links=links, kind=kind, instrumentation_info=info, status=status, start_time=start, end_time=end,
               instrumentation_scope=scope)


# --- log records --------------------------------------------------------------------------


def log_limits(limits: LogRecordLimits) -> tuple[int | None, int | None]:
    """The log record attribute count and value length limits (their names changed in 1.45)."""
    count = getattr(limits, "max_log_record_attributes", limits.max_attributes)
    length = getattr(limits, "max_log_record_attribute_length", limits.max_attribute_length)
    return count, length


def logger_provider_kwargs(limits: LogRecordLimits) -> dict[str, Any]:
    """What to pass the SDK's LoggerProvider so that its records carry ``limits``."""
    return {"log_record_limits": limits} if features().provider_limits else {}


def logger_origin(logger: Any) -> tuple[Any, Any] | None:
    """An SDK logger's resource and scope; ``None`` for another logger."""
    resource = getattr(logger, "resource", None)
    scope = getattr(logger, "instrumentation_scope", None)
    if scope is None:
        scope = getattr(logger, "_instrumentation_scope", None)
    return (resource, scope) if isinstance(resource, Resource) and scope is not None else None


def logger_enabled(logger: Any, found: Features) -> Callable[[], bool] | None:
    """A check of whether the SDK logger records; ``None`` when that cannot be known."""
    if found.logger_enabled:
        check: Callable[[], bool] = logger._is_enabled
        return check
    return None if hasattr(logger, "_logger_config") else always


def build_log_record(
    fill: bool, timestamp: int, severity: Any, text: str, body: Any, attributes: Any, event_name: str | None,
    span: Any, resource: Any, scope: Any, limits: LogRecordLimits,
) -> ReadableLogRecord:
    """The SDK's ``ReadableLogRecord`` of a bridged record (``span``: its span context).

    With ``fill`` (``Features.fill_log_record``) the objects are filled in
    directly, skipping the constructors' current-context lookups.
    """
    if fill:
        return build_log_records(True, ((timestamp, severity, text, body, attributes, event_name, span,
                                         (resource, scope, limits)),))[0]
    made = LogRecord(timestamp=timestamp, observed_timestamp=timestamp, context=_EMPTY_CONTEXT, severity_text=text,
                     severity_number=severity, body=body, attributes=attributes, event_name=event_name)
    made.trace_id, made.span_id, made.trace_flags = span.trace_id, span.span_id, span.trace_flags
    made.context = _EMPTY_CONTEXT
    return ReadableLogRecord(made, resource, scope, limits)


def build_log_records(fill: bool, batch: Iterable[Any]) -> list[ReadableLogRecord]:
    """The SDK records of a batch: each bridged record (a tuple of its fields) built as :func:`build_log_record`
    builds it, a ``ReadableLogRecord`` as it is; with ``fill`` the loop fills the objects itself."""
    records: list[ReadableLogRecord] = []
    append = records.append
    extra = _record_extra
    empty = _EMPTY_CONTEXT
    for item in batch:
        if item.__class__ is not tuple:
            append(item)
            continue
        timestamp, severity, text, body, attributes, event_name, span, (resource, scope, limits) = item
        if not fill:
            append(build_log_record(False, timestamp, severity, text, body, attributes, event_name, span, resource,
                                    scope, limits))
            continue
        record = _new(LogRecord)
        fields = {  # one dict made whole: cheaper than filling the instance's own
            "timestamp": timestamp, "observed_timestamp": timestamp, "context": empty,
            "trace_id": span.trace_id, "span_id": span.span_id, "trace_flags": span.trace_flags,
            "severity_text": text, "severity_number": severity, "body": body, "attributes": attributes,
            "event_name": event_name,
        }
        if extra:
            fields.update(extra)
        record.__dict__ = fields
        readable = _new(ReadableLogRecord)
        _set(readable, "__dict__", {"log_record": record, "resource": resource, "instrumentation_scope": scope,
                                    "limits": limits})  # a frozen dataclass: through object's own setattr
        append(readable)
    return records


_EMPTY_CONTEXT: Final = Context()


def otlp_log_exporter(endpoint: str, headers: dict[str, str] | None) -> LogRecordExporter:
    """The OTLP/HTTP log exporter (published only under the module name ``_log_exporter``)."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return OTLPLogExporter(endpoint=endpoint, headers=headers)


# --- the global providers ----------------------------------------------------------------------

# What the OpenTelemetry API returns while no global provider is set: (module, class name). The meter
# and logger ones are only published under private modules, so they are named, not imported.
_UNSET_PROVIDERS: Final = frozenset({
    ("opentelemetry.trace", "ProxyTracerProvider"), ("opentelemetry.trace", "NoOpTracerProvider"),
    ("opentelemetry.metrics._internal", "_ProxyMeterProvider"), ("opentelemetry.metrics._internal", "NoOpMeterProvider"),
    ("opentelemetry._logs._internal", "ProxyLoggerProvider"), ("opentelemetry._logs._internal", "NoOpLoggerProvider"),
})


def unset_provider(provider: object) -> bool:
    """Whether ``provider`` is what the API returns while nobody set a global one (a proxy or the no-op)."""
    cls = type(provider)
    return (cls.__module__, cls.__name__) in _UNSET_PROVIDERS


# --- the batch processors ---------------------------------------------------------------------


def batch_of(processor: Any) -> Any:
    """The SDK's shared ``BatchProcessor`` behind a batch span or log processor, or ``None``."""
    return getattr(processor, "_batch_processor", None) if features().batch_queue else None


def install_queue(processor: Any, make: Callable[[Iterable[Any], int], collections.deque[Any]]) -> bool:
    """Swap the processor's bounded queue for ``make(items, limit)``; ``False`` when it cannot be done."""
    batch = batch_of(processor)
    queue = getattr(batch, "_queue", None)
    if not isinstance(queue, collections.deque) or queue.maxlen is None:
        return False
    batch._queue = make(queue, queue.maxlen)
    return True


def queue_full(processor: Any) -> Callable[[], bool] | None:
    """A check whether the processor's queue is full (the next item is dropped); ``None`` if unknown."""
    batch = batch_of(processor)
    if batch is None:
        return None
    return lambda: len(batch._queue) >= batch._max_queue_size


def fast_queue(processor: Any, queue_type: type[collections.deque[Any]],
               append: Callable[[Any, Any], None], count: Callable[[], object] | None = None,
               ) -> Callable[[Any], None] | None:
    """``batch.emit`` for the common case, or ``None`` when the processor's batch looks different.

    Appends to the counting queue (of ``queue_type``) and wakes the worker at a
    full batch; everything else (shut down, queue full) goes through ``emit``.
    ``count``, when given, is called first for every item handed in. The SDK
    re-creates the worker in a forked child through ``os.register_at_fork``,
    which ``_batch_queue`` found present.
    """
    batch = batch_of(processor)
    if batch is None or not isinstance(batch._queue, queue_type):
        return None
    emit: Callable[[Any], None] = batch.emit
    export_at = batch._max_export_batch_size

    def queue(item: Any) -> None:
        if count is not None:
            count()
        pending = batch._queue
        if batch._shutdown or len(pending) >= batch._max_queue_size:
            emit(item)
            return
        append(pending, item)
        if len(pending) >= export_at:
            awaken = batch._worker_awaken
            if not awaken.is_set():
                awaken.set()

    return queue


# --- metric readers ------------------------------------------------------------------------------


def reader_temporality(reader: MetricReader) -> AggregationTemporality | None:
    """The temporality ``reader`` asks for histograms, ``None`` when it cannot be read."""
    temporalities = getattr(reader, "_instrument_class_temporality", None)
    if not isinstance(temporalities, dict):
        return None
    return next(  # keyed by the SDK's own histogram class, a subclass of the public one
        (t for cls, t in temporalities.items() if isinstance(cls, type) and issubclass(cls, SdkHistogram)), None)


def hook_collect(reader: MetricReader, callback: Callable[[Any, MetricReader, float], Any]) -> bool:
    """Make ``reader`` collect through ``callback(original, reader, timeout_millis)``; ``False`` if impossible."""
    if not features().collect_hook or reader_temporality(reader) is None:
        return False
    original = getattr(reader, "_collect", None)
    setter = getattr(reader, "_set_collect_callback", None)
    if original is None or setter is None:
        return False

    def collect(reader: MetricReader, timeout_millis: float = 10_000) -> Any:
        return callback(original, reader, timeout_millis)

    setter(collect)
    return True


# --- structlog ---------------------------------------------------------------------------------


def structlog_vars() -> dict[str, contextvars.ContextVar[Any]] | None:
    """structlog's context variables by prefixed name (unset ones hold ``Ellipsis``), or ``None``."""
    if not features().structlog_vars:
        return None
    bound: dict[str, contextvars.ContextVar[Any]] = structlog.contextvars._CONTEXT_VARS
    return bound


def json_default(value: Any) -> Any:
    """What structlog's JSON renderer writes for a value JSON has no type for."""
    try:
        return value.__structlog__()
    except AttributeError:
        return repr(value)


# --- the current OpenTelemetry context ---------------------------------------------------------


def context_var() -> contextvars.ContextVar[Context] | None:
    """The context variable that holds OpenTelemetry's current ``Context``, or ``None`` (use the API).

    ``var.get()`` is ``opentelemetry.context.get_current()`` and ``var.set(ctx)``
    is ``attach(ctx)``, without the two calls in between; its tokens are undone
    by ``detach`` (or ``token.var.reset``).
    """
    if not features().context_var:
        return None
    var: contextvars.ContextVar[Context] = _runtime_var()
    return var


# --- framework adapters ------------------------------------------------------------------------


def nicegui_listeners(element: Any) -> Mapping[Any, Any] | None:
    """A NiceGUI element's event listeners by id (its private ``_event_listeners``), or ``None``.

    Only names a live event after the app's handler; without it the event is named by its type.
    """
    listeners = getattr(element, "_event_listeners", None)
    return listeners if isinstance(listeners, Mapping) else None
