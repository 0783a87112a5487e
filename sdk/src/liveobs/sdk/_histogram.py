"""The per-event histograms, aggregated where they are recorded and collected with the SDK's own metrics.

A live app records a duration and two patch sizes for every event. The OTel
SDK's ``Histogram.record`` builds a ``Measurement``, matches views, hashes the
attributes and runs the exemplar filter and reservoir for each of them: about
5 µs apiece, a quarter of what liveobs adds to an event. :class:`LeanHistogram`
keeps the explicit-bucket state per attribute set itself with one exemplar
per bucket, the last one recorded, as the SDK's aligned reservoir keeps it. A
measurement is queued where it is recorded and aggregated with the others in
batches (a bisect and a few additions each, one lock per batch), and always
before a collection. :class:`LiveMeterProvider` adds these
histograms to what each of its readers collects, with the temporality that
reader asks for, so every exporter sees one ordinary metric stream per name.

The provider hooks a reader through the SDK's own collect handshake
(:func:`liveobs.sdk._compat.hook_collect`), reading the temporality the
reader asks for. Where the hook or the temporality is missing (another SDK
version) or the SDK is disabled, :meth:`LiveMeterProvider.histogram` returns a
:class:`LeanHistogram` that records through the SDK's instrument instead.
"""

from __future__ import annotations

import collections
import functools
import math
import os
import threading
import weakref
from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import repeat as _repeat
from itertools import starmap as _starmap
from time import time_ns
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import Histogram, Meter
from opentelemetry.sdk.metrics import Exemplar, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    Metric,
    MetricReader,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext
from opentelemetry.util.types import Attributes

from liveobs.sdk import _compat, _faults

# Bucket bounds that resolve what a user notices (ms) and what a patch weighs (bytes).
MS_BUCKETS: Final = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 150.0, 250.0, 500.0, 750.0, 1000.0,
                     2500.0, 5000.0, 10000.0)
BYTE_BUCKETS: Final = (64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0)
RATIO_BUCKETS: Final = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.5)

# The SDK's default cardinality limit, and the attribute set it folds the rest into.
CARDINALITY_LIMIT: Final = 2000
_OVERFLOW: Final = frozenset({("otel.metric.overflow", True)})
_INTERNED_LIMIT: Final = 512
_BATCH: Final = 256  # measurements queued before they are aggregated
_INF: Final = math.inf
# A measurement's attributes: the caller's mapping (kept, never changed), or already frozen as the series key.
_Attributes = Mapping[str, Any] | frozenset[tuple[str, Any]] | None
_SAMPLED: Final = 0x01

# OTEL_METRICS_EXEMPLAR_FILTER, as the SDK reads it.
EXEMPLARS_TRACE_BASED: Final = "trace_based"
EXEMPLARS_ALWAYS_ON: Final = "always_on"
EXEMPLARS_ALWAYS_OFF: Final = "always_off"


def exemplar_filter_from_env() -> str:
    value = os.environ.get("OTEL_METRICS_EXEMPLAR_FILTER", "").strip().lower()
    return {"always_on": EXEMPLARS_ALWAYS_ON, "always_off": EXEMPLARS_ALWAYS_OFF}.get(value, EXEMPLARS_TRACE_BASED)


class _Series:
    """One attribute set: bucket counts, sum, count, min, max and an exemplar per bucket."""

    __slots__ = ("attributes", "count", "counts", "exemplars", "intervals", "max", "min", "start_ns", "total")

    def __init__(self, attributes: dict[str, Any], buckets: int) -> None:
        self.attributes = attributes
        self.counts = [0] * buckets
        self.exemplars: list[tuple[float, int, SpanContext | None] | None] = [None] * buckets
        self.total = 0.0
        self.count = 0
        self.min = math.inf
        self.max = -math.inf
        self.start_ns = time_ns()
        # [min, max] since the last collection of each delta reader, by reader.
        self.intervals: dict[int, list[float]] = {}


class _ReaderState:
    """What one reader saw at its last collection (for delta temporality and exemplars)."""

    __slots__ = ("last_ns", "seen")

    def __init__(self) -> None:
        self.last_ns = 0
        self.seen: dict[frozenset[tuple[str, Any]], tuple[list[int], float, int]] = {}


