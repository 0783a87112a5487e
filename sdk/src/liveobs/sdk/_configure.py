"""``configure()`` and ``shutdown()``: the one active liveobs configuration of the process.

Nothing happens at import. :func:`configure` builds a :class:`Telemetry`
(:mod:`liveobs.sdk._build`), installs the liveobs structlog chain, makes it
the target of the global providers (:mod:`liveobs.sdk._globals`) and arranges
for it to be flushed at exit (:mod:`liveobs.sdk._lifecycle`). Without an
endpoint (argument or ``OTEL_EXPORTER_OTLP_*``) nothing is exported and
everything still works.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

import structlog
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.trace.export import SpanExporter

from liveobs.sdk import _globals, _lifecycle
from liveobs.sdk._build import SCOPE_NAME, Settings, build
from liveobs.sdk._compat import LogRecordExporter
from liveobs.sdk._faults import fault
from liveobs.sdk._logbridge import LogBridge
from liveobs.sdk._processors import LiveObsChain
from liveobs.sdk._telemetry import DEFAULT_SHUTDOWN_TIMEOUT, Instruments, Telemetry

__all__ = ["SCOPE_NAME", "Instruments", "Telemetry", "configure", "current_telemetry", "shutdown"]

_log = logging.getLogger("liveobs.sdk")
_lock = threading.Lock()
# The active configuration: what it was asked for (the exporters and readers themselves, compared by
# identity), and what it built.
_state: tuple[tuple[Any, ...], Telemetry] | None = None


def current_telemetry() -> Telemetry | None:
    """The active :class:`Telemetry`, or ``None`` before :func:`configure`."""
    return _state[1] if _state is not None else None


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return len(a) == len(b) and all(x is y or (type(x) is type(y) and x == y) for x, y in zip(a, b, strict=True))


def _checked(service_name: object, endpoint: object, shutdown_timeout: object) -> None:
    """Plainly invalid arguments are the caller's bug: a clear error, before anything changes."""
    if not isinstance(service_name, str) or not service_name.strip():
        raise ValueError(f"configure(): service_name must be a non-empty string, got {service_name!r}")
    if endpoint is not None and (not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://"))):
        raise ValueError(f"configure(): endpoint must be an http:// or https:// URL, got {endpoint!r}")
    if not isinstance(shutdown_timeout, int | float) or not 0 < shutdown_timeout <= 300:
        raise ValueError(f"configure(): shutdown_timeout must be a number of seconds in (0, 300], got {shutdown_timeout!r}")


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
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
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
    event to OTLP.

    With ``set_global`` (the default) liveobs joins the OpenTelemetry providers
    the app, its framework or ``opentelemetry-instrument`` installed already
    (adding its processors to them), or else installs its own as the globals,
    so that other instrumentations' spans join each live event's and request's
    trace and carry the liveobs ids. ``set_global=False`` touches no global.

    At exit and on ``SIGTERM`` what is pending is exported within
    ``shutdown_timeout`` seconds. A second call with the same arguments
    returns the same :class:`Telemetry`; different arguments replace it.
    Plainly invalid arguments raise :class:`ValueError`; an exporter that
    cannot be made only turns its export off, with a warning.
    """
    global _state
    _checked(service_name, endpoint, shutdown_timeout)
    settings = Settings(
        service_name=service_name, service_version=str(service_version), environment=str(environment),
        endpoint=endpoint, headers=tuple(sorted((headers or {}).items())), release_id=release_id,
        span_exporter=span_exporter, log_exporter=log_exporter, metric_readers=tuple(metric_readers), batch=batch,
        extra_value_patterns=tuple(extra_value_patterns), extra_key_patterns=tuple(extra_key_patterns),
        shutdown_timeout=float(shutdown_timeout),
    )
    signature = (settings, configure_structlog, log_file, cache_logger, set_global)
    with _lock:
        if _state is not None and _same(_state[0], signature) and not _state[1].closed:
            return _state[1]
        if _state is not None:
            _state[1].shutdown()
            _state = None
        join_tracer = join_logger = None
        if set_global:
            join_tracer, join_logger, foreign = _globals.existing()
            if foreign and join_tracer is None:
                _log.warning("liveobs: the global tracer provider is not the OpenTelemetry SDK's; liveobs records "
                             "its own spans beside it")
        try:
            telemetry = build(settings, join_tracer, join_logger)
        except Exception as exc:  # an internal that changed, a provider that refuses: run on, record less
            fault("configure", exc)
            telemetry = build(Settings(service_name=settings.service_name, service_version=settings.service_version,
                                       environment=settings.environment, batch=False))
            join_tracer = join_logger = None
        if configure_structlog:
            structlog.configure(
                processors=[LiveObsChain(telemetry.scrubber, LogBridge(telemetry.logger_provider, redacted=True))],
                logger_factory=structlog.WriteLoggerFactory(log_file or sys.stdout),
                cache_logger_on_first_use=cache_logger,
            )
        if set_global:
            _globals.switch_to(
                None if telemetry.joined else telemetry.tracer_provider, telemetry.meter_provider,
                telemetry.logger_provider,
            )
        _state = (signature, telemetry)
        _lifecycle.install(_stop_at_exit, _after_fork_in_child)
        return telemetry


def shutdown() -> None:
    """Flush and stop the active :class:`Telemetry`; a later :func:`configure` starts afresh."""
    global _state
    with _lock:
        if _state is not None:
            _state[1].shutdown()
            _state = None
            _globals.switched_off()


def _stop_at_exit() -> None:
    shutdown()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # a configure() running on another thread of the parent would leave it held
