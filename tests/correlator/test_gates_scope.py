"""What the scope reads: route-less requests in span_ids, release time bounds, only the tables a check needs."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import gate_seed as seed
import pytest

from liveobs.conventions import evidence as ev
from liveobs.conventions import keys
from liveobs.correlator._db import connect
from liveobs.correlator.gates import Status, Subject, load_checks, run_gates
from liveobs.correlator.gates._catalogue import needed_statements, scope_statements, scoped_tables

REFUSED_BODY = (ev.SECURITY_EVENT, {ev.SECURITY_CHECK: ev.CHECK_BODY_LIMIT, ev.SECURITY_OUTCOME: ev.OUTCOME_REFUSED})


def _store(tmp_path: Path, *extra: tuple[dict[str, object], list[tuple[str, dict[str, str]]]]) -> duckdb.DuckDBPyConnection:
    con = connect(tmp_path / "store.duckdb")
    e = seed.Evidence()
    seed.add_release(e, "1.1", seed.START, n=40)
    at = seed.START + timedelta(minutes=30)
    for attrs, events in extra:
        e.span("1.1", at, {keys.HTTP_REQUEST_METHOD: "POST", keys.SESSION_ID: "s", keys.REQUEST_ID: "r", **attrs},
               events=events)
    e.write(con)
    return con


def _span_ids(con: duckdb.DuckDBPyConnection) -> tuple[Status, str]:
    result = run_gates(con, "observability.span_ids", Subject(release="1.1")).results[0]
    return result.status, result.reason


def test_requests_that_never_reached_a_route_need_no_route_id(tmp_path: Path) -> None:
    unmatched = ({keys.HTTP_RESPONSE_STATUS_CODE: 404, keys.URL_PATH: "/wp-login.php"}, [])
    refused = ({keys.HTTP_RESPONSE_STATUS_CODE: 413, keys.URL_PATH: "/signin"}, [REFUSED_BODY])
    con = _store(tmp_path, unmatched, refused)
    assert _span_ids(con)[0] is Status.PASS


def test_a_routed_request_without_a_route_id_still_fails(tmp_path: Path) -> None:
    # The SDK's own report endpoint answers 202 and refuses nothing: it needs a route id like any other.
    beacon = ({keys.HTTP_RESPONSE_STATUS_CODE: 202, keys.URL_PATH: "/_liveobs/report"}, [])
    status, reason = _span_ids(_store(tmp_path, beacon))
    assert status is Status.FAIL
    assert keys.ROUTE_ID in reason
    assert "(no route)" in reason


def test_an_unmatched_request_still_needs_its_request_id(tmp_path: Path) -> None:
    unmatched = ({keys.HTTP_RESPONSE_STATUS_CODE: 404, keys.REQUEST_ID: ""}, [])
    status, reason = _span_ids(_store(tmp_path, unmatched))
    assert status is Status.FAIL
    assert keys.REQUEST_ID in reason


def test_time_bounds_keep_the_last_record_to_the_nanosecond(tmp_path: Path) -> None:
    con = _store(tmp_path)
    # One more span and log record of the release, 999 ns after the last whole microsecond.
    late = "2030-01-01 00:00:00.000001999"
    con.execute("INSERT INTO otel_traces SELECT * REPLACE (CAST($late AS TIMESTAMP_NS) AS \"Timestamp\", "
                "'fffffffffffffffe' AS SpanId, '' AS ParentSpanId) FROM otel_traces "
                "WHERE ResourceAttributes[$v] = '1.1' LIMIT 1", {"late": late, "v": keys.SERVICE_VERSION})
    con.execute("INSERT INTO otel_logs SELECT * REPLACE (CAST($late AS TIMESTAMP_NS) AS \"Timestamp\") FROM otel_logs "
                "WHERE ResourceAttributes[$v] = '1.1' AND TraceId <> '' LIMIT 1", {"late": late, "v": keys.SERVICE_VERSION})
    spans = con.execute("SELECT count(*) FROM otel_traces WHERE ResourceAttributes[$v] = '1.1'",
                        {"v": keys.SERVICE_VERSION}).fetchone()
    logs = con.execute("SELECT count(*) FROM otel_logs WHERE ResourceAttributes[$v] = '1.1' AND TraceId <> ''",
                       {"v": keys.SERVICE_VERSION}).fetchone()
    assert spans is not None
    assert logs is not None
    result = run_gates(con, "observability.trace_connectivity", Subject(release="1.1")).results[0]
    assert result.evidence == spans[0] + logs[0]


def test_releases_that_overlap_in_time_are_kept_apart(tmp_path: Path) -> None:
    con = connect(tmp_path / "store.duckdb")
    e = seed.Evidence()
    seed.add_release(e, "1.0", seed.START, n=40)
    seed.add_release(e, "1.1", seed.START + timedelta(seconds=5), n=40, faults={"csp_unsafe"})
    e.write(con)
    assert run_gates(con, "security.csp", Subject(release="1.0")).results[0].status is Status.PASS
    assert run_gates(con, "security.csp", Subject(release="1.1")).results[0].status is Status.FAIL


def test_a_release_outside_the_window_has_no_evidence(tmp_path: Path) -> None:
    con = _store(tmp_path)
    later = Subject(release="1.1", since=datetime(2031, 1, 1))
    result = run_gates(con, "security.csp", later).results[0]
    assert result.status is Status.UNKNOWN
    assert result.evidence == 0


@pytest.mark.parametrize(("selection", "built", "not_built"), [
    ("security.csp", {"lo_spans", "lo_span_events"}, {"lo_logs", "lo_baseline_spans", "lo_histograms"}),
    ("performance.event_client", {"lo_logs"}, {"lo_spans", "lo_span_events"}),
    ("performance.regression_event_latency", {"lo_spans", "lo_baseline_spans"}, {"lo_logs"}),
    ("deploy.service_version", set(), {"lo_spans", "lo_logs"}),
])
def test_only_the_scoped_tables_a_check_reads_are_built(selection: str, built: set[str], not_built: set[str]) -> None:
    chosen = [c for c in load_checks() if c.id == selection]
    names = {s.creates for s in needed_statements(*chosen)}
    assert built <= names
    assert not (not_built & names)


def test_every_scoped_table_a_check_reads_is_created_by_the_scope() -> None:
    created = {s.creates for script in ("scope.sql", "baseline.sql") for s in scope_statements(script)}
    for check in load_checks():
        assert scoped_tables(check.body) <= created, check.id


def test_no_convention_name_means_two_keys() -> None:
    """The gates bind every constant of ``keys`` and ``evidence`` by name: one name, one value."""
    from liveobs.conventions import evidence, keys

    def constants(module: object) -> dict[str, str]:
        return {n: v for n, v in vars(module).items() if n.isupper() and isinstance(v, str)}

    shared = constants(keys).keys() & constants(evidence).keys()
    assert {n: (constants(keys)[n], constants(evidence)[n]) for n in shared
            if constants(keys)[n] != constants(evidence)[n]} == {}


def _cpu_with_a_second_process(tmp_path: Path, name: str, resource: dict[str, str]) -> float | None:
    """performance.cpu of a release whose evidence also holds a process busy at two cores."""
    con = connect(tmp_path / f"{name}.duckdb")
    e = seed.Evidence()
    seed.add_release(e, "1.1", seed.START, n=40)
    start = seed.START + timedelta(minutes=31)
    for second in range(1, 5):
        e.counter("1.1", ev.METRIC_PROCESS_CPU, 2.0 * second, start + timedelta(seconds=second), start,
                  resource={"process.pid": "4242", **resource}, attributes={ev.CPU_MODE: "user"})
    e.write(con)
    return run_gates(con, "performance.cpu", Subject(release="1.1")).results[0].observed


def test_a_process_measured_for_milliseconds_is_not_judged(tmp_path: Path) -> None:
    # A unit's last export at shutdown, 4 ms after the one before, with one 10 ms tick of its CPU clock: 2.5 cores
    # that were never used. Its first second of measurement is what makes it count.
    def cpu(name: str, wall: timedelta) -> float | None:
        con = connect(tmp_path / f"{name}.duckdb")
        e = seed.Evidence()
        seed.add_release(e, "1.1", seed.START, n=40)
        start = seed.START + timedelta(minutes=31)
        for at, value in ((start, 0.0), (start + wall, 0.01)):
            e.counter("1.1", ev.METRIC_PROCESS_CPU, value, at, start - timedelta(seconds=1),
                      resource={"process.pid": "4243"}, attributes={ev.CPU_MODE: "user"})
        e.write(con)
        return run_gates(con, "performance.cpu", Subject(release="1.1")).results[0].observed

    shutdown, measured = cpu("shutdown", timedelta(milliseconds=4)), cpu("second", timedelta(seconds=1))
    assert shutdown is not None
    assert shutdown < 1.0  # the other processes of the release, not 2.5
    assert measured is not None
    assert measured < 1.0
    assert cpu("half", timedelta(milliseconds=500)) == shutdown


def test_a_dry_run_process_is_no_evidence_of_the_release(tmp_path: Path) -> None:
    served = _cpu_with_a_second_process(tmp_path, "served", {})
    dry_run = _cpu_with_a_second_process(tmp_path, "dry-run", {keys.EVIDENCE_SOURCE: keys.EVIDENCE_DRY_RUN})
    # The busy process counts when it served; started by liveobs release dry-run it is left out of the scope.
    assert served == pytest.approx(2.0, rel=0.01)
    assert dry_run is not None
    assert dry_run < 1.0
