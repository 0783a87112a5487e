"""Runs a scenario against a running app and keeps what it saw from the outside.

The app's own SDK records the driven sessions (marked ``driven``). What only the
driver can know (the outcome a correct app gives to a deliberate attempt) becomes
outside observations: one step per attempt with the ``liveobs.security`` event the
gates read, carrying the expected outcome, recorded beside the probe's.

On a loopback target (``127.x.y.z``) each session connects from its own loopback
address, as separate users would, so per-client limits apply per session.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import os
import socket
import ssl
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from liveobs.cli._driver._client import DRIVEN_HEADERS, DriveError, DrivenClient
from liveobs.cli._driver._scenario import Attempt, RateLimit, Scenario, Upload
from liveobs.conventions import evidence as ev
from liveobs.conventions import keys
from liveobs.correlator.gates._probe import ProbeReport, Step

# The EICAR anti-virus test file, spelled in two halves so that this source is no test "virus" itself.
EICAR: Final = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
CLEAN_CONTENT: Final = b"liveobs drive: an ordinary text file\n"
# Answers to an upload that say nothing about its content: not signed in, not allowed, too big, too many.
_NO_VERDICT: Final = frozenset({401, 403, 404, 405, 408, 413, 429})


@dataclass
class DriveReport:
    """What the driver did and saw. ``unexpected`` lists every answer a correct app would not give."""

    url: str
    release: str | None = None
    sessions: int = 0
    connects: int = 0
    reconnects: int = 0
    page_loads: int = 0
    actions: int = 0
    failed_actions: int = 0
    uploads: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    sockets: list[dict[str, Any]] = field(default_factory=list)
    rate_limit: dict[str, Any] = field(default_factory=dict)
    browser: dict[str, Any] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {
            "url": self.url, "release": self.release, "sessions": self.sessions, "connects": self.connects,
            "reconnects": self.reconnects, "page_loads": self.page_loads, "actions": self.actions,
            "failed_actions": self.failed_actions,
            "action_latency_ms": {"p50": _pick(lat, 0.5), "p95": _pick(lat, 0.95)} if lat else None,
            "uploads": self.uploads, "attempts": self.attempts, "sockets": self.sockets, "rate_limit": self.rate_limit,
            "browser": self.browser,
            "unexpected": self.unexpected, "seconds": round(self.seconds, 3),
        }

    def probe_report(self, service: str | None, release: str | None, environment: str | None) -> ProbeReport:
        """The outside observations in the form the probe records them."""
        host = urllib.parse.urlsplit(self.url).hostname or "app"
        return ProbeReport(self.url, service or host, release or self.release, environment, self.steps)


def _pick(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def source_addresses(url: str, spread: bool = True) -> Iterator[str | None]:
    """Client addresses for successive sessions: distinct loopback addresses for a loopback target."""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).version == 4 and ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not (spread and loopback and _bindable("127.0.0.2")):
        return itertools.repeat(None)
    return (f"127.0.{i // 250}.{i % 250 + 2}" for i in itertools.count())


def _bindable(address: str) -> bool:
    """Whether this machine can connect from ``address`` (Linux routes all of 127/8 to loopback; not all do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            return False
    return True


class Driver:
    """Drives one app with one scenario."""

    def __init__(self, url: str, scenario: Scenario, *, timeout: float = 10.0, spread: bool = True,
                 ca_file: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.scenario = scenario
        self.timeout = timeout
        # One trust store for every connection: the page requests, the live socket and the raw handshakes.
        self.tls = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self._addresses = source_addresses(self.url, spread)
        self.report = DriveReport(self.url)

    def client(self) -> DrivenClient:
        return DrivenClient(self.url, self.scenario.live_path, self.scenario.report_path, next(self._addresses),
                            self.timeout, self.tls)

    async def signed_in(self, user: str | None) -> DrivenClient:
        """A client signed in as ``user``; with no user (or no [signin]) an anonymous visitor's."""
        signin = self.scenario.signin
        client = self.client()
        if signin is None or user is None:
            return client
        password = self.scenario.passwords[user]
        fields = {k: v.replace("{name}", user).replace("{password}", password) for k, v in signin.fields.items()}
        try:
            await client.sign_in(signin.page, signin.path, signin.landing, fields)
        except BaseException:
            await client.close()
            raise
        self.report.release = self.report.release or client.ids.get(keys.META_RELEASE)
        return client

    async def run(self) -> DriveReport:
        started = time.perf_counter()
        await self.sessions()
        for upload in self.scenario.uploads:
            await self.upload(upload)
        for attempt in self.scenario.attempts:
            await self.attempt(attempt)
        if self.scenario.sockets is not None:
            await self.socket_guards()
        if self.scenario.rate_limit is not None:
            await self.burst(self.scenario.rate_limit)
        self.report.seconds = time.perf_counter() - started
        return self.report

    # --- sessions: connect, act, reconnect -----------------------------------------------
    async def sessions(self) -> None:
        load = self.scenario.load
        gate = asyncio.Semaphore(load.concurrency)

        async def one(i: int) -> None:
            async with gate:
                user = load.users[i % len(load.users)] if load.users else None  # none: anonymous visitors
                await self.session(user, reconnect=i < load.reconnects)

        await asyncio.gather(*(one(i) for i in range(load.sessions)))

    async def session(self, user: str | None, *, reconnect: bool) -> None:
        load = self.scenario.load
        async with await self.signed_in(user) as client:
            for path in load.pages:
                for _ in range(load.page_loads):
                    status = await client.load(path)
                    self.report.page_loads += 1
                    if status >= 400:
                        self.report.unexpected.append(f"page {path} answered {status}")
            self.report.release = self.report.release or client.ids.get(keys.META_RELEASE)
            actions = [a for a in load.actions if a.user in (None, user)]
            await client.open_live()
            for action in actions:
                await client.send(action.event, action.payload)
            if reconnect:
                await client.open_live()  # the socket drops and the page reconnects
                for action in actions[:1]:
                    await client.send(action.event, action.payload)
            if load.hold_ms:  # the tab stays open a while, as a user's does: sessions overlap
                await asyncio.sleep(load.hold_ms / 1000)
            self.report.sessions += 1
            self.report.connects += client.connections
            self.report.reconnects += max(client.connections - 1, 0)
            self.report.actions += len(client.outcomes)
            self.report.failed_actions += sum(not o.ok for o in client.outcomes)
            self.report.latencies_ms += [o.latency_ms for o in client.outcomes]

    # --- uploads, the EICAR canary among them ---------------------------------------------
    async def upload(self, upload: Upload) -> None:
        files = [(f"driven-{i + 1}.txt", CLEAN_CONTENT, False) for i in range(upload.clean)]
        if upload.eicar:
            files.append(("eicar.com", EICAR, True))
        async with await self.signed_in(upload.user) as client:
            for name, content, infected in files:
                response = await client.http.post(upload.path, data=upload.form,
                                                  files={upload.field: (name, content, "application/octet-stream")})
                status = response.status_code
                accepted = status < 300
                judged = accepted or (status < 500 and status not in _NO_VERDICT)
                self.report.uploads.append({"file": name, "status": status, "canary": infected, "outcome": (
                    (ev.OUTCOME_ACCEPTED if accepted else ev.OUTCOME_REFUSED) if judged else None)})
                if infected and not judged:
                    self.report.unexpected.append(f"the EICAR canary answered {status}: no verdict on the scan")
                    continue
                if not infected:
                    if not accepted:
                        self.report.unexpected.append(f"clean upload {name} answered {response.status_code}")
                    continue
                if accepted:
                    self.report.unexpected.append(f"the EICAR canary was accepted ({response.status_code})")
                self._observe("upload_scan", upload.path, {
                    ev.SECURITY_CHECK: ev.CHECK_UPLOAD_SCAN, ev.SECURITY_OUTCOME: ev.OUTCOME_INFECTED,
                    ev.SECURITY_DECISION: ev.OUTCOME_ACCEPTED if accepted else ev.OUTCOME_REFUSED,
                    ev.UPLOAD_SCANNER: "eicar-canary",
                    ev.SECURITY_DETAIL: f"EICAR test file answered {response.status_code}",
                }, f"EICAR canary {'accepted' if accepted else 'refused'} ({response.status_code})")

    # --- scope and capability attempts ----------------------------------------------------
    async def attempt(self, attempt: Attempt) -> None:
        async with await self.signed_in(attempt.user) as client:
            if attempt.event is not None:
                await client.open_live()
                outcome = await client.send(attempt.event, attempt.payload)
                denied = self.scenario.denied_key in outcome.reply
                allowed = outcome.ok and not denied and self.scenario.allowed_key in outcome.reply
                where = self.scenario.live_path
                if not (denied or allowed):  # an error reply, a rate limit, a notice: says nothing of the grant
                    answer = "error reply" if not outcome.ok else f"reply without {self.scenario.allowed_key}"
                    self._attempted(attempt, f"{answer}: no verdict", None)
                    return
                answer = "denied" if denied else "allowed"
            else:
                assert attempt.method is not None
                assert attempt.path is not None
                response = await client.http.request(attempt.method, attempt.path)
                denied = response.status_code in attempt.refused_status
                answer = str(response.status_code)
                where = attempt.path
                if not denied and response.status_code >= 400:
                    self._attempted(attempt, f"{answer}: no verdict", None)
                    return
        outcome_name = ev.OUTCOME_DENIED if denied else ev.OUTCOME_ALLOWED
        self._attempted(attempt, answer, outcome_name)
        detail = f"{attempt.user} tried {attempt.name}: {answer}"
        attributes = {ev.SECURITY_CHECK: attempt.check, ev.SECURITY_OUTCOME: outcome_name,
                      ev.SECURITY_EXPECTED: ev.OUTCOME_DENIED, ev.SECURITY_DETAIL: detail}
        attributes[ev.SCOPE_REQUIRED if attempt.check == ev.CHECK_SCOPE else ev.CAPABILITY_NAME] = attempt.required
        self._observe(attempt.check, where, attributes, detail)

    def _attempted(self, attempt: Attempt, answer: str, outcome: str | None) -> None:
        self.report.attempts.append({"name": attempt.name, "user": attempt.user, "check": attempt.check,
                                     "required": attempt.required, "answer": answer, "outcome": outcome})
        if outcome != ev.OUTCOME_DENIED:
            self.report.unexpected.append(f"{attempt.user} tried {attempt.name} ({attempt.check} "
                                          f"{attempt.required}): {answer}, expected a denial")

    # --- foreign origin and host on the session-gated socket --------------------------------
    async def socket_guards(self) -> None:
        """A signed-in handshake from our own origin (the control), then a foreign Origin, then a foreign Host.

        Each attempt has a session of its own, so one attempt never looks like another's reconnect.
        """
        sockets = self.scenario.sockets
        assert sockets is not None
        parts = urllib.parse.urlsplit(self.url)
        own_origin = f"{parts.scheme}://{parts.netloc}"
        tries = [("control", own_origin, parts.netloc),
                 (ev.CHECK_WS_ORIGIN, sockets.foreign_origin, parts.netloc),
                 (ev.CHECK_WS_HOST, f"{parts.scheme}://{sockets.foreign_host}", sockets.foreign_host)]
        for what, origin, host in tries:
            async with await self.signed_in(sockets.user) as client:
                status = await _handshake(client, self.scenario.live_path, origin, host, self.timeout)
            self.report.sockets.append({"attempt": what, "origin": origin, "host": host, "status": status})
            if what == "control":
                if status != 101:
                    self.report.unexpected.append(f"a signed-in handshake from our own origin answered {status}: "
                                                  "no verdict on foreign origins and hosts")
                    return
                continue
            tried = origin if what == ev.CHECK_WS_ORIGIN else host
            if status is None or status == 429 or status >= 500:  # no answer, or one about something else
                self.report.unexpected.append(f"foreign {what.removeprefix('ws_')} {tried}: handshake answered "
                                              f"{status}, no verdict")
                continue
            outcome = ev.OUTCOME_ACCEPTED if status == 101 else ev.OUTCOME_REFUSED
            if status == 101:
                self.report.unexpected.append(f"foreign {what.removeprefix('ws_')} {tried} accepted on "
                                              f"{self.scenario.live_path}")
            self._observe(what, self.scenario.live_path, {
                ev.SECURITY_CHECK: what, ev.SECURITY_OUTCOME: outcome, ev.SECURITY_EXPECTED: ev.OUTCOME_REFUSED,
                ev.SECURITY_VALUE: tried, ev.SECURITY_DETAIL: f"signed-in handshake answered {status}",
            }, f"foreign {what.removeprefix('ws_')} {outcome} ({status}) with a signed-in session")

    # --- a burst past the rate limit ------------------------------------------------------
    async def burst(self, limit: RateLimit) -> None:
        async with self.client() as client:
            if limit.page is not None:
                await client.http.get(limit.page)
            codes = [(await client.http.request(limit.method, limit.path, data=limit.form or None)).status_code
                     for _ in range(limit.count)]
        limited = codes.count(429)
        outcome = ev.OUTCOME_REFUSED if limited else ev.OUTCOME_ACCEPTED
        self.report.rate_limit = {"request": f"{limit.method} {limit.path}", "count": limit.count, "limited": limited}
        if not limited:
            self.report.unexpected.append(f"none of {limit.count} × {limit.method} {limit.path} answered 429")
        self._observe("rate_limit", limit.path, {
            ev.SECURITY_CHECK: ev.CHECK_RATE_LIMIT, ev.SECURITY_OUTCOME: outcome,
            ev.SECURITY_EXPECTED: ev.OUTCOME_REFUSED,
            ev.SECURITY_DETAIL: f"{limited} of {limit.count} × {limit.method} {limit.path} answered 429",
        }, f"burst of {limit.count}: {limited} answered 429")

    def _observe(self, name: str, path: str, attributes: dict[str, str], summary: str) -> None:
        self.report.steps.append(Step(f"drive.{name}", summary, self.url + path, 0.0,
                                      [(ev.SECURITY_EVENT, attributes)]))


async def _handshake(client: DrivenClient, path: str, origin: str, host: str, timeout: float) -> int | None:
    """A WebSocket opening handshake with the client's cookies and the given Origin and Host; the status."""
    parts = urllib.parse.urlsplit(client.base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.http.cookies.jar)
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {os.urandom(16).hex()[:22]}==", "Sec-WebSocket-Version: 13", f"Origin: {origin}",
             *(f"{k}: {v}" for k, v in DRIVEN_HEADERS.items()), *([f"Cookie: {cookie}"] if cookie else [])]
    local = (client.local_address, 0) if client.local_address else None
    try:
        async with asyncio.timeout(timeout):
            tls = (client.tls or ssl.create_default_context()) if parts.scheme == "https" else None
            reader, writer = await asyncio.open_connection(
                parts.hostname, port, ssl=tls, local_addr=local,
                server_hostname=parts.hostname if tls is not None else None)
            try:
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError):
        return None
    fields = status_line.decode("latin-1").split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None


def session_cookies(url: str, scenario: Scenario, user: str | None, count: int, *, timeout: float = 10.0,
                    ca_file: str | None = None) -> list[list[tuple[str, str]]]:
    """The cookies of ``count`` sessions signed in as ``user`` (none: anonymous visitors'), for the browser pass."""
    async def sign_in() -> list[list[tuple[str, str]]]:
        driver = Driver(url, scenario, timeout=timeout, ca_file=ca_file)
        found = []
        for _ in range(count):
            async with await driver.signed_in(user) as client:
                found.append([(c.name, c.value) for c in client.http.cookies.jar if c.value is not None])
        return found

    return asyncio.run(sign_in())


def run_driver(url: str, scenario: Scenario, *, timeout: float = 10.0, spread: bool = True,
               ca_file: str | None = None) -> DriveReport:
    """Run ``scenario`` against ``url``; a step that cannot go on raises :class:`DriveError`.

    ``ca_file`` is the trust store for an https app (a staging CA); default: the system's.
    """
    return asyncio.run(Driver(url, scenario, timeout=timeout, spread=spread, ca_file=ca_file).run())


__all__ = ["EICAR", "DriveError", "DriveReport", "Driver", "run_driver", "session_cookies", "source_addresses"]
