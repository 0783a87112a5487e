"""The demo's user session: a viewer who is refused, an editor who works, and the failing click."""

from __future__ import annotations

from dataclasses import dataclass, field

from kukulkan.accounts import DEMO_ACCOUNTS
from kukulkan.client import LiveClient, Outcome
from kukulkan.scanner import EICAR

_PASSWORDS = {name: password for name, password, _ in DEMO_ACCOUNTS}


@dataclass
class SessionReport:
    outcomes: list[Outcome] = field(default_factory=list)
    uploads: dict[str, int] = field(default_factory=dict)

    @property
    def failure(self) -> Outcome:
        """The action that came back with an error reply (the one the demo looks up)."""
        failed = [o for o in self.outcomes if not o.ok]
        if len(failed) != 1:
            raise RuntimeError(f"expected exactly one failing action, saw {len(failed)}")
        return failed[0]


async def run_session(base_url: str, *, refreshes: int = 20) -> SessionReport:
    """Drive the board as two users would; ``refreshes`` adds ordinary events for the latency figures."""
    report = SessionReport()
    async with LiveClient(base_url) as vic:
        await vic.sign_in("vic", _PASSWORDS["vic"])
        await vic.open_live()
        await vic.send("refresh")
        await vic.send("add_card", title="Viewers cannot add cards", column="todo")
        await vic.send("archive_card", card_id="c4")
        report.outcomes += vic.outcomes
    async with LiveClient(base_url) as ana:
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
    return report
