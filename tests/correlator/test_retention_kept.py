"""What retention keeps: the gates find a release and judge against a baseline whose raw rows are gone exactly
as they did over those rows, and an incident still shows its stack."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import gate_seed as seed
import pytest

from liveobs.conventions import evidence as ev
from liveobs.conventions import keys
from liveobs.correlator._db import connect
from liveobs.correlator._incidents import incidents
from liveobs.correlator._otlp import TRACES
from liveobs.correlator._retention import Retention
from liveobs.correlator._samples import sample_spans_request
from liveobs.correlator._writer import Writer
from liveobs.correlator.gates import Budgets, GateReport, Subject, run_gates

# The regression checks whose baseline evidence retention keeps (CPU intervals are not kept).
KEPT_CHECKS = ("performance.regression_event_latency", "performance.regression_render",
               "performance.regression_client_latency", "performance.regression_connect",
               "performance.regression_patch_size", "performance.regression_memory")
HOUR = timedelta(hours=1)


def _ns(at: datetime) -> int:
    return int((at - datetime(1970, 1, 1)).total_seconds() * 1e9)


def _store(n: int, scale: float = 1.0) -> duckdb.DuckDBPyConnection:
    """A baseline 1.0 that serves first and a release 1.1 three hours later, written in the real schema."""
    con = connect()
    e = seed.Evidence()
    seed.add_release(e, "1.0", seed.START, n=n)
    seed.add_release(e, "1.1", seed.START + 3 * HOUR, n=n, scale=scale)
    # The seed dates every release's histograms at its base time; 1.1's come when it serves.
    for point in e.metrics["otel_metrics_histogram"]:
        if (keys.SERVICE_VERSION, "1.1") in point["ResourceAttributes"]:
            point["StartTimeUnix"] += 3 * HOUR
            point["TimeUnix"] += 3 * HOUR
    # The baseline's connect histogram goes on as a cumulative series past the first pass's cutoff (its later
    # point holds the earlier one), and its patch sizes also come as a delta series of two points.
    rng = e.rng
    connects = [80 * rng.lognormvariate(0, 0.3) for _ in range(2 * n)]
    e.histogram("1.0", ev.METRIC_CONNECT_DURATION, connects[:n], at=seed.START, start=seed.START,
                attributes={"series": "cumulative"})
    e.histogram("1.0", ev.METRIC_CONNECT_DURATION, connects, at=seed.START + HOUR, start=seed.START,
                attributes={"series": "cumulative"})
    for minute in (0, 2):
        e.histogram("1.0", ev.METRIC_PATCH_SIZE, [900 * rng.lognormvariate(0, 0.25) for _ in range(n)],
                    seed.PATCH_BOUNDS, at=seed.START + timedelta(minutes=minute, seconds=5),
                    start=seed.START + timedelta(minutes=minute), attributes={"series": "delta"})
        e.metrics["otel_metrics_histogram"][-1]["AggregationTemporality"] = 1
    e.write(con)
    return con


def _judged(report: GateReport) -> list[tuple[str, str, str, float | None, int]]:
    return [(r.id, r.status.value, r.reason, r.observed, r.evidence) for r in report.results if r.id in KEPT_CHECKS]


def _gates(con: duckdb.DuckDBPyConnection, budgets: Budgets | None = None) -> GateReport:
    # No manifest and no baseline given: the baseline is the release that served before 1.1, looked up.
    return run_gates(con, "performance", Subject(service="shop", release="1.1"), budgets=budgets)


def _retain_before(con: duckdb.DuckDBPyConnection, cutoff: datetime, kept: int | None = None) -> dict[str, int]:
    age = 3600.0
    retention = Retention(con.cursor(), max_age=age, max_bytes=None, **({"kept_samples": kept} if kept else {}))
    try:
        return retention.run_once(now_ns=_ns(cutoff) + int(age * 1e9))
    finally:
        retention.close()


def _raw_rows(con: duckdb.DuckDBPyConnection, release: str) -> int:
    row = con.execute("SELECT count(*) FROM otel_traces WHERE ResourceAttributes[?] = ?",
                      [keys.SERVICE_VERSION, release]).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize("scale", [1.0, 1.6], ids=["same speed", "slower"])
def test_regression_checks_judge_a_deleted_baseline_as_they_judged_its_raw_rows(scale: float) -> None:
    con = _store(n=200, scale=scale)
    before = _gates(con)
    assert before.subject.baseline == "1.0"
    assert {status for _, status, *_ in _judged(before)} <= {"pass", "fail", "unknown"}
    assert all(evidence > 0 for *_, evidence in _judged(before))

    deleted = _retain_before(con, seed.START + 2 * HOUR)
    assert deleted["otel_traces"] > 0
    assert deleted["otel_logs"] > 0
    assert _raw_rows(con, "1.0") == 0
    assert _raw_rows(con, "1.1") > 0

    after = _gates(con)
    assert after.subject.baseline == "1.0", after.notes
    assert _judged(after) == _judged(before)
    if scale > 1:
        assert {status for _, status, *_ in _judged(after)} == {"fail"}


def test_a_partly_deleted_baseline_pruned_below_its_rows_samples_the_same_rows() -> None:
    """Kept samples fewer than the rows (but at least max_samples), retention in two passes: same judgement."""
    con = _store(n=200)
    budgets = Budgets.load({"checks": {c: {"max_samples": 40} for c in KEPT_CHECKS if "connect" not in c and "patch" not in c}})
    before = _gates(con, budgets)
    _retain_before(con, seed.START + timedelta(seconds=20), kept=50)
    assert _raw_rows(con, "1.0") > 0
    _retain_before(con, seed.START + 2 * HOUR, kept=50)
    assert _raw_rows(con, "1.0") == 0
    kept = con.execute("SELECT count(*) FILTER (WHERE LiveEventName IS NOT NULL), count(*) FILTER (WHERE Html) "
                       "FROM liveobs_kept_spans WHERE Release = '1.0'").fetchone()
    assert kept == (50, 50)
    memory = con.execute("SELECT count(*) FROM liveobs_kept_process WHERE Release = '1.0'").fetchone()
    assert memory == (50,)
    # Each pass's release facts are merged: one row per release.
    assert con.execute("SELECT count(*) FROM liveobs_releases WHERE Release = '1.0'").fetchone() == (1,)
    assert _judged(_gates(con, budgets)) == _judged(before)


def test_the_release_lookup_still_finds_a_release_whose_spans_are_gone() -> None:
    con = _store(n=40)
    _retain_before(con, seed.START + 10 * HOUR)
    assert _raw_rows(con, "1.0") == _raw_rows(con, "1.1") == 0
    report = run_gates(con, "performance.regression_event_latency", Subject(service="shop"))
    assert (report.subject.release, report.subject.baseline) == ("1.1", "1.0")
    facts = con.execute("SELECT Release, Environment, Requests > 0 FROM liveobs_releases ORDER BY Release").fetchall()
    assert facts == [("1.0", "production", True), ("1.1", "production", True)]


def test_kept_samples_expire_after_the_kept_horizon_and_release_facts_stay() -> None:
    con = _store(n=40)
    _retain_before(con, seed.START + 2 * HOUR)
    kept = "SELECT (SELECT count(*) FROM liveobs_kept_spans) + (SELECT count(*) FROM liveobs_kept_actions)"
    assert con.execute(kept).fetchone() != (0,)
    retention = Retention(con.cursor(), max_age=None, max_bytes=None, kept_for=3600.0)
    retention.run_once(now_ns=_ns(seed.START + 3 * HOUR))
    retention.close()
    assert con.execute(kept).fetchone() == (0,)
    report = run_gates(con, "performance.regression_event_latency", Subject(service="shop", release="1.1"))
    assert report.subject.baseline == "1.0"
    assert report.results[0].status.value == "unknown"


def test_an_incident_keeps_its_stack_and_sample_events_after_its_spans_are_deleted(tmp_path: Path) -> None:
    con = connect(tmp_path / "kept.duckdb")
    old = time.time_ns() - 48 * 3600 * 10**9
    writer = Writer(con).start()
    try:
        for i in range(3):
            request = sample_spans_request(20, start_ns=old + i * 10**9)
            resource = request.resource_spans[0].resource.attributes.add()
            resource.key, resource.value.string_value = keys.SERVICE_VERSION, "2.0"
            span = request.resource_spans[0].scope_spans[0].spans[0]
            span.status.code = 2
            attribute = span.attributes.add()
            attribute.key, attribute.value.string_value = keys.ERROR_TYPE, "ValueError"
            event = span.events.add()
            event.name, event.time_unix_nano = "exception", span.start_time_unix_nano
            for key, value in ((keys.EXCEPTION_TYPE, "ValueError"), (keys.EXCEPTION_MESSAGE, "bad quantity"),
                               (keys.EXCEPTION_STACKTRACE, f'Traceback (most recent call last):\n  File "app/cart.py", '
                                                           f'line {40 + i}, in update\nValueError: bad quantity')):
                attr = event.attributes.add()
                attr.key, attr.value.string_value = key, value
            writer.write(TRACES, request.SerializeToString())
    finally:
        writer.close()
    before = incidents(con, since="7d")
    assert len(before) == 1
    assert "line 42" in (before[0].stacktrace or "")

    Retention(con.cursor(), max_age=24 * 3600.0, max_bytes=None).run_once()
    assert con.execute("SELECT count(*) FROM otel_traces").fetchall() == [(0,)]
    after = incidents(con, since="7d")
    assert [(i.fingerprint, i.count, i.sample_event_ids, i.releases, i.stacktrace) for i in after] == [
        (i.fingerprint, i.count, i.sample_event_ids, i.releases, i.stacktrace) for i in before]
    con.close()
