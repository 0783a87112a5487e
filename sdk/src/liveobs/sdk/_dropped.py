"""Nothing is dropped silently: count every span and log record that never leaves.

The OpenTelemetry batch processors drop items when their queue is full and
warn at most now and then; an exporter that fails loses its batch. The
processors and exporter wrapper here count both, per signal. The counts are
exposed as the ``liveobs.telemetry.dropped`` metric and as a periodic warning
log line.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from liveobs.conventions import evidence, keys
from liveobs.sdk import _compat, _faults
from liveobs.sdk._compat import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
    ReadableLogRecord,
    ReadWriteLogRecord,
)
from liveobs.sdk._logbridge import PendingLogRecord, materialize_all

SPANS: Final = "spans"
LOGS: Final = "logs"
# The batch queues' length unless OTEL_BSP_MAX_QUEUE_SIZE / OTEL_BLRP_MAX_QUEUE_SIZE (or the caller) set it.
# A live app ends spans in bursts (a push to every open page, a reconnect storm) and its export worker
# waits for the GIL behind the event loop: OpenTelemetry's 2048 lost spans now and then at 10k live
# events a second in one process (bench_sdk.py); 8192 hold about a second of them.
QUEUE_SIZE: Final = 8192
_log = logging.getLogger("liveobs.sdk")


class DropCounter:
    """Counts dropped items per signal; reports growth at most every ``interval`` seconds."""

    def __init__(self, interval: float = 60.0) -> None:
        self._counts = {SPANS: 0, LOGS: 0}
        self._reported = {SPANS: 0, LOGS: 0}
        self._interval = interval
        self._next_report = time.monotonic() + interval
        self._lock = threading.Lock()

    def add(self, signal: str, count: int = 1) -> None:
        with self._lock:
            self._counts[signal] = self._counts.get(signal, 0) + count
        self.maybe_report()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def maybe_report(self, force: bool = False) -> bool:
        """Log one warning line if anything was dropped since the last one."""
        now = time.monotonic()
        if not force and now < self._next_report:
            return False
        with self._lock:
            self._next_report = now + self._interval
            grown = {k: v - self._reported.get(k, 0) for k, v in self._counts.items()}
            if not any(grown.values()):
                return False
            self._reported = dict(self._counts)
            totals = dict(self._counts)
        _log.warning(
            "liveobs dropped telemetry: spans=%d logs=%d (total spans=%d logs=%d)",
            grown.get(SPANS, 0), grown.get(LOGS, 0), totals.get(SPANS, 0), totals.get(LOGS, 0),
        )
        return True

    def register_metric(self, meter: Meter) -> None:
        """Expose the counts as the ``liveobs.telemetry.dropped`` counter."""

        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            return [Observation(n, {keys.TELEMETRY_SIGNAL: s}) for s, n in self.counts().items()]

        meter.create_observable_counter(
            evidence.METRIC_DROPPED, callbacks=[observe], unit="{item}",
            description="Spans and log records that were dropped before export",
        )


class _CountingQueue(collections.deque[Any]):
    """The batch processor's bounded queue, refusing and counting what a full queue cannot take.

    The SDK's ``BatchProcessor`` appends to a deque with ``maxlen``, which
    silently pushes the oldest item out when full. This deque has no
    ``maxlen``: at the limit it refuses the new item and counts it, so no item
    ever leaves uncounted, and neither the append nor the worker's ``pop``
    needs a lock. (Threads appending at the same moment may take it a few
    items past the limit.)
    """

    def __init__(self, items: Iterable[Any], limit: int, on_drop: Callable[[], None]) -> None:
        super().__init__(items)
        self._limit = limit
        self._on_drop = on_drop

    def appendleft(self, item: Any) -> None:
        if len(self) >= self._limit:
            self._on_drop()
            return
        _appendleft(self, item)


_appendleft = collections.deque.appendleft


def _never_full() -> bool:
    """The check once the queue counts its own drops."""
    return False


def _count_drops(processor: Any, counter: DropCounter, signal: str) -> Callable[[], bool]:
    """Make the processor's queue count its drops; returns the fallback check when that is impossible."""
    if _compat.install_queue(processor, lambda items, limit: _CountingQueue(items, limit, lambda: counter.add(signal))):
        return _never_full
    full = _compat.queue_full(processor)
    # An SDK without that queue: count when the queue looks full before the append (or not at all).
    return full if full is not None else _never_full


