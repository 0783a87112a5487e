"""pyview's own instrumentation interface, feeding the live event's span.

pyview times each event's handling and each render through its
``InstrumentationProvider``; :class:`LiveObsInstrumentation` puts those two
timings on the span of the live event the Phoenix adapter opened, as
``pyview.handle_event.duration_ms`` and ``pyview.render.duration_ms``, so a slow
click shows where its time went. Attributes, not child spans: two more spans per
event would cost more CPU than the whole event span (``make bench``). Everything
else stays pyview's no-op. Use it with :mod:`liveobs.sdk.adapters.phoenix`::

    app = PyView(instrumentation=LiveObsInstrumentation())

Needs pyview (``pip install "liveobs-sdk[pyview]"``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from pyview.instrumentation import NoOpInstrumentation  # type: ignore[import-untyped,import-not-found,unused-ignore]

import liveobs.sdk

ATTRIBUTES: Final = {"pyview.events.duration": "pyview.handle_event.duration_ms",
                     "pyview.render.duration": "pyview.render.duration_ms"}


class LiveObsInstrumentation(NoOpInstrumentation):  # type: ignore[misc]
    """pyview instrumentation whose event and render timings are attributes of the current live event's span."""

    @contextmanager
    def time_histogram(self, name: str, attributes: dict[str, Any] | None = None) -> Iterator[None]:
        key = ATTRIBUTES.get(name)
        recorder = liveobs.sdk.current_event() if key is not None else None
        if key is None or recorder is None:
            yield
            return
        started = time.perf_counter_ns()
        try:
            yield
        finally:  # a failing handler's time too; its exception is the event's, recorded once on its span
            recorder.span.set_attribute(key, round((time.perf_counter_ns() - started) / 1e6, 3))
