"""The active half of the gates: probe a running app and record what it saw as evidence.

The probe fetches the page twice (a nonce served twice is a finding) and every
script or stylesheet on it that SRI must protect, ``/readyz`` and
``/live/readiness.json`` (without following redirects), tries a foreign Origin
and a foreign Host on the WebSocket (only when the socket accepts our own origin:
a socket that needs a session refuses both and proves nothing), sends an
over-limit body and a burst past the rate limit. It records what it observed, in
the same form as the SDK (``liveobs.evidence``): the CSP header text of each
``200 text/html`` answer, the page's subresources with their integrity and the
assets' digests as served, each readiness answer's status, body version and
redirects, each handshake's Origin, Host and answer. The gates judge it. Each step
becomes a span (scope ``liveobs.probe``); deliberate attempts carry the outcome a
correct app gives (``liveobs.security.expected``).
"""

from __future__ import annotations

import os
import re
import socket
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, Final

import duckdb
import httpx

from liveobs.conventions import evidence as ev
from liveobs.conventions import keys
from liveobs.evidence import (
    Served,
    asset_digests,
    is_client_asset,
    is_cross_origin,
    page_resources,
    resources_json,
    served_json,
    stored_form,
)

FOREIGN_ORIGIN: Final = "https://probe-foreign.invalid"
FOREIGN_HOST: Final = "probe-foreign.invalid"
# Answers an app can only give after taking the body in (wrong credentials, invalid
# content): an over-limit body that gets one went past the limit.
_JUDGED_CONTENT: Final = frozenset({401, 422})
# At most this many subresources of the page are fetched to compare their digests.
MAX_ASSETS: Final = 8

# One probe step as a span: (Timestamp, TraceId, SpanId, name, service, resource, attributes, duration, events).
_INSERT_SPAN: Final = """
INSERT INTO otel_traces ("Timestamp", TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
                         ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode,
                         StatusMessage, Events)
VALUES ($ts, $trace_id, $span_id, '', '', $name, 'Client', $service, map_from_entries($resource), $scope, '',
        map_from_entries($attributes), $duration, 'Unset', '',
        {'Timestamp': list_transform($event_names, lambda n: CAST($ts AS TIMESTAMP_NS)),
         'Name': $event_names,
         'Attributes': list_transform($event_attributes, lambda a: map_from_entries(a))})
"""


@dataclass
class Step:
    """What one probe step saw: its span events ``(name, attributes)`` and a one-line summary."""

    name: str
    summary: str
    url: str
    seconds: float
    events: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.name, "summary": self.summary, "url": self.url, "seconds": round(self.seconds, 4),
                "events": [{"name": n, "attributes": a} for n, a in self.events]}


@dataclass
class ProbeReport:
    url: str
    service: str
    release: str | None
    environment: str | None
    steps: list[Step]

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "service": self.service, "release": self.release, "environment": self.environment,
                "steps": [s.to_dict() for s in self.steps]}


class _MetaParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "meta" and "name" in values:
            self.meta[values["name"]] = values.get("content", "")


