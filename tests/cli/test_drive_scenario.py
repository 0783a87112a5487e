"""The driver's scenario file: read, checked, and every mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from liveobs.cli import main
from liveobs.cli._driver import ScenarioError, load_scenario, parse, source_addresses

KUKULKAN = Path(__file__).resolve().parents[2] / "examples" / "kukulkan" / "drive.toml"
ENV = {"KUKULKAN_DRIVE_ANA_PASSWORD": "a-secret", "KUKULKAN_DRIVE_VIC_PASSWORD": "v-secret"}


def _base() -> dict[str, object]:
    return {"signin": {"fields": {"username": "{name}"}}, "users": {"ana": {"password": "x"}},
            "load": {"sessions": 2, "users": ["ana"]}}


def test_kukulkans_scenario_reads_with_credentials_from_the_environment() -> None:
    scenario = load_scenario(KUKULKAN, ENV)
    assert scenario.passwords == {"ana": "a-secret", "vic": "v-secret"}
    assert scenario.load.sessions == 120
    assert scenario.load.reconnects == 1
    assert [a.user for a in scenario.load.actions] == [None] * 14 + ["ana", "ana"] + [None] * 14
    assert scenario.uploads[0].eicar
    assert scenario.uploads[0].clean == 5
    assert [(a.check, a.required, a.event or f"{a.method} {a.path}") for a in scenario.attempts] == [
        ("scope", "editor", "add_card"), ("capability", "cards.archive", "archive_card"),
        ("capability", "cards.clear", "clear_done"), ("scope", "editor", "POST /admin/session-key/rotate"), ("capability", "cards.upload", "POST /cards/c3/attachments")]
    assert scenario.sockets is not None
    assert scenario.sockets.user == "vic"
    assert scenario.rate_limit is not None
    assert scenario.rate_limit.page == "/signin"
    assert scenario.browser is not None
    assert (scenario.browser.user, scenario.browser.pages) == ("ana", ("/board",))


@pytest.mark.parametrize(("change", "message"), [
    ({"lode": {}}, "unknown table: lode"),
    ({"load": {"sessions": 2, "users": ["ana"], "sesions": 3}}, "unknown key in load: sesions"),
    ({"load": {"sessions": 2, "users": ["bob"]}}, "load.users[0] names user 'bob', which [users] does not define"),
    ({"load": {"sessions": "2", "users": ["ana"]}}, "load.sessions must be a int, not '2'"),
    ({"load": {"sessions": 1, "users": ["ana"], "reconnects": 2}}, "load.reconnects (2) cannot exceed"),
    ({"users": {"ana": {"password_env": "NOT_SET_ANYWHERE"}}}, "users.ana: no password: set NOT_SET_ANYWHERE"),
    ({"attempts": [{"user": "ana", "check": "scope", "required": "x"}]}, "needs exactly one of event"),
    ({"attempts": [{"user": "ana", "check": "scopes", "required": "x", "event": "e"}]},
     "attempts[0].check must be one of capability, scope"),
    ({"attempts": [{"user": "ana", "check": "scope", "required": "x", "request": "POST admin"}]},
     "must read like \"POST /path\""),
    ({"uploads": [{"user": "ana", "path": "cards"}]}, "uploads[0].path must be a path starting with /"),
    ({"sockets": {"user": "ana", "origin": "x"}}, "unknown key in sockets: origin"),
    ({"browser": {"user": "eve"}}, "browser.user names user 'eve'"),
])
def test_a_scenario_mistake_is_an_error_naming_it(change: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse({**_base(), **change}, environ={})
    assert message in str(caught.value)


def test_drive_with_a_bad_scenario_exits_3_naming_the_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "drive.toml"
    bad.write_text('[load]\nsessions = 2\nusers = ["ana"]\nhold = 3\n[users.ana]\npassword = "x"\n[signin]\n')
    result = CliRunner().invoke(main, ["drive", "http://127.0.0.1:9", "--scenario", str(bad)])
    assert result.exit_code == 3
    assert f"{bad}: unknown key in load: hold" in result.stderr


def test_sessions_on_a_loopback_target_come_from_their_own_addresses() -> None:
    spread = source_addresses("http://127.0.0.1:8000")
    assert [next(spread) for _ in range(3)] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert next(source_addresses("http://127.0.0.1:8000", spread=False)) is None
    assert next(source_addresses("https://app.example")) is None
