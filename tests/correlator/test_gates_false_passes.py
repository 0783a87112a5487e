"""The false passes (and false fails) the audit of the gates found, each as a test that now holds.

Evidence is seeded in the shape the SDK and the probe record (see ``gate_seed``); the
recorded-evidence table (``test_gates_recorded``) and the probe tests cover the same
properties through the real SDK and probe.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import duckdb
import gate_seed as seed
import pytest

from liveobs.conventions import evidence as ev
from liveobs.conventions import keys
from liveobs.correlator._db import connect
from liveobs.correlator.gates import (
    GateError,
    Manifest,
    Status,
    Subject,
    not_applicable_passes,
    regression,
    run_gates,
)
from liveobs.evidence import stored_form

MANIFEST = Manifest(current="1.1", rollback="1.0", service="shop", environment="production")
LATER = seed.START + timedelta(hours=1)


def _store(build: Any) -> duckdb.DuckDBPyConnection:
    con = connect()
    e = seed.Evidence()
    build(e)
    e.write(con)
    return con


def _two_releases(e: seed.Evidence, **current: Any) -> None:
    seed.add_release(e, "1.0", seed.START, n=60)
    seed.add_release(e, "1.1", LATER, n=60, **current)


def _check(con: duckdb.DuckDBPyConnection, check: str, manifest: Manifest | None = MANIFEST,
           subject: Subject | None = None) -> tuple[Status, str]:
    report = run_gates(con, check, subject or Subject(), manifest=manifest)
    (result,) = report.results
    return result.status, result.reason


# --- CSP and SRI -------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", [
    "default-src *; script-src * 'unsafe-eval' 'nonce-AAAA'; object-src *; base-uri *",
    "script-src 'self' https: data: blob:; object-src 'none'; base-uri 'none'",
    "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'nonce-abc'; object-src 'none'; base-uri 'none'",
])
def test_a_weak_csp_fails_whatever_nonce_it_carries(policy: str) -> None:
    def build(e: seed.Evidence) -> None:
        _two_releases(e, skip={"csp"})
        e.span("1.1", LATER, {keys.HTTP_ROUTE: "/board"}, events=[(ev.SECURITY_EVENT, {
            ev.SECURITY_CHECK: ev.CHECK_CSP, ev.SECURITY_OUTCOME: ev.OUTCOME_PRESENT,
            ev.CSP_POLICY: stored_form(policy)})])

    status, reason = _check(_store(build), "security.csp")
    assert status is Status.FAIL, reason


def test_a_nonce_served_on_two_responses_fails_csp() -> None:
    status, reason = _check(_store(lambda e: _two_releases(e, faults={"csp_nonce_reused"})), "security.csp")
    assert status is Status.FAIL
    assert "nonces served on more than one response" in reason


def test_an_empty_integrity_digest_fails_sri() -> None:
    status, reason = _check(_store(lambda e: _two_releases(e, faults={"sri_missing"})), "security.sri")
    assert status is Status.FAIL
    assert "malformed integrity" in reason


def test_integrity_that_does_not_match_the_served_asset_fails_sri() -> None:
    def build(e: seed.Evidence) -> None:
        _two_releases(e, skip={"sri"})
        event = seed._sri_event(seed.client_script(), served=b"/* another build */")
        e.span("1.1", LATER, {keys.HTTP_ROUTE: "/board"}, events=[(ev.SECURITY_EVENT, event)])

    status, reason = _check(_store(build), "security.sri")
    assert status is Status.FAIL
    assert "does not match the served asset" in reason


def test_pages_without_cross_origin_or_client_scripts_make_sri_not_applicable() -> None:
    def build(e: seed.Evidence) -> None:
        _two_releases(e, skip={"sri"})
        for page in ("<p>maintenance</p>", '<script src="/static/app.js"></script><script>inline()</script>'):
            e.span("1.1", LATER, {keys.HTTP_ROUTE: "/down"}, events=[(ev.SECURITY_EVENT, seed._sri_event(page))])

    status, reason = _check(_store(build), "security.sri")
    assert status is Status.NOT_APPLICABLE, reason


# --- keys, rollback, readiness, subject ----------------------------------------------------------


def test_a_key_first_used_long_ago_is_old_whatever_the_app_reports() -> None:
    def build(e: seed.Evidence) -> None:
        # k1 in use 120 days before the release; the app now reports no age for it (or 0).
        e.security("0.9", seed.START - timedelta(days=120), ev.CHECK_SESSION_KEY, ev.OUTCOME_PRESENT,
                   **{ev.KEY_ID: "k1", ev.KEY_AGE_SECONDS: 0})
        _two_releases(e)

    status, reason = _check(_store(build), "security.session_key_age")
    assert status is Status.FAIL
    assert "k1 is 120" in reason


@pytest.mark.parametrize("environment", ["e2e", "qa", "staging", "preview", "Test ", ""])
def test_a_rollback_target_outside_production_fails(environment: str) -> None:
    def build(e: seed.Evidence) -> None:
        old = seed.Evidence(environment=environment, rng=e.rng)
        seed.add_release(old, "1.0", seed.START, n=60)
        e.spans += old.spans
        seed.add_release(e, "1.1", LATER, n=60)

    status, reason = _check(_store(build), "deploy.rollback")
    assert status is Status.FAIL
    assert "never served requests in production" in reason


def test_one_request_from_a_laptop_does_not_make_a_rollback_target() -> None:
    def build(e: seed.Evidence) -> None:
        e.span("1.0", seed.START, {keys.HTTP_REQUEST_METHOD: "GET"})
        seed.add_release(e, "1.1", LATER, n=60)

    status, reason = _check(_store(build), "deploy.rollback")
    assert status is Status.FAIL
    assert "served 1 requests, need 100" in reason


def test_probe_and_driven_traffic_do_not_make_a_rollback_target() -> None:
    def build(e: seed.Evidence) -> None:
        for i in range(150):
            at = seed.START + timedelta(minutes=i)
            e.span("1.0", at, {keys.EVIDENCE_SOURCE: keys.EVIDENCE_DRIVEN, keys.HTTP_REQUEST_METHOD: "GET"})
            e.span("1.0", at, {}, scope=ev.PROBE_SCOPE)
        seed.add_release(e, "1.1", LATER + timedelta(hours=3), n=60)

    status, reason = _check(_store(build), "deploy.rollback")
    assert status is Status.FAIL
    assert "never served" in reason


@pytest.mark.parametrize(("fault", "words"), [
    ("ready_redirect", "/readyz redirected 1 times"),
    ("ready_other_release", "body names release 0.9-fixture"),
    ("not_ready", "/readyz status fail"),
])
def test_readiness_is_judged_from_the_answer_itself(fault: str, words: str) -> None:
    status, reason = _check(_store(lambda e: _two_releases(e, faults={fault})), "deploy.readiness")
    assert status is Status.FAIL
    assert words in reason


def test_stale_readiness_does_not_count() -> None:
    def build(e: seed.Evidence) -> None:
        _two_releases(e, skip={"readiness"})
        for endpoint in (keys.HEALTH_READYZ_PATH, keys.HEALTH_READINESS_PATH):
            e.span("1.1", LATER - timedelta(days=30), {}, kind="Client", scope=ev.PROBE_SCOPE, events=[(
                ev.READINESS_EVENT, {ev.READINESS_ENDPOINT: endpoint, ev.READINESS_STATUS: "pass",
                                     ev.READINESS_HTTP_STATUS: "200", ev.READINESS_VERSION: "1.1"})])

    status, reason = _check(_store(build), "deploy.readiness")
    assert status is Status.UNKNOWN
    assert "2 older answers not counted" in reason


def test_readiness_from_another_environment_does_not_count() -> None:
    def build(e: seed.Evidence) -> None:
        _two_releases(e, skip={"readiness"})
        staging = seed.Evidence(environment="staging", rng=e.rng)
        seed.add_release(staging, "1.1", LATER, n=5, skip=seed.ALL_KINDS - {"readiness"})
        e.spans += staging.spans

    status, reason = _check(_store(build), "deploy.readiness")
    assert status is Status.UNKNOWN, reason


def test_another_services_evidence_with_the_same_version_never_counts() -> None:
    def build(e: seed.Evidence) -> None:
        _two_releases(e, skip={"ws", "connections"})
        fixture = seed.Evidence(service="shop-fixture", environment="test", rng=e.rng)
        seed.add_release(fixture, "1.1", LATER, n=5)
        e.spans += fixture.spans

    con = _store(build)
    status, reason = _check(con, "security.ws_origin")
    assert status is Status.UNKNOWN, reason
    with pytest.raises(GateError, match="several services"):
        run_gates(con, "security.ws_origin", Subject())


def test_the_regression_baseline_is_the_manifests_rollback_target_not_a_debug_build() -> None:
    def build(e: seed.Evidence) -> None:
        seed.add_release(e, "1.0", seed.START, n=600)
        debug = seed.Evidence(environment="test", rng=e.rng)
        seed.add_release(debug, "1.1-rc1", seed.START + timedelta(minutes=30), n=600, scale=5.0)
        e.spans += debug.spans
        seed.add_release(e, "1.1", LATER, n=600, scale=3.0)

    con = _store(build)
    report = run_gates(con, "performance.regression_event_latency", Subject(), manifest=MANIFEST)
    assert report.subject.baseline == "1.0"
    assert report.results[0].status is Status.FAIL, report.results[0].reason
    # Without a manifest the baseline is the release before it in the same environment, never another one's.
    report = run_gates(con, "performance.regression_event_latency", Subject(service="shop", release="1.1"))
    assert (report.subject.baseline, report.subject.environment) == ("1.0", "production")


# --- origin, capability, scope, uploads -------------------------------------------------------------


def test_an_accepted_foreign_origin_fails_whatever_else_was_refused() -> None:
    status, reason = _check(_store(lambda e: _two_releases(e, faults={"ws_foreign_accepted"})), "security.ws_origin")
    assert status is Status.FAIL
    assert "https://evil.example" in reason


def test_a_refusal_of_a_client_without_origin_is_not_evidence_of_an_origin_check() -> None:
    def build(e: seed.Evidence) -> None:
        _two_releases(e, skip={"ws", "connections"})
        e.security("1.1", LATER, ev.CHECK_WS_ORIGIN, ev.OUTCOME_REFUSED,
                   **{ev.SECURITY_VALUE: "(none)", ev.HANDSHAKE_HOST: "shop.example"})

    status, reason = _check(_store(build), "security.ws_origin")
    assert status is Status.UNKNOWN, reason


def test_a_viewer_allowed_board_delete_fails_capability() -> None:
    status, reason = _check(_store(lambda e: _two_releases(e, faults={"capability_allowed"})), "security.capability")
    assert status is Status.FAIL
    assert "board.delete" in reason


def test_decisions_needing_two_scopes_or_none_pass_and_a_missing_one_fails() -> None:
    status, reason = _check(_store(_two_releases), "security.scope")
    assert status is Status.PASS, reason
    status, reason = _check(_store(lambda e: _two_releases(e, faults={"scope_overreach"})), "security.scope")
    assert status is Status.FAIL, reason


def test_a_stub_scanner_that_accepts_the_eicar_canary_fails() -> None:
    status, reason = _check(_store(lambda e: _two_releases(e, faults={"eicar_accepted"})), "security.upload_scan")
    assert status is Status.FAIL
    assert "scanner noop/0 called it clean" in reason


def test_uploads_without_the_canary_are_unknown() -> None:
    def build(e: seed.Evidence) -> None:
        _two_releases(e, skip={"upload"})
        e.security("1.1", LATER, ev.CHECK_UPLOAD_SCAN, ev.OUTCOME_CLEAN, **{ev.SECURITY_DECISION: ev.OUTCOME_ACCEPTED})

    status, reason = _check(_store(build), "security.upload_scan")
    assert status is Status.UNKNOWN
    assert "upload the EICAR test file" in reason


# --- measures: cpu, reconnects, errors -------------------------------------------------------------


@pytest.mark.parametrize("temporality", [1, 2])
def test_cpu_adds_every_mode_under_either_temporality(temporality: int) -> None:
    def build(e: seed.Evidence) -> None:
        _two_releases(e, skip={"metrics"})
        previous = LATER
        for i in range(11):  # user and system each 0.5 s per second for 10 s: one core
            at = LATER + timedelta(seconds=i)
            for mode in ("user", "system"):
                value = 0.5 if temporality == 1 else 0.5 * i
                e.counter("1.1", ev.METRIC_PROCESS_CPU, value, at, previous if temporality == 1 else LATER,
                          attributes={ev.CPU_MODE: mode}, temporality=temporality)
            previous = at

    status, reason = _check(_store(build), "performance.cpu")
    assert status is Status.FAIL, reason
    assert reason.startswith("1 breaks")


def test_refused_handshakes_and_second_tabs_are_no_reconnects() -> None:
    con = _store(_two_releases)
    report = run_gates(con, "performance.reconnect_rate", Subject(), manifest=MANIFEST)
    # 60 connects, one reconnect after its connection ended, a second tab, a refused retry.
    assert "1 reconnects over 62 accepted connects" in report.results[0].reason


def test_a_release_without_errors_is_not_applicable_for_the_error_checks_and_the_gate_passes() -> None:
    con = _store(lambda e: _two_releases(e, skip={"errors"}))
    report = run_gates(con, "observability", Subject(), manifest=MANIFEST)
    statuses = {r.id: r.status for r in report.results}
    assert statuses["observability.error_classes"] is Status.NOT_APPLICABLE
    assert statuses["observability.error_replies"] is Status.NOT_APPLICABLE
    assert int(report.exit_code) == 0


def test_a_rollback_target_from_another_production_environment_does_not_count() -> None:
    def build(e: seed.Evidence) -> None:
        other = seed.Evidence(environment="prod", rng=e.rng)
        seed.add_release(other, "1.0", seed.START, n=60)
        e.spans += other.spans
        seed.add_release(e, "1.1", LATER, n=60)

    status, reason = _check(_store(build), "deploy.rollback")
    assert status is Status.FAIL, reason


def test_the_production_profile_lets_not_applicable_pass() -> None:
    assert not_applicable_passes("deployment-production")
    assert not_applicable_passes("security")


def test_a_profile_can_hold_not_applicable_at_unknown() -> None:
    con = _store(lambda e: _two_releases(e, skip={"errors"}))
    report = run_gates(con, "observability", Subject(), manifest=MANIFEST)
    strict = type(report)(report.subject, report.results, not_applicable_passes=False)
    assert int(strict.exit_code) == 2


def test_one_memory_sample_or_one_stream_item_is_too_little() -> None:
    def build(e: seed.Evidence) -> None:
        _two_releases(e, skip={"metrics"})
        e.gauge("1.1", ev.METRIC_PROCESS_MEMORY, 100 * 1048576, LATER)
        e.counter("1.1", ev.METRIC_STREAM_ITEMS, 1, LATER)
        e.counter("1.1", ev.METRIC_STREAM_BYTES, 100, LATER)

    con = _store(build)
    for check in ("performance.memory", "performance.streams"):
        status, reason = _check(con, check)
        assert status is Status.UNKNOWN, reason


@pytest.mark.parametrize(("fault", "words"), [
    ("exemplar_orphans", "exemplars resolve"),
    ("unrouted_metrics", "carry http.route"),
])
def test_metrics_without_route_or_with_unresolved_exemplars_fail_correlation(fault: str, words: str) -> None:
    status, reason = _check(_store(lambda e: _two_releases(e, faults={fault})), "observability.metric_correlation")
    assert status is Status.FAIL
    assert words in reason


def test_metrics_without_a_release_fail_correlation() -> None:
    def build(e: seed.Evidence) -> None:
        _two_releases(e)
        e.histogram(None, ev.METRIC_RENDER_DURATION, [10.0] * 5, at=LATER)  # type: ignore[arg-type]

    status, reason = _check(_store(build), "observability.metric_correlation")
    assert status is Status.FAIL
    assert "carry service.version" in reason


# --- regression power -------------------------------------------------------------------------------


def _latencies(rng: random.Random, n: int, sigma: float, scale: float = 1.0) -> list[float]:
    return [20 * scale * rng.lognormvariate(0, sigma) for _ in range(n)]


def test_an_underpowered_comparison_never_passes() -> None:
    # The audit: at 30 samples a 2x slowdown with sigma 1 passed in 111 of 200 trials.
    passed = 0
    for trial in range(200):
        rng = random.Random(trial)
        status, _, _ = regression(_latencies(rng, 30, 1.0, 2.0), _latencies(rng, 30, 1.0), 0.01, 0.2)
        passed += status is Status.PASS
    assert passed == 0


def test_a_slower_tail_is_a_regression_even_when_the_median_holds() -> None:
    rng = random.Random(5)
    baseline = _latencies(rng, 3000, 0.25)
    current = _latencies(rng, 3000, 0.25)
    current = sorted(current)
    slow = len(current) // 10
    current = current[:-slow] + [v * 20 for v in current[-slow:]]
    status, reason, _ = regression(current, baseline, 0.01, 0.2)
    assert status is Status.FAIL
    assert "tail slower" in reason
