"""The exception's stack trace in ``liveobs trace`` (text, JSON, HTML) and ``incidents``, on a store
written by a real ``liveobs collect`` from an OTLP span whose stack is a real Python traceback: the app's
frames first, library frames (site-packages, the standard library) folded, the release of the failing frame."""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner

from liveobs.cli import main
from liveobs.conventions import keys
from tests.cli.test_cli_hostile_text import _attr, _collector_fixtures

TRACE_ID = "5ac75ac75ac75ac75ac75ac75ac75ac7"
EVENT_ID = "evt-stack-1"


def _failing_hook(pairs: dict[str, Any]) -> Any:
    return pairs["missing_due_date"]


def _app_handler() -> Any:
    return json.loads('{"title": "x"}', object_hook=_failing_hook)  # stdlib frames, then ours again


def _real_traceback() -> str:
    """A real traceback through click (site-packages), json (the standard library) and this file."""
    try:
        click.Context(click.Command("sort")).invoke(_app_handler)
    except KeyError as exc:
        return "".join(traceback.format_exception(exc))
    raise AssertionError("the handler did not fail")


STACK = _real_traceback()


def _request() -> dict[str, Any]:
    span = {
        "traceId": TRACE_ID, "spanId": "5ac7000000000001", "name": "live.event sort_by_due", "kind": 2,
        "startTimeUnixNano": "1767225600000000000", "endTimeUnixNano": "1767225600005000000",
        "attributes": [_attr(keys.EVENT_ID, EVENT_ID), _attr(keys.SESSION_ID, "sess-stack"),
                       _attr(keys.ERROR_TYPE, "KeyError")],
        "events": [{
            "name": "exception", "timeUnixNano": "1767225600004000000",
            "attributes": [_attr("exception.type", "KeyError"),
                           _attr("exception.message", "'missing_due_date' (password=hunter2)"),
                           _attr("exception.stacktrace", STACK)],
        }],
        "status": {"code": 2, "message": "KeyError"},
    }
    resource = [_attr(keys.SERVICE_NAME, "board"), _attr("service.version", "2.7.1")]
    return {"resourceSpans": [{"resource": {"attributes": resource}, "scopeSpans": [{"spans": [span]}]}]}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    db = tmp_path_factory.mktemp("stack") / "store.duckdb"
    running = _collector_fixtures().start_collector(db)
    try:
        response = httpx.post(f"{running.url}/v1/traces", json=_request())
        assert response.status_code == 200
    finally:
        running.stop(timeout=30)
    return db


def _run(db: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--db", str(db), *args], env={"LIVEOBS_TOKEN": "", "LIVEOBS_TOKEN_FILE": ""})


def test_the_real_traceback_crosses_app_library_and_stdlib_frames() -> None:
    assert "site-packages" in STACK
    assert "/json/" in STACK
    assert "_failing_hook" in STACK


def test_json_has_app_frames_first_and_library_frames_folded(store: Path) -> None:
    result = _run(store, "trace", "--trace-id", TRACE_ID, "--json")
    assert result.exit_code == 0, result.output
    stack = json.loads(result.stdout)["stacktrace"]
    assert stack["error_class"] == "KeyError"
    assert stack["release"] == "2.7.1"
    assert stack["service"] == "board"
    assert "hunter2" not in stack["message"]
    assert "REDACTED" in stack["message"]
    assert stack["failing_frame"]["function"] == "_failing_hook"
    assert stack["failing_frame"]["path"].endswith("test_cli_stacktrace.py")
    functions = [f["function"] for f in stack["app_frames"]]
    assert functions[0] == "_failing_hook"
    assert "_app_handler" in functions
    assert all(f["app"] for f in stack["app_frames"])
    packages = {f["package"] for f in stack["library_frames"]}
    assert {"click", "stdlib"} <= packages
    assert all("site-packages" in f["path"] or "/json/" in f["path"] for f in stack["library_frames"])


def test_text_shows_the_failing_frame_with_its_release_and_folds_libraries(store: Path) -> None:
    result = _run(store, "trace", "--trace-id", TRACE_ID)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert re.search(r"failing frame  \S*test_cli_stacktrace\.py:\d+ in _failing_hook  \(board 2\.7\.1\)", out), out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("stack trace"))
    frames = [line for line in lines[start:] if " in _" in line and "test_cli_stacktrace.py" in line]
    assert "▶" in frames[1]
    assert "_failing_hook" in frames[1]
    folded = next(line for line in lines if "library frames folded" in line)
    assert "click" in folded
    assert "stdlib" in folded
    assert "decoder.py" not in out
    assert "click/core.py" not in out


def test_html_page_shows_the_stack_with_libraries_in_a_closed_details(store: Path, tmp_path: Path) -> None:
    page = tmp_path / "trace.html"
    result = _run(store, "trace", "--trace-id", TRACE_ID, "--format", "html", "-o", str(page))
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert "<h2>stack trace</h2>" in html
    assert "in release <code>board 2.7.1</code>" in html
    app_list, folded = html.split("<details>", 1)
    assert "_failing_hook" in app_list
    assert "_app_handler" in app_list
    assert "decoder.py" not in app_list
    assert "decoder.py" in folded


def test_incidents_show_the_failing_frame(store: Path) -> None:
    result = _run(store, "incidents")
    assert result.exit_code == 0, result.output
    assert re.search(r"failing frame  \S*test_cli_stacktrace\.py:\d+ in _failing_hook  \(board 2\.7\.1\)",
                     result.stdout), result.stdout
    data = json.loads(_run(store, "incidents", "--json").stdout)
    assert data[0]["stack"]["failing_frame"]["function"] == "_failing_hook"


def test_an_app_installed_from_its_wheel_keeps_its_frames_as_the_apps() -> None:
    from liveobs.correlator._stacktrace import build

    text = (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/releases/1.4.0/venv/lib/python3.11/site-packages/starlette/routing.py", line 10, in handle\n'
        "    await self.app(scope)\n"
        '  File "/srv/app/releases/1.4.0/venv/lib/python3.11/site-packages/kukulkan/live.py", line 20, in sort\n'
        "    cards = self.board.sort_by_due(column)\n"
        '  File "/srv/app/releases/1.4.0/venv/lib/python3.11/site-packages/kukulkan/board.py", line 95, in sort_by_due\n'
        "    ordered = sorted(cards)\n"
        "TypeError: boom\n"
    )
    stack = build(text, error_class="TypeError", message="boom", release="1.4.0", service="kukulkan")
    assert [f.function for f in stack.app_frames] == ["sort_by_due", "sort"]
    assert stack.failing_frame is not None
    assert stack.failing_frame.path.endswith("site-packages/kukulkan/board.py")
    assert stack.library_packages() == [("starlette", 1)]
    # Another service's view of the same text: kukulkan is a library there.
    other = build(text, error_class="TypeError", message="boom", release="1.4.0", service="billing")
    assert other.app_frames == ()
    assert other.library_packages() == [("kukulkan", 2), ("starlette", 1)]
