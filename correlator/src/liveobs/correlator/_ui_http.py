"""What the web view answers, whichever server carries it: routes, the key cookie, the headers.

``liveobs ui`` (the standard library's server, :mod:`_ui_server`) and a running
collector (:mod:`_ui_asgi`) answer the same pages with the same rules: a GET for a
page either carries the key (``?key=``, answered with an HttpOnly SameSite=Strict
cookie and a redirect to the same page without it), or the cookie, or is refused.
The collector without a token needs no key: there, as for its read API, the Host
and origin checks alone decide. Every answer carries :data:`HEADERS`.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import duckdb

from liveobs.correlator import _ui_gates as gate_pages
from liveobs.correlator import _ui_pages as pages
from liveobs.correlator._sqlcursor import QUERY_ERRORS
from liveobs.correlator._visible import h

COOKIE: Final = "liveobs_ui"
MAX_PATH: Final = 2048
PAGE_ROOTS: Final = frozenset({"incidents", "traces", "sessions", "gates", "favicon.ico"})
HEADERS: Final = {
    "Content-Security-Policy": pages.CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_ROUTES: Final[dict[str, Callable[[duckdb.DuckDBPyConnection, str], pages.Page]]] = {
    "incidents": pages.incident_page, "traces": pages.trace_page, "sessions": pages.session_page,
}


def ui_key(token: str) -> str:
    """The web view's key derived from a collector token: it opens the pages, never the ingest or read API."""
    return hmac.new(token.encode(), b"liveobs-ui-key", hashlib.sha256).hexdigest()


def is_page(path: str) -> bool:
    """Whether ``path`` is one of the web view's pages (the collector answers the rest as before)."""
    return path.strip("/").split("/", 1)[0] in PAGE_ROOTS


@dataclass(frozen=True)
class Decision:
    """What to do with one GET: ``status`` 200 renders ``path`` with ``query``; 303 sets the cookie."""

    status: int
    path: str = ""
    query: dict[str, str] | None = None
    location: str = ""
    cookie: str = ""
    reason: str = ""


def decide(raw_path: str, cookie_header: str, key: str | None) -> Decision:
    """Authorise one GET for a page; ``key`` None means no key is needed."""
    if len(raw_path) > MAX_PATH:
        return Decision(414, reason="the URL is too long")
    parts = urllib.parse.urlsplit(raw_path)
    if parts.path == "/favicon.ico":  # the browser asks on its own; no icon, and no error
        return Decision(204)
    try:
        query = dict(urllib.parse.parse_qsl(parts.query, max_num_fields=20))
    except ValueError:
        return Decision(400, reason="too many query parameters")
    given = query.pop("key", None)
    if given is not None:
        if key is not None and not hmac.compare_digest(given.encode(), key.encode()):
            return Decision(401, reason="wrong key: open the URL that liveobs printed")
        rest = urllib.parse.urlencode(query)
        target = (parts.path or "/incidents") + (f"?{rest}" if rest else "")
        cookie = f"{COOKIE}={key}; HttpOnly; SameSite=Strict; Path=/" if key is not None else ""
        return Decision(303, location=target, cookie=cookie)
    if key is not None:
        cookies = [c.strip().split("=", 1) for c in cookie_header.split(";") if "=" in c]
        held = next((v for k, v in cookies if k == COOKIE), "")
        if not hmac.compare_digest(held.encode(), key.encode()):
            return Decision(401, reason="open the URL that liveobs printed (it carries the key once)")
    return Decision(200, path=parts.path, query=query)


def route(cur: duckdb.DuckDBPyConnection, path: str, query: dict[str, str]) -> pages.Page:
    """The page at ``path`` on one cursor; a store error is a 500 page."""
    parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
    try:
        if parts in ([""], ["incidents"]):
            return pages.incidents_page(cur, query)
        if parts == ["gates"]:
            return gate_pages.gates_page(cur)
        if len(parts) == 2 and parts[0] == "gates" and parts[1]:
            return gate_pages.gate_run_page(cur, parts[1])
        if len(parts) == 2 and parts[0] in _ROUTES and parts[1]:
            return _ROUTES[parts[0]](cur, parts[1])
    except QUERY_ERRORS as exc:
        return 500, pages.layout("error", f"<h1>the store could not answer</h1><p>{h(exc, 500)}</p>")
    return 404, pages.layout("not found", "<h1>no such page</h1><p><a href='/incidents'>incidents</a></p>")


def refusal_page(status: int, reason: str) -> str:
    return pages.layout("refused", f"<h1>{status}</h1><p>{h(reason, 300)}</p>")
