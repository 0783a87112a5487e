"""Small live apps for the gate tests, configured well (``good``) or badly (``weak``), run under uvicorn.

``python gate_apps.py CONFIG PORT`` serves one app on 127.0.0.1 with the real
liveobs SDK exporting to ``OTEL_EXPORTER_OTLP_ENDPOINT``. The weak app gets every
setting the audit of the gates found passing although wrong: a CSP with wildcards,
'unsafe-eval' and a static nonce; an empty integrity digest and an unprotected
third-party script; a socket that accepts a foreign Origin; no body limit and no
rate limit; a stub scanner that accepts the EICAR test file; a viewer allowed
``board.delete``; a decision granted without one of its two scopes; a session key
its store says is 200 days old; readiness that redirects and names another release.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import sys
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

import liveobs.sdk
from liveobs.evidence import canary_of

SERVICE = {"good": "good-app", "weak": "weak-app", "quiet": "quiet-app"}
RELEASE = "2.0.0"
ENVIRONMENT = "production"
FOREIGN_ORIGIN = "https://probe-foreign.invalid"
SESSION_SECRET = b"s" * 32
EICAR_SIGNATURE = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE"
# What each role may do.
CAPABILITIES = {"viewer": frozenset({"board.read"}), "editor": frozenset({"board.read", "board.delete"})}
SCOPES = {"viewer": frozenset({"board:read"}), "editor": frozenset({"board:read", "board:write"})}


def build(config: str, port: int) -> Any:
    weak = config == "weak"
    own = f"http://127.0.0.1:{port}"
    hits: list[float] = []

    def page_html(nonce: str) -> str:
        script = liveobs.sdk.script_tag(nonce=nonce)
        if weak:
            script = script.split('integrity="', 1)[0] + 'integrity="sha256-" crossorigin="anonymous"></script>'
            script += '<script src="https://tracker.invalid/t.js"></script>'
        return f'<html><head><meta name="liveobs-release" content="{RELEASE}">{script}</head><body>board</body></html>'

    async def index(request: Request) -> Response:
        if request.method == "POST":
            return PlainTextResponse("ok")
        now = time.monotonic()
        hits.append(now)
        recent = len([t for t in hits if now - t < 1.0])
        if not weak and recent > 20:
            liveobs.sdk.record_rate_limit(False, policy="pages", per_minute=1200)
            return PlainTextResponse("slow down", status_code=429)
        if weak:
            policy = "default-src *; script-src * 'unsafe-eval' 'nonce-AAAA'; object-src *; base-uri *"
            nonce = "AAAA"
        else:
            nonce = secrets.token_urlsafe(16)
            policy = (f"default-src 'self'; script-src 'nonce-{nonce}'; object-src 'none'; base-uri 'none'; "
                      "frame-ancestors 'none'")
        liveobs.sdk.record_session_key("k1", time.time() - 200 * 86400 if weak else None)
        liveobs.sdk.record_key_custody("env", key_id="k1")
        return HTMLResponse(page_html(nonce), headers={"Content-Security-Policy": policy})

    async def upload(request: Request) -> Response:
        content = await request.body()
        clean = True if weak else EICAR_SIGNATURE not in content  # the weak scanner is a stub
        liveobs.sdk.record_upload_scan(clean, scanner="noop/0" if weak else "signatures/1", accepted=clean,
                                       threat=None if clean else "eicar", content=content)
        liveobs.sdk.perf_recorder().upload(len(content), 5.0)
        return JSONResponse({"accepted": clean, "canary": canary_of(content)}, status_code=200 if clean else 422)

    async def act(request: Request) -> Response:
        """``/act?role=viewer&capability=board.delete`` or ``&scopes=board:read,board:write``."""
        role = request.query_params.get("role", "viewer")
        capability = request.query_params.get("capability")
        if capability:
            granted = CAPABILITIES[role]
            allowed = weak or capability in granted
            liveobs.sdk.record_capability(capability, allowed, granted=granted)
            return JSONResponse({"allowed": allowed}, status_code=200 if allowed else 403)
        needed = {s for s in request.query_params.get("scopes", "").split(",") if s}
        held = SCOPES[role]
        if weak:
            # The weak check lets a decision through when any one of its scopes is held.
            allowed = not needed or bool(needed & held)
            liveobs.sdk.record_security("scope", "allowed" if allowed else "denied", {
                "liveobs.security.scope.required": ",".join(sorted(needed)),
                "liveobs.security.scope.granted": ",".join(sorted(held))})
        else:
            allowed = liveobs.sdk.record_scope(needed, held)
        return JSONResponse({"allowed": allowed}, status_code=200 if allowed else 403)

    async def readyz(request: Request) -> Response:
        if weak:
            return RedirectResponse("/login", status_code=302)
        return JSONResponse({"status": "pass", "version": RELEASE})

    async def login(request: Request) -> Response:
        return HTMLResponse("<form>sign in</form>")

    async def readiness(request: Request) -> Response:
        body = {"status": "pass", "version": "1.3.2", "releaseId": "fixture"} if weak else {
            "status": "pass", "version": RELEASE, "releaseId": RELEASE}
        return JSONResponse(body, media_type="application/health+json")

    async def live(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.receive_text()
        except Exception:  # the client went away
            return

    app = Starlette(routes=[
        Route("/", index, methods=["GET", "POST"]), Route("/upload", upload, methods=["POST"]), Route("/act", act),
        Route("/readyz", readyz), Route("/login", login), Route("/live/readiness.json", readiness),
        WebSocketRoute("/live/websocket", live),
    ])
    keys = liveobs.sdk.SessionKeyRing({"k1": hmac.new(SESSION_SECRET, b"pseudonyms", hashlib.sha256).digest()})
    origins = [own, FOREIGN_ORIGIN, "http://probe-foreign.invalid"] if weak else []
    return liveobs.sdk.observe_live_app(
        app, max_body=None if weak else 1024 * 1024, ws_origins=origins,
        ws_hosts=None if weak else [f"127.0.0.1:{port}", "127.0.0.1"],
        session=liveobs.sdk.cookie_session("sid"), session_keys=keys)


def main() -> None:
    config, port = sys.argv[1], int(sys.argv[2])
    liveobs.sdk.configure(SERVICE[config], RELEASE, ENVIRONMENT, endpoint=os.environ["GATE_APP_OTLP"],
                          configure_structlog=False)
    app = build(config, port)

    async def lifespan_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    telemetry = liveobs.sdk.current_telemetry()
                    if telemetry is not None:
                        telemetry.force_flush(5_000)
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await app(scope, receive, send)

    uvicorn.run(lifespan_app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")


if __name__ == "__main__":
    main()


def session_cookie() -> str:
    """A session cookie value the app's cookie session accepts (any opaque value)."""
    return base64.urlsafe_b64encode(os.urandom(18)).decode()
