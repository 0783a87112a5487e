"""Adding the ``lo`` reply to the app's reply message: only to a JSON object without a top-level ``lo``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import liveobs.sdk
from liveobs.sdk._reply import INJECT, OPAQUE, OWN, PUSH, classify, inject
from liveobs.sdk._session import SessionKeyRing

LO = '{"event_id":"e1","ok":true}'


@pytest.mark.parametrize(("text", "kind"), [
    ('{"patch": "<li>"}', INJECT),
    ("{}", INJECT),
    ('{"note": "the word \\"lo\\" inside a value"}', INJECT),
    ('{"lo": 5, "patch": "x"}', OPAQUE),  # the app's own top-level lo that is not an object
    ('{"lo": "text"}', OPAQUE),
    ('{"lo": null}', OPAQUE),
    ("{not json}", OPAQUE),
    ('{"a": 1} trailing', OPAQUE),
    ("[1, 2]", OPAQUE),
    ("<ul id='cards'>…</ul>", OPAQUE),
    ('{"lo": {"event_id": "e1", "ok": true}}', OWN),
    ('{"lo": {"event_id": "other", "push": true}}', PUSH),
])
def test_classify(text: str, kind: str) -> None:
    assert classify(text.encode(), "e1")[0] == kind


@pytest.mark.parametrize("text", ['{"patch": "<li>"}', "{}", '{ }', '{"a": [1, {"b": 2}]}  \n', '{\n  "a": 1\n}\n'])
def test_inject_keeps_the_app_text_and_adds_one_lo(text: str) -> None:
    out = inject(text, LO)
    decoded = json.loads(out)
    assert decoded["lo"] == json.loads(LO)
    assert {k: v for k, v in decoded.items() if k != "lo"} == json.loads(text)
    assert out.startswith(text.rstrip()[:-1])
    assert out.count('"lo"') == 1


def _drive(app_sends: list[str]) -> list[dict[str, Any]]:
    """One live event through the real middleware with a hand-driven ASGI connection; what reached the socket."""
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        for text in app_sends:
            await send({"type": "websocket.send", "text": text})
        await receive()

    incoming = [
        {"type": "websocket.connect"},
        {"type": "websocket.receive", "text": json.dumps({"lo": {"event_id": "e1", "event_name": "add"}})},
        {"type": "websocket.disconnect", "code": 1000},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/live", "headers": [], "query_string": b""}
    asyncio.run(liveobs.sdk.LiveObsMiddleware(app)(scope, receive, send))
    return [m for m in sent if m["type"] == "websocket.send"]


def test_the_middleware_leaves_a_reply_with_a_non_object_lo_and_non_json_text_as_they_are(configured: Any) -> None:
    sent = _drive(['{"lo": 5, "patch": "x"}'])
    assert sent[0]["text"] == '{"lo": 5, "patch": "x"}'
    sent = _drive(["{not json}"])
    assert sent[0]["text"] == "{not json}"
    sent = _drive(['{"patch": "x"}'])
    reply = json.loads(sent[0]["text"])
    assert reply["patch"] == "x"
    assert reply["lo"]["event_id"] == "e1"


def test_the_session_pseudonym_cache_holds_no_raw_key_and_is_bounded() -> None:
    ring = SessionKeyRing({"k1": b"k" * 32})
    secret = "s3cr3t-session-cookie-value-0123456789"
    first = ring.pseudonymise(secret)
    assert ring.pseudonymise(secret) == first
    assert ring.matches(first, secret)
    for i in range(5000):
        ring.pseudonymise(f"other-{i}")
    assert len(ring._cache) <= 4096
    held = repr(vars(ring)) + repr(list(ring._cache))
    assert secret not in held
    assert ring.pseudonymise(secret) == first  # recomputed after eviction, the same pseudonym
