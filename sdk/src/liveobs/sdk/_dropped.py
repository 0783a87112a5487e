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
from opentelemetry.sdk._logs import ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from liveobs.conventions import evidence, keys
from liveobs.sdk._logbridge import PendingLogRecord, materialize

SPANS: Final = "spans"
LOGS: Final = "logs"
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
    inner = getattr(processor, "_batch_processor", None)
    queue = getattr(inner, "_queue", None)
    if isinstance(queue, collections.deque) and queue.maxlen is not None:
        inner._queue = _CountingQueue(queue, queue.maxlen, lambda: counter.add(signal))  # type: ignore[union-attr]
        return _never_full
    limit = getattr(inner, "_max_queue_size", None)
    # An SDK without that queue: count when the queue looks full before the append.
    return lambda: queue is not None and limit is not None and len(queue) >= limit


_BATCH_FIELDS: Final = ("_queue", "_shutdown", "_worker_awaken", "_max_export_batch_size", "_max_queue_size")


def _queue_item(batch: Any) -> Callable[[Any], None]:
    """``batch.emit`` for the common case: append to the counting queue and wake the worker at a full batch.

    Everything else (shut down, queue full, an SDK whose batch processor looks
    different) goes through ``emit`` itself. The SDK re-creates the queue and
    the worker in a forked child through ``os.register_at_fork``; without that
    hook ``emit``'s own process check is kept.
    """
    emit: Callable[[Any], None] = batch.emit
    if not hasattr(os, "register_at_fork") or not all(hasattr(batch, name) for name in _BATCH_FIELDS) \
            or not isinstance(batch._queue, _CountingQueue):
        return emit
    export_at = batch._max_export_batch_size

    def queue(item: Any) -> None:
        pending = batch._queue
        if batch._shutdown or len(pending) >= batch._max_queue_size:
            emit(item)
            return
        _appendleft(pending, item)
        if len(pending) >= export_at:
            awaken = batch._worker_awaken
            if not awaken.is_set():
                awaken.set()

    return queue


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """A :class:`BatchSpanProcessor` that counts the spans its full queue drops."""

    def __init__(self, exporter: SpanExporter, counter: DropCounter, **kwargs: Any) -> None:
        super().__init__(CountingSpanExporter(exporter, counter), **kwargs)
        self._drops = counter
        self._full = _count_drops(self, counter, SPANS)
        self._queue_span = _queue_item(self._batch_processor)

    def on_end(self, span: ReadableSpan) -> None:
        if self._full is not _never_full and self._full():
            self._drops.add(SPANS)
        context = span.context
        if context is not None and context.trace_flags.sampled:
            self._queue_span(span)


class CountingBatchLogRecordProcessor(BatchLogRecordProcessor):
    """A :class:`BatchLogRecordProcessor` that counts the records its full queue drops."""

    def __init__(self, exporter: LogRecordExporter, counter: DropCounter, **kwargs: Any) -> None:
        super().__init__(CountingLogExporter(exporter, counter), **kwargs)
        self._drops = counter
        self._full = _count_drops(self, counter, LOGS)

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        if self._full():
            self._drops.add(LOGS)
        super().on_emit(log_record)

    def direct_sink(self) -> Callable[[PendingLogRecord], None] | None:
        """Where the bridge queues a finished record without ``on_emit``'s copy, counted alike; ``None`` if unknown.

        The exporter in front (:class:`CountingLogExporter`) builds the SDK
        records from what was queued, a batch at a time.
        """
        batch = getattr(self, "_batch_processor", None)
        if batch is None or not callable(getattr(batch, "emit", None)):
            return None
        emit = _queue_item(batch)
        full = self._full
        if full is _never_full:
            return emit

        def queue(record: PendingLogRecord) -> None:
            if full():
                self._drops.add(LOGS)
            emit(record)

        return queue


def _export_counted(exporter: Any, batch: Sequence[Any], counter: DropCounter, signal: str) -> Any:
    try:
        result = exporter.export(batch)
    except Exception:
        counter.add(signal, len(batch))
        raise
    if getattr(result, "name", "SUCCESS") != "SUCCESS":
        counter.add(signal, len(batch))
    return result


class CountingSpanExporter(SpanExporter):
    """Wraps a span exporter; a failed or raising export counts its whole batch as dropped."""

    def __init__(self, exporter: SpanExporter, counter: DropCounter) -> None:
        self.exporter = exporter
        self._drops = counter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result: SpanExportResult = _export_counted(self.exporter, spans, self._drops, SPANS)
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
        records = [materialize(r) if r.__class__ is tuple else r for r in batch]
        result: LogRecordExportResult = _export_counted(self.exporter, records, self._drops, LOGS)
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()  # type: ignore[no-untyped-call]  # untyped upstream

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)