class LeanHistogram(Histogram):
    """An explicit-bucket histogram with the OTel ``Histogram`` API and a cheaper hot path.

    :meth:`record` takes the exemplar's span from ``context`` (or the current
    one), as the SDK does; :meth:`record_in` is given the span context (or
    ``None``: no exemplar) and attributes that the caller never changes later,
    which lets it find the series by identity.
    """

    def __init__(
        self,
        name: str,
        unit: str,
        bounds: Sequence[float],
        *,
        description: str = "",
        exemplars: str = EXEMPLARS_TRACE_BASED,
        delegate: Histogram | None = None,
    ) -> None:
        self.name = name
        self.unit = unit
        self.description = description
        self.bounds: tuple[float, ...] = tuple(float(b) for b in bounds)
        self._exemplars = exemplars
        self._delegate = delegate
        self._lock = threading.Lock()
        self._series: dict[frozenset[tuple[str, Any]], _Series] = {}
        self._interned: dict[int, tuple[Mapping[str, Any], _Series]] = {}
        self._queued: collections.deque[tuple[float, _Attributes, Any]] = collections.deque()
        self._readers: weakref.WeakKeyDictionary[MetricReader, _ReaderState] = weakref.WeakKeyDictionary()
        self._bucket = functools.partial(bisect_left, self.bounds)  # an amount's bucket index

    # --- recording -----------------------------------------------------------------
    def record(self, amount: float, attributes: Attributes = None, context: Context | None = None) -> None:
        """The OTel API: the exemplar's span is the one in ``context`` (or the current context)."""
        if self._delegate is not None:
            self._delegate.record(amount, attributes, context)
            return
        if not amount >= 0 or amount == _INF:
            return  # a histogram takes finite non-negative values only, as the SDK's does
        try:  # frozen now: the caller may change its attributes once this returns
            frozen = frozenset(attributes.items()) if attributes else None
        except TypeError as error:  # an unhashable value (the SDK drops it too): the app goes on
            _faults.fault(_faults.HISTOGRAM, error)
            return
        self._enqueue(amount, frozen, trace.get_current_span(context).get_span_context())

    def record_in(
        self, amount: float, attributes: Mapping[str, Any] | None, span: SpanContext | None, *, at: int = 0
    ) -> None:
        """Record ``amount`` for ``attributes`` (never mutated afterwards) with ``span`` as the exemplar's span.

        ``at`` is the measurement's time in ns when the caller has it (the exemplar's time), else now.

        The measurement is queued (a deque append, safe from any thread) and
        aggregated with the others queued since, a batch at a time under the
        lock: every :data:`_BATCH` measurements and before every collection.
        """
        if self._delegate is not None:
            context = trace.set_span_in_context(trace.NonRecordingSpan(span)) if span is not None else None
            self._delegate.record(amount, attributes, context)
            return
        if not amount >= 0 or amount == _INF:
            return  # a histogram takes finite non-negative values only, as the SDK's does
        mode = self._exemplars
        exemplar: tuple[float, int, SpanContext | None] | None
        if span is None:
            exemplar = (amount, at or time_ns(), None) if mode is EXEMPLARS_ALWAYS_ON else None
        elif mode is EXEMPLARS_TRACE_BASED:  # what _enqueue decides, without the call (once per live event)
            exemplar = (amount, at or time_ns(), span) if span.trace_flags & _SAMPLED and span.is_valid else None
        else:
            self._enqueue(amount, attributes, span, at)
            return
        queued = self._queued
        queued.append((amount, attributes, exemplar))
        if len(queued) >= _BATCH:
            self._aggregate()

    def _enqueue(self, amount: float, attributes: _Attributes, span: SpanContext | None, at: int = 0) -> None:
        exemplar: tuple[float, int, SpanContext | None] | None = None
        mode = self._exemplars
        if mode is EXEMPLARS_TRACE_BASED:
            if span is not None and span.trace_flags & _SAMPLED and span.is_valid:
                exemplar = (amount, at or time_ns(), span)
        elif mode is EXEMPLARS_ALWAYS_ON:
            exemplar = (amount, at or time_ns(), span if span is not None and span.is_valid else None)
        queued = self._queued
        queued.append((amount, attributes, exemplar))
        if len(queued) >= _BATCH:
            self._aggregate()

    def _aggregate(self) -> None:
        """Fold the queued measurements into their series; one that cannot be is dropped and counted."""
        try:
            self._fold()
        except Exception as error:  # never in the app's way: the rest waits for the next batch
            _faults.fault(_faults.HISTOGRAM, error)

    def _fold(self) -> None:
        queued = self._queued
        with self._lock:  # one folder at a time: what it counted is still there to take
            count = len(queued)  # what was queued before now; later ones wait for the next batch
            if not count:
                return
            amounts, attributes, exemplars = zip(*_starmap(queued.popleft, _repeat((), count)), strict=True)
            first = attributes[0]
            if attributes.count(first) == count:  # one attribute set (patch sizes have none): all at C speed
                self._fold_run(self._series_locked(first), amounts, exemplars)
                return
            start = 0
            for end in range(1, count + 1):  # runs of one attribute set
                if end == count or attributes[end] is not attributes[start]:
                    self._fold_run(self._series_locked(attributes[start]), amounts[start:end], exemplars[start:end])
                    start = end

    def _series_locked(self, attributes: _Attributes) -> _Series:
        """The series of ``attributes``: found by identity for a caller's mapping seen before."""
        interned = self._interned
        hit = interned.get(id(attributes))
        if hit is not None and hit[0] is attributes:
            return hit[1]
        series = self._lookup_locked(attributes)
        if attributes is not None and not isinstance(attributes, frozenset):  # record_in()'s: kept by identity
            if len(interned) >= _INTERNED_LIMIT:
                interned.clear()
            interned[id(attributes)] = (attributes, series)
        return series

    def _fold_run(self, series: _Series, amounts: Sequence[float],
                  exemplars: Sequence[tuple[float, int, SpanContext | None] | None]) -> None:
        """Add ``amounts`` (in the order recorded) to ``series``; the last exemplar per bucket wins."""
        index = list(map(self._bucket, amounts))
        counts = series.counts
        for bucket, many in Counter(index).items():
            counts[bucket] += many
        series.total = sum(amounts, series.total)  # added in order, as one at a time would
        series.count += len(amounts)
        low, high = min(amounts), max(amounts)
        if low < series.min:
            series.min = low
        if high > series.max:
            series.max = high
        for interval in series.intervals.values():
            if low < interval[0]:
                interval[0] = low
            if high > interval[1]:
                interval[1] = high
        missing = exemplars.count(None)
        if missing == len(exemplars):
            return
        kept = series.exemplars
        if not missing:
            for bucket, exemplar in dict(zip(index, exemplars, strict=True)).items():  # the last per bucket
                kept[bucket] = exemplar
            return
        for bucket, exemplar in zip(index, exemplars, strict=True):
            if exemplar is not None:
                kept[bucket] = exemplar

    def _lookup_locked(self, attributes: _Attributes) -> _Series:
        key: frozenset[tuple[str, Any]] = (
            attributes if isinstance(attributes, frozenset) else frozenset(attributes.items()) if attributes
            else frozenset()
        )
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= CARDINALITY_LIMIT - 1:
                key = _OVERFLOW
                series = self._series.get(key)
            if series is None:
                series = _Series(dict(key), len(self.bounds) + 1)
                self._series[key] = series
        return series

    def reset(self) -> None:
        """Forget everything recorded (a forked child starts from nothing, as the SDK's does)."""
        with self._lock:
            self._queued.clear()
            self._series = {}
            self._interned = {}
            self._readers = weakref.WeakKeyDictionary()

    # --- collection ----------------------------------------------------------------
    def collect(self, reader: MetricReader, temporality: AggregationTemporality, now_ns: int) -> Metric | None:
        """This histogram's points for ``reader``: cumulative, or what changed since its last collection."""
        delta = temporality == AggregationTemporality.DELTA
        self._aggregate()
        with self._lock:
            state = self._readers.get(reader)
            if state is None:
                state = self._readers[reader] = _ReaderState()
            points = [self._point(key, series, state, delta, now_ns) for key, series in self._series.items()]
            if delta:
                for series in self._series.values():
                    series.intervals[id(state)] = [math.inf, -math.inf]
            state.last_ns = now_ns
        kept = [p for p in points if p is not None]
        if not kept:
            return None
        return Metric(
            name=self.name, description=self.description, unit=self.unit,
            data=HistogramData(data_points=kept, aggregation_temporality=temporality),
        )

    def _point(
        self, key: frozenset[tuple[str, Any]], series: _Series, state: _ReaderState, delta: bool, now_ns: int
    ) -> HistogramDataPoint | None:
        counts, total, count = list(series.counts), series.total, series.count
        low, high = series.min, series.max
        start = series.start_ns
        if delta:
            before = state.seen.get(key)
            state.seen[key] = (counts, total, count)
            interval = series.intervals.get(id(state))
            if before is not None:
                counts = [now - then for now, then in zip(counts, before[0], strict=True)]
                total, count = total - before[1], count - before[2]
                start = max(start, state.last_ns)
            if interval is not None:
                low, high = interval
        if count == 0:
            return None
        exemplars = [
            Exemplar(
                filtered_attributes=None, value=value, time_unix_nano=at,
                span_id=span.span_id if span is not None else None,
                trace_id=span.trace_id if span is not None else None,
            )
            for entry in series.exemplars if entry is not None
            for value, at, span in (entry,) if at > state.last_ns
        ]
        return HistogramDataPoint(
            attributes=dict(series.attributes), start_time_unix_nano=start, time_unix_nano=now_ns, count=count,
            sum=total, bucket_counts=counts, explicit_bounds=self.bounds, min=low, max=high, exemplars=exemplars,
        )


