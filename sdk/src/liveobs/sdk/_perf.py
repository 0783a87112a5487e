"""Performance evidence: the liveobs metrics, with low-cardinality attributes only.

:class:`PerfRecorder` holds the instruments named in
:mod:`liveobs.conventions.evidence` (``METRIC_*``). Attributes are limited to the
route, the event name and the error type; the ids never become dimensions. A
measurement taken inside a sampled span gets an exemplar carrying that span's
trace and span id (the OTel SDK's default ``trace_based`` exemplar filter), which
is how a slow bucket leads back to the event. Process memory and CPU are
observable instruments read from ``/proc/self/status`` and :func:`os.times`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any, Final

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Meter, Observation
from opentelemetry.util.types import AttributeValue

from liveobs.conventions import evidence, keys, valid_error_class, valid_name, valid_route
from liveobs.sdk._histogram import BYTE_BUCKETS, MS_BUCKETS, RATIO_BUCKETS

SCOPE_NAME: Final = "liveobs.sdk.perf"



def dimensions(
    route: str | None = None, event_name: str | None = None, error_type: str | None = None
) -> dict[str, AttributeValue]:
    """The metric attributes liveobs allows: validated route, event name and error type."""
    out: dict[str, AttributeValue] = {}
    if (route := valid_route(route)) is not None:
        out[keys.HTTP_ROUTE] = route
    if (name := valid_name(event_name)) is not None:
        out[keys.EVENT_NAME] = name
    if (error := valid_error_class(error_type)) is not None:
        out[keys.ERROR_TYPE] = error
    return out


def process_memory_bytes() -> int:
    """Resident set size of this process (``VmRSS``), 0 where ``/proc`` is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except (ImportError, OSError):
        return 0


def _memory(options: CallbackOptions) -> Iterable[Observation]:
    yield Observation(process_memory_bytes())


def _cpu(options: CallbackOptions) -> Iterable[Observation]:
    times = os.times()
    yield Observation(times.user, {evidence.CPU_MODE: "user"})
    yield Observation(times.system, {evidence.CPU_MODE: "system"})


