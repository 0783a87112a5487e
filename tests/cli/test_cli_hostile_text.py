"""Stored text with terminal escapes, forged lines and bidirectional overrides, sent to a real ``liveobs
collect`` over OTLP: ``liveobs trace`` and ``incidents`` print it escaped, and the follow-up command they
print quotes a hostile event id for the shell."""

from __future__ import annotations

import importlib.util
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from liveobs.cli import main
from liveobs.cli._render_text import printable, shell_command
from liveobs.conventions import keys

TRACE_ID = "7e57ab1e7e57ab1e7e57ab1e7e57ab1e"
HOSTILE_EVENT_ID = "x; touch /tmp/PWNED_BY_PASTE #"
TITLE = "\x1b]0;PWNED-WINDOW-TITLE\x07"
LINK = "\x1b]8;;https://evil.example/login\x1b\\click here to re-authenticate\x1b]8;;\x1b\\"
CLEAR = "\x1b[2J\x1b[5m"
FORGED = "\r\nerror       ForgedError\nfingerprint 0000000000000000"
RLO = "add\u202eexe.txt"
C1_CSI = "\x9b2J"
# Every character that must never reach the terminal raw.
RAW = ("\x1b", "\x07", "\r", "\u202e", "\x9b", "\u2066", "\x00")


def _attr(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def _hostile_request() -> dict[str, Any]:
    span = {
        "traceId": TRACE_ID, "spanId": "7e57ab1e00000001", "name": f"{TITLE}GET /cart{CLEAR}", "kind": 2,
        "startTimeUnixNano": "1767225600000000000", "endTimeUnixNano": "1767225600005000000",
        "attributes": [
            _attr(keys.EVENT_ID, HOSTILE_EVENT_ID),
            _attr(keys.SESSION_ID, f"sess{TITLE}"),
            _attr(keys.REQUEST_ID, f"req{FORGED}"),
            _attr(keys.ROUTE_ID, f"route\u2066{RLO}"),
        ],
        "events": [{
            "name": "exception", "timeUnixNano": "1767225600004000000",
            "attributes": [_attr("exception.type", f"Boom{CLEAR}"), _attr("exception.message", f"{LINK}{FORGED}{RLO}{C1_CSI}")],
        }],
        "status": {"code": 2, "message": f"{LINK}{FORGED}"},
    }
    resource = [_attr(keys.SERVICE_NAME, f"shop{TITLE}"), _attr("service.version", f"1.0{FORGED}"),
                _attr("deployment.environment.name", "prod\rFAKE")]
    return {"resourceSpans": [{"resource": {"attributes": resource}, "scopeSpans": [{"spans": [span]}]}]}


def _collector_fixtures() -> ModuleType:
    """The correlator tests' collector starter (a real ``liveobs collect`` subprocess)."""
    name = "correlator_collector_fixtures"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "correlator" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    running = _collector_fixtures().start_collector(tmp_path_factory.mktemp("hostile") / "store.duckdb")
    try:
        response = httpx.post(f"{running.url}/v1/traces", json=_hostile_request())
        assert response.status_code == 200
        yield running
    finally:
        running.stop(timeout=30)


def _run(db: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--db", str(db), *args], env={"LIVEOBS_TOKEN": "", "LIVEOBS_TOKEN_FILE": ""})


def _assert_neutral(text: str) -> None:
    for char in RAW:
        assert char not in text, f"raw {char!r} in output"


def test_trace_prints_hostile_text_escaped(hostile_store, tmp_path: Path) -> None:
    result = _run(hostile_store.db, "trace", "--trace-id", TRACE_ID)
    assert result.exit_code == 0, result.output
    _assert_neutral(result.stdout)
    assert "\\x1b]0;PWNED-WINDOW-TITLE\\x07" in result.stdout
    assert "\\u202eexe.txt" in result.stdout
    # The forged lines stay inside their field: no printed line starts with them.
    assert not any(line.startswith(("error       ForgedError", "fingerprint 0000")) for line in result.stdout.splitlines())
    assert "\\r\\nerror       ForgedError" in result.stdout
    written = tmp_path / "trace.txt"
    to_file = _run(hostile_store.db, "trace", "--trace-id", TRACE_ID, "-o", str(written))
    assert to_file.exit_code == 0, to_file.output
    _assert_neutral(written.read_text(encoding="utf-8"))


def test_incidents_escape_text_and_quote_the_follow_up_command(hostile_store) -> None:
    result = _run(hostile_store.db, "incidents")
    assert result.exit_code == 0, result.output
    _assert_neutral(result.stdout)
    assert "Boom\\x1b[2J" in result.stdout
    commands = [line.strip().removeprefix("trace: ") for line in result.stdout.splitlines()
                if line.strip().startswith("trace: ")]
    assert commands == ["liveobs trace --event-id 'x; touch /tmp/PWNED_BY_PASTE #'"]
    # Pasted, the command is three words and the id, nothing for the shell to run.
    assert shlex.split(commands[0]) == ["liveobs", "trace", "--event-id", HOSTILE_EVENT_ID]


def test_printable_escapes_every_unsafe_class() -> None:
    assert printable("a\x1b[31mb") == "a\\x1b[31mb"
    assert printable("line\r\nnext\ttab") == "line\\r\\nnext\\ttab"
    assert printable("\x9b\x85\x7f") == "\\x9b\\x85\\x7f"
    assert printable("\u202e\u2066\u200f\u2028\ufeff") == "\\u202e\\u2066\\u200f\\u2028\\ufeff"
    assert printable("plain ünïcode ✓ 日本") == "plain ünïcode ✓ 日本"
    assert printable(None) == ""
    assert shell_command("liveobs", "trace", "--event-id", "$(id)\x1b]0;t\x07") == (
        "liveobs trace --event-id '$(id)\\x1b]0;t\\x07'"
    )


def test_the_renderers_own_colour_survives_while_stored_escapes_are_shown() -> None:
    """A stored value is made printable first and styled after, so the style itself is never escaped."""
    from liveobs.cli._render_text import _id_line

    line = _id_line("error", "TypeError" + CLEAR, fg="red")
    assert line.startswith("  error       \x1b[31m")  # the renderer's red, as an escape the terminal obeys
    assert "TypeError\\x1b[2J\\x1b[5m" in line  # the stored escapes, shown
    assert "\\x1b[31m" not in line