def _merged(data: MetricsData | None, resource: Resource, scope: InstrumentationScope,
            extra: list[Metric]) -> MetricsData | None:
    """``data`` with ``extra`` in the ScopeMetrics of ``scope`` (made when missing)."""
    if not extra:
        return data
    if data is None or not data.resource_metrics:
        return MetricsData(resource_metrics=[ResourceMetrics(
            resource=resource, scope_metrics=[ScopeMetrics(scope=scope, metrics=extra, schema_url="")],
            schema_url=resource.schema_url)])
    first, *rest = data.resource_metrics
    scopes = list(first.scope_metrics)
    for i, scoped in enumerate(scopes):
        if scoped.scope.name == scope.name and scoped.scope.version == scope.version:
            scopes[i] = ScopeMetrics(scope=scoped.scope, metrics=[*scoped.metrics, *extra],
                                     schema_url=scoped.schema_url)
            break
    else:
        scopes.append(ScopeMetrics(scope=scope, metrics=extra, schema_url=""))
    return MetricsData(resource_metrics=[
        ResourceMetrics(resource=first.resource, scope_metrics=scopes, schema_url=first.schema_url), *rest])


_live_histograms: weakref.WeakSet[LeanHistogram] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for histogram in list(_live_histograms):
        histogram.reset()


