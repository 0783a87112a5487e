"""The OpenTelemetry global providers: the ones an app already has, and the switchable ones liveobs installs.

OpenTelemetry lets each global provider be set once per process. liveobs sets
a *switch* instead of its providers: a tracer, meter and logger provider whose
tracers, meters, instruments and loggers forward to whatever
:func:`liveobs.sdk.configure` made last. So ``configure()`` again, or
``shutdown()`` then ``configure()``, reaches every tracer or meter the app and
its framework took from the globals before (FastAPI caches its own). After
``shutdown()`` they record nothing.

When the app, its framework or ``opentelemetry-instrument`` installed an SDK
provider before ``configure()``, :func:`existing` finds it and liveobs joins it
instead of replacing it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import Meter, MeterProvider, NoOpMeter
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.trace import NoOpTracer, Tracer, TracerProvider

from liveobs.sdk._compat import ApiLogger as Logger
from liveobs.sdk._compat import ApiLoggerProvider as LoggerProvider
from liveobs.sdk._compat import LoggerProvider as SdkLoggerProvider
from liveobs.sdk._compat import NoOpLogger, get_logger_provider, set_logger_provider, unset_provider


class _Current:
    """The providers the switches forward to (``None``: record nothing)."""

    def __init__(self) -> None:
        self.tracer_provider: TracerProvider | None = None
        self.meter_provider: MeterProvider | None = None
        self.logger_provider: LoggerProvider | None = None
        self.meters: weakref.WeakSet[_SwitchMeter] = weakref.WeakSet()


_current = _Current()
_install_lock = threading.Lock()
_installed = False


class _SwitchTracer(Tracer):
    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._args = args
        self._kwargs = kwargs
        self._for: object = None
        self._tracer: Tracer = NoOpTracer()

    def _resolve(self) -> Tracer:
        provider = _current.tracer_provider
        if provider is not self._for:
            self._tracer = provider.get_tracer(*self._args, **self._kwargs) if provider is not None else NoOpTracer()
            self._for = provider
        return self._tracer

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._resolve().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._resolve().start_as_current_span(*args, **kwargs)


class SwitchTracerProvider(TracerProvider):
    """The global tracer provider liveobs installs: forwards to the active configuration's."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> Tracer:
        return _SwitchTracer(args, kwargs)


class _SwitchInstrument:
    """An instrument that records on its twin in the active meter provider."""

    def __init__(self, meter: _SwitchMeter, factory: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._meter = meter
        self._factory = factory
        self._args = args
        self._kwargs = kwargs
        self._for: object = None
        self._twin: Any = None

    def _resolve(self) -> Any:
        meter = self._meter.resolve()
        if meter is not self._for:
            self._twin = getattr(meter, self._factory)(*self._args, **self._kwargs)
            self._for = meter
        return self._twin

    def add(self, *args: Any, **kwargs: Any) -> None:
        self._resolve().add(*args, **kwargs)

    def record(self, *args: Any, **kwargs: Any) -> None:
        self._resolve().record(*args, **kwargs)

    def set(self, *args: Any, **kwargs: Any) -> None:
        self._resolve().set(*args, **kwargs)


def _instrument_factory(factory: str) -> Callable[..., Any]:
    def create(self: _SwitchMeter, *args: Any, **kwargs: Any) -> Any:
        made = _SwitchInstrument(self, factory, args, kwargs)
        if factory.startswith("create_observable"):
            self.observables.append(made)  # its callbacks run only where it exists: made at every switch
            made._resolve()
        return made

    return create


class _SwitchMeter(Meter):
    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__(str(args[0] if args else kwargs.get("name", "")))
        self._args = args
        self._kwargs = kwargs
        self._for: object = None
        self._meter: Meter = NoOpMeter(self.name)
        self.observables: list[_SwitchInstrument] = []

    def resolve(self) -> Meter:
        provider = _current.meter_provider
        if provider is not self._for:
            self._meter = provider.get_meter(*self._args, **self._kwargs) if provider is not None \
                else NoOpMeter(self.name)
            self._for = provider
        return self._meter

    create_counter = _instrument_factory("create_counter")
    create_up_down_counter = _instrument_factory("create_up_down_counter")
    create_observable_counter = _instrument_factory("create_observable_counter")
    create_histogram = _instrument_factory("create_histogram")
    create_gauge = _instrument_factory("create_gauge")
    create_observable_gauge = _instrument_factory("create_observable_gauge")
    create_observable_up_down_counter = _instrument_factory("create_observable_up_down_counter")


class SwitchMeterProvider(MeterProvider):
    """The global meter provider liveobs installs: forwards to the active configuration's."""

    def get_meter(self, *args: Any, **kwargs: Any) -> Meter:
        meter = _SwitchMeter(args, kwargs)
        _current.meters.add(meter)
        return meter


class _SwitchLogger(Logger):
    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__(str(args[0] if args else kwargs.get("name", "")))
        self._args = args
        self._kwargs = kwargs
        self._for: object = None
        self._logger: Logger = NoOpLogger(self._name)

    def _resolve(self) -> Logger:
        provider = _current.logger_provider
        if provider is not self._for:
            self._logger = provider.get_logger(*self._args, **self._kwargs) if provider is not None \
                else NoOpLogger(self._name)
            self._for = provider
        return self._logger

    def emit(self, *args: Any, **kwargs: Any) -> None:
        self._resolve().emit(*args, **kwargs)

    def enabled(self, *args: Any, **kwargs: Any) -> bool:
        return bool(self._resolve().enabled(*args, **kwargs))


class SwitchLoggerProvider(LoggerProvider):
    """The global logger provider liveobs installs: forwards to the active configuration's."""

    def get_logger(self, *args: Any, **kwargs: Any) -> Logger:
        return _SwitchLogger(args, kwargs)


def existing() -> tuple[SdkTracerProvider | None, SdkLoggerProvider | None, bool]:
    """The SDK tracer and logger providers someone else installed as globals, and whether any global is foreign.

    A foreign provider that is not the OpenTelemetry SDK's cannot take liveobs's
    processors: liveobs then runs beside it on its own providers.
    """
    found = (trace.get_tracer_provider(), metrics.get_meter_provider(), get_logger_provider())
    foreign = any(not unset_provider(p) and not isinstance(p, Switches) for p in found)
    tracer = found[0] if isinstance(found[0], SdkTracerProvider) else None
    logger = found[2] if isinstance(found[2], SdkLoggerProvider) else None
    return tracer, logger, foreign


Switches = (SwitchTracerProvider, SwitchMeterProvider, SwitchLoggerProvider)


def switch_to(tracer: TracerProvider | None, meter: MeterProvider | None, logger: LoggerProvider | None) -> None:
    """Make the switches forward to these providers; install a switch for every global still unset."""
    global _installed
    _current.tracer_provider, _current.meter_provider, _current.logger_provider = tracer, meter, logger
    with _install_lock:
        if not _installed:
            _installed = True
            if unset_provider(trace.get_tracer_provider()):
                trace.set_tracer_provider(SwitchTracerProvider())
            if unset_provider(metrics.get_meter_provider()):
                metrics.set_meter_provider(SwitchMeterProvider())
            if unset_provider(get_logger_provider()):
                set_logger_provider(SwitchLoggerProvider())
    for meter_switch in list(_current.meters):
        for observable in meter_switch.observables:
            observable._resolve()


def switched_off() -> None:
    """After ``shutdown()``: the switches record nothing until the next ``configure()``."""
    _current.tracer_provider = _current.meter_provider = _current.logger_provider = None
