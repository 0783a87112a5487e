"""Seeding stores for the gate tests: real rows in the real schema, written with Arrow.

:class:`Evidence` accumulates spans, log records and metric points for one service
and writes them with ``INSERT … BY NAME SELECT`` from Arrow tables.
:func:`add_release` lays down a release whose evidence passes every check;
``skip`` leaves a kind of evidence out (the check turns ``unknown``) and
``faults`` plants a defect (the check turns ``fail``).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from liveobs.conventions import evidence as ev
from liveobs.conventions import keys
from liveobs.evidence import (
    EICAR,
    Served,
    asset_digests,
    canary_of,
    page_resources,
    resources_json,
    served_json,
    stored_form,
    upload_digest,
)

MAP = pa.map_(pa.string(), pa.string())
TS = pa.timestamp("ns")
START = datetime(2026, 5, 1, 12, 0, 0)
BOUNDS = [0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 10000.0]
SIZE_BOUNDS = [0.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0]
PATCH_BOUNDS = [0.0, 250.0, 500.0, 600.0, 700.0, 800.0, 900.0, 1000.0, 1100.0, 1250.0, 1500.0, 2000.0, 4000.0, 16384.0,
                65536.0, 262144.0]
RATIO_BOUNDS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]

_TRACE_FIELDS = [
    ("Timestamp", TS), ("TraceId", pa.string()), ("SpanId", pa.string()), ("ParentSpanId", pa.string()),
    ("TraceState", pa.string()), ("SpanName", pa.string()), ("SpanKind", pa.string()), ("ServiceName", pa.string()),
    ("ResourceAttributes", MAP), ("ScopeName", pa.string()), ("ScopeVersion", pa.string()),
    ("SpanAttributes", MAP), ("Duration", pa.uint64()), ("StatusCode", pa.string()), ("StatusMessage", pa.string()),
    ("Events", pa.struct([("Timestamp", pa.list_(TS)), ("Name", pa.list_(pa.string())), ("Attributes", pa.list_(MAP))])),
]
_LOG_FIELDS = [
    ("Timestamp", TS), ("TraceId", pa.string()), ("SpanId", pa.string()), ("TraceFlags", pa.uint8()),
    ("SeverityText", pa.string()), ("SeverityNumber", pa.uint8()), ("ServiceName", pa.string()), ("Body", pa.string()),
    ("ResourceAttributes", MAP), ("ScopeName", pa.string()), ("LogAttributes", MAP), ("EventName", pa.string()),
]
_METRIC_COMMON = [
    ("ResourceAttributes", MAP), ("ScopeName", pa.string()), ("ServiceName", pa.string()),
    ("MetricName", pa.string()), ("Attributes", MAP), ("StartTimeUnix", TS), ("TimeUnix", TS),
]
_EXEMPLARS = pa.struct([("FilteredAttributes", pa.list_(MAP)), ("TimeUnix", pa.list_(TS)), ("Value", pa.list_(pa.float64())),
                        ("SpanId", pa.list_(pa.string())), ("TraceId", pa.list_(pa.string()))])
_METRIC_FIELDS = {
    "otel_metrics_histogram": [*_METRIC_COMMON, ("Count", pa.uint64()), ("Sum", pa.float64()),
                               ("BucketCounts", pa.list_(pa.uint64())), ("ExplicitBounds", pa.list_(pa.float64())),
                               ("Min", pa.float64()), ("Max", pa.float64()), ("AggregationTemporality", pa.int32()),
                               ("Exemplars", _EXEMPLARS)],
    "otel_metrics_sum": [*_METRIC_COMMON, ("Value", pa.float64()), ("AggregationTemporality", pa.int32()),
                         ("IsMonotonic", pa.bool_())],
    "otel_metrics_gauge": [*_METRIC_COMMON, ("Value", pa.float64())],
}


def _map(d: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in d.items() if v is not None]


def bucket_counts(values: Iterable[float], bounds: list[float]) -> list[int]:
    """OTel explicit buckets: bucket i holds (bounds[i-1], bounds[i]], the last everything above."""
    counts = [0] * (len(bounds) + 1)
    for v in values:
        counts[next((i for i, b in enumerate(bounds) if v <= b), len(bounds))] += 1
    return counts


@dataclass
class Evidence:
    """Rows for one service, written to a store by :meth:`write`."""

    service: str = "shop"
    environment: str = "production"
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    spans: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def hex_id(self, width: int) -> str:
        return f"{next(self._ids) + 1:0{width}x}"

    def resource(self, release: str | None, environment: str | None = None) -> list[tuple[str, str]]:
        return _map({keys.SERVICE_NAME: self.service, keys.SERVICE_VERSION: release,
                     keys.DEPLOYMENT_ENVIRONMENT: environment or self.environment})

    def span(
        self,
        release: str | None,
        at: datetime,
        attrs: Mapping[str, Any] | None = None,
        *,
        name: str = "GET /",
        kind: str = "Server",
        duration_ms: float = 10.0,
        trace_id: str | None = None,
        parent: str = "",
        status: str = "Unset",
        events: Iterable[tuple[str, Mapping[str, Any]]] = (),
        scope: str = "liveobs.sdk",
        environment: str | None = None,
    ) -> tuple[str, str]:
        trace_id = trace_id or self.hex_id(32)
        span_id = self.hex_id(16)
        events = list(events)
        self.spans.append({
            "Timestamp": at, "TraceId": trace_id, "SpanId": span_id, "ParentSpanId": parent, "TraceState": "",
            "SpanName": name, "SpanKind": kind, "ServiceName": self.service,
            "ResourceAttributes": self.resource(release, environment), "ScopeName": scope, "ScopeVersion": "0.1.0",
            "SpanAttributes": _map(attrs or {}), "Duration": round(duration_ms * 1e6), "StatusCode": status,
            "StatusMessage": "",
            "Events": {"Timestamp": [at] * len(events), "Name": [n for n, _ in events],
                       "Attributes": [_map(a) for _, a in events]},
        })
        return trace_id, span_id

    def log(
        self,
        release: str | None,
        at: datetime,
        attrs: Mapping[str, Any] | None = None,
        *,
        body: str = "",
        event_name: str = "",
        trace_id: str = "",
        span_id: str = "",
        severity: int = 9,
    ) -> None:
        self.logs.append({
            "Timestamp": at, "TraceId": trace_id, "SpanId": span_id, "TraceFlags": 1, "SeverityText": "INFO",
            "SeverityNumber": severity, "ServiceName": self.service, "Body": body,
            "ResourceAttributes": self.resource(release), "ScopeName": "liveobs.sdk",
            "LogAttributes": _map(attrs or {}), "EventName": event_name,
        })

    def _metric(self, table: str, release: str, metric: str, at: datetime, start: datetime | None = None,
                resource: Mapping[str, str] | None = None, **values: Any) -> None:
        res = self.resource(release) + _map(resource or {})
        self.metrics.setdefault(table, []).append({
            "ResourceAttributes": res, "ScopeName": "liveobs.sdk", "ServiceName": self.service,
            "MetricName": metric, "Attributes": [], "StartTimeUnix": start or at, "TimeUnix": at, **values,
        })

    def histogram(self, release: str, metric: str, values: list[float], bounds: list[float] = BOUNDS,
                  at: datetime = START, start: datetime | None = None,
                  attributes: Mapping[str, str] | None = None,
                  exemplars: Iterable[tuple[str, str]] = ()) -> None:
        """One histogram point; ``exemplars`` are (trace id, span id) pairs."""
        pairs = list(exemplars)
        self._metric("otel_metrics_histogram", release, metric, at, start, Count=len(values), Sum=float(sum(values)),
                     BucketCounts=bucket_counts(values, bounds), ExplicitBounds=bounds,
                     Min=min(values, default=0.0), Max=max(values, default=0.0), AggregationTemporality=2,
                     Exemplars={"FilteredAttributes": [[] for _ in pairs], "TimeUnix": [at for _ in pairs],
                                "Value": [1.0 for _ in pairs], "SpanId": [p[1] for p in pairs],
                                "TraceId": [p[0] for p in pairs]})
        if attributes:
            self.metrics["otel_metrics_histogram"][-1]["Attributes"] = _map(attributes)

    def counter(self, release: str, metric: str, value: float, at: datetime = START, start: datetime = START,
                resource: Mapping[str, str] | None = None, monotonic: bool = True,
                attributes: Mapping[str, str] | None = None, temporality: int = 2) -> None:
        self._metric("otel_metrics_sum", release, metric, at, start, resource, Value=float(value),
                     AggregationTemporality=temporality, IsMonotonic=monotonic)
        if attributes:
            self.metrics["otel_metrics_sum"][-1]["Attributes"] = _map(attributes)

    def gauge(self, release: str, metric: str, value: float, at: datetime = START) -> None:
        self._metric("otel_metrics_gauge", release, metric, at, Value=float(value))

    def security(self, release: str, at: datetime, check: str, outcome: str, route: str = "board",
                 **attrs: Any) -> None:
        """A span recording one security decision as a ``liveobs.security`` span event."""
        event = {ev.SECURITY_CHECK: check, ev.SECURITY_OUTCOME: outcome, **attrs}
        self.span(release, at, {keys.ROUTE_ID: route}, name=f"security {check}", kind="Internal",
                  events=[(ev.SECURITY_EVENT, event)])

    def write(self, con: duckdb.DuckDBPyConnection) -> None:
        tables = {"otel_traces": (self.spans, _TRACE_FIELDS), "otel_logs": (self.logs, _LOG_FIELDS)}
        for table, rows in self.metrics.items():
            tables[table] = (rows, _METRIC_FIELDS[table])
        for table, (rows, fields) in tables.items():
            if rows:
                con.register("seed_rows", pa.Table.from_pylist(rows, schema=pa.schema(fields)))
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM seed_rows")
                con.unregister("seed_rows")
        self.spans.clear()
        self.logs.clear()
        self.metrics.clear()


# Checks that judge recorded release facts (liveobs release record, dry-run) besides the evidence seeded
# here: without them they are unknown; tests/releases covers them over real release layouts.
RELEASE_FACT_CHECKS = frozenset({"deploy.release_layout", "deploy.release_artifact", "deploy.dry_run",
                                 "deploy.surface_endpoint", "deploy.surface_auth", "deploy.surface_scope",
                                 "deploy.surface_persistence", "deploy.release_notes", "deploy.security_incidents"})

# Every kind of evidence add_release lays down, for skip=ALL_KINDS.
ALL_KINDS = frozenset({"http", "csp", "sri", "logs", "live", "browser", "errors", "ws", "body", "upload", "rate",
                       "scope", "capability", "keys", "readiness", "metrics", "connections"})

ORIGIN = "https://shop.example"
STRONG_CSP = ("default-src 'self'; script-src 'nonce-{nonce}'; object-src 'none'; base-uri 'none'; "
              "frame-ancestors 'none'")
CLIENT_ASSET = b"/* liveobs.js */"


def _sri_event(page: str, served: bytes = CLIENT_ASSET) -> dict[str, Any]:
    """What the SDK records of a page (via the shared parser), with the client asset as served."""
    found = page_resources(page)
    return {ev.SECURITY_CHECK: ev.CHECK_SRI, ev.SECURITY_OUTCOME: ev.OUTCOME_PRESENT,
            ev.SRI_RESOURCES: resources_json(found), ev.PAGE_ORIGIN: ORIGIN,
            ev.SRI_SERVED: served_json([Served("/_liveobs/liveobs.js", 200, asset_digests(served))])}


def client_script(integrity: str | None = None) -> str:
    value = integrity if integrity is not None else "sha384-" + base64.b64encode(hashlib.sha384(CLIENT_ASSET).digest()).decode()
    return f'<script src="/_liveobs/liveobs.js" integrity="{value}" crossorigin="anonymous"></script>'


def add_release(
    e: Evidence,
    release: str,
    start: datetime = START,
    *,
    n: int = 40,
    scale: float = 1.0,
    skip: Iterable[str] = (),
    faults: Iterable[str] = (),
) -> None:
    """A release whose evidence passes every check; ``skip`` and ``faults`` name exceptions.

    The release serves for 90 minutes (its last request comes then), as a rollback target must.
    """
    skip, faults = set(skip), set(faults)
    if "slow" in faults:
        scale *= 10
    rng = e.rng
    tick = (start + timedelta(milliseconds=i * 250) for i in itertools.count())
    session = f"s-{release}"
    render_exemplars: list[tuple[str, str]] = []
    event_exemplars: list[tuple[str, str]] = []
    if "http" not in skip:
        for i in range(n):
            at = next(tick)
            attrs = {keys.HTTP_REQUEST_METHOD: "GET", keys.HTTP_ROUTE: "/board", keys.ROUTE_ID: "board",
                     keys.SESSION_ID: session, keys.REQUEST_ID: f"r-{release}-{i}", keys.HTTP_RESPONSE_STATUS_CODE: 200}
            if "missing_request_id" in faults and i == 0:
                del attrs[keys.REQUEST_ID]
            events = []
            if "csp" not in skip:
                policy = STRONG_CSP.format(nonce=f"n{release}x{i}")
                if "csp_unsafe" in faults and i == 0:
                    policy = "script-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
                if "csp_nonce_reused" in faults:
                    policy = STRONG_CSP.format(nonce="St4t1cN0nce")
                events.append((ev.SECURITY_EVENT, {ev.SECURITY_CHECK: ev.CHECK_CSP, ev.SECURITY_OUTCOME: ev.OUTCOME_PRESENT,
                                                   ev.CSP_POLICY: stored_form(policy)}))
            if "sri" not in skip:
                page = client_script("sha256-" if "sri_missing" in faults and i == 0 else None)
                events.append((ev.SECURITY_EVENT, _sri_event(page)))
            trace, span = e.span(release, at, attrs, name="GET /board", events=events,
                                 duration_ms=40 * scale * rng.lognormvariate(0, 0.25))
            render_exemplars.append((trace, span))
            if "logs" not in skip:
                log_attrs = {keys.SESSION_ID: session, keys.ROUTE_ID: "board", keys.REQUEST_ID: f"r-{release}-{i}"}
                if "log_missing_session" in faults and i == 0:
                    del log_attrs[keys.SESSION_ID]
                e.log(release, at, log_attrs, body="page rendered", trace_id=trace, span_id=span)
        e.span(release, start + timedelta(minutes=90), {
            keys.HTTP_REQUEST_METHOD: "GET", keys.HTTP_ROUTE: "/board", keys.ROUTE_ID: "board", keys.SESSION_ID: session,
            keys.REQUEST_ID: f"r-{release}-last", keys.HTTP_RESPONSE_STATUS_CODE: 200}, name="GET /board")
    if "live" not in skip:
        for i in range(n):
            at = next(tick)
            event_id = f"e-{release}-{i}"
            attrs = {keys.EVENT_NAME: "click", keys.EVENT_ID: event_id, keys.SESSION_ID: session,
                     keys.ROUTE_ID: "board", keys.CONNECTION_ID: f"c-{release}"}
            trace, span = e.span(release, at, attrs, name="live click",
                                 duration_ms=20 * scale * rng.lognormvariate(0, 0.25))
            event_exemplars.append((trace, "f" * 16) if "exemplar_orphans" in faults and i % 2 else (trace, span))
            if "browser" not in skip and not ("unjoined_actions" in faults and i % 2 == 0):
                e.log(release, at, {keys.EVENT_ID: event_id, keys.SESSION_ID: session, keys.ROUTE_ID: "board",
                                    keys.BROWSER_LATENCY_MS: round(35 * scale * rng.lognormvariate(0, 0.25), 2)},
                      event_name=keys.BROWSER_ACTION_EVENT)
            elif "browser" not in skip:
                e.log(release, at, {keys.EVENT_ID: f"never-{i}", keys.BROWSER_LATENCY_MS: 30},
                      event_name=keys.BROWSER_ACTION_EVENT)
            if "orphans" in faults and i < n // 4:
                e.span(release, at, {}, name="db query", kind="Client", trace_id=trace, parent="ffffffffffffffff")
            else:
                e.span(release, at, {}, name="db query", kind="Client", trace_id=trace, parent=span)
    if "errors" not in skip:
        at = next(tick)
        error_attrs = {keys.EVENT_NAME: "save", keys.EVENT_ID: f"e-{release}-err", keys.SESSION_ID: session,
                       keys.ROUTE_ID: "board", keys.CONNECTION_ID: f"c-{release}", keys.ERROR_TYPE: "ValueError",
                       keys.ERROR_FINGERPRINT: "fp-1",
                       ev.ERROR_REPLY_FIELDS: "type,code,message" if "reply_exposes" in faults else "type,code"}
        if "error_unclassified" in faults:
            del error_attrs[keys.ERROR_FINGERPRINT]
        e.span(release, at, error_attrs, name="live save", status="Error",
               events=[(keys.EXCEPTION_EVENT, {keys.EXCEPTION_TYPE: "ValueError"})])
    if "secret" in faults:
        e.log(release, next(tick), {"db.url": "postgres://app:hunter2secret@db:5432/app"}, body="connect")
    if "key_material" in faults:
        e.log(release, next(tick), {"note": "-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----"})
    _connections(e, release, tick, n, skip, faults)
    _security(e, release, tick, skip, faults)
    _readiness(e, release, tick, skip, faults)
    _metrics(e, release, start, n, scale, skip, faults, render_exemplars, event_exemplars)


def _connections(e: Evidence, release: str, tick: Iterable[datetime], n: int, skip: set[str], faults: set[str]) -> None:
    """Accepted live connections: one reconnect after its predecessor ended, one second tab, one refused handshake."""
    if "connections" in skip:
        return
    at = iter(tick)
    connect = ("websocket.connect", {})

    def connection(cid: str, when: datetime, seconds: float, previous: str | None = None,
                   accepted: bool = True) -> None:
        attrs: dict[str, Any] = {keys.CONNECTION_ID: cid, keys.SESSION_ID: f"s-{release}"}
        if previous:
            attrs.update({keys.RECONNECT: "true", keys.CONNECTION_PREVIOUS_ID: previous})
        e.span(release, when, attrs, name="live.connection", kind="Internal", duration_ms=seconds * 1000,
               events=[connect] if accepted else [(ev.SECURITY_EVENT, {
                   ev.SECURITY_CHECK: ev.CHECK_WS_HOST, ev.SECURITY_OUTCOME: ev.OUTCOME_REFUSED,
                   ev.SECURITY_VALUE: "evil.example"})])

    first = next(at)
    for i in range(n):
        connection(f"c{release}-{i}", first + timedelta(seconds=i), 0.5)
    # A reconnect after its connection ended; a second tab (its first connection still open); a refused retry.
    connection(f"c{release}-r", first + timedelta(seconds=n + 5), 1, previous=f"c{release}-0")
    connection(f"c{release}-tab", first + timedelta(seconds=1.2), 1, previous=f"c{release}-1")
    connection(f"c{release}-refused", first + timedelta(seconds=n + 6), 0.01, previous=f"c{release}-2", accepted=False)
    if "reconnect_storm" in faults:
        for i in range(n // 4):
            connection(f"c{release}-storm{i}", first + timedelta(seconds=n + 10 + i), 0.5, previous=f"c{release}-{i + 3}")


def _security(e: Evidence, release: str, tick: Iterable[datetime], skip: set[str], faults: set[str]) -> None:
    at = iter(tick)
    host = "shop.example"
    if "ws" not in skip:
        e.security(release, next(at), ev.CHECK_WS_ORIGIN, ev.OUTCOME_REFUSED,
                   **{ev.SECURITY_VALUE: "https://evil.example", ev.HANDSHAKE_HOST: host})
        e.security(release, next(at), ev.CHECK_WS_ORIGIN, ev.OUTCOME_ACCEPTED,
                   **{ev.SECURITY_VALUE: ORIGIN, ev.HANDSHAKE_HOST: host})
        e.security(release, next(at), ev.CHECK_WS_HOST, ev.OUTCOME_REFUSED,
                   **{ev.SECURITY_EXPECTED: ev.OUTCOME_REFUSED, ev.SECURITY_VALUE: "evil.example"})
        e.security(release, next(at), ev.CHECK_WS_HOST, ev.OUTCOME_ACCEPTED, **{ev.SECURITY_VALUE: host})
    if "ws_foreign_accepted" in faults:
        # As the SDK records it: no expectation, only what was seen; the Origin is not the Host's own.
        e.security(release, next(at), ev.CHECK_WS_ORIGIN, ev.OUTCOME_ACCEPTED,
                   **{ev.SECURITY_VALUE: "https://evil.example", ev.HANDSHAKE_HOST: host})
        e.security(release, next(at), ev.CHECK_WS_HOST, ev.OUTCOME_ACCEPTED,
                   **{ev.SECURITY_EXPECTED: ev.OUTCOME_REFUSED, ev.SECURITY_VALUE: "evil.example"})
    if "body" not in skip:
        e.security(release, next(at), ev.CHECK_BODY_LIMIT, ev.OUTCOME_REFUSED,
                   **{ev.LIMIT_BYTES: 1_000_000, ev.OBSERVED_BYTES: 2_000_000})
    if "body_accepted" in faults:
        e.security(release, next(at), ev.CHECK_BODY_LIMIT, ev.OUTCOME_ACCEPTED,
                   **{ev.LIMIT_BYTES: 1_000_000, ev.OBSERVED_BYTES: 5_000_000})
    if "upload" not in skip:
        e.security(release, next(at), ev.CHECK_UPLOAD_SCAN, ev.OUTCOME_CLEAN,
                   **{ev.SECURITY_DECISION: ev.OUTCOME_ACCEPTED, ev.UPLOAD_SHA256: upload_digest(b"report")})
        infected_decision = ev.OUTCOME_ACCEPTED if "infected_accepted" in faults else ev.OUTCOME_REFUSED
        e.security(release, next(at), ev.CHECK_UPLOAD_SCAN, ev.OUTCOME_INFECTED,
                   **{ev.SECURITY_DECISION: infected_decision, ev.UPLOAD_SHA256: upload_digest(b"MZ...")})
        # The EICAR canary: a working scanner calls it infected and the app refuses it.
        stub = "eicar_accepted" in faults
        e.security(release, next(at), ev.CHECK_UPLOAD_SCAN, ev.OUTCOME_CLEAN if stub else ev.OUTCOME_INFECTED,
                   **{ev.SECURITY_DECISION: ev.OUTCOME_ACCEPTED if stub else ev.OUTCOME_REFUSED,
                      ev.UPLOAD_SCANNER: "noop/0" if stub else "clamav", ev.UPLOAD_SHA256: upload_digest(EICAR),
                      ev.UPLOAD_CANARY: canary_of(EICAR) or ""})
        e.histogram(release, ev.METRIC_UPLOAD_BYTES, [1000.0, 2000.0, 68.0], SIZE_BOUNDS)
        slow = 30.0 if "slow" in faults else 1.0
        e.histogram(release, ev.METRIC_UPLOAD_DURATION, [slow * v for v in (120.0, 150.0, 200.0, 180.0, 90.0, 300.0)])
    if "rate" not in skip:
        e.security(release, next(at), ev.CHECK_RATE_LIMIT, ev.OUTCOME_REFUSED)
    if "burst_passed" in faults:
        e.security(release, next(at), ev.CHECK_RATE_LIMIT, ev.OUTCOME_ACCEPTED,
                   **{ev.SECURITY_EXPECTED: ev.OUTCOME_REFUSED})
    if "scope" not in skip:
        e.security(release, next(at), ev.CHECK_SCOPE, ev.OUTCOME_DENIED,
                   **{ev.SCOPE_REQUIRED: "board:write", ev.SCOPE_GRANTED: "board:read"})
        e.security(release, next(at), ev.CHECK_SCOPE, ev.OUTCOME_ALLOWED,
                   **{ev.SCOPE_REQUIRED: "board:read", ev.SCOPE_GRANTED: "board:read,profile"})
        # A decision that needs two scopes, and one that needs none.
        e.security(release, next(at), ev.CHECK_SCOPE, ev.OUTCOME_ALLOWED,
                   **{ev.SCOPE_REQUIRED: "board:read,board:write", ev.SCOPE_GRANTED: "board:read,board:write,viewer"})
        e.security(release, next(at), ev.CHECK_SCOPE, ev.OUTCOME_ALLOWED,
                   **{ev.SCOPE_REQUIRED: "", ev.SCOPE_GRANTED: "viewer"})
    if "scope_overreach" in faults:
        e.security(release, next(at), ev.CHECK_SCOPE, ev.OUTCOME_ALLOWED,
                   **{ev.SCOPE_REQUIRED: "board:read,admin", ev.SCOPE_GRANTED: "board:read"})
    if "capability" not in skip:
        e.security(release, next(at), ev.CHECK_CAPABILITY, ev.OUTCOME_DENIED,
                   **{ev.CAPABILITY_NAME: "board.delete", ev.CAPABILITY_GRANTED: "board.read"})
        e.security(release, next(at), ev.CHECK_CAPABILITY, ev.OUTCOME_ALLOWED,
                   **{ev.CAPABILITY_NAME: "board.read", ev.CAPABILITY_GRANTED: "board.read"})
    if "capability_allowed" in faults:
        # A viewer allowed board.delete, as the SDK records it: what was required and what was held.
        e.security(release, next(at), ev.CHECK_CAPABILITY, ev.OUTCOME_ALLOWED,
                   **{ev.CAPABILITY_NAME: "board.delete", ev.CAPABILITY_GRANTED: "board.read"})
    if "keys" not in skip:
        reported = {ev.KEY_AGE_SECONDS: 120 * 86400} if "old_key" in faults else {}
        e.security(release, next(at), ev.CHECK_SESSION_KEY, ev.OUTCOME_PRESENT, **{ev.KEY_ID: "k1", **reported})
        source = "literal" if "literal_key" in faults else "kms"
        e.security(release, next(at), ev.CHECK_KEY_CUSTODY, ev.OUTCOME_PRESENT,
                   **{ev.KEY_ID: "k1", ev.KEY_SOURCE_KIND: source})


def _readiness(e: Evidence, release: str, tick: Iterable[datetime], skip: set[str], faults: set[str]) -> None:
    at = iter(tick)
    if "readiness" in skip:
        return
    for endpoint in (keys.HEALTH_READYZ_PATH, keys.HEALTH_READINESS_PATH):
        answer = {ev.READINESS_ENDPOINT: endpoint, ev.READINESS_STATUS: "pass", ev.READINESS_HTTP_STATUS: "200",
                  ev.READINESS_VERSION: release, ev.READINESS_REDIRECTS: "0"}
        if "not_ready" in faults and endpoint == keys.HEALTH_READYZ_PATH:
            answer[ev.READINESS_STATUS] = "fail"
        if "ready_redirect" in faults and endpoint == keys.HEALTH_READYZ_PATH:
            answer[ev.READINESS_REDIRECTS] = "1"
        if "ready_other_release" in faults and endpoint == keys.HEALTH_READINESS_PATH:
            answer[ev.READINESS_VERSION] = "0.9-fixture"
        e.span(release, next(at), {keys.URL_PATH: endpoint}, name=f"GET {endpoint}", kind="Client",
               scope=ev.PROBE_SCOPE, events=[(ev.READINESS_EVENT, answer)])
    if "unversioned" in faults:
        e.span(None, next(at), {}, name="stray")


def _metrics(e: Evidence, release: str, start: datetime, n: int, scale: float, skip: set[str],
             faults: set[str], render_exemplars: list[tuple[str, str]],
             event_exemplars: list[tuple[str, str]]) -> None:
    if "metrics" in skip:
        return
    rng = e.rng
    route = {keys.HTTP_ROUTE: "board"}
    e.histogram(release, ev.METRIC_RENDER_DURATION, [60 * scale * rng.lognormvariate(0, 0.3) for _ in range(n)],
                attributes=route, exemplars=render_exemplars[:50])
    e.histogram(release, ev.METRIC_EVENT_DURATION, [20 * scale * rng.lognormvariate(0, 0.3) for _ in range(n)],
                attributes={} if "unrouted_metrics" in faults else route, exemplars=event_exemplars[:50])
    e.histogram(release, ev.METRIC_CONNECT_DURATION, [80 * scale * rng.lognormvariate(0, 0.3) for _ in range(n)])
    fat = 100 if "fat_patches" in faults else 1
    e.histogram(release, ev.METRIC_PATCH_SIZE, [900 * fat * scale * rng.lognormvariate(0, 0.25) for _ in range(n)],
                PATCH_BOUNDS)
    ratio = 0.9 if "incompressible" in faults else 0.3
    e.histogram(release, ev.METRIC_COMPRESSION_RATIO, [ratio * rng.uniform(0.9, 1.1) for _ in range(n)], RATIO_BOUNDS)
    end = start + timedelta(seconds=100)
    e.counter(release, ev.METRIC_RECONNECTS, 20 if "reconnect_storm" in faults else 0, end)
    e.counter(release, ev.METRIC_STREAM_ITEMS, 100, end)
    e.counter(release, ev.METRIC_STREAM_BYTES, 100 * (50_000 if "fat_stream" in faults else 500), end)
    e.counter(release, ev.METRIC_ACTIVE_SESSIONS, 0 if "idle" in faults else 25, end, monotonic=False)
    # Memory and CPU sampled every 10 s; CPU as the SDK exports it: one series per cpu.mode, cumulative.
    cores = 0.95 if "cpu_hog" in faults else 0.3
    used = {"user": 0.0, "system": 0.0}
    for i in range(n):
        at = start + timedelta(seconds=10 * i)
        memory = (900 if "memory_hog" in faults else 200) * rng.uniform(0.95, 1.05)
        e.gauge(release, ev.METRIC_PROCESS_MEMORY, memory * scale * 1048576, at)
        for mode in used:
            used[mode] += 10 * cores / 2 * scale * rng.uniform(0.9, 1.1)
            e.counter(release, ev.METRIC_PROCESS_CPU, used[mode], at, start, attributes={ev.CPU_MODE: mode})