class PerfRecorder:
    """The liveobs performance instruments on one meter, with typed recording helpers."""

    def __init__(self, meter: Meter, shared: object = None) -> None:
        histogram = meter.create_histogram

        def reuse(name: str) -> Any:
            # The instruments configure() already made: one stream per metric, not two.
            return getattr(shared, name, None)

        self.render_duration: Histogram = reuse("render_duration") or histogram(
            evidence.METRIC_RENDER_DURATION, unit="ms", explicit_bucket_boundaries_advisory=MS_BUCKETS)
        self.connect_duration: Histogram = reuse("connect_duration") or histogram(
            evidence.METRIC_CONNECT_DURATION, unit="ms", explicit_bucket_boundaries_advisory=MS_BUCKETS)
        self.event_duration: Histogram = reuse("event_duration") or histogram(
            evidence.METRIC_EVENT_DURATION, unit="ms", explicit_bucket_boundaries_advisory=MS_BUCKETS)
        self.client_latency = histogram(evidence.METRIC_CLIENT_EVENT_LATENCY, unit="ms",
                                        explicit_bucket_boundaries_advisory=MS_BUCKETS)
        self.patch_size: Histogram = reuse("patch_size") or histogram(
            evidence.METRIC_PATCH_SIZE, unit="By", explicit_bucket_boundaries_advisory=BYTE_BUCKETS)
        self.patch_compressed_size: Histogram = reuse("patch_compressed_size") or histogram(
            evidence.METRIC_PATCH_COMPRESSED_SIZE, unit="By", explicit_bucket_boundaries_advisory=BYTE_BUCKETS)
        self.compression_ratio = histogram(evidence.METRIC_COMPRESSION_RATIO, unit="1",
                                           explicit_bucket_boundaries_advisory=RATIO_BUCKETS)
        self.upload_size = histogram(evidence.METRIC_UPLOAD_BYTES, unit="By",
                                     explicit_bucket_boundaries_advisory=BYTE_BUCKETS)
        self.upload_duration = histogram(evidence.METRIC_UPLOAD_DURATION, unit="ms",
                                         explicit_bucket_boundaries_advisory=MS_BUCKETS)
        self.reconnects: Counter = reuse("reconnects") or meter.create_counter(
            evidence.METRIC_RECONNECTS, unit="{reconnect}")
        self.stream_items = meter.create_counter(evidence.METRIC_STREAM_ITEMS, unit="{item}")
        self.stream_bytes = meter.create_counter(evidence.METRIC_STREAM_BYTES, unit="By")
        self.active_sessions = meter.create_up_down_counter(evidence.METRIC_ACTIVE_SESSIONS, unit="{session}")
        self.process_memory = meter.create_observable_gauge(
            evidence.METRIC_PROCESS_MEMORY, callbacks=[_memory], unit="By")
        self.process_cpu = meter.create_observable_counter(evidence.METRIC_PROCESS_CPU, callbacks=[_cpu], unit="s")

    # Each helper drops what is not a valid low-cardinality value rather than raise.

    def render(self, duration_ms: float, *, route: str | None = None, error_type: str | None = None) -> None:
        """Initial (HTTP) render of a live page."""
        self.render_duration.record(duration_ms, dimensions(route, error_type=error_type))

    def connect(self, duration_ms: float, *, route: str | None = None) -> None:
        """WebSocket connect: handshake to the live session joined."""
        self.connect_duration.record(duration_ms, dimensions(route))

    def event(
        self, duration_ms: float, *, route: str | None = None, event_name: str | None = None,
        error_type: str | None = None,
    ) -> None:
        """A live event handled on the server."""
        self.event_duration.record(duration_ms, dimensions(route, event_name, error_type))

    def client_event(
        self, latency_ms: float, *, route: str | None = None, event_name: str | None = None,
        error_type: str | None = None,
    ) -> None:
        """Click-to-patch latency as the browser reported it."""
        self.client_latency.record(latency_ms, dimensions(route, event_name, error_type))

    def patch(
        self, raw_bytes: int, compressed_bytes: int | None = None, *, route: str | None = None,
        event_name: str | None = None,
    ) -> None:
        """One patch sent: raw size, and compressed size and ratio when compressed."""
        attributes = dimensions(route, event_name)
        self.patch_size.record(raw_bytes, attributes)
        if compressed_bytes is not None:
            self.patch_compressed_size.record(compressed_bytes, attributes)
            if raw_bytes > 0:
                self.compression_ratio.record(compressed_bytes / raw_bytes, attributes)

    def reconnect(self, *, route: str | None = None) -> None:
        self.reconnects.add(1, dimensions(route))

    def stream(self, items: int, size_bytes: int, *, route: str | None = None) -> None:
        """Items and bytes pushed on a live stream."""
        attributes = dimensions(route)
        self.stream_items.add(items, attributes)
        self.stream_bytes.add(size_bytes, attributes)

    def upload(self, size_bytes: int, duration_ms: float, *, route: str | None = None) -> None:
        attributes = dimensions(route)
        self.upload_size.record(size_bytes, attributes)
        self.upload_duration.record(duration_ms, attributes)

    def session_opened(self, *, route: str | None = None) -> None:
        self.active_sessions.add(1, dimensions(route))

    def session_closed(self, *, route: str | None = None) -> None:
        self.active_sessions.add(-1, dimensions(route))


_recorders: dict[int, tuple[metrics.MeterProvider, PerfRecorder]] = {}
_recorders_lock = threading.Lock()


def perf_recorder(meter_provider: metrics.MeterProvider | None = None) -> PerfRecorder:
    """The :class:`PerfRecorder` of ``meter_provider`` (the configured or global one), made once."""
    if meter_provider is None:
        from liveobs.sdk._configure import current_telemetry

        telemetry = current_telemetry()
        if telemetry is not None:
            return _recorder(telemetry.meter_provider, telemetry.meter, telemetry.instruments)
        meter_provider = metrics.get_meter_provider()
    return _recorder(meter_provider, None, None)


def _recorder(meter_provider: metrics.MeterProvider, meter: Meter | None, shared: object) -> PerfRecorder:
    with _recorders_lock:
        hit = _recorders.get(id(meter_provider))
        if hit is None or hit[0] is not meter_provider:
            hit = (meter_provider, PerfRecorder(meter or meter_provider.get_meter(SCOPE_NAME), shared))
            _recorders[id(meter_provider)] = hit
        return hit[1]
