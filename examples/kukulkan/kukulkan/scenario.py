"""The demo's user session: a viewer who is refused, an editor who works, and the failing click."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field

import httpx

from kukulkan.accounts import DEMO_ACCOUNTS
from kukulkan.client import LiveClient, Outcome
from kukulkan.scanner import EICAR

_PASSWORDS = {name: password for name, password, _ in DEMO_ACCOUNTS}


@dataclass
class SessionReport:
    outcomes: list[Outcome] = field(default_factory=list)
    uploads: dict[str, int] = field(default_factory=dict)
    refused: dict[str, list[int]] = field(default_factory=dict)

    @property
    def failure(self) -> Outcome:
        """The action that came back with an error reply (the one the demo looks up)."""
        failed = [o for o in self.outcomes if not o.ok]
        if len(failed) != 1:
            raise RuntimeError(f"expected exactly one failing action, saw {len(failed)}")
        return failed[0]


async def _handshake(http: httpx.AsyncClient, origin: str, host: str) -> int:
    """A WebSocket opening handshake with the given Origin and Host; the HTTP status it got."""
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(), "Origin": origin, "Host": host}
    return (await http.get("/live", headers=headers)).status_code


async def run_attacks(base_url: str, report: SessionReport, *, guesses: int = 8) -> None:
    """What the guards are for: a hijacking page, a rebinding host, an oversized body, password guessing.

    The handshakes carry no session: the cookie is ``SameSite=Strict``, so a browser
    never sends it with a socket another site opens.
    """
    async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as http:
        report.refused["foreign origin"] = [await _handshake(http, "https://evil.example", base_url[7:])]
        report.refused["foreign host"] = [await _handshake(http, "http://rebind.example", "rebind.example")]
        await http.get("/signin")
        big = {"username": "ana", "password": "x" * (512 * 1024)}
        report.refused["oversized body"] = [(await http.post("/signin", data=big)).status_code]
        guessing = [(await http.post("/signin", data={"username": "ana", "password": f"guess-{i}"})).status_code
                    for i in range(guesses)]
        report.refused["password guessing"] = guessing


async def run_session(base_url: str, *, refreshes: int = 20) -> SessionReport:
    """Drive the board as two users would; ``refreshes`` adds ordinary events for the latency figures."""
    report = SessionReport()
    async with LiveClient(base_url) as vic, LiveClient(base_url) as ana:
        await vic.sign_in("vic", _PASSWORDS["vic"])
        await vic.open_live()
        await vic.send("refresh")
        await vic.send("add_card", title="Viewers cannot add cards", column="todo")
        await vic.send("archive_card", card_id="c4")
        report.outcomes += vic.outcomes
        # vic keeps the board open: ana's changes are pushed to it.
        await ana.sign_in("ana", _PASSWORDS["ana"])
        await ana.open_live()
        await ana.send("add_card", title="Check the error budget", column="todo")
        await ana.send("move_card", card_id="c1", column="doing")
        await ana.send("archive_card", card_id="c4")
        for _ in range(refreshes):
            await ana.send("refresh")
        report.uploads["notes.txt"] = (await ana.upload("c3", "notes.txt", b"rotate on Monday\n")).status_code
        report.uploads["eicar.com"] = (await ana.upload("c3", "eicar.com", EICAR)).status_code
        await ana.send("sort_by_due", column="doing")
        await ana.send("sort_by_due", column="todo")  # a card without a due date: the bug
        report.outcomes += ana.outcomes
    await run_attacks(base_url, report)
    return report


async def run_baseline(base_url: str, *, refreshes: int = 20) -> SessionReport:
    """Ordinary traffic on the previous release: what a rollback returns to and the latency baseline."""
    report = SessionReport()
    async with LiveClient(base_url) as ana:
        await ana.sign_in("ana", _PASSWORDS["ana"])
        await ana.open_live()
        await ana.send("add_card", title="Plan the 1.4.0 release", column="todo")
        await ana.send("move_card", card_id="c1", column="doing")
        for _ in range(refreshes):
            await ana.send("refresh")
        report.outcomes += ana.outcomes
    return report


async def warm_up(base_url: str, *, events: int = 3) -> None:
    """What a deploy does before a restarted unit takes traffic: a signed-in visit that opens the live socket.

    The first request of a fresh process compiles templates and loads code paths;
    after this, the traffic that follows meets a warm process.
    """
    async with LiveClient(base_url) as ana:
        await ana.sign_in("ana", _PASSWORDS["ana"])
        await ana.open_live()
        for _ in range(events):
            await ana.send("refresh")