def _queue_size(variable: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with :data:`QUEUE_SIZE` as the queue's length when neither they nor ``variable`` set one."""
    if kwargs.get("max_queue_size") is not None or os.environ.get(variable, "").strip():
        return kwargs
    return {**kwargs, "max_queue_size": QUEUE_SIZE}


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """A :class:`BatchSpanProcessor` that counts the spans its full queue drops."""

    def __init__(self, exporter: SpanExporter, counter: DropCounter, **kwargs: Any) -> None:
        super().__init__(CountingSpanExporter(exporter, counter), **_queue_size("OTEL_BSP_MAX_QUEUE_SIZE", kwargs))
        self._drops = counter
        self._full = _count_drops(self, counter, SPANS)
        self._queue_span = _compat.fast_queue(self, _CountingQueue, _appendleft)

    def on_end(self, span: ReadableSpan) -> None:
        queue = self._queue_span
        if queue is None:
            super().on_end(span)
            return
        if self._full is not _never_full and self._full():
            self._drops.add(SPANS)
        context = span.context
        if context is not None and context.trace_flags.sampled:
            try:
                queue(span)
            except Exception as error:  # the batch processor changed under us: its own on_end from now on
                self._queue_span = None
                _faults.fault(_faults.SPAN_PROCESSOR, error)
                super().on_end(span)


class CountingBatchLogRecordProcessor(BatchLogRecordProcessor):
    """A :class:`BatchLogRecordProcessor` that counts the records its full queue drops."""

    def __init__(self, exporter: LogRecordExporter, counter: DropCounter, **kwargs: Any) -> None:
        super().__init__(CountingLogExporter(exporter, counter), **_queue_size("OTEL_BLRP_MAX_QUEUE_SIZE", kwargs))
        self._drops = counter
        self._full = _count_drops(self, counter, LOGS)

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        if self._full():
            self._drops.add(LOGS)
        super().on_emit(log_record)

    def direct_sink(self, count: Callable[[], object] | None = None) -> Callable[[PendingLogRecord], None] | None:
        """Where the bridge queues a finished record without ``on_emit``'s copy, counted alike; ``None`` if unknown.

        ``count`` is called for every record handed in. The exporter in front
        (:class:`CountingLogExporter`) builds the SDK records from what was
        queued, a batch at a time.
        """
        return _compat.fast_queue(self, _CountingQueue, _appendleft, count)


def _export_counted(exporter: Any, batch: Sequence[Any], counter: DropCounter, signal: str, part: str,
                    failure: Any) -> Any:
    """``exporter.export(batch)``; a failed batch is counted as dropped, and one that raises also as a fault."""
    try:
        result = exporter.export(batch)
    except Exception as error:  # the exporter's (or its scrubber's) bug: the batch is lost, the app goes on
        counter.add(signal, len(batch))
        _faults.fault(part, error)
        return failure
    if getattr(result, "name", "SUCCESS") != "SUCCESS":
        counter.add(signal, len(batch))
    return result


class CountingSpanExporter(SpanExporter):
    """Wraps a span exporter; a failed or raising export counts its whole batch as dropped."""

    def __init__(self, exporter: SpanExporter, counter: DropCounter) -> None:
        self.exporter = exporter
        self._drops = counter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result: SpanExportResult = _export_counted(self.exporter, spans, self._drops, SPANS, _faults.SPAN_EXPORT,
                                                   SpanExportResult.FAILURE)
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


class CountingLogExporter(LogRecordExporter):
    """Wraps a log record exporter; a failed or raising export counts its whole batch as dropped.

    Records the bridge queued as :data:`~liveobs.sdk._logbridge.PendingLogRecord`
    are built here, so the wrapped exporter sees SDK records only.
    """

    def __init__(self, exporter: LogRecordExporter, counter: DropCounter) -> None:
        self.exporter = exporter
        self._drops = counter

    def export(self, batch: Sequence[ReadableLogRecord | PendingLogRecord]) -> LogRecordExportResult:
        try:
            records = materialize_all(batch)
        except Exception as error:  # an SDK record class that changed: the batch is lost, counted
            self._drops.add(LOGS, len(batch))
            _faults.fault(_faults.LOG_BRIDGE, error)
            return LogRecordExportResult.FAILURE
        result: LogRecordExportResult = _export_counted(self.exporter, records, self._drops, LOGS,
                                                        _faults.LOG_EXPORT, LogRecordExportResult.FAILURE)
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()  # type: ignore[no-untyped-call]  # untyped upstream

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)
