"""LeanHistogram against the OTel SDK's own histogram: same points, same exemplars, every temporality."""

from __future__ import annotations

import random
from typing import Any

import pytest
from opentelemetry.sdk.metrics import Histogram as SdkHistogram
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from liveobs.sdk._histogram import CARDINALITY_LIMIT, MS_BUCKETS, LeanHistogram, LiveMeterProvider

DELTA: dict[type, AggregationTemporality] = {SdkHistogram: AggregationTemporality.DELTA}
ROUTES = ["/board/{board_id}", "/live", "/"]
NAMES = ["add_card", "move_card", None]


def _by_name(data: MetricsData | None) -> dict[str, list[Any]]:
    assert data is not None
    out: dict[str, list[Any]] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                out.setdefault(metric.name, []).extend(metric.data.data_points)
    return out


def _shape(points: list[Any]) -> dict[tuple[tuple[str, Any], ...], tuple[Any, ...]]:
    """Each point by its attributes: count, sum, buckets, bounds, min, max."""
    return {
        tuple(sorted(dict(p.attributes or {}).items())): (
            p.count, pytest.approx(p.sum), list(p.bucket_counts), list(p.explicit_bounds), p.min, p.max)
        for p in points
    }


@pytest.fixture
def pair(request: Any) -> Any:
    """A LiveMeterProvider with one lean and one SDK histogram of the same bounds, and its reader."""
    reader = InMemoryMetricReader(preferred_temporality=getattr(request, "param", None))
    provider = LiveMeterProvider(resource=Resource.create({"service.name": "t"}), metric_readers=[reader],
                                 scope_name="liveobs.sdk")
    meter = provider.get_meter("liveobs.sdk")
    lean = provider.histogram(meter, "lean", "ms", MS_BUCKETS)
    sdk = meter.create_histogram("sdk", unit="ms", explicit_bucket_boundaries_advisory=MS_BUCKETS)
    yield lean, sdk, reader, provider
    provider.shutdown()


def _record_both(lean: LeanHistogram, sdk: Any, rng: random.Random, n: int) -> None:
    for _ in range(n):
        value = rng.choice([rng.uniform(0, 40), rng.choice(MS_BUCKETS), 0.0, rng.uniform(1000, 20000)])
        attributes = {"http.route": rng.choice(ROUTES)}
        name = rng.choice(NAMES)
        if name is not None:
            attributes["liveobs.event.name"] = name
        lean.record(value, attributes)
        sdk.record(value, attributes)


def test_cumulative_points_match_the_sdk_histogram_exactly(pair: Any) -> None:
    lean, sdk, reader, _ = pair
    rng = random.Random(7)
    for _ in range(3):  # repeated collections keep adding up
        _record_both(lean, sdk, rng, 500)
        points = _by_name(reader.get_metrics_data())
        assert _shape(points["lean"]) == _shape(points["sdk"])
        assert sum(p.count for p in points["lean"]) > 0


@pytest.mark.parametrize("pair", [DELTA], indirect=True)
def test_delta_points_match_the_sdk_histogram_interval_by_interval(pair: Any) -> None:
    lean, sdk, reader, _ = pair
    rng = random.Random(11)
    for n in (300, 0, 200, 1):
        _record_both(lean, sdk, rng, n)
        data = reader.get_metrics_data()
        points = _by_name(data) if data is not None else {}
        assert _shape(points.get("lean", [])) == _shape(points.get("sdk", []))
        assert sum(p.count for p in points.get("lean", [])) == n
        for point in points.get("lean", []):
            assert point.start_time_unix_nano <= point.time_unix_nano


def test_exemplars_carry_the_sampled_span_and_only_the_last_per_bucket(pair: Any) -> None:
    lean, _, reader, _ = pair
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("live.event") as first:
        lean.record(3.0, {"http.route": "/"})
    with tracer.start_as_current_span("live.event") as second:
        lean.record(4.0, {"http.route": "/"})  # same bucket: replaces the first
        lean.record_in(30.0, {"http.route": "/"}, None)  # no span given: no exemplar
    unsampled = TracerProvider(sampler=ALWAYS_OFF).get_tracer("t")
    with unsampled.start_as_current_span("live.event") as dark:
        lean.record(700.0, {"http.route": "/"})
    (point,) = _by_name(reader.get_metrics_data())["lean"]
    assert [(e.value, e.trace_id, e.span_id) for e in point.exemplars] == [
        (4.0, second.get_span_context().trace_id, second.get_span_context().span_id)]
    assert first.get_span_context().trace_id not in {e.trace_id for e in point.exemplars}
    assert not dark.get_span_context().trace_flags.sampled
    # An exemplar is reported once per reader: the next collection has none until a new one.
    (again,) = _by_name(reader.get_metrics_data())["lean"]
    assert again.exemplars == []
    assert again.count == 4