def csp_event(headers: list[str]) -> dict[str, str]:
    """The ``csp`` security event for one HTML response's Content-Security-Policy header(s), as sent."""
    if not headers:
        return {ev.SECURITY_CHECK: ev.CHECK_CSP, ev.SECURITY_OUTCOME: ev.OUTCOME_MISSING}
    return {ev.SECURITY_CHECK: ev.CHECK_CSP, ev.SECURITY_OUTCOME: ev.OUTCOME_PRESENT,
            ev.CSP_POLICY: stored_form(", ".join(headers))}


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _handshake(url: str, path: str, origin: str, host: str, timeout: float) -> int | None:
    """Send a WebSocket upgrade with the given Origin and Host; the status code answered."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if parts.scheme == "https":
        return None  # the raw handshake speaks plain HTTP; TLS apps are probed through their HTTP listener
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {os.urandom(16).hex()[:22]}==\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n"
    )
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(request.encode("ascii"))
            status_line = sock.recv(1024).split(b"\r\n", 1)[0].decode("latin-1")
    except OSError:
        return None
    match = re.match(r"HTTP/1\.[01] (\d{3})", status_line)
    return int(match.group(1)) if match else None


class Prober:
    """Runs the probe steps against one app."""

    def __init__(self, url: str, *, ws_path: str = "/live/websocket", body_bytes: int = 2 * 1024 * 1024,
                 burst: int = 60, timeout: float = 5.0) -> None:
        self.url = url
        self.ws_path = ws_path
        self.body_bytes = body_bytes
        self.burst = burst
        self.timeout = timeout

    def run(self, service: str | None = None, release: str | None = None,
            environment: str | None = None) -> ProbeReport:
        steps: list[Step] = []
        with httpx.Client(timeout=self.timeout, follow_redirects=True) as client:
            page, meta = self._page(client)
            steps.append(page)
            steps.extend(self._readiness(client))
            own = urllib.parse.urlsplit(self.url)
            steps.append(self._ws("ws_origin", ev.CHECK_WS_ORIGIN, FOREIGN_ORIGIN, own.netloc, FOREIGN_ORIGIN))
            # DNS rebinding: the page comes from the foreign name, so Origin and Host both carry it.
            steps.append(self._ws("ws_host", ev.CHECK_WS_HOST, f"{own.scheme}://{FOREIGN_HOST}", FOREIGN_HOST,
                                  FOREIGN_HOST))
            steps.append(self._body(client))
            if self.burst > 0:
                steps.append(self._burst(client))
        host = urllib.parse.urlsplit(self.url).hostname or "app"
        return ProbeReport(self.url, service or host, release or meta.get(keys.META_RELEASE) or None, environment,
                           steps)

    def _page(self, client: httpx.Client) -> tuple[Step, dict[str, str]]:
        started = time.perf_counter()
        events: list[tuple[str, dict[str, str]]] = []
        response = client.get(self.url)
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        summary = f"{response.status_code} {content_type or '(no type)'}"
        parser = _MetaParser()
        if response.status_code != 200 or content_type != "text/html":
            # Only a page answer carries the page's CSP and scripts (not a 429 or an error).
            return (Step("page", f"{summary}: not a page, no CSP or SRI verdict", self.url,
                         time.perf_counter() - started), parser.meta)
        parser.feed(response.text)
        events.append((ev.SECURITY_EVENT, csp_event(response.headers.get_list("content-security-policy"))))
        # A second fetch: a nonce that does not change between responses protects nothing.
        again = client.get(self.url)
        if again.status_code == 200 and again.headers.get("content-type", "").lower().startswith("text/html"):
            events.append((ev.SECURITY_EVENT, csp_event(again.headers.get_list("content-security-policy"))))
        origin = _origin(str(response.url))
        found = page_resources(response.text)
        served: list[Served] = []
        for resource in [r for r in found if is_cross_origin(r.url, origin) or is_client_asset(r.url)][:MAX_ASSETS]:
            try:
                fetched = client.get(urllib.parse.urljoin(str(response.url), resource.url))
                digests = asset_digests(fetched.content) if fetched.status_code == 200 else {}
                served.append(Served(resource.url, fetched.status_code, digests))
            except httpx.HTTPError:
                served.append(Served(resource.url, 0))
        events.append((ev.SECURITY_EVENT, {
            ev.SECURITY_CHECK: ev.CHECK_SRI, ev.SECURITY_OUTCOME: ev.OUTCOME_PRESENT,
            ev.SRI_RESOURCES: resources_json(found), ev.PAGE_ORIGIN: origin, ev.SRI_SERVED: served_json(served),
        }))
        summary += f", {len(found)} scripts and styles" + "".join(f", {s.url} {s.status}" for s in served)
        return Step("page", summary, self.url, time.perf_counter() - started, events), parser.meta

    def _readiness(self, client: httpx.Client) -> list[Step]:
        """Each readiness path as answered: no redirect followed, the body's status, version and releaseId."""
        steps = []
        for path in (keys.HEALTH_READYZ_PATH, keys.HEALTH_READINESS_PATH):
            started = time.perf_counter()
            url = urllib.parse.urljoin(self.url, path)
            event = {ev.READINESS_ENDPOINT: path}
            try:
                response = client.get(url, follow_redirects=False)
                body = _json_object(response)
                ok = response.status_code == 200
                status = str(body.get("status", "pass" if ok else "fail")) if body else ("pass" if ok else "fail")
                event.update({ev.READINESS_STATUS: status, ev.READINESS_HTTP_STATUS: str(response.status_code),
                              ev.READINESS_REDIRECTS: "1" if response.is_redirect else "0"})
                for key, name in ((ev.READINESS_VERSION, "version"), (ev.READINESS_RELEASE_ID, "releaseId")):
                    if isinstance(body.get(name), str):
                        event[key] = str(body[name])[:64]
                where = f" to {response.headers.get('location', '?')}" if response.is_redirect else ""
                summary = (f"{path} {response.status_code}{where} status {status}, "
                           f"version {event.get(ev.READINESS_VERSION, '(none)')}")
            except httpx.HTTPError as exc:
                event.update({ev.READINESS_STATUS: "fail"})
                summary = f"{path} did not answer: {type(exc).__name__}"
            steps.append(Step("readiness", summary, url, time.perf_counter() - started, [(ev.READINESS_EVENT, event)]))
        return steps

    def _ws(self, name: str, check: str, origin: str, host: str, tried: str) -> Step:
        started = time.perf_counter()
        own = urllib.parse.urlsplit(self.url)
        control = _handshake(self.url, self.ws_path, f"{own.scheme}://{own.netloc}", own.netloc, self.timeout)
        if control != 101:
            # The socket refuses even our own origin (it needs a session, or the path is wrong):
            # a refusal of the foreign one would prove nothing.
            return Step(name, f"own-origin handshake answered {control}: no verdict", self.ws_path,
                        time.perf_counter() - started)
        status = _handshake(self.url, self.ws_path, origin, host, self.timeout)
        if status is None:
            return Step(name, "no answer to the WebSocket handshake", self.ws_path, time.perf_counter() - started)
        outcome = ev.OUTCOME_ACCEPTED if status == 101 else ev.OUTCOME_REFUSED
        event = {ev.SECURITY_CHECK: check, ev.SECURITY_OUTCOME: outcome, ev.SECURITY_EXPECTED: ev.OUTCOME_REFUSED,
                 ev.SECURITY_VALUE: tried, ev.SECURITY_DETAIL: f"handshake answered {status}"}
        if check == ev.CHECK_WS_ORIGIN:
            event[ev.HANDSHAKE_HOST] = host
        else:
            event[ev.HANDSHAKE_ORIGIN] = origin
        return Step(name, f"foreign {check.removeprefix('ws_')} {outcome} ({status})", self.ws_path,
                    time.perf_counter() - started, [(ev.SECURITY_EVENT, event)])

    def _body(self, client: httpx.Client) -> Step:
        started = time.perf_counter()
        response = client.post(self.url, content=b"x" * self.body_bytes,
                               headers={"Content-Type": "application/octet-stream"})
        if response.status_code == 413:
            outcome = ev.OUTCOME_REFUSED
        elif response.status_code < 400 or response.status_code in _JUDGED_CONTENT:
            outcome = ev.OUTCOME_ACCEPTED
        else:
            return Step("body_limit", f"over-limit body answered {response.status_code}: no verdict", self.url,
                        time.perf_counter() - started)
        event = {ev.SECURITY_CHECK: ev.CHECK_BODY_LIMIT, ev.SECURITY_OUTCOME: outcome,
                 ev.SECURITY_EXPECTED: ev.OUTCOME_REFUSED, ev.OBSERVED_BYTES: str(self.body_bytes)}
        return Step("body_limit", f"{self.body_bytes} byte body {outcome} ({response.status_code})", self.url,
                    time.perf_counter() - started, [(ev.SECURITY_EVENT, event)])

    def _burst(self, client: httpx.Client) -> Step:
        started = time.perf_counter()
        codes = [client.get(self.url).status_code for _ in range(self.burst)]
        limited = codes.count(429)
        outcome = ev.OUTCOME_REFUSED if limited else ev.OUTCOME_ACCEPTED
        event = {ev.SECURITY_CHECK: ev.CHECK_RATE_LIMIT, ev.SECURITY_OUTCOME: outcome,
                 ev.SECURITY_EXPECTED: ev.OUTCOME_REFUSED, ev.SECURITY_DETAIL: f"{limited} of {self.burst} answered 429"}
        return Step("rate_limit", f"burst of {self.burst}: {limited} answered 429", self.url,
                    time.perf_counter() - started, [(ev.SECURITY_EVENT, event)])


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def record(con: duckdb.DuckDBPyConnection, report: ProbeReport) -> int:
    """Write the probe's steps to the store as spans; returns the number written."""
    resource = {keys.SERVICE_NAME: report.service, keys.SERVICE_VERSION: report.release,
                keys.DEPLOYMENT_ENVIRONMENT: report.environment}
    entries = [{"key": k, "value": v} for k, v in resource.items() if v]
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = 0
    for step in report.steps:
        con.execute(_INSERT_SPAN, {
            "ts": now, "trace_id": os.urandom(16).hex(), "span_id": os.urandom(8).hex(),
            "name": f"probe {step.name}", "service": report.service, "resource": entries, "scope": ev.PROBE_SCOPE,
            "attributes": [{"key": ev.PROBE_STEP, "value": step.name}, {"key": keys.URL_PATH,
                           "value": urllib.parse.urlsplit(step.url).path or "/"}],
            "duration": int(step.seconds * 1e9),
            "event_names": [n for n, _ in step.events],
            "event_attributes": [[{"key": k, "value": v} for k, v in a.items()] for _, a in step.events],
        })
        rows += 1
    return rows
