"""The Kukulkan app: routes, pages, sign-in, uploads and the live socket.

``create_app()`` reads its settings from the environment (uvicorn's
``--factory``); tests pass :class:`Settings` directly. The same artifact runs as
two units: ``ui`` (pages, sign-in, the live socket, uploads) and ``api`` (the
JSON API); both answer ``/readyz`` and ``/live/readiness.json``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final

import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp
from starlette.websockets import WebSocket

from kukulkan import __version__
from kukulkan import observability as obs
from kukulkan.accounts import CAP_UPLOAD, SCOPE_EDITOR, AccessDenied, Accounts, User, demo_accounts
from kukulkan.board import COLUMNS, Attachment, Board, BoardError
from kukulkan.guards import RateLimiter, content_security_policy, new_nonce
from kukulkan.live import Hub, LiveSession
from kukulkan.release import RunningRelease, running_release
from kukulkan.scanner import SCANNER_NAME, Verdict, scan
from kukulkan.sessions import COOKIE_NAME, KeyRing, SessionStore

_PACKAGE: Final = resources.files("kukulkan")
CLOSE_POLICY: Final = 1008
_log = structlog.get_logger("kukulkan")


@dataclass(frozen=True)
class Settings:
    environment: str
    release: str = __version__
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    body_limit: int = 256 * 1024
    rate_per_second: float = 20.0
    rate_burst: int = 40
    signin_per_minute: float = 30.0
    signin_burst: int = 5
    keys: KeyRing = field(default_factory=lambda: KeyRing.from_environment())
    secure_cookies: bool = False
    # Deliberately weakened guards, for showing that the gates catch them: never in production.
    weaken: frozenset[str] = frozenset()

    @classmethod
    def from_environment(cls) -> Settings:
        env = os.environ
        return cls(
            environment=env.get("KUKULKAN_ENVIRONMENT", "production"),
            allowed_hosts=tuple(h for h in env.get("KUKULKAN_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h),
            body_limit=int(env.get("KUKULKAN_BODY_LIMIT", 256 * 1024)),
            rate_per_second=float(env.get("KUKULKAN_RATE_PER_SECOND", 20)),
            rate_burst=int(env.get("KUKULKAN_RATE_BURST", 40)),
            signin_per_minute=float(env.get("KUKULKAN_SIGNIN_PER_MINUTE", 30)),
            signin_burst=int(env.get("KUKULKAN_SIGNIN_BURST", 5)),
            secure_cookies=env.get("KUKULKAN_SECURE_COOKIES", "") == "1",
            weaken=parse_weaken(env.get("KUKULKAN_WEAKEN", "")),
        )


# What KUKULKAN_WEAKEN may switch off: a strict CSP, the socket's Origin and Host checks, the upload scan.
WEAKENINGS: Final = frozenset({"csp", "sockets", "scanner"})


def parse_weaken(value: str) -> frozenset[str]:
    """``KUKULKAN_WEAKEN=csp,sockets,scanner``: the guards to weaken; an unknown name is an error."""
    names = frozenset(n.strip() for n in value.split(",") if n.strip())
    unknown = sorted(names - WEAKENINGS)
    if unknown:
        raise ValueError(f"KUKULKAN_WEAKEN: unknown {', '.join(unknown)} (known: {', '.join(sorted(WEAKENINGS))})")
    return names


def _integrity(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


class Kukulkan:
    """The app's state and request handlers."""

    def __init__(self, settings: Settings, running: RunningRelease | None = None,
                 accounts: Accounts | None = None) -> None:
        self.settings = settings
        self.running = running or running_release()
        self.accounts = accounts or demo_accounts()
        self.board = Board.seeded()
        self.sessions = SessionStore()
        self.hub = Hub()
        self.http_limiter = RateLimiter(settings.rate_per_second, settings.rate_burst)
        # Sign-in is where passwords are guessed: a much smaller budget per client.
        self.signin_limiter = RateLimiter(settings.signin_per_minute / 60, settings.signin_burst)
        self.live_limiter = RateLimiter(settings.rate_per_second, settings.rate_burst)
        self.templates = Jinja2Templates(directory=str(_PACKAGE / "templates"))
        static = _PACKAGE / "static"
        self.assets = {name: _integrity((static / name).read_bytes()) for name in ("kukulkan.js", "kukulkan.css")}
        self.templates.env.globals.update(
            asset_url=lambda name: f"/static/{name}?v={self.assets[name][7:19]}",
            asset_integrity=lambda name: self.assets[name],
            release=settings.release,
        )

    # --- sessions ------------------------------------------------------------------
    def session_key(self, scope: Any) -> str | None:
        """The verified raw session key of a request (what liveobs pseudonymises)."""
        verified = self._verified(HTTPConnection(scope).cookies.get(COOKIE_NAME))
        return verified[0] if verified else None

    def _verified(self, cookie: str | None) -> tuple[str, bool] | None:
        return self.settings.keys.verify(cookie) if cookie else None

    def user(self, conn: HTTPConnection) -> tuple[User | None, str | None]:
        """The signed-in user, and a re-signed cookie when it was signed with an older key."""
        verified = self._verified(conn.cookies.get(COOKIE_NAME))
        if verified is None:
            return None, None
        session_key, current = verified
        name = self.sessions.user_name(session_key)
        user = self.accounts.get(name) if name else None
        return user, (None if current or user is None else self.settings.keys.sign(session_key))

    def _set_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(COOKIE_NAME, value, httponly=True, samesite="strict", secure=self.settings.secure_cookies,
                            path="/")

    # --- pages -----------------------------------------------------------------------
    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        nonce = new_nonce()
        context.update(liveobs_head=obs.head_tags(), liveobs_script=obs.liveobs_script(nonce), csp_nonce=nonce,
                       columns=COLUMNS)
        response = self.templates.TemplateResponse(request, template, context, status_code=status)
        response.headers["Content-Security-Policy"] = content_security_policy(nonce, weak="csp" in self.settings.weaken)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    def render_board(self, board: Board) -> str:
        return self.templates.get_template("_board.html").render(board=board, columns=COLUMNS)

    def _anonymous(self, request: Request, render: Callable[[], Response]) -> Response:
        """Give a visitor without a valid session an anonymous one, before the page is rendered.

        liveobs is told of the new session, so this request's span and log lines and the
        page's head tags already carry the id the live socket will join with.
        """
        verified = self._verified(request.cookies.get(COOKIE_NAME))
        started = None
        if verified is None or not self.sessions.exists(verified[0]):
            started = self.sessions.create()
            obs.session_started(started)
        response = render()
        if started is not None:
            self._set_cookie(response, self.settings.keys.sign(started))
        return response

    async def home(self, request: Request) -> Response:
        user, _ = self.user(request)
        return self._anonymous(request, lambda: RedirectResponse("/board" if user else "/signin", status_code=303))

    async def signin_page(self, request: Request) -> Response:
        return self._anonymous(request, lambda: self.page(request, "signin.html", user=None))

    async def signin(self, request: Request) -> Response:
        if not self._allow_http(request, "signin", self.signin_limiter, self.settings.signin_per_minute):
            return Response("too many requests\n", status_code=429, headers={"Retry-After": "1"})
        async with request.form() as form:
            name, password = form.get("username"), form.get("password")
        # PBKDF2 takes tens of milliseconds of CPU: hashed in a worker thread (hashlib releases the GIL),
        # so a sign-in never stalls the live events of everyone else on the event loop.
        user = (await run_in_threadpool(self.accounts.authenticate, name, password)
                if isinstance(name, str) and isinstance(password, str) else None)
        if user is None:
            _log.info("sign-in refused")
            return self._anonymous(request, lambda: self.page(request, "signin.html", status=401, user=None,
                                                      error="Wrong name or password."))
        previous = self._verified(request.cookies.get(COOKIE_NAME))
        if previous is not None:
            self.sessions.end(previous[0])
        response = RedirectResponse("/board", status_code=303)
        self._set_cookie(response, self.settings.keys.sign(self.sessions.create(user.name)))
        obs.session_keys_in_use(self.settings.keys)
        _log.info("signed in", scope=user.scope)
        return response

    async def signout(self, request: Request) -> Response:
        verified = self._verified(request.cookies.get(COOKIE_NAME))
        if verified:
            self.sessions.end(verified[0])
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/")
        return response

    async def board_page(self, request: Request) -> Response:
        user, resigned = self.user(request)
        if user is None:
            return self._anonymous(request, lambda: RedirectResponse("/signin", status_code=303))
        response = self.page(request, "board.html", user=user, board=self.board)
        if resigned:
            self._set_cookie(response, resigned)
        return response

    # --- uploads and admin ----------------------------------------------------------
    async def upload(self, request: Request) -> Response:
        user, _ = self.user(request)
        if user is None:
            return JSONResponse({"message": "Sign in first."}, status_code=401)
        if not self._allow_http(request, "upload", self.http_limiter, self.settings.rate_per_second * 60):
            return JSONResponse({"message": "Slow down."}, status_code=429, headers={"Retry-After": "1"})
        allowed = CAP_UPLOAD in user.capabilities
        obs.capability_check(CAP_UPLOAD, allowed, user.capabilities)
        if not allowed:
            return JSONResponse({"message": f"Not allowed: capability {CAP_UPLOAD} required."}, status_code=403)
        async with request.form() as form:
            file = form.get("file")
            if not isinstance(file, UploadFile) or not file.filename:
                return JSONResponse({"message": "Choose a file."}, status_code=400)
            started = time.perf_counter()
            filename, content_type, content = file.filename, file.content_type, await file.read()
        verdict = Verdict(True) if "scanner" in self.settings.weaken else scan(content)
        obs.upload_scanned(verdict.clean, SCANNER_NAME, content, verdict.signature,
                           (time.perf_counter() - started) * 1000)
        if not verdict.clean:
            _log.warning("upload refused", threat=verdict.signature, size=len(content))
            return JSONResponse({"message": "Upload refused: the file did not pass the scan.",
                                 "threat": verdict.signature}, status_code=422)
        attachment = Attachment(os.path.basename(filename)[:80], len(content),
                                content_type or "application/octet-stream")
        try:
            card = self.board.attach(request.path_params["card_id"], attachment)
        except BoardError as refused:
            return JSONResponse({"message": str(refused)}, status_code=404)
        _log.info("file attached", card_id=card.id, size=len(content))
        return JSONResponse({"message": f"Attached {attachment.filename} to “{card.title}”.", "card_id": card.id})

    async def rotate_key(self, request: Request) -> Response:
        user, _ = self.user(request)
        if user is None:
            return JSONResponse({"message": "Sign in first."}, status_code=401)
        try:
            user.require_scope(SCOPE_EDITOR)
        except AccessDenied:
            obs.scope_check(SCOPE_EDITOR, user.scope, False)
            return JSONResponse({"message": "Not allowed."}, status_code=403)
        obs.scope_check(SCOPE_EDITOR, user.scope, True)
        key = self.settings.keys.rotate()
        obs.session_keys_in_use(self.settings.keys)
        _log.info("session key rotated", key_id=key.key_id)
        return JSONResponse({"current": key.key_id, "keys": list(self.settings.keys.key_ids)})

    def _allow_http(self, request: Request, policy: str, limiter: RateLimiter, per_minute: float) -> bool:
        client = request.client.host if request.client else "unknown"
        allowed = limiter.allow(f"{policy}:{client}")
        obs.rate_limit(allowed, policy=policy, per_minute=per_minute)
        return allowed

    # --- the live socket -------------------------------------------------------------
    async def live(self, socket: WebSocket) -> None:
        """The live socket; its Origin and Host were checked by the evidence middleware."""
        user, _ = self.user(socket)
        if user is None:
            _log.warning("live socket refused: not signed in")
            await socket.close(code=CLOSE_POLICY)
            return
        await socket.accept()
        await LiveSession(socket, user, self.board, self.hub, self.live_limiter, self.render_board).run()

    # --- readiness -------------------------------------------------------------------
    def checks(self) -> dict[str, Any]:
        return {
            "board:cards": lambda: obs.ok(True, f"{len(self.board.cards())} cards"),
            "sessions:signing-key": lambda: obs.ok(bool(self.settings.keys.current.secret),
                                                   self.settings.keys.current.key_id),
            "release:directory": self._release_check,
        }

    def _release_check(self) -> Any:
        """Fails when the code that runs is not the release its directory's manifest names."""
        running = self.running
        where = str(running.directory) if running.directory else "a source tree (no release directory)"
        return obs.ok(running.consistent and running.version == self.settings.release,
                      f"running {running.version} from {where}"
                      + ("" if running.consistent else f", whose release.toml names {running.manifest_version}"))

    async def release_info(self, request: Request) -> Response:
        """``GET /api/release``: what this process runs, for deploy tooling and operators."""
        running = self.running
        return JSONResponse({"service": obs.SERVICE_NAME, "version": running.version,
                             "environment": self.settings.environment,
                             "release_dir": str(running.directory) if running.directory else None})