def test_two_readers_each_get_every_point_in_their_own_temporality() -> None:
    cumulative, delta = InMemoryMetricReader(), InMemoryMetricReader(preferred_temporality=DELTA)
    provider = LiveMeterProvider(resource=Resource.create({}), metric_readers=[cumulative, delta],
                                 scope_name="liveobs.sdk")
    lean = provider.histogram(provider.get_meter("liveobs.sdk"), "lean", "By", (10.0, 100.0))
    for value in (5, 50, 500):
        lean.record_in(value, None, None)
    assert _by_name(delta.get_metrics_data())["lean"][0].count == 3
    lean.record_in(7, None, None)
    (c,) = _by_name(cumulative.get_metrics_data())["lean"]
    (d,) = _by_name(delta.get_metrics_data())["lean"]
    assert (c.count, list(c.bucket_counts), c.min, c.max) == (4, [2, 1, 1], 5, 500)
    assert (d.count, list(d.bucket_counts), d.min, d.max) == (1, [1, 0, 0], 7, 7)
    provider.shutdown()


def test_lean_points_sit_in_the_liveobs_scope_beside_the_sdk_instruments(pair: Any) -> None:
    lean, sdk, reader, _ = pair
    lean.record(1.0)
    sdk.record(1.0)
    data = reader.get_metrics_data()
    assert data is not None
    (resource_metrics,) = data.resource_metrics
    (scope,) = resource_metrics.scope_metrics
    assert scope.scope.name == "liveobs.sdk"
    assert sorted(m.name for m in scope.metrics) == ["lean", "sdk"]
    assert resource_metrics.resource.attributes["service.name"] == "t"


def test_values_a_histogram_refuses_are_dropped_and_attribute_sets_overflow_like_the_sdk(pair: Any) -> None:
    lean, _, reader, _ = pair
    for bad in (-1.0, float("nan"), float("inf")):
        lean.record(bad, {"http.route": "/"})
    for i in range(CARDINALITY_LIMIT + 50):
        lean.record(1.0, {"http.route": f"/r{i}"})
    points = _by_name(reader.get_metrics_data())["lean"]
    assert len(points) == CARDINALITY_LIMIT
    assert sum(p.count for p in points) == CARDINALITY_LIMIT + 50
    overflow = [p for p in points if (p.attributes or {}).get("otel.metric.overflow")]
    assert len(overflow) == 1
    assert overflow[0].count == 51


def test_where_readers_cannot_be_hooked_the_histogram_records_through_the_sdk_instrument() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    sdk = provider.get_meter("t").create_histogram("h", explicit_bucket_boundaries_advisory=MS_BUCKETS)
    lean = LeanHistogram("h", "ms", MS_BUCKETS, delegate=sdk)
    span = TracerProvider().get_tracer("t").start_span("live.event")
    lean.record_in(3.0, {"http.route": "/"}, span.get_span_context())
    lean.record(4.0, {"http.route": "/"})
    (point,) = _by_name(reader.get_metrics_data())["h"]
    assert (point.count, point.sum) == (2, 7.0)
    assert [e.trace_id for e in point.exemplars] == [span.get_span_context().trace_id]
    provider.shutdown()


def test_queued_measurements_from_many_threads_are_all_in_the_next_collection(pair: Any) -> None:
    import threading

    lean, _sdk, reader, _provider = pair
    routes = [{"http.route": route} for route in ROUTES]  # shared and never changed, as record_in asks
    per_thread, threads = 1_000 + 37, 4  # not a multiple of the batch: some wait in the queue

    def work(seed: int) -> None:
        for i in range(per_thread):
            lean.record_in(float(i % 50), routes[(seed + i) % 3], None)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    points = _by_name(reader.get_metrics_data())["lean"]
    assert sum(p.count for p in points) == per_thread * threads
    assert sum(p.sum for p in points) == pytest.approx(threads * sum(float(i % 50) for i in range(per_thread)))
    assert {dict(p.attributes)["http.route"] for p in points} == set(ROUTES)


def test_record_keeps_the_attributes_as_they_were_when_it_was_called(pair: Any) -> None:
    lean, _sdk, reader, _provider = pair
    attributes = {"http.route": "/live"}
    lean.record(3.0, attributes)
    attributes["http.route"] = "/changed"  # after the call: must not move the queued measurement
    (point,) = _by_name(reader.get_metrics_data())["lean"]
    assert (dict(point.attributes), point.count, point.sum) == ({"http.route": "/live"}, 1, 3.0)
