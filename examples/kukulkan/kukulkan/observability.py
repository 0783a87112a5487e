"""Where Kukulkan meets liveobs: set-up, the middleware, the script tag, evidence.

Everything the app tells liveobs goes through this module, so the rest of the
app reads as a plain Starlette app.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.types import ASGIApp

from kukulkan.sessions import KeyRing
from liveobs.sdk import (
    CheckResult,
    Health,
    SessionKeyRing,
    Telemetry,
    configure,
    current_event,
    current_telemetry,
    head_tags,
    observe_live_app,
    perf_recorder,
    record_capability,
    record_key_custody,
    record_rate_limit,
    record_scope,
    record_session_key,
    record_upload_scan,
    script_tag,
    start_session,
)

SERVICE_NAME = "kukulkan"
__all__ = ["head_tags"]


@asynccontextmanager
async def lifespan(app: object) -> AsyncIterator[None]:
    """Flush what is still buffered when the server stops, so the last events reach the store."""
    yield
    telemetry = current_telemetry()
    if telemetry is not None:
        telemetry.force_flush(5_000)


def setup(release: str, environment: str, **options: Any) -> Telemetry:
    """Traces, metrics and logs to ``KUKULKAN_OTLP_ENDPOINT`` (or the ``OTEL_EXPORTER_OTLP_*`` variables).

    ``options`` go to :func:`liveobs.sdk.configure` (tests pass in-memory exporters).
    """
    options.setdefault("endpoint", os.environ.get("KUKULKAN_OTLP_ENDPOINT"))
    return configure(SERVICE_NAME, release, environment, **options)


def pseudonym_keys(ring: KeyRing) -> SessionKeyRing:
    """Keys for session pseudonyms, derived from (never equal to) the cookie-signing keys.

    Pseudonyms then stay the same across restarts and carry the key id, so the
    evidence of one session lines up before and after a deploy.
    """
    derived = {k.key_id: hmac.new(k.secret, b"kukulkan session pseudonym", hashlib.sha256).digest()
               for k in ring.keys}
    return SessionKeyRing(derived, current=ring.current.key_id)


def instrument(app: ASGIApp, *, session_key: Any, keys: KeyRing, health: Health, max_body: int,
               hosts: Sequence[str], guard_sockets: bool = True) -> ASGIApp:
    """Wrap the app in liveobs's middleware and its evidence middleware.

    The outer one traces requests and live events, pseudonymising our verified
    session key; the inner one serves liveobs.js and the report endpoint,
    refuses bodies over ``max_body`` with 413, records CSP and SRI, and lets
    the live socket open only from our own origin and ``hosts``.
    """
    return observe_live_app(app, max_body=max_body, ws_origins=() if guard_sockets else None,
                            ws_hosts=hosts if guard_sockets else None, session=session_key,
                            session_keys=pseudonym_keys(keys), health=health, report_per_minute=120.0, report_burst=60)


def readiness(release: str, checks: Mapping[str, Any]) -> Health:
    health = Health(version=release, release_id=release)
    for name, fn in checks.items():
        health.add_check(name, fn)
    return health


def ok(value: bool, output: str | None = None) -> CheckResult:
    return CheckResult("pass" if value else "fail", output=output)


def liveobs_script(nonce: str) -> str:
    return script_tag(nonce=nonce)


def current_event_id() -> str | None:
    event = current_event()
    return event.event_id if event is not None else None


def scope_check(required: str, granted: str, allowed: bool) -> None:
    # record_scope decides by set inclusion; editors hold both scopes.
    held = {granted, "viewer"} if granted == "editor" else {granted}
    record_scope({required}, held)


def capability_check(name: str, allowed: bool, granted: Iterable[str]) -> None:
    """The decision with the capabilities the user held, so the gate sees an action allowed without its grant."""
    record_capability(name, allowed, granted=granted)


def rate_limit(allowed: bool, *, policy: str, per_minute: float) -> None:
    record_rate_limit(allowed, policy=policy, per_minute=per_minute)


def upload_scanned(clean: bool, scanner: str, content: bytes, threat: str | None, duration_ms: float) -> None:
    """The scan verdict and what we did with the file (an infected one is always refused).

    liveobs keeps the file's digest, not the file: the gate sees what the scanner said about the EICAR canary.
    """
    size = len(content)
    record_upload_scan(clean, scanner=scanner, size_bytes=size, threat=threat or "unknown", accepted=clean,
                       content=content)
    perf_recorder().upload(size, duration_ms)


def stream_pushed(items: int, size: int) -> None:
    """Updates pushed to the other open boards (the live stream)."""
    if items:
        perf_recorder().stream(items, size)


def session_started(session_key: str) -> None:
    """A visitor's first request got a session: its span, logs and page carry it from here on."""
    start_session(session_key)


def session_keys_in_use(ring: KeyRing) -> None:
    """The key that signs new sessions, where it came from, and its creation time when the key store knows it.

    Keys from the environment carry no creation time: the gate dates them from their first use.
    """
    record_session_key(ring.current.key_id, ring.current.created)
    record_key_custody(ring.source_kind, key_id=ring.current.key_id)
