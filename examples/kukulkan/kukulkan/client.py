"""A scripted user: signs in and drives the board over the live protocol, as liveobs.js does.

It reads the page's liveobs ``<meta>`` tags, opens the socket with its own
connection id, wraps each action's payload with the ``lo`` envelope (a UUIDv7
event id minted at the action, the per-connection sequence number, the page's
session and route ids, the page's ``traceparent``), matches replies by event
id, skips pushed updates, and reports each outcome to the app's report
endpoint, so the demo needs no browser.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass, field
from html import unescape
from typing import Any, Final

import httpx
from websockets.asyncio.client import ClientConnection, connect

from kukulkan.sessions import COOKIE_NAME
from liveobs.conventions import keys, mint_connection_id, mint_event_id, parse_reply

_META_RE: Final = re.compile(r'<meta name="([^"]+)" content="([^"]*)">')
REPORT_PATH: Final = "/_liveobs/report"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one action went, as the browser saw it."""

    name: str
    event_id: str
    ok: bool
    latency_ms: float
    trace_id: str | None = None
    error_class: str | None = None
    error_code: str | None = None
    notice: str | None = None
    patched: bool = False


@dataclass
class LiveClient:
    """One signed-in browser tab: an HTTP client with the session cookie and a live socket."""

    base_url: str
    http: httpx.AsyncClient = field(init=False)
    page_ids: dict[str, str] = field(default_factory=dict)
    connection_id: str = ""
    seq: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    _socket: ClientConnection | None = None

    def __post_init__(self) -> None:
        # Browsers send Origin on every POST; the app's report endpoint and guards expect it.
        self.http = httpx.AsyncClient(base_url=self.base_url, follow_redirects=True, timeout=10.0,
                                      headers={"Origin": self.base_url})

    async def __aenter__(self) -> LiveClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._socket is not None:
            await self._socket.close()
            self._socket = None
        await self.http.aclose()

    async def sign_in(self, name: str, password: str) -> None:
        """Open the sign-in page (an anonymous session), then sign in (a new session)."""
        await self.http.get("/signin")
        response = await self.http.post("/signin", data={"username": name, "password": password})
        if response.status_code != 200 or not str(response.url).endswith("/board"):
            raise RuntimeError(f"sign-in as {name} failed: HTTP {response.status_code}")
        self.page_ids = {name: unescape(value) for name, value in _META_RE.findall(response.text)}

    async def open_live(self) -> None:
        """Open the socket as liveobs.connect does: ``?lo_cid=<connection id>`` and the page's origin."""
        self.connection_id = mint_connection_id()
        self.seq = 0
        ws_url = self.base_url.replace("http", "ws", 1) + f"/live?lo_cid={self.connection_id}"
        cookie = self.http.cookies.get(COOKIE_NAME)
        self._socket = await connect(ws_url, origin=self.base_url,  # type: ignore[arg-type]
                                     additional_headers={"Cookie": f"{COOKIE_NAME}={cookie}"})

    def envelope(self, name: str) -> dict[str, Any]:
        self.seq += 1
        lo: dict[str, Any] = {
            "event_id": mint_event_id(), "event_name": name, "seq": self.seq,
            "session_id": self.page_ids.get(keys.META_SESSION_ID), "connection_id": self.connection_id,
            "route_id": self.page_ids.get(keys.META_ROUTE_ID), "client_time": time.time() * 1000,
        }
        if keys.META_TRACEPARENT in self.page_ids:
            lo["traceparent"] = self.page_ids[keys.META_TRACEPARENT]
        return {k: v for k, v in lo.items() if v is not None}

    async def send(self, name: str, **payload: Any) -> Outcome:
        """One user action: send it, wait for its reply (pushes skipped), report it."""
        if self._socket is None:
            raise RuntimeError("open_live() first")
        lo = self.envelope(name)
        started = time.perf_counter()
        await self._socket.send(json.dumps({**payload, "event": name, keys.ENVELOPE_KEY: lo}))
        while True:
            message = json.loads(await self._socket.recv())
            reply = parse_reply(message.get(keys.ENVELOPE_KEY)) if isinstance(message, dict) else None
            if reply is not None and reply.event_id == lo["event_id"] and not message[keys.ENVELOPE_KEY].get("push"):
                break
        outcome = Outcome(
            name=name, event_id=lo["event_id"], ok=reply.ok,
            latency_ms=round((time.perf_counter() - started) * 1000, 1), trace_id=reply.trace_id,
            error_class=reply.error_class, error_code=reply.error_code, notice=message.get("notice"),
            patched="patch" in message,
        )
        self.outcomes.append(outcome)
        await self.report(outcome)
        return outcome

    async def upload(self, card_id: str, filename: str, content: bytes) -> httpx.Response:
        """Attach a file to a card, as the page's upload form does."""
        files = {"file": (filename, content, "application/octet-stream")}
        return await self.http.post(f"/cards/{card_id}/attachments", data={"card_id": card_id}, files=files)

    async def report(self, outcome: Outcome) -> None:
        """What liveobs.js beacons: a browser.action, or a browser.error for a failed reply."""
        item: dict[str, Any] = {
            "type": keys.BROWSER_ACTION_EVENT if outcome.ok else keys.BROWSER_ERROR_EVENT,
            "time": int(time.time() * 1000), "connection_id": self.connection_id,
            "event_id": outcome.event_id, "event_name": outcome.name, "seq": self.seq,
            "latency_ms": outcome.latency_ms, "trace_id": outcome.trace_id,
        }
        if not outcome.ok:
            item.update(error_kind="reply_error", error_class=outcome.error_class, error_code=outcome.error_code)
        body = {
            "session_id": self.page_ids.get(keys.META_SESSION_ID), "route_id": self.page_ids.get(keys.META_ROUTE_ID),
            "request_id": self.page_ids.get(keys.META_REQUEST_ID), "release": self.page_ids.get(keys.META_RELEASE),
            "dropped": 0, "reports": [item],
        }
        # Reporting never breaks the session, in the browser or here.
        with contextlib.suppress(httpx.HTTPError):
            await self.http.post(REPORT_PATH, json=body)
