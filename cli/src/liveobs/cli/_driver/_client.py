"""One driven browser tab without a browser: an HTTP client with the session cookie and a live socket.

It speaks the protocol of ``liveobs.js``: it reads the page's liveobs ``<meta>``
tags, opens the socket with its own connection id (``?lo_cid=``), wraps each
action's payload with the ``lo`` envelope (a UUIDv7 event id minted at the action,
the per-connection sequence number, the page's session and route ids and
``traceparent``), matches the reply by event id (pushed updates skipped), and
reports each outcome to the app's report endpoint in batches, as the browser does.
Every request and the socket handshake carry ``X-Liveobs-Evidence: driven``, so
the app's SDK marks what it records as driven evidence.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field
from html import unescape
from typing import Any, Final

import httpx
from websockets.asyncio.client import ClientConnection, connect

from liveobs.conventions import keys, mint_connection_id, mint_event_id, parse_reply

_META_RE: Final = re.compile(r'<meta\s+name="([^"]+)"\s+content="([^"]*)"\s*/?>')
DRIVEN_HEADERS: Final = {keys.HEADER_EVIDENCE_SOURCE: keys.EVIDENCE_DRIVEN, "User-Agent": "liveobs-drive/0.1"}
_REPORT_BATCH: Final = 20
REPLY_TIMEOUT: Final = 10.0


class DriveError(RuntimeError):
    """A step the scenario needs failed (sign-in, the socket); the message says which."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one live action went, as the browser saw it."""

    name: str
    event_id: str
    ok: bool
    latency_ms: float
    reply: dict[str, Any]
    trace_id: str | None = None
    error_class: str | None = None


def page_ids(html: str) -> dict[str, str]:
    """The liveobs ``<meta>`` tags of a page, by name."""
    return {name: unescape(value) for name, value in _META_RE.findall(html)}


