"""Secrets that reached the exporter's tables unredacted never appear in trace, incidents or gate output.

An app without the SDK exports through the Collector straight into ClickHouse: nothing
scrubbed its spans, events, status messages, log bodies, log and resource attributes.
The rows are written here as the exporter writes them (its columns and Nested arrays).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from redaction_corpus import SECRET_KEYS, secret_corpus

from liveobs.conventions import keys
from liveobs.correlator._incidents import incidents
from liveobs.correlator._sqlcursor import cursor_for
from liveobs.correlator._trace import trace
from liveobs.correlator.gates import Subject, run_gates
from liveobs.correlator.stores import Store

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC).replace(tzinfo=None)
RELEASE = "2.0.0"
SERVICE = "plain-otel-app"


def _ns(at: datetime) -> int:
    return int((at - datetime(1970, 1, 1)).total_seconds() * 1_000_000) * 1000


def _load(store: Store, corpus: list[tuple[str, str, str]]) -> list[str]:
    """Failing request traces, ten spans each, one secret per span in every place an app can put it.

    Returns the trace ids."""
    resource = {keys.SERVICE_NAME: SERVICE, keys.SERVICE_VERSION: RELEASE,
                keys.DEPLOYMENT_ENVIRONMENT: "production"}
    spans, logs, errors, trace_ids = [], [], [], []
    for n, (_kind, text, _part) in enumerate(corpus):
        at = START + timedelta(seconds=n)
        if n % 10 == 0:
            trace_ids.append(uuid.uuid4().hex)
        trace_id, span_id = trace_ids[-1], uuid.uuid4().hex[:16]
        key = SECRET_KEYS[n % len(SECRET_KEYS)]
        attributes = {"http.request.method": "POST", "http.route": "/orders", keys.ERROR_TYPE: "ValueError",
                      "app.note": text, key: text, "url.full": f"https://api.example/orders?token={text}"}
        exception = {keys.EXCEPTION_TYPE: "ValueError", keys.EXCEPTION_MESSAGE: f"bad input {text}",
                     keys.EXCEPTION_STACKTRACE: f'Traceback (most recent call last):\n  File "app/orders.py", '
                                                f'line 12, in create\n    raise ValueError("{text}")\nValueError: {text}'}
        spans.append([_ns(at), trace_id, span_id, "", "", "POST /orders", "Server", SERVICE,
                      {**resource, "app.deploy.note": text}, "app", "1", attributes, 5_000_000, "Error",
                      f"failed with {text}", [_ns(at) + 1000], ["exception"], [exception]])
        logs.append([_ns(at) + 2000, trace_id, span_id, 1, "ERROR", 17, SERVICE, f"order failed: {text}",
                     resource, "app", {key: text, "detail": text}, ""])
        errors.append([_ns(at), "span", SERVICE, RELEASE, "production", "ValueError", f"fp{n % 3}",
                       f"bad input {text}", trace_id, span_id, None, None, None, "/orders"])
    store.insert("otel_traces", spans, [
        "Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "SpanName", "SpanKind", "ServiceName",
        "ResourceAttributes", "ScopeName", "ScopeVersion", "SpanAttributes", "Duration", "StatusCode",
        "StatusMessage", "Events.Timestamp", "Events.Name", "Events.Attributes"])
    store.insert("otel_logs", logs, [
        "Timestamp", "TraceId", "SpanId", "TraceFlags", "SeverityText", "SeverityNumber", "ServiceName", "Body",
        "ResourceAttributes", "ScopeName", "LogAttributes", "EventName"])
    # What an index over the exporter's tables copies from a failing span: its raw message.
    store.insert("liveobs_errors", errors, [
        "Timestamp", "Source", "ServiceName", "ServiceVersion", "Environment", "ErrorType", "Fingerprint", "Message",
        "TraceId", "SpanId", "EventId", "SessionId", "RequestId", "RouteId"])
    return trace_ids


def _leaks(output: Any, corpus: list[tuple[str, str, str]]) -> list[str]:
    text = json.dumps(output, default=str)
    return [kind for kind, _text, part in corpus if part in text]


def test_unredacted_secrets_in_the_exporter_tables_never_reach_the_output(chdb_store: Store) -> None:
    corpus = secret_corpus()
    trace_ids = _load(chdb_store, corpus)
    cur = cursor_for(chdb_store)
    stored = cur.execute("SELECT count(*) FROM otel_traces WHERE starts_with(StatusMessage, 'failed with ')").fetchone()
    assert stored == (len(corpus),)

    traced = [trace(cur, trace_id=t).to_dict() for t in trace_ids]
    assert all(t["spans"] and t["logs"] and t["error_class"] == "ValueError" for t in traced)
    assert _leaks(traced, corpus) == []

    found = [i.to_dict() for i in incidents(cur, limit=10)]
    assert sum(i["count"] for i in found) == len(corpus)
    assert all(i["stacktrace"] for i in found)
    assert _leaks(found, corpus) == []

    report = run_gates(cur, "all", Subject(service=SERVICE, release=RELEASE))
    scan = next(r for r in report.results if r.id == "observability.secret_scan")
    assert scan.status == "fail"
    assert scan.observed is not None
    assert scan.observed > 0
    assert _leaks(report.to_dict(), corpus) == []
