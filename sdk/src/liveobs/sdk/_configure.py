"""``configure()``: OpenTelemetry providers, OTLP/HTTP export, structlog, all in one call.

Nothing happens at import. :func:`configure` builds a :class:`Telemetry`
(tracer, meter and logger providers with a shared resource, redaction in
front of every exporter, dropped-item counting) and installs the liveobs
structlog chain. Without an endpoint (argument or ``OTEL_EXPORTER_OTLP_*``)
nothing is exported and everything still works.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

import structlog
from opentelemetry import _logs, metrics, trace
from opentelemetry.metrics import Counter, Meter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Tracer

from liveobs.conventions import evidence, keys
from liveobs.redaction import Scrubber
from liveobs.sdk._dropped import (
    CountingBatchLogRecordProcessor,
    CountingBatchSpanProcessor,
    CountingLogExporter,
    CountingSpanExporter,
    DropCounter,
)
from liveobs.sdk._histogram import BYTE_BUCKETS, MS_BUCKETS, LeanHistogram, LiveMeterProvider
from liveobs.sdk._logbridge import BRIDGE_SCOPE, BridgedLoggerProvider, LogBridge
from liveobs.sdk._processors import LiveObsChain
from liveobs.sdk._redact import (
    FastScrubber,
    RedactingLogRecordExporter,
    RedactingLogRecordProcessor,
    RedactingSpanExporter,
)

SCOPE_NAME: Final = "liveobs.sdk"
_ENDPOINT_VARS: Final = {
    "traces": ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    "logs": ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    "metrics": ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
}


@dataclass(frozen=True, slots=True)
class Instruments:
    """The liveobs metrics (performance evidence)."""

    event_duration: LeanHistogram
    render_duration: LeanHistogram
    connect_duration: LeanHistogram
    patch_size: LeanHistogram
    patch_compressed_size: LeanHistogram
    reconnects: Counter


@dataclass(eq=False)
class Telemetry:
    """What :func:`configure` built: providers, tracer, meter, scrubber, counters."""

    service_name: str
    service_version: str
    environment: str
    release_id: str
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    tracer: Tracer
    meter: Meter
    scrubber: FastScrubber
    drops: DropCounter
    instruments: Instruments
    _closed: bool = field(default=False, repr=False)

    def force_flush(self, timeout_millis: int = 10_000) -> bool:
        """Export everything recorded so far; ``True`` when all providers finished."""
        ok = self.tracer_provider.force_flush(timeout_millis)
        ok = self.logger_provider.force_flush(timeout_millis) and ok
        return self.meter_provider.force_flush(timeout_millis) and ok

    def shutdown(self) -> None:
        """Flush and stop every provider (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.drops.maybe_report(force=True)
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()


_lock = threading.Lock()
_state: tuple[tuple[Any, ...], Telemetry] | None = None


def current_telemetry() -> Telemetry | None:
    """The active :class:`Telemetry`, or ``None`` before :func:`configure`."""
    return _state[1] if _state is not None else None


def _endpoint(signal: str, endpoint: str | None) -> str | None:
    if endpoint:
        return endpoint.rstrip("/") + "/v1/" + signal
    for var in _ENDPOINT_VARS[signal]:
        value = os.environ.get(var)
        if value:
            return value if var.endswith(f"_{signal.upper()}_ENDPOINT") else value.rstrip("/") + "/v1/" + signal
    return None


def _instruments(provider: LiveMeterProvider, meter: Meter) -> Instruments:
    def histogram(name: str, unit: str, bounds: Sequence[float]) -> LeanHistogram:
        return provider.histogram(meter, name, unit, bounds)

    return Instruments(
        event_duration=histogram(evidence.METRIC_EVENT_DURATION, "ms", MS_BUCKETS),
        render_duration=histogram(evidence.METRIC_RENDER_DURATION, "ms", MS_BUCKETS),
        connect_duration=histogram(evidence.METRIC_CONNECT_DURATION, "ms", MS_BUCKETS),
        patch_size=histogram(evidence.METRIC_PATCH_SIZE, "By", BYTE_BUCKETS),
        patch_compressed_size=histogram(evidence.METRIC_PATCH_COMPRESSED_SIZE, "By", BYTE_BUCKETS),
        reconnects=meter.create_counter(evidence.METRIC_RECONNECTS, unit="{reconnect}"),
    )


def configure(
    service_name: str,
    service_version: str = "0.0.0",
    environment: str = "development",
    *,
    endpoint: str | None = None,
    headers: dict[str, str] | None = None,
    release_id: str | None = None,
    span_exporter: SpanExporter | None = None,
    log_exporter: LogRecordExporter | None = None,
    metric_readers: Sequence[MetricReader] = (),
    batch: bool = True,
    extra_value_patterns: Iterable[tuple[str, str]] = (),
    extra_key_patterns: Iterable[str] = (),
    configure_structlog: bool = True,
    log_file: TextIO | None = None,
    cache_logger: bool = True,
    set_global: bool = True,
) -> Telemetry:
    """Set up traces, metrics and logs for a live app; idempotent.

    ``endpoint`` is the OTLP/HTTP base URL (``http://collector:4318``); without
    it the standard ``OTEL_EXPORTER_OTLP_*`` variables are read, and with
    neither nothing is exported. ``span_exporter``/``log_exporter``/
    ``metric_readers`` replace the OTLP ones (tests, benchmarks). ``batch=False``
    exports each item synchronously. Every exporter sees only scrubbed data;
    ``extra_value_patterns`` (``(kind, regex)``) and ``extra_key_patterns`` add
    to the shared rules. With ``configure_structlog`` the liveobs processor
    chain writes JSON lines to ``log_file`` (stdout by default) and bridges each
    event to OTLP. ``set_global`` installs the providers as the OpenTelemetry
    globals when none are set yet. A second call with the same arguments
    returns the same :class:`Telemetry`; different arguments replace it.
    """
    global _state
    extra_value_patterns = tuple(extra_value_patterns)
    extra_key_patterns = tuple(extra_key_patterns)
    signature = (
        service_name, service_version, environment, endpoint, tuple(sorted((headers or {}).items())), release_id,
        id(span_exporter), id(log_exporter), tuple(map(id, metric_readers)), batch, extra_value_patterns,
        extra_key_patterns, configure_structlog, id(log_file), cache_logger, set_global,
    )
    with _lock:
        if _state is not None and _state[0] == signature and not _state[1]._closed:
            return _state[1]
        if _state is not None:
            _state[1].shutdown()
            _state = None
        telemetry = _build(
            service_name, service_version, environment, endpoint, headers, release_id, span_exporter,
            log_exporter, metric_readers, batch, extra_value_patterns, extra_key_patterns,
        )
        if configure_structlog:
            structlog.configure(
                processors=[LiveObsChain(telemetry.scrubber, LogBridge(telemetry.logger_provider, redacted=True))],
                logger_factory=structlog.WriteLoggerFactory(log_file or sys.stdout),
                cache_logger_on_first_use=cache_logger,
            )
        if set_global:
            _set_globals(telemetry)
        _state = (signature, telemetry)
        return telemetry


_globals_set = False


def _set_globals(telemetry: Telemetry) -> None:
    # OpenTelemetry allows its global providers to be set once per process.
    global _globals_set
    if _globals_set:
        return
    _globals_set = True
    trace.set_tracer_provider(telemetry.tracer_provider)
    metrics.set_meter_provider(telemetry.meter_provider)
    _logs.set_logger_provider(telemetry.logger_provider)


def _build(
    service_name: str,
    service_version: str,
    environment: str,
    endpoint: str | None,
    headers: dict[str, str] | None,
    release_id: str | None,
    span_exporter: SpanExporter | None,
    log_exporter: LogRecordExporter | None,
    metric_readers: Sequence[MetricReader],
    batch: bool,
    extra_value_patterns: tuple[tuple[str, str], ...],
    extra_key_patterns: tuple[str, ...],
) -> Telemetry:
    resource = Resource.create(
        {keys.SERVICE_NAME: service_name, keys.SERVICE_VERSION: service_version, keys.DEPLOYMENT_ENVIRONMENT: environment}
    )
    custom = bool(extra_value_patterns or extra_key_patterns)
    scrubber = FastScrubber(
        Scrubber(extra_value_patterns=extra_value_patterns, extra_key_patterns=extra_key_patterns)
        if custom else Scrubber(),
        fast_paths=not extra_value_patterns,
    )
    drops = DropCounter()

    traces_url, logs_url, metrics_url = (_endpoint(s, endpoint) for s in ("traces", "logs", "metrics"))
    if span_exporter is None and traces_url is not None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=traces_url, headers=headers)
    if log_exporter is None and logs_url is not None:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        log_exporter = OTLPLogExporter(endpoint=logs_url, headers=headers)
    if log_exporter is not None:  # every record is scrubbed at export, whichever path queued it
        log_exporter = RedactingLogRecordExporter(log_exporter, scrubber)
    readers = list(metric_readers)
    if not readers and metrics_url is not None:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=metrics_url, headers=headers)))

    meter_provider = LiveMeterProvider(resource=resource, metric_readers=readers, scope_name=SCOPE_NAME)
    meter = meter_provider.get_meter(SCOPE_NAME)
    drops.register_metric(meter)

    tracer_provider = TracerProvider(resource=resource)
    if span_exporter is not None:
        redacting = RedactingSpanExporter(span_exporter, scrubber)
        tracer_provider.add_span_processor(
            CountingBatchSpanProcessor(redacting, drops)
            if batch else SimpleSpanProcessor(CountingSpanExporter(redacting, drops))
        )
    logger_provider = BridgedLoggerProvider(resource=resource)
    if log_exporter is not None:
        logger_provider.add_log_record_processor(
            RedactingLogRecordProcessor(scrubber, skip_scopes=frozenset({BRIDGE_SCOPE}))
        )
        if batch:
            batching = CountingBatchLogRecordProcessor(log_exporter, drops)
            logger_provider.add_log_record_processor(batching)
            sink = batching.direct_sink()
            if sink is not None:  # the bridge's records are scrubbed: they may skip the redacting processor
                logger_provider.feed_directly(sink)
        else:
            logger_provider.add_log_record_processor(SimpleLogRecordProcessor(CountingLogExporter(log_exporter, drops)))
    return Telemetry(
        service_name=service_name,
        service_version=service_version,
        environment=environment,
        release_id=release_id or service_version,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        logger_provider=logger_provider,
        tracer=tracer_provider.get_tracer(SCOPE_NAME),
        meter=meter,
        scrubber=scrubber,
        drops=drops,
        instruments=_instruments(meter_provider, meter),
    )


def shutdown() -> None:
    """Flush and stop the active :class:`Telemetry`; a later :func:`configure` starts afresh."""
    global _state
    with _lock:
        if _state is not None:
            _state[1].shutdown()
            _state = None
