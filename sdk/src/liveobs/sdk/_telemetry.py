"""What :func:`liveobs.sdk.configure` built, and how it flushes and stops within a bounded time.

A :class:`Telemetry` either owns its tracer and logger providers (liveobs
alone) or has joined providers the app already installed: then only liveobs's
own span and log record processors are flushed and stopped, never the app's.
Stopping exports what is pending within ``shutdown_timeout`` seconds and
writes one last line to standard error when anything could not be exported.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.context import Context
from opentelemetry.metrics import Counter, Meter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer

from liveobs.sdk._compat import LoggerProvider
from liveobs.sdk._dropped import DropCounter
from liveobs.sdk._histogram import LeanHistogram
from liveobs.sdk._redact import FastScrubber

DEFAULT_SHUTDOWN_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Instruments:
    """The liveobs metrics (performance evidence)."""

    event_duration: LeanHistogram
    render_duration: LeanHistogram
    connect_duration: LeanHistogram
    patch_size: LeanHistogram
    patch_compressed_size: LeanHistogram
    reconnects: Counter


@dataclass
class Flushable:
    """Something :class:`Telemetry` flushes and stops: a provider it owns or a processor it added."""

    name: str
    force_flush: Callable[[int], bool]
    shutdown: Callable[[], Any]
    flushes_on_shutdown: bool = False  # its shutdown exports what is pending (a meter provider's last collection)


@dataclass(eq=False)
class Telemetry:
    """What :func:`configure` built: providers, tracer, meter, scrubber, counters.

    ``joined`` is ``True`` when the tracer provider is one the app installed
    before :func:`configure`; :meth:`shutdown` then leaves it running.
    """

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
    joined: bool = False
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    parts: list[Flushable] = field(default_factory=list, repr=False)
    exported: Callable[[], dict[str, int]] = field(default=dict, repr=False)
    # OpenTelemetry's current-context variable where _compat found it (setting it is attach()), else None.
    context_var: contextvars.ContextVar[Context] | None = field(default=None, repr=False)
    _closed: bool = field(default=False, repr=False)

    @property
    def closed(self) -> bool:
        return self._closed

    def force_flush(self, timeout_millis: int = 10_000) -> bool:
        """Export everything recorded so far; ``True`` when every part finished within ``timeout_millis``.

        The exporters run on a daemon thread: an exporter retrying an
        unreachable endpoint never holds the caller past the timeout.
        """
        return _bounded(lambda: self._flush_parts(timeout_millis), timeout_millis / 1000)

    def _flush_parts(self, timeout_millis: int) -> bool:
        deadline = time.monotonic() + timeout_millis / 1000
        ok = True
        for part in self.parts:
            left = max(1, int((deadline - time.monotonic()) * 1000))
            ok = _safe_flush(part, left) and ok
        return ok

    def shutdown(self) -> None:
        """Flush and stop every part within ``shutdown_timeout`` (idempotent); say what was not exported.

        An exporter still retrying at the deadline is left to its daemon thread:
        the process is never held past the deadline.
        """
        if self._closed:
            return
        self._closed = True
        timeout_millis = int(self.shutdown_timeout * 1000)
        # Every part flushes and stops on its own thread, all at once: a slow one holds up no other. The
        # providers are built with shutdown_on_exit=False: this is the only shutdown they get.
        workers = [_start(functools.partial(_flush_and_stop, part, timeout_millis)) for part in self.parts]
        deadline = time.monotonic() + self.shutdown_timeout
        for worker, _ in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        finished = all(result == [True] for _, result in workers)
        self.drops.maybe_report(force=True)
        counts = self.exported()
        lost = {k: v for k, v in counts.items() if k.startswith("unexported") and v}
        if not finished or lost:
            detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            _note(f"liveobs: export did not finish within {self.shutdown_timeout:g} s at shutdown ({detail})")


def _flush_and_stop(part: Flushable, timeout_millis: int) -> bool:
    flushed = part.flushes_on_shutdown or _safe_flush(part, timeout_millis)
    return _safe_stop(part) and flushed


def _start(work: Callable[[], bool]) -> tuple[threading.Thread, list[bool]]:
    """``work()`` on a daemon thread; the list gets its result (``False`` when it raised)."""
    result: list[bool] = []

    def run() -> None:
        try:
            result.append(bool(work()))
        except Exception:
            result.append(False)

    worker = threading.Thread(target=run, name="liveobs-flush", daemon=True)
    worker.start()
    return worker, result


def _bounded(work: Callable[[], bool], timeout: float) -> bool:
    """``work()`` on a daemon thread, waited for at most ``timeout`` seconds; ``False`` when late or failed."""
    worker, result = _start(work)
    worker.join(max(0.05, timeout))
    return result == [True]


def _safe_stop(part: Flushable) -> bool:
    try:
        part.shutdown()
        return True
    except Exception as exc:  # a broken exporter must not stop the others, nor the app's exit
        _note(f"liveobs: stopping {part.name} failed: {type(exc).__name__}")
        return False


def _safe_flush(part: Flushable, timeout_millis: int) -> bool:
    try:
        return bool(part.force_flush(timeout_millis))
    except Exception:
        return False


def _note(line: str) -> None:
    """One line to standard error; never raises (the stream may be closed at exit)."""
    with contextlib.suppress(Exception):
        print(line, file=sys.stderr, flush=True)
