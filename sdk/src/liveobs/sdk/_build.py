"""Building a :class:`~liveobs.sdk.Telemetry`: providers (its own or the app's), export chains, instruments.

Every exporter sees only scrubbed data: spans pass :class:`LiveObsSpanProcessor`
and the redacting exporter, log records the redacting processor (the
structlog bridge's records are scrubbed before they are made). An exporter
that cannot be made (a broken endpoint or header setting) turns that signal's
export off with one warning; it never raises into the app.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from liveobs.conventions import keys
from liveobs.redaction import Scrubber
from liveobs.sdk._compat import (
    LoggerProvider,
    LogRecordExporter,
    LogRecordProcessor,
    SimpleLogRecordProcessor,
    context_var,
    otlp_log_exporter,
)
from liveobs.sdk._dropped import (
    CountingBatchLogRecordProcessor,
    CountingBatchSpanProcessor,
    CountingLogExporter,
    CountingSpanExporter,
    DropCounter,
)
from liveobs.sdk._faults import fault
from liveobs.sdk._histogram import LiveMeterProvider
from liveobs.sdk._instruments import make_instruments
from liveobs.sdk._join import OWN_SCOPE, LiveObsLogProcessor, LiveObsSpanProcessor
from liveobs.sdk._logbridge import BridgedLoggerProvider
from liveobs.sdk._redact import (
    FastScrubber,
    RedactingLogRecordExporter,
    RedactingLogRecordProcessor,
    RedactingSpanExporter,
)
from liveobs.sdk._release import release_attributes
from liveobs.sdk._tally import Tally, TallyLogExporter, TallyLogProcessor, TallySpanExporter
from liveobs.sdk._telemetry import Flushable, Telemetry

SCOPE_NAME: Final = OWN_SCOPE
_ENDPOINT_VARS: Final = {
    "traces": ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    "logs": ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    "metrics": ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
}
# The processor liveobs added to each provider the app installed (one per provider, re-pointed by configure()).
_JOINED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class Settings:
    """What :func:`liveobs.sdk.configure` was asked for, as the builder takes it."""

    service_name: str
    service_version: str = "0.0.0"
    environment: str = "development"
    endpoint: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    release_id: str | None = None
    span_exporter: SpanExporter | None = None
    log_exporter: LogRecordExporter | None = None
    metric_readers: tuple[MetricReader, ...] = ()
    batch: bool = True
    extra_value_patterns: tuple[tuple[str, str], ...] = ()
    extra_key_patterns: tuple[str, ...] = ()
    shutdown_timeout: float = 5.0


def endpoint_url(signal: str, endpoint: str | None) -> str | None:
    """The OTLP/HTTP URL for ``signal`` from the argument or the standard variables, or ``None``."""
    if endpoint:
        return endpoint.rstrip("/") + "/v1/" + signal
    for var in _ENDPOINT_VARS[signal]:
        value = os.environ.get(var)
        if value:
            return value if var.endswith(f"_{signal.upper()}_ENDPOINT") else value.rstrip("/") + "/v1/" + signal
    return None


def _otlp(signal: str, url: str, headers: dict[str, str] | None) -> Any:
    """The official OTLP/HTTP exporter for ``signal``, or ``None`` with one warning when it cannot be made."""
    try:
        if signal == "traces":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            return OTLPSpanExporter(endpoint=url, headers=headers)
        if signal == "logs":
            return otlp_log_exporter(url, headers)
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        return PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=url, headers=headers))
    except Exception as exc:
        fault(f"configure: the {signal} exporter", exc)
        return None


def build(settings: Settings, join_tracer: TracerProvider | None = None,
          join_logger: LoggerProvider | None = None) -> Telemetry:
    """A :class:`Telemetry` for ``settings``; on ``join_tracer``/``join_logger`` (the app's) when given."""
    resource = Resource.create({
        keys.SERVICE_NAME: settings.service_name, keys.SERVICE_VERSION: settings.service_version,
        keys.DEPLOYMENT_ENVIRONMENT: settings.environment, **release_attributes(),
    })
    custom = bool(settings.extra_value_patterns or settings.extra_key_patterns)
    scrubber = FastScrubber(
        Scrubber(extra_value_patterns=settings.extra_value_patterns, extra_key_patterns=settings.extra_key_patterns)
        if custom else Scrubber(),
        fast_paths=not settings.extra_value_patterns,
    )
    drops = DropCounter()
    tally = Tally()
    headers = dict(settings.headers) or None
    span_exporter, log_exporter = settings.span_exporter, settings.log_exporter
    readers = list(settings.metric_readers)
    if span_exporter is None and (url := endpoint_url("traces", settings.endpoint)) is not None:
        span_exporter = _otlp("traces", url, headers)
    if log_exporter is None and (url := endpoint_url("logs", settings.endpoint)) is not None:
        log_exporter = _otlp("logs", url, headers)
    if not readers and (url := endpoint_url("metrics", settings.endpoint)) is not None:
        reader = _otlp("metrics", url, headers)
        if reader is not None:
            readers.append(reader)

    meter_provider = LiveMeterProvider(resource=resource, metric_readers=readers, scope_name=SCOPE_NAME)
    meter = meter_provider.get_meter(SCOPE_NAME)
    drops.register_metric(meter)
    parts: list[Flushable] = []

    export: SpanProcessor | None = None
    if span_exporter is not None:
        redacting = RedactingSpanExporter(TallySpanExporter(span_exporter, tally), scrubber)
        export = CountingBatchSpanProcessor(redacting, drops) if settings.batch \
            else SimpleSpanProcessor(CountingSpanExporter(redacting, drops))
    if join_tracer is not None:
        tracer_provider = join_tracer
        joined_resource = None if _covers(join_tracer.resource, resource) else join_tracer.resource.merge(resource)
        spans = _JOINED.get(join_tracer)
        if spans is None:
            spans = _JOINED[join_tracer] = LiveObsSpanProcessor(export, joined_resource)
            join_tracer.add_span_processor(spans)
        else:
            spans.attach(export, joined_resource)
        parts.append(Flushable("span export", spans.force_flush, spans.shutdown))
        # The app's own exporters get what is pending too when the process stops (never stopped by liveobs).
        parts.append(Flushable("the app's tracer provider", join_tracer.force_flush, _nothing))
    else:
        tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        spans = LiveObsSpanProcessor(export)
        if export is not None:  # nothing to export: no processor, and the lean path ends spans cheaply
            tracer_provider.add_span_processor(spans)
        parts.append(Flushable("tracer provider", tracer_provider.force_flush, tracer_provider.shutdown))

    logger_provider = BridgedLoggerProvider(resource=resource, shutdown_on_exit=False)
    if log_exporter is not None:
        # Every record is scrubbed at export too, whichever path queued it (the bridge's direct sink included).
        exporter = TallyLogExporter(RedactingLogRecordExporter(log_exporter, scrubber), tally)
        logger_provider.add_log_record_processor(LiveObsLogProcessor())
        logger_provider.add_log_record_processor(TallyLogProcessor(tally))
        logger_provider.add_log_record_processor(RedactingLogRecordProcessor(scrubber))
        if settings.batch:
            batching = CountingBatchLogRecordProcessor(exporter, drops)
            logger_provider.add_log_record_processor(batching)
            sink = batching.direct_sink(tally.count_bridged)
            if sink is not None:  # the bridge's records are scrubbed by its chain, and again at export
                logger_provider.feed_directly(sink)
        else:
            logger_provider.add_log_record_processor(SimpleLogRecordProcessor(CountingLogExporter(exporter, drops)))
        if join_logger is not None:
            _join_logs(join_logger, scrubber, exporter, drops, tally, settings.batch, parts)
    if join_logger is not None:
        parts.append(Flushable("the app's logger provider", join_logger.force_flush, _nothing))
    parts.append(Flushable("logger provider", logger_provider.force_flush, logger_provider.shutdown))
    parts.append(Flushable("meter provider", _meter_flush(meter_provider), meter_provider.shutdown,
                           flushes_on_shutdown=True))
    return Telemetry(
        service_name=settings.service_name,
        service_version=settings.service_version,
        environment=settings.environment,
        release_id=settings.release_id or settings.service_version,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        logger_provider=logger_provider,
        tracer=tracer_provider.get_tracer(SCOPE_NAME),
        meter=meter,
        scrubber=scrubber,
        drops=drops,
        instruments=make_instruments(meter_provider, meter),
        joined=join_tracer is not None,
        shutdown_timeout=settings.shutdown_timeout,
        parts=parts,
        exported=lambda: tally.counts(spans_handed=spans.handed),
        context_var=context_var(),
    )


def _nothing() -> None:
    return None


def _covers(theirs: Resource, ours: Resource) -> bool:
    return all(theirs.attributes.get(k) == v for k, v in ours.attributes.items())


def _meter_flush(provider: MeterProvider) -> Any:
    return lambda timeout_millis: provider.force_flush(timeout_millis)


class _Detachable(LogRecordProcessor):
    """liveobs's processors on the app's logger provider: forwards until its configuration shuts down."""

    def __init__(self, inner: Sequence[LogRecordProcessor]) -> None:
        self.inner: Sequence[LogRecordProcessor] = inner

    def on_emit(self, log_record: Any) -> None:
        for processor in self.inner:
            processor.on_emit(log_record)

    def shutdown(self) -> None:
        inner, self.inner = self.inner, ()
        for processor in inner:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        ok = True
        for processor in self.inner:  # every one, even after one failed
            ok = processor.force_flush(timeout_millis) and ok
        return ok


def _join_logs(provider: LoggerProvider, scrubber: FastScrubber, exporter: LogRecordExporter, drops: DropCounter,
               tally: Tally, batch: bool, parts: list[Flushable]) -> None:
    """The app's own log records (its framework's too) reach liveobs's exporter, scrubbed and counted."""
    batching: LogRecordProcessor = CountingBatchLogRecordProcessor(exporter, drops) if batch \
        else SimpleLogRecordProcessor(CountingLogExporter(exporter, drops))
    chain = (LiveObsLogProcessor(), TallyLogProcessor(tally), RedactingLogRecordProcessor(scrubber), batching)
    joined = _JOINED.get(provider)
    if joined is None:
        joined = _JOINED[provider] = _Detachable(chain)
        provider.add_log_record_processor(joined)
    else:
        joined.inner = chain
    parts.append(Flushable("log export to the app's provider", joined.force_flush, joined.shutdown))
