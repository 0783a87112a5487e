"""Kukulkan's own behaviour through a real uvicorn server: sign-in, scopes, guards, uploads, the bug."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import httpx
import kukulkan_helpers as h
import pytest
from kukulkan.accounts import DEMO_ACCOUNTS
from kukulkan.board import Board
from kukulkan.client import LiveClient
from kukulkan.scanner import EICAR, scan
from kukulkan.sessions import COOKIE_NAME
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from liveobs.conventions import evidence, keys

PASSWORD = {name: password for name, password, _ in DEMO_ACCOUNTS}


def _security(served: Any, check: str) -> list[dict[str, Any]]:
    return [e for e in served.security_events() if e[evidence.SECURITY_CHECK] == check]


def _sign_in(client: httpx.Client, name: str) -> httpx.Response:
    return client.post("/signin", data={"username": name, "password": PASSWORD[name]})


def test_sign_in_refuses_a_wrong_password_and_opens_the_board_for_a_right_one() -> None:
    with h.serve() as served, httpx.Client(base_url=served.url) as client:
        refused = client.post("/signin", data={"username": "ana", "password": "not-her-password"})
        assert refused.status_code == 401
        assert "Wrong name or password" in refused.text
        assert client.get("/board").status_code == 303
        anonymous = client.cookies[COOKIE_NAME]  # a session before sign-in, so the sign-in is correlated

        signed_in = _sign_in(client, "ana")
        assert client.cookies[COOKIE_NAME].split(".")[0] != anonymous.split(".")[0]  # no session fixation
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/board"
        board = client.get("/board")
        assert board.status_code == 200
        session_meta = re.search(r'<meta name="liveobs-session-id" content="([^"]+)">', board.text)
        assert session_meta is not None
        assert session_meta.group(1).startswith("t1.")  # pseudonym keyed by the app's key ring, not ephemeral
        raw_key = client.cookies[COOKIE_NAME].split(".")[0]
        assert raw_key not in board.text  # only the pseudonym reaches the page
        assert "ana (editor)" in board.text


def test_page_has_a_nonce_csp_and_sri_hashes_that_match_the_served_scripts() -> None:
    with h.serve() as served, httpx.Client(base_url=served.url) as client:
        _sign_in(client, "ana")
        page = client.get("/board")
        csp = page.headers["content-security-policy"]
        nonce = re.search(r"script-src 'nonce-([^']+)'", csp)
        assert nonce is not None
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp
        assert "object-src 'none'" in csp
        assert "base-uri 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        scripts = re.findall(r"<script ([^>]*)>", page.text)
        assert len(scripts) == 2
        for attributes in scripts:
            assert f'nonce="{nonce.group(1)}"' in attributes
            src = re.search(r'src="([^"]+)"', attributes)
            integrity = re.search(r'integrity="sha384-([^"]+)"', attributes)
            assert src is not None
            assert integrity is not None
            body = client.get(src.group(1).replace("&amp;", "&"), headers={"Accept-Encoding": "identity"}).content
            assert base64.b64encode(hashlib.sha384(body).digest()).decode() == integrity.group(1)
        assert client.get("/board").headers["content-security-policy"] != csp  # a fresh nonce per response
        assert _security(served, evidence.CHECK_CSP)


def test_live_socket_refuses_a_foreign_origin_a_foreign_host_and_no_session() -> None:
    async def attempt(url: str, **kwargs: Any) -> int:
        try:
            async with connect(url, **kwargs) as socket:
                await socket.send(json.dumps({"event": "refresh"}))
                await socket.recv()
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    # Only "localhost" is an allowed host: the same server reached as 127.0.0.1 is refused.
    with h.serve(allowed_hosts=("localhost",)) as served, httpx.Client(base_url=served.url) as client:
        _sign_in(client, "ana")
        cookie = {"Cookie": f"{COOKIE_NAME}={client.cookies[COOKIE_NAME]}"}
        local = served.url.replace("127.0.0.1", "localhost")
        ws = local.replace("http", "ws") + "/live"
        assert h.run(attempt(ws, origin="http://evil.example", additional_headers=cookie)) == 403
        by_ip = served.url.replace("http", "ws") + "/live"
        assert h.run(attempt(by_ip, origin=served.url, additional_headers=cookie)) == 403
        assert h.run(attempt(ws, origin=local)) == 403  # not signed in
        assert h.run(attempt(ws, origin=local, additional_headers=cookie)) == 101
        origins = [e[evidence.SECURITY_OUTCOME] for e in _security(served, evidence.CHECK_WS_ORIGIN)]
        hosts = [e[evidence.SECURITY_OUTCOME] for e in _security(served, evidence.CHECK_WS_HOST)]
        assert evidence.OUTCOME_REFUSED in origins
        assert evidence.OUTCOME_ACCEPTED in origins
        assert evidence.OUTCOME_REFUSED in hosts


def test_a_viewer_is_refused_by_scope_and_by_capability_and_an_editor_is_not() -> None:
    async def session(url: str) -> tuple[list[Any], list[Any]]:
        async with LiveClient(url) as vic, LiveClient(url) as ana:
            await vic.sign_in("vic", PASSWORD["vic"])
            await vic.open_live()
            await ana.sign_in("ana", PASSWORD["ana"])
            await ana.open_live()
            viewer = [await vic.send("add_card", title="nope"), await vic.send("archive_card", card_id="c1")]
            editor = [await ana.send("add_card", title="yes"), await ana.send("archive_card", card_id="c1")]
            return viewer, editor

    with h.serve() as served:
        viewer, editor = h.run(session(served.url))
        assert viewer[0].ok
        assert viewer[0].notice == "Not allowed: scope editor required."
        assert viewer[1].ok
        assert viewer[1].notice == "Not allowed: capability cards.archive required."
        assert not viewer[0].patched
        assert not viewer[1].patched
        assert all(o.ok and o.patched for o in editor)
        scopes = {(e[evidence.SCOPE_REQUIRED], e[evidence.SECURITY_OUTCOME]) for e in _security(served, evidence.CHECK_SCOPE)}
        assert ("editor", evidence.OUTCOME_DENIED) in scopes
        assert ("editor", evidence.OUTCOME_ALLOWED) in scopes
        caps = {(e[evidence.CAPABILITY_NAME], e[evidence.SECURITY_OUTCOME])
                for e in _security(served, evidence.CHECK_CAPABILITY)}
        assert caps == {("cards.archive", evidence.OUTCOME_DENIED), ("cards.archive", evidence.OUTCOME_ALLOWED)}


def test_a_change_is_pushed_to_the_other_open_boards() -> None:
    async def session(url: str) -> dict[str, Any]:
        async with LiveClient(url) as vic, LiveClient(url) as ana:
            await vic.sign_in("vic", PASSWORD["vic"])
            await vic.open_live()
            await ana.sign_in("ana", PASSWORD["ana"])
            await ana.open_live()
            outcome = await ana.send("add_card", title="Pushed to everyone")
            assert vic._socket is not None
            pushed: dict[str, Any] = json.loads(await vic._socket.recv())
            pushed["cause"] = outcome.event_id
            return pushed

    with h.serve() as served:
        pushed = h.run(session(served.url))
        assert pushed["type"] == "update"
        assert "Pushed to everyone" in pushed["patch"]["html"]
        assert pushed["lo"] == {"event_id": pushed["cause"], "push": True}


def test_body_over_the_limit_gets_413_and_is_recorded() -> None:
    with h.serve(body_limit=4096) as served, httpx.Client(base_url=served.url) as client:
        response = client.post("/signin", data={"username": "ana", "password": "x" * 5000})
        assert response.status_code == 413
        assert _sign_in(client, "ana").status_code == 303
        refused = _security(served, evidence.CHECK_BODY_LIMIT)
        assert refused
        assert refused[0][evidence.LIMIT_BYTES] == 4096
        assert refused[0][evidence.OBSERVED_BYTES] > 4096


def test_rate_limit_answers_429_over_the_burst_and_live_events_are_throttled() -> None:
    async def burst(url: str) -> list[Any]:
        async with LiveClient(url) as ana:
            await ana.sign_in("ana", PASSWORD["ana"])
            await ana.open_live()
            return [await ana.send("refresh") for _ in range(4)]

    with h.serve(signin_burst=3) as served:
        with httpx.Client(base_url=served.url) as client:
            statuses = [client.post("/signin", data={"username": "ana", "password": "wrong"}).status_code
                        for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
    with h.serve(rate_per_second=0.01, rate_burst=3) as served:
        outcomes = h.run(burst(served.url))
        assert [o.notice for o in outcomes].count("Slow down: too many actions.") == 1
        decisions = {e[evidence.SECURITY_OUTCOME] for e in _security(served, evidence.CHECK_RATE_LIMIT)}
        assert decisions == {evidence.OUTCOME_ALLOWED, evidence.OUTCOME_DENIED}


def test_uploads_are_scanned_and_viewers_cannot_upload() -> None:
    async def uploads(url: str) -> list[httpx.Response]:
        async with LiveClient(url) as ana, LiveClient(url) as vic:
            await ana.sign_in("ana", PASSWORD["ana"])
            await vic.sign_in("vic", PASSWORD["vic"])
            return [await ana.upload("c1", "notes.txt", b"plain text\n"),
                    await ana.upload("c1", "eicar.com", b"prefix " + EICAR),
                    await vic.upload("c1", "notes.txt", b"plain text\n")]

    with h.serve() as served:
        clean, infected, viewer = h.run(uploads(served.url))
        assert clean.status_code == 200
        assert "Attached notes.txt" in clean.json()["message"]
        assert infected.status_code == 422
        assert infected.json()["threat"] == "eicar-test-signature"
        assert viewer.status_code == 403
        scans = {(e[evidence.SECURITY_OUTCOME], e.get(evidence.UPLOAD_THREAT))
                 for e in _security(served, evidence.CHECK_UPLOAD_SCAN)}
        assert scans == {(evidence.OUTCOME_CLEAN, None), (evidence.OUTCOME_INFECTED, "eicar-test-signature")}


def test_scanner_finds_executables_and_passes_text() -> None:
    assert scan(b"\x7fELF\x02\x01").signature == "elf-executable"
    assert scan(b"MZ" + b"\0" * 60 + b"PE\0\0").signature == "pe-executable"
    assert scan(b"MZ is a fine way to start a sentence").clean


def test_the_failing_action_replies_with_the_error_class_only_and_the_socket_stays_open() -> None:
    async def session(url: str) -> tuple[Any, Any, dict[str, Any]]:
        async with LiveClient(url) as ana:
            await ana.sign_in("ana", PASSWORD["ana"])
            await ana.open_live()
            assert ana._socket is not None
            lo = ana.envelope("sort_by_due")
            await ana._socket.send(json.dumps({"event": "sort_by_due", "column": "todo", "lo": lo}))
            raw: dict[str, Any] = json.loads(await ana._socket.recv())
            after = await ana.send("refresh")
            return lo, after, raw

    with h.serve() as served:
        lo, after, raw = h.run(session(served.url))
        assert set(raw) == {keys.ENVELOPE_KEY}
        reply = raw[keys.ENVELOPE_KEY]
        assert reply["event_id"] == lo["event_id"]
        assert reply["ok"] is False
        assert reply["error_class"] == "TypeError"
        assert reply["error_code"] == "internal"
        assert set(reply) <= {"event_id", "ok", "trace_id", "span_id", "server_time", "error_class", "error_code"}
        assert "NoneType" not in json.dumps(raw)
        assert "not supported" not in json.dumps(raw)
        assert after.ok
        assert after.patched
        failed = [s for s in served.spans.get_finished_spans() if s.name == "live.event sort_by_due"]
        assert len(failed) == 1
        attributes = failed[0].attributes or {}
        assert attributes[keys.EVENT_ID] == lo["event_id"]
        assert attributes[keys.ERROR_TYPE] == "TypeError"
        assert f"{failed[0].context.trace_id:032x}" == reply["trace_id"]
        assert any(e.name == keys.EXCEPTION_EVENT for e in failed[0].events)


def test_the_bug_is_in_the_board_itself() -> None:
    board = Board.seeded()
    assert [c.title for c in board.sort_by_due("done")] == ["Ship the readiness check"]
    with pytest.raises(TypeError, match="not supported"):
        board.sort_by_due("todo")


def test_rotated_keys_keep_old_sessions_valid_and_resign_them() -> None:
    with h.serve() as served, httpx.Client(base_url=served.url) as ana, httpx.Client(base_url=served.url) as vic:
        _sign_in(ana, "ana")
        _sign_in(vic, "vic")
        old_cookie = ana.cookies[COOKIE_NAME]
        assert old_cookie.split(".")[1] == "t1"
        assert vic.post("/admin/session-key/rotate").status_code == 403
        rotated = ana.post("/admin/session-key/rotate")
        assert rotated.status_code == 200
        new_id = rotated.json()["current"]
        assert rotated.json()["keys"] == [new_id, "t1"]
        page = ana.get("/board")
        assert page.status_code == 200
        assert ana.cookies[COOKIE_NAME].split(".")[1] == new_id  # re-signed with the current key
        assert ana.cookies[COOKIE_NAME].split(".")[0] == old_cookie.split(".")[0]
        forged = httpx.Client(base_url=served.url, cookies={COOKIE_NAME: old_cookie.rsplit(".", 1)[0] + ".AAAA"})
        with forged:
            assert forged.get("/board").status_code == 303
        keys_recorded = {e[evidence.KEY_ID] for e in _security(served, evidence.CHECK_SESSION_KEY)}
        assert keys_recorded == {"t1", new_id}
        custody = {e[evidence.KEY_SOURCE_KIND] for e in _security(served, evidence.CHECK_KEY_CUSTODY)}
        assert custody == {"env"}


def test_readiness_answers_with_the_release_and_the_app_checks() -> None:
    with h.serve() as served, httpx.Client(base_url=served.url) as client:
        assert client.get("/readyz").status_code == 200
        doc = client.get("/live/readiness.json").json()
        assert doc["status"] == "pass"
        assert doc["version"] == "1.4.0"
        assert {"board:cards", "sessions:signing-key", "release:directory"} <= set(doc["checks"])
    # The settings claim a release the code is not: not ready.
    with h.serve(release="9.9.9") as served, httpx.Client(base_url=served.url) as client:
        assert client.get("/readyz").status_code == 503
        check = client.get("/live/readiness.json").json()["checks"]["release:directory"][0]
        assert check["status"] == "fail"
        assert check["output"].startswith("running 1.4.0 from a source tree")
