"""The local web view's HTTP server: the standard library's, read-only, on a loopback address.

Requests follow the read API's rules (:mod:`liveobs.correlator._origin`): the
``Host`` must name this server (against DNS rebinding), and a request that says
it comes from another site (``Origin``, ``Sec-Fetch-Site``) is refused. A
secret key is needed too: the URL printed at start carries it once
(``/?key=...``), the server answers with an HttpOnly, SameSite=Strict cookie
and a redirect to the same page without it (:mod:`_ui_http`, shared with the
collector). Only ``GET`` and ``HEAD``; every answer has a strict
Content-Security-Policy (no script at all, the one stylesheet by hash) and is
never cached.

The discovery file ``<store>.ui.json`` (mode 0600) names the URL and key, so
that ``liveobs trace --open`` and ``liveobs incidents`` can print page URLs.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import duckdb

from liveobs.correlator import _ui_http as http
from liveobs.correlator import _ui_pages as pages
from liveobs.correlator._origin import OriginPolicy, is_loopback

COOKIE: Final = http.COOKIE


def discovery_path(db: str | os.PathLike[str]) -> Path:
    return Path(f"{db}.ui.json")


def discover(db: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The running web view of this store: ``{"url", "key", "pid"}``, or None."""
    try:
        found = json.loads(discovery_path(db).read_text(encoding="utf-8"))
        pid = int(found["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(found.get("url"), str) or not isinstance(found.get("key"), str):
        return None
    return {"url": found["url"], "key": found["key"], "pid": pid}


def page_url(base: str, key: str | None, path: str) -> str:
    """A URL that opens ``path`` in a browser that has no cookie yet (no key: the server needs none)."""
    if key is None:
        return f"{base}{path}"
    return f"{base}{path}{'&' if '?' in path else '?'}key={urllib.parse.quote(key, safe='')}"


def ui_address(db: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Where this store's pages are served: a running ``liveobs ui``, else the collector that owns it
    (its key derived from the token this user holds), else None."""
    found = discover(db)
    if found is not None:
        return found
    from liveobs.correlator._remote import discover as discover_collector
    from liveobs.correlator._remote import read_token
    from liveobs.correlator._store import StoreUnavailableError

    try:
        collector = discover_collector(db)
        token = read_token() if collector is not None else None
    except StoreUnavailableError:
        return None
    if collector is None:
        return None
    return {"url": collector.url, "key": http.ui_key(token) if token else None, "pid": collector.pid}


class UIServer:
    """The web view over one store file, in a thread; ``close()`` stops it and removes the discovery file."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, host: str = "127.0.0.1", port: int = 0,
                 db: str | None = None, key: str | None = None) -> None:
        if not is_loopback(host):
            raise ValueError(f"the web view serves on a loopback address only, not {host!r}")
        self.key = key or secrets.token_urlsafe(24)
        self.policy = OriginPolicy.build(token=None)
        self._con = con
        self._lock = threading.Lock()
        self.host = host
        self._httpd = ThreadingHTTPServer((host, port), _handler(self))
        self._httpd.daemon_threads = True
        address = self._httpd.server_address
        self.url = f"http://{host}:{address[1]}"
        self._db = db
        self.db = db
        self._thread: threading.Thread | None = None
        if db is not None:
            path = discovery_path(db)
            path.write_text("", encoding="utf-8")
            path.chmod(0o600)
            path.write_text(json.dumps({"url": self.url, "key": self.key, "pid": os.getpid()}), encoding="utf-8")

    @property
    def start_url(self) -> str:
        return page_url(self.url, self.key, "/incidents")

    def start(self) -> UIServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="liveobs-ui", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def close(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(10)
        self._httpd.server_close()
        if self._db is not None:
            with contextlib.suppress(FileNotFoundError):
                discovery_path(self._db).unlink()

    def render(self, path: str, query: dict[str, str]) -> pages.Page:
        """The page at ``path`` (already authorised), on a cursor of its own."""
        with self._lock:  # a connection is not thread-safe, even to open cursors from
            cur = self._con.cursor()
        try:
            return http.route(cur, path, query)
        finally:
            cur.close()


def _handler(server: UIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "liveobs-ui"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            return  # no request log: ids in URLs stay off the terminal

        def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in {**http.HEADERS, **(headers or {})}.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            refusal = server.policy.refusal(self.headers.get("Host", ""), self.headers.get("Origin", ""),
                                            self.headers.get("Sec-Fetch-Site", ""), server.host)
            if refusal is not None:
                return self._send(403, http.refusal_page(403, refusal))
            decision = http.decide(self.path, self.headers.get("Cookie", ""), server.key)
            if decision.status == 303:
                return self._send(303, "", {"Location": decision.location, "Set-Cookie": decision.cookie})
            if decision.status == 204:
                return self._send(204, "")
            if decision.status != 200:
                return self._send(decision.status, http.refusal_page(decision.status, decision.reason))
            status, body = server.render(decision.path, decision.query or {})
            self._send(status, body)

        def _not_allowed(self) -> None:
            self._send(405, pages.layout("not allowed", "<h1>read-only</h1>"), {"Allow": "GET, HEAD"})

        do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed

    return Handler
