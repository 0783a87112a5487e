"""deploy.security_incidents: an incident whose traces carry a liveobs.security decision affects security."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import gate_seed as seed

from liveobs.conventions import evidence as ev
from liveobs.correlator._db import connect
from liveobs.correlator.gates import Status, Subject, run_gates

DENIED = (ev.SECURITY_EVENT, {ev.SECURITY_CHECK: ev.CHECK_SCOPE, ev.SECURITY_OUTCOME: ev.OUTCOME_DENIED})


def _store(with_decision: bool) -> duckdb.DuckDBPyConnection:
    con = connect()
    e = seed.Evidence()
    seed.add_release(e, "1.1", seed.START, n=20)
    at = seed.START + timedelta(minutes=30)
    decided, _ = e.span("1.1", at, {seed.keys.REQUEST_ID: "r-1"}, name="POST /board",
                        events=[DENIED] if with_decision else [])
    e.span("1.1", at, {seed.keys.REQUEST_ID: "r-1"}, name="db", kind="Internal", trace_id=decided)
    plain, _ = e.span("1.1", at, {seed.keys.REQUEST_ID: "r-2"}, name="POST /cart")
    e.write(con)
    for fingerprint, trace in (("fp-decided", decided), ("fp-plain", plain)):
        con.execute("INSERT INTO liveobs_errors (\"Timestamp\", Source, ServiceName, ServiceVersion, Environment, "
                    "ErrorType, Fingerprint, Message, TraceId, RouteId) VALUES (?, 'span', 'shop', '1.1', "
                    "'production', 'KeyError', ?, 'boom', ?, 'board')", [at, fingerprint, trace])
    return con


def _judge(con: duckdb.DuckDBPyConnection) -> tuple[Status, str]:
    (result,) = run_gates(con, "deploy.security_incidents", Subject(service="shop", release="1.1")).results
    return result.status, result.reason


def test_an_incident_whose_trace_carries_a_security_decision_holds_the_deploy_gate() -> None:
    status, reason = _judge(_store(with_decision=True))
    assert status is Status.FAIL, reason
    assert "1 security-affecting incidents" in reason
    assert "fp-decided"[:12] in reason
    assert "its traces carry liveobs.security decisions" in reason
    assert "fp-plain" not in reason


def test_incidents_whose_traces_carry_no_security_decision_do_not() -> None:
    status, reason = _judge(_store(with_decision=False))
    assert status is Status.NOT_APPLICABLE, reason
