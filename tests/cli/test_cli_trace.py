"""``liveobs trace`` through CliRunner on a generated store in tmp_path."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner

from liveobs.cli import main

ROOT = Path(__file__).resolve().parents[2]




@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, store_generator: ModuleType) -> Any:
    return store_generator.generate(tmp_path_factory.mktemp("cli") / "store.duckdb", rows=20_000, seed=3)


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env)


def test_json_output_has_the_stable_keys_and_every_id(store: Any) -> None:
    result = run("--db", store.path, "trace", "--event-id", store.sample_failing_event_id, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"event_id", "request_id", "session_id", "route_id", "trace_id", "error_class", "error_fingerprint",
            "spans", "logs", "browser"} <= set(data)
    assert data["event_id"] == store.sample_failing_event_id
    assert data["trace_id"] == store.sample_failing_trace_id
    assert data["request_id"] == store.sample_failing_request_id
    assert data["session_id"] == store.sample_failing_session_id
    assert data["error_class"] in {"KeyError", "TimeoutError", "ValueError", "PermissionError"}
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("option", "attribute"),
    [("--request-id", "sample_failing_request_id"), ("--trace-id", "sample_failing_trace_id"),
     ("--session-id", "sample_failing_session_id")],
)
def test_every_id_kind_is_accepted(store: Any, option: str, attribute: str) -> None:
    result = run("--db", store.path, "trace", option, getattr(store, attribute), "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data[attribute.removeprefix("sample_failing_")] == getattr(store, attribute)
    assert data["error_class"] is not None


def test_the_store_comes_from_liveobs_db_too(store: Any) -> None:
    result = run("trace", "--trace-id", store.sample_failing_trace_id, "--json", env={"LIVEOBS_DB": store.path})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["trace_id"] == store.sample_failing_trace_id


def test_text_output_is_a_timeline_without_colour_off_a_terminal(store: Any) -> None:
    result = run("--db", store.path, "trace", "--event-id", store.sample_failing_event_id)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "\x1b[" not in out
    for value in (store.sample_failing_event_id, store.sample_failing_trace_id, store.sample_failing_request_id,
                  store.sample_failing_session_id):
        assert value in out
    assert "FAILED" in out
    bars = [line for line in out.splitlines() if "▸" in line and "|" in line]
    assert len(bars) == 4
    assert all("█" in line for line in bars)


def test_a_terminal_gets_colour_with_failures_in_red(store: Any) -> None:
    result = CliRunner().invoke(main, ["--db", store.path, "trace", "--event-id", store.sample_failing_event_id],
                                color=True)
    assert result.exit_code == 0, result.stderr
    red = [line for line in result.stdout.splitlines() if line.startswith("\x1b[31m")]
    assert any("live.event" in line for line in red)
    assert any("ERROR" in line for line in red)
    assert not any("render.diff" in line for line in red)


def test_a_session_lists_its_traces_failures_first(store: Any) -> None:
    result = run("--db", store.path, "trace", "--session-id", store.sample_failing_session_id)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "session id covers" in line)
    listed = [line for line in lines[start + 1:] if line.strip()]
    failed = [bool(line.rstrip().endswith(("Error", "KeyError"))) for line in listed]
    assert failed[0]
    assert failed == sorted(failed, reverse=True)
    assert listed[0].lstrip().startswith("▶")
    assert sum("▶" in line for line in listed) == 1
    times = [line.replace("▶", "").split()[0] for line in listed]
    assert all("T" in t and t.endswith("Z") for t in times)


def test_html_output_is_written_to_a_file(store: Any, tmp_path: Path) -> None:
    target = tmp_path / "trace.html"
    result = run("--db", store.path, "trace", "--event-id", store.sample_failing_event_id, "--format", "html",
                 "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    page = target.read_text()
    tags: list[str] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.append(tag)

    Tags().feed(page)
    assert page.startswith("<!DOCTYPE html>")
    assert tags.count("svg") == 1
    assert tags.count("rect") == 4
    assert store.sample_failing_event_id in page


def test_an_unknown_id_exits_1_with_one_line(store: Any) -> None:
    unknown = str(uuid.uuid4())
    result = run("--db", store.path, "trace", "--event-id", unknown)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"Error: no span or log carries event id {unknown}"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give exactly one of"),
        (["--event-id", "a", "--trace-id", "b" * 32], "give exactly one of"),
        (["--trace-id", "not-hex"], "not a trace id"),
        (["--event-id", "bad id"], "not a valid event id"),
        (["--event-id", "x", "--format", "pdf"], "'pdf' is not one of"),
    ],
)
def test_bad_arguments_are_usage_errors_without_a_traceback(store: Any, args: list[str], message: str) -> None:
    result = run("--db", store.path, "trace", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.duckdb"
    result = run("--db", str(missing), "trace", "--event-id", "abc")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: no store at {missing} (choose one with --db or LIVEOBS_DB)"
    assert not missing.exists()


def test_a_store_held_by_another_process_without_a_collector_exits_3(store: Any, tmp_path: Path) -> None:
    held = tmp_path / "held.duckdb"
    held.write_bytes(Path(store.path).read_bytes())
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys, time; c = duckdb.connect({str(held)!r}); print('ok', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ok"
        started = time.perf_counter()
        result = run("--db", str(held), "trace", "--event-id", store.sample_failing_event_id)
        assert time.perf_counter() - started < 10
    finally:
        holder.communicate(input="", timeout=30)
    assert result.exit_code == 3
    assert "held by another process" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_readme_names_only_options_the_commands_have() -> None:
    readme = (ROOT / "correlator" / "README.md").read_text()
    section = readme.split("## Trace an incident", 1)[1].split("\n## ", 1)[0]
    helps = {name: run(name, "--help").stdout for name in ("trace", "incidents")}
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", section)) - {"--db"}
    assert {"--event-id", "--request-id", "--trace-id", "--session-id", "--json", "--format", "--since",
            "--release"} <= named
    for option in named:
        assert any(option in text for text in helps.values()), option
