"""``EvidenceMiddleware``: the evidence the middleware can see, recorded automatically.

Place it inside :class:`~liveobs.sdk.LiveObsMiddleware` (so the current span is
the request's server span or the connection span). It serves ``liveobs.js``
and the report endpoint at their fixed paths, refuses request bodies over the
limit with 413 (and records it), and, when given Origins or Hosts, guards
WebSocket handshakes. HTML responses are watched by ``_evidence_html`` (their CSP
and subresources as sent), live sockets by ``_evidence_live`` (active sessions,
reply compression).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from liveobs.sdk._asgi import mark_sdk_route
from liveobs.sdk._asgi_io import (
    ASGIApp,
    BodyTooLarge,
    Message,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    send_response,
)
from liveobs.sdk._assets import ASSET_PATH, REPORT_PATH, serve_asset
from liveobs.sdk._evidence import record_body_limit
from liveobs.sdk._evidence_html import HtmlWatcher
from liveobs.sdk._evidence_live import run_watched
from liveobs.sdk._middleware import LiveObsMiddleware
from liveobs.sdk._origin import OriginPolicy, refuse_websocket
from liveobs.sdk._perf import perf_recorder
from liveobs.sdk._report import ReportEndpoint

DEFAULT_MAX_BODY: Final = 1024 * 1024
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def wrapped() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return wrapped


class EvidenceMiddleware:
    """ASGI middleware for the automatic security evidence and the browser client's endpoints.

    ``report`` is the :class:`ReportEndpoint` answering ``report_path`` (omit it
    to serve no report endpoint); ``max_body`` bounds request bodies (``None``:
    no limit); ``ws_origins``/``ws_hosts`` turn on the WebSocket handshake
    checks (an empty ``ws_origins`` list means the request's own origin).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        report: ReportEndpoint | None = None,
        asset_path: str = ASSET_PATH,
        report_path: str = REPORT_PATH,
        max_body: int | None = DEFAULT_MAX_BODY,
        csp: bool = True,
        sri: bool = True,
        ws_origins: Iterable[str] | None = None,
        ws_hosts: Iterable[str] | None = None,
    ) -> None:
        self.app = app
        self.report = report
        self.asset_path = asset_path
        self.report_path = report_path
        self.max_body = max_body
        self.csp = csp
        self.sri = sri
        guarded = ws_origins is not None or ws_hosts is not None
        self.ws_policy = OriginPolicy(ws_origins or (), ws_hosts) if guarded else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        # Registers the process memory and CPU instruments from the app's start (lifespan) on.
        perf_recorder()
        if kind == "websocket":
            if self.ws_policy is not None and not self.ws_policy.check(scope):
                await refuse_websocket(receive, send)
                return
            await run_watched(self.app, scope, receive, send)
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path")
        if path == self.asset_path:
            mark_sdk_route(scope, self.asset_path)
            await serve_asset(scope, receive, send)
            return
        if path == self.report_path and self.report is not None:
            mark_sdk_route(scope, self.report_path)
            await self.report(scope, receive, send)
            return
        await self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_body
        if limit is not None and scope.get("method") in _BODY_METHODS:
            declared = header(scope, b"content-length")
            observed: int | None = None
            if declared is not None:
                # The server holds the body to its declared length; the declaration is what to check.
                if declared.isdigit() and int(declared) > limit:
                    observed = int(declared)
            else:
                # A chunked body is read here, up to the limit, and replayed to the app.
                try:
                    receive = _replay(await read_body(receive, limit), receive)
                except BodyTooLarge as exc:
                    observed = exc.observed
            if observed is not None:
                record_body_limit(limit, observed)
                await send_response(send, 413, b"request body too large")
                return
        await self.app(scope, receive, HtmlWatcher(scope, send, self.csp, self.sri))


def observe_live_app(
    app: ASGIApp,
    *,
    report: bool = True,
    report_per_minute: float = 60.0,
    report_burst: int = 30,
    max_body: int | None = DEFAULT_MAX_BODY,
    ws_origins: Iterable[str] | None = None,
    ws_hosts: Iterable[str] | None = None,
    **middleware_options: Any,
) -> LiveObsMiddleware:
    """``app`` under :class:`EvidenceMiddleware` under :class:`LiveObsMiddleware`, wired together.

    The report endpoint hears only the sessions the middleware pseudonymises
    (``session=...``, ``session_keys=...`` among ``middleware_options``).
    """
    inner = EvidenceMiddleware(app, max_body=max_body, ws_origins=ws_origins, ws_hosts=ws_hosts)
    outer = LiveObsMiddleware(inner, **middleware_options)
    if report:
        inner.report = ReportEndpoint(outer.session_id, owns_session=outer.owns_session,
                                      per_minute=report_per_minute, burst=report_burst)
    return outer
