"""The web view served by a running collector, on its own port, next to the read API.

While ``liveobs collect`` owns the store, no other process can open it, so the
collector answers the pages itself (``GET /incidents``, ``/incidents/<fp>``,
``/traces/<id>``, ``/sessions/<id>``, ``/gates``). The rules are the read API's:
the collector has already checked Host, Origin and Sec-Fetch-Site; with a token,
a page needs the web view's key (:func:`liveobs.correlator._ui_http.ui_key`,
derived from the token so that it opens pages only), given once in the URL and
then held in a cookie. A page first commits what the collector acknowledged,
like every read, and renders in a worker thread on a cursor of its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import duckdb

from liveobs.correlator import _ui_http as http
from liveobs.correlator import _ui_pages as pages
from liveobs.correlator._readapi import FLUSH_TIMEOUT_S
from liveobs.correlator._storegate import StoreGate

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _header(scope: MutableMapping[str, Any], name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


async def _answer(send: Send, status: int, body: str, extra: dict[str, str] | None = None) -> None:
    data = body.encode("utf-8")
    headers = {"content-type": "text/html; charset=utf-8", "content-length": str(len(data)),
               **http.HEADERS, **(extra or {})}
    await send({"type": "http.response.start", "status": status,
                "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()]})
    await send({"type": "http.response.body", "body": data})


class CollectorPages:
    """The pages of one collector: ``flush`` commits acknowledged data; ``con`` is its read connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, flush: Callable[[float], bool], lock: threading.Lock,
                 token: str | None, gate: StoreGate | None = None) -> None:
        self.con = con
        self.gate = gate or StoreGate()  # the collector's, shared with its writer and retention
        self.flush = flush
        self.lock = lock
        self.key = http.ui_key(token) if token else None

    async def __call__(self, scope: MutableMapping[str, Any], send: Send) -> None:
        raw = bytes(scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = bytes(scope.get("query_string") or b"").decode("latin-1")
        decision = http.decide(raw + (f"?{query}" if query else ""), _header(scope, b"cookie"), self.key)
        if decision.status == 303:
            extra = {"Location": decision.location, **({"Set-Cookie": decision.cookie} if decision.cookie else {})}
            await _answer(send, 303, "", extra)
        elif decision.status == 204:
            await _answer(send, 204, "")
        elif decision.status != 200:
            await _answer(send, decision.status, http.refusal_page(decision.status, decision.reason))
        else:
            status, body = await asyncio.to_thread(self._render, decision.path, decision.query or {})
            await _answer(send, status, body)

    def _render(self, path: str, query: dict[str, str]) -> pages.Page:
        if not self.flush(FLUSH_TIMEOUT_S):
            return 503, pages.layout("busy", "<h1>the store has not committed the acknowledged data yet</h1>")
        with self.lock:  # a connection is not thread-safe, even to open cursors from
            cur = self.con.cursor()
        try:
            with self.gate.shared():  # never beside the retention pass's checkpoint (see _storegate)
                return http.route(cur, path, query)
        finally:
            cur.close()
