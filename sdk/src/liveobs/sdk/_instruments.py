"""The liveobs metric definitions (name, unit, buckets), written once, and the instruments configure() makes.

:data:`DEFINITIONS` is the one table of the performance histograms the SDK
records itself; :class:`~liveobs.sdk.PerfRecorder` takes the same table for
the instruments it shares with :class:`Instruments`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple

from opentelemetry.metrics import Meter

from liveobs.conventions import evidence
from liveobs.sdk._histogram import BYTE_BUCKETS, MS_BUCKETS, LeanHistogram, LiveMeterProvider
from liveobs.sdk._telemetry import Instruments


class Definition(NamedTuple):
    name: str
    unit: str
    buckets: Sequence[float]


# By the Instruments field that holds each one.
DEFINITIONS: Final = {
    "event_duration": Definition(evidence.METRIC_EVENT_DURATION, "ms", MS_BUCKETS),
    "render_duration": Definition(evidence.METRIC_RENDER_DURATION, "ms", MS_BUCKETS),
    "connect_duration": Definition(evidence.METRIC_CONNECT_DURATION, "ms", MS_BUCKETS),
    "patch_size": Definition(evidence.METRIC_PATCH_SIZE, "By", BYTE_BUCKETS),
    "patch_compressed_size": Definition(evidence.METRIC_PATCH_COMPRESSED_SIZE, "By", BYTE_BUCKETS),
}
RECONNECTS: Final = Definition(evidence.METRIC_RECONNECTS, "{reconnect}", ())


def make_instruments(provider: LiveMeterProvider, meter: Meter) -> Instruments:
    """The instruments of :data:`DEFINITIONS` on ``meter`` (lean histograms of ``provider``)."""
    histograms: dict[str, LeanHistogram] = {
        field: provider.histogram(meter, d.name, d.unit, d.buckets) for field, d in DEFINITIONS.items()
    }
    return Instruments(**histograms, reconnects=meter.create_counter(RECONNECTS.name, unit=RECONNECTS.unit))