@dataclass
class DrivenClient:
    """One signed-in tab. ``local_address`` picks the client address it connects from."""

    base_url: str
    live_path: str = "/live"
    report_path: str = "/_liveobs/report"
    local_address: str | None = None
    timeout: float = 10.0
    tls: ssl.SSLContext | None = None  # None: the system's trust store
    http: httpx.AsyncClient = field(init=False)
    ids: dict[str, str] = field(default_factory=dict)
    connection_id: str = ""
    connections: int = 0
    seq: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    page_seconds: list[float] = field(default_factory=list)
    _socket: ClientConnection | None = None
    _reports: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        transport = httpx.AsyncHTTPTransport(local_address=self.local_address, verify=self.tls or True)
        # Browsers send Origin on every POST; apps' CSRF guards expect it.
        self.http = httpx.AsyncClient(base_url=self.base_url, follow_redirects=True, timeout=self.timeout,
                                      transport=transport, headers={**DRIVEN_HEADERS, "Origin": self.origin})

    @property
    def origin(self) -> str:
        parts = urllib.parse.urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    async def __aenter__(self) -> DrivenClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.close_live()
        try:
            await self.flush_reports()
        finally:
            await self.http.aclose()

    # --- pages ------------------------------------------------------------------------
    async def sign_in(self, page: str, path: str, landing: str, fields: dict[str, str]) -> None:
        """Open the sign-in page (a browser gets its anonymous session there), then post the form."""
        await self.http.get(page)
        response = await self.http.post(path, data=fields)
        if response.status_code != 200 or urllib.parse.urlsplit(str(response.url)).path != landing:
            raise DriveError(f"sign-in at {path} answered {response.status_code} at "
                             f"{urllib.parse.urlsplit(str(response.url)).path}, expected 200 at {landing}")
        self.ids = page_ids(response.text)

    async def load(self, path: str) -> int:
        """Load a page as a browser navigates to it; its liveobs ids become the tab's."""
        started = time.perf_counter()
        response = await self.http.get(path)
        self.page_seconds.append(time.perf_counter() - started)
        found = page_ids(response.text)
        if found:
            self.ids = found
        return response.status_code

    # --- the live socket --------------------------------------------------------------
    async def open_live(self) -> None:
        """Open the socket as ``liveobs.connect`` does: ``?lo_cid=<connection id>``, the page's origin."""
        await self.close_live()
        self.connection_id = mint_connection_id()
        self.seq = 0
        parts = urllib.parse.urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        url = f"{scheme}://{parts.netloc}{self.live_path}?lo_cid={self.connection_id}"
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies.jar)
        headers = {**DRIVEN_HEADERS, **({"Cookie": cookie} if cookie else {})}
        extra: dict[str, Any] = {"local_addr": (self.local_address, 0)} if self.local_address else {}
        if scheme == "wss" and self.tls is not None:
            extra["ssl"] = self.tls
        try:
            self._socket = await connect(url, origin=self.origin,  # type: ignore[arg-type]
                                         additional_headers=headers, open_timeout=self.timeout, **extra)
        except (OSError, TimeoutError, ValueError) as exc:  # websockets' InvalidStatus is a ValueError too
            raise DriveError(f"the live socket {self.live_path} did not open: {exc}") from None
        self.connections += 1

    async def close_live(self) -> None:
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.close()

    def envelope(self, name: str) -> dict[str, Any]:
        self.seq += 1
        lo: dict[str, Any] = {
            "event_id": mint_event_id(), "event_name": name, "seq": self.seq,
            "session_id": self.ids.get(keys.META_SESSION_ID), "connection_id": self.connection_id,
            "route_id": self.ids.get(keys.META_ROUTE_ID), "client_time": time.time() * 1000,
            "traceparent": self.ids.get(keys.META_TRACEPARENT),
        }
        return {k: v for k, v in lo.items() if v is not None}

    async def send(self, name: str, payload: dict[str, Any]) -> Outcome:
        """One user action: send it, wait for its reply (pushes skipped), queue its report."""
        if self._socket is None:
            raise DriveError("the live socket is not open")
        lo = self.envelope(name)
        started = time.perf_counter()
        await self._socket.send(json.dumps({**payload, "event": name, keys.ENVELOPE_KEY: lo}))
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    message = json.loads(await self._socket.recv())
                    raw = message.get(keys.ENVELOPE_KEY) if isinstance(message, dict) else None
                    reply = parse_reply(raw)
                    if reply is not None and reply.event_id == lo["event_id"] and not (raw or {}).get("push"):
                        break
        except TimeoutError:
            raise DriveError(f"no reply to {name} within {self.timeout:g} s") from None
        outcome = Outcome(name, lo["event_id"], reply.ok, round((time.perf_counter() - started) * 1000, 1),
                          message, reply.trace_id, reply.error_class)
        self.outcomes.append(outcome)
        self._queue_report(outcome, reply.span_id, reply.patch_bytes)
        return outcome

    # --- reports, as liveobs.js batches them ---------------------------------------------
    def _queue_report(self, outcome: Outcome, span_id: str | None, patch_bytes: int | None) -> None:
        item: dict[str, Any] = {
            "type": keys.BROWSER_ACTION_EVENT if outcome.ok else keys.BROWSER_ERROR_EVENT,
            "time": int(time.time() * 1000), "connection_id": self.connection_id, "event_id": outcome.event_id,
            "event_name": outcome.name, "seq": self.seq, "latency_ms": outcome.latency_ms,
            "trace_id": outcome.trace_id, "span_id": span_id,
        }
        if outcome.ok:
            item.update(patch_bytes=patch_bytes, reconnects=max(self.connections - 1, 0))
        else:
            item.update(error_kind="reply_error", error_class=outcome.error_class)
        self._reports.append(item)

    async def flush_reports(self) -> int:
        """Send the queued reports; a failed report never fails the session (nor does it in a browser)."""
        sent = 0
        while self._reports:
            batch, self._reports = self._reports[:_REPORT_BATCH], self._reports[_REPORT_BATCH:]
            body = {"session_id": self.ids.get(keys.META_SESSION_ID), "route_id": self.ids.get(keys.META_ROUTE_ID),
                    "request_id": self.ids.get(keys.META_REQUEST_ID), "release": self.ids.get(keys.META_RELEASE),
                    "dropped": 0, "reports": batch}
            try:
                response = await self.http.post(self.report_path, json=body)
            except httpx.HTTPError:
                continue
            sent += len(batch) if response.status_code < 300 else 0
        return sent