_fork_hook: list[bool] = []


def _reset_in_forked_children() -> None:
    """Register :func:`_after_fork_in_child` once, when the first provider is made (never at import)."""
    if not _fork_hook and hasattr(os, "register_at_fork"):
        _fork_hook.append(True)
        os.register_at_fork(after_in_child=_after_fork_in_child)


class LiveMeterProvider(MeterProvider):
    """A MeterProvider whose readers also collect the :class:`LeanHistogram` s made by :meth:`histogram`."""

    def __init__(
        self, *, resource: Resource, metric_readers: Sequence[MetricReader] = (), scope_name: str
    ) -> None:
        # liveobs shuts it down (its own exit hook, shutdown(), the next configure()): the SDK's exit hook would
        # shut it down a second time and print "shutdown can only be called once".
        super().__init__(resource=resource, metric_readers=metric_readers, shutdown_on_exit=False)
        self._lean_resource = resource
        self._lean_scope = InstrumentationScope(scope_name)
        self._lean: list[LeanHistogram] = []
        self._exemplars = exemplar_filter_from_env()
        disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
        self._hooked = not disabled and all(self._hook(reader) for reader in metric_readers)
        _reset_in_forked_children()

    def _hook(self, reader: MetricReader) -> bool:
        return _compat.hook_collect(reader, self._collect_with_lean)

    def add_metric_reader(self, metric_reader: MetricReader) -> None:
        """The SDK's ``add_metric_reader`` (opentelemetry-sdk 1.43 and newer), hooking the reader when it can."""
        add = getattr(super(), "add_metric_reader", None)
        if add is None:
            raise AttributeError("MeterProvider.add_metric_reader needs opentelemetry-sdk 1.43 or newer; "
                                 "pass the reader to configure(metric_readers=...)")
        add(metric_reader)
        if self._hooked and not self._hook(metric_reader):
            self._hooked = False  # histograms made from now on record through the SDK
            if self._lean:  # the ones made before cannot reach this reader: said once, never silently
                _faults.fault(_faults.HISTOGRAM, f"{type(metric_reader).__name__} cannot collect the "
                              f"{len(self._lean)} liveobs histograms made before it was added")

    def histogram(self, meter: Meter, name: str, unit: str, bounds: Sequence[float]) -> LeanHistogram:
        """A histogram named ``name`` in this provider's liveobs scope (``meter`` is that scope's meter)."""
        delegate = None if self._hooked else meter.create_histogram(
            name, unit=unit, explicit_bucket_boundaries_advisory=bounds)
        histogram = LeanHistogram(name, unit, bounds, exemplars=self._exemplars, delegate=delegate)
        if delegate is None:
            self._lean.append(histogram)
            _live_histograms.add(histogram)
        return histogram

    def _collect_with_lean(self, original: Any, reader: MetricReader, timeout_millis: float = 10_000) -> Any:
        data = original(reader, timeout_millis=timeout_millis)
        try:
            temporality = _compat.reader_temporality(reader) or AggregationTemporality.CUMULATIVE
            now = time_ns()
            extra = [metric for h in self._lean if (metric := h.collect(reader, temporality, now)) is not None]
            return _merged(data, self._lean_resource, self._lean_scope, extra)
        except Exception as error:  # the reader still gets the SDK's own metrics
            _faults.fault(_faults.HISTOGRAM, error)
            return data