ROLES: Final = ("ui", "api")


def build(settings: Settings, *, role: str = "ui", **telemetry: Any) -> ASGIApp:
    """The instrumented app in ``role`` (``ui`` or ``api``); ``telemetry`` options go to ``liveobs.sdk.configure``."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    obs.setup(settings.release, settings.environment, **telemetry)
    if settings.weaken:
        _log.warning("guards deliberately weakened", weakened=",".join(sorted(settings.weaken)))
    app = Kukulkan(settings)
    health = obs.readiness(settings.release, app.checks())
    routes = [Route("/api/release", app.release_info)] if role == "api" else [
        Route("/", app.home),
        Route("/signin", app.signin_page, methods=["GET"]),
        Route("/signin", app.signin, methods=["POST"]),
        Route("/signout", app.signout, methods=["POST"]),
        Route("/board", app.board_page),
        Route("/cards/{card_id}/attachments", app.upload, methods=["POST"]),
        Route("/admin/session-key/rotate", app.rotate_key, methods=["POST"]),
        WebSocketRoute("/live", app.live),
        Mount("/static", StaticFiles(packages=[("kukulkan", "static")]), name="static"),
    ]
    starlette = Starlette(routes=routes, lifespan=obs.lifespan)
    starlette.state.kukulkan = app
    return obs.instrument(starlette, session_key=app.session_key, keys=settings.keys, health=health,
                          max_body=settings.body_limit, hosts=settings.allowed_hosts,
                          guard_sockets="sockets" not in settings.weaken)


def create_app(role: str = "ui") -> ASGIApp:
    """The app in ``role``, as configured by the environment."""
    return build(Settings.from_environment(), role=role)


def create_api() -> ASGIApp:
    """The API unit's app (uvicorn's ``--factory kukulkan.app:create_api``)."""
    return create_app("api")


__all__ = ["Kukulkan", "Settings", "build", "create_app"]
