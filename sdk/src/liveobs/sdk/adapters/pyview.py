"""pyview's own instrumentation interface, feeding the live event's trace.

pyview times each event's handling and each render through its
``InstrumentationProvider``; :class:`LiveObsInstrumentation` turns those two
timings into child spans of the live event the Phoenix adapter opened
(``pyview.handle_event``, ``pyview.render``), so a slow click shows where its
time went. Everything else stays pyview's no-op. Use it with
:mod:`liveobs.sdk.adapters.phoenix`::

    app = PyView(instrumentation=LiveObsInstrumentation())

Needs pyview (``pip install "liveobs-sdk[pyview]"``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from pyview.instrumentation import NoOpInstrumentation  # type: ignore[import-untyped,import-not-found,unused-ignore]

import liveobs.sdk

SPAN_NAMES: Final = {"pyview.events.duration": "pyview.handle_event", "pyview.render.duration": "pyview.render"}


class LiveObsInstrumentation(NoOpInstrumentation):  # type: ignore[misc]
    """pyview instrumentation whose event and render timings are child spans of the current live event."""

    @contextmanager
    def time_histogram(self, name: str, attributes: dict[str, Any] | None = None) -> Iterator[None]:
        span_name = SPAN_NAMES.get(name)
        telemetry = liveobs.sdk.current_telemetry()
        if span_name is None or telemetry is None or liveobs.sdk.current_event() is None:
            yield
            return
        span_attributes = {f"pyview.{key}": str(value) for key, value in (attributes or {}).items()}
        # The exception (if any) is the event's: recorded once, on the live event span.
        with telemetry.tracer.start_as_current_span(
            span_name, attributes=span_attributes, record_exception=False, set_status_on_exception=False,
        ):
            yield
