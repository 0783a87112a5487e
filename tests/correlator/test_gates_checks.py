"""Every check over seeded stores where it passes, fails and is unknown or not applicable (a table test).

The seeded evidence has the shape the SDK and the probe record (the CSP header text,
the page's subresources with their integrity, each handshake's Origin and Host, what a
decision required and held), so each check judges the property, not a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import duckdb
import gate_seed as seed
import pytest

from liveobs.correlator._db import connect
from liveobs.correlator.gates import Manifest, Status, Subject, check_ids, run_gates


@dataclass(frozen=True)
class Case:
    """How to make one check fail (``faults``) and unknown (``skip``) in the current release."""

    check: str
    faults: frozenset[str] = frozenset()
    skip: frozenset[str] = frozenset()
    fail_current: dict[str, Any] = field(default_factory=dict)
    unknown_baseline: bool = True
    fail_manifest: Manifest | None = None
    unknown_manifest: Manifest | None = None
    n: int = 60
    # Without its evidence the check is not applicable (nothing to judge) instead of unknown.
    absent: Status = Status.UNKNOWN


def case(check: str, fault: str = "", skip: str | frozenset[str] = "", **kw: Any) -> Case:
    skips = skip if isinstance(skip, frozenset) else frozenset({skip} if skip else ())
    return Case(check, frozenset({fault} if fault else ()), skips, **kw)


ALL = seed.ALL_KINDS
GOOD = Manifest(current="1.1", rollback="1.0", service="shop", environment="production")
NA = Status.NOT_APPLICABLE
# Samples enough to detect the budgeted slowdown with 80% power at the seed's spread.
POWERED = 600
CASES = [
    case("observability.span_ids", "missing_request_id", frozenset({"http", "live"})),
    case("observability.log_ids", "log_missing_session", "logs"),
    case("observability.trace_connectivity", "orphans", ALL),
    case("observability.browser_joins", "unjoined_actions", "browser"),
    case("observability.error_classes", "error_unclassified", "errors", absent=NA),
    case("observability.error_replies", "reply_exposes", "errors", absent=NA),
    case("observability.metric_correlation", "exemplar_orphans", "metrics"),
    case("observability.secret_scan", "secret", ALL),
    case("security.csp", "csp_unsafe", "csp"),
    case("security.sri", "sri_missing", "sri"),
    case("security.ws_origin", "ws_foreign_accepted", frozenset({"ws", "connections"})),
    case("security.ws_host", "ws_foreign_accepted", frozenset({"ws", "connections"})),
    case("security.body_limit", "body_accepted", "body"),
    case("security.upload_scan", "infected_accepted", "upload", absent=NA),
    case("security.rate_limit", "burst_passed", "rate"),
    case("security.scope", "scope_overreach", "scope"),
    case("security.capability", "capability_allowed", "capability"),
    case("security.session_key_age", "old_key", "keys"),
    case("security.key_custody", "literal_key", "keys"),
    case("security.key_material", "key_material", ALL),
    case("performance.render", "slow", "metrics"),
    case("performance.connect", "slow", "metrics"),
    case("performance.event_server", "slow", "live"),
    case("performance.event_client", "slow", "browser"),
    case("performance.patch_size", "fat_patches", "metrics"),
    case("performance.reconnect_rate", "reconnect_storm", "connections"),
    case("performance.streams", "fat_stream", "metrics"),
    case("performance.uploads", "slow", "upload", absent=NA),
    case("performance.concurrent_sessions", "idle", "metrics"),
    case("performance.memory", "memory_hog", "metrics"),
    case("performance.cpu", "cpu_hog", "metrics"),
    case("performance.compression", "incompressible", "metrics"),
    *[case(f"performance.regression_{name}", fail_current={"scale": 1.3}, unknown_baseline=False, n=POWERED)
      for name in ("event_latency", "client_latency", "render", "connect", "patch_size", "memory", "cpu")],
    case("deploy.readiness", "not_ready", "readiness"),
    case("deploy.service_version", "unversioned", ALL, unknown_baseline=False),
    case("deploy.rollback", fail_manifest=Manifest(current="1.1", rollback="0.9-fixture"), unknown_manifest=None),
]


def _store(current: dict[str, Any], baseline: bool = True, n: int = 60) -> duckdb.DuckDBPyConnection:
    con = connect()
    e = seed.Evidence()
    if baseline:
        seed.add_release(e, "1.0", seed.START, n=n)
    seed.add_release(e, "1.1", seed.START + timedelta(hours=1), n=n, **current)
    e.write(con)
    return con


def _run(con: duckdb.DuckDBPyConnection, check: str, manifest: Manifest | None) -> tuple[Status, str]:
    report = run_gates(con, check, Subject(service="shop", release="1.1"), manifest=manifest)
    assert [r.id for r in report.results] == [check]
    result = report.results[0]
    return result.status, result.reason


def test_the_table_covers_every_packaged_check() -> None:
    assert sorted([*(c.check for c in CASES), *seed.RELEASE_FACT_CHECKS]) == sorted(check_ids())


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.check)
def test_check_passes_on_healthy_evidence(c: Case) -> None:
    status, reason = _run(_store({}, n=c.n), c.check, GOOD)
    assert status is Status.PASS, reason


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.check)
def test_check_fails_on_its_defect(c: Case) -> None:
    con = _store({"faults": c.faults, **c.fail_current}, n=c.n)
    status, reason = _run(con, c.check, c.fail_manifest or GOOD)
    assert status is Status.FAIL, reason


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.check)
def test_check_is_unknown_without_its_evidence(c: Case) -> None:
    con = _store({"skip": c.skip}, baseline=c.unknown_baseline)
    manifest = c.unknown_manifest if c.check == "deploy.rollback" else GOOD
    if not c.unknown_baseline and manifest is not None:
        manifest = Manifest(current="1.1", rollback="0.9", service="shop", environment="production")
    status, reason = _run(con, c.check, manifest)
    assert status is c.absent, reason
    assert reason


def _with_refused_socket(session_on_span: bool) -> duckdb.DuckDBPyConnection:
    """Healthy evidence plus one socket handshake refused before sign-in, and its log line."""
    con = connect()
    e = seed.Evidence()
    seed.add_release(e, "1.0", seed.START, n=60)
    seed.add_release(e, "1.1", seed.START + timedelta(hours=1), n=60)
    at = seed.START + timedelta(hours=1, minutes=30)
    span_attrs = {seed.keys.CONNECTION_ID: "c-refused", seed.keys.REQUEST_ID: "r-refused"}
    if session_on_span:
        span_attrs[seed.keys.SESSION_ID] = "s-known"
    trace, span = e.span("1.1", at, span_attrs, name="live connection", kind="Internal",
                         events=[("liveobs.live.connect", {})])
    e.log("1.1", at, {seed.keys.CONNECTION_ID: "c-refused", seed.keys.REQUEST_ID: "r-refused"}, body="live socket refused: not signed in",
          trace_id=trace, span_id=span)
    e.write(con)
    return con


def test_a_log_line_is_not_asked_for_a_session_its_request_never_had() -> None:
    status, reason = _run(_with_refused_socket(session_on_span=False), "observability.log_ids", GOOD)
    assert status is Status.PASS, reason


def test_a_log_line_that_drops_its_requests_session_fails() -> None:
    status, reason = _run(_with_refused_socket(session_on_span=True), "observability.log_ids", GOOD)
    assert status is Status.FAIL, reason
    assert "session.id" in reason


def _uploads_exported_twice(cumulative_series: bool) -> duckdb.DuckDBPyConnection:
    """Upload durations exported twice: 2 uploads, then 3 in all (cumulative) or 3 more (delta)."""
    con = connect()
    e = seed.Evidence()
    seed.add_release(e, "1.0", seed.START, n=60)
    seed.add_release(e, "1.1", seed.START + timedelta(hours=1), n=60, skip=frozenset({"upload"}))
    first, second = seed.START + timedelta(hours=1, minutes=1), seed.START + timedelta(hours=1, minutes=2)
    start = first - timedelta(minutes=1)
    e.histogram("1.1", seed.ev.METRIC_UPLOAD_DURATION, [100.0, 120.0], at=first, start=start)
    e.histogram("1.1", seed.ev.METRIC_UPLOAD_DURATION, [100.0, 120.0, 130.0], at=second,
                start=start if cumulative_series else first)
    e.write(con)
    return con


def test_a_cumulative_histogram_counts_its_latest_point_only() -> None:
    # 3 uploads in all: below the check's minimum of 5, so too little evidence.
    status, reason = _run(_uploads_exported_twice(cumulative_series=True), "performance.uploads", GOOD)
    assert status is Status.UNKNOWN, reason
    assert "3 evidence" in reason


def test_histogram_points_of_separate_series_add_up() -> None:
    status, reason = _run(_uploads_exported_twice(cumulative_series=False), "performance.uploads", GOOD)
    assert status is Status.PASS, reason
