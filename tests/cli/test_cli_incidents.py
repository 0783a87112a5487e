"""``liveobs incidents`` through CliRunner on a generated store in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from liveobs.cli import main


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, store_generator: ModuleType) -> Any:
    return store_generator.generate(tmp_path_factory.mktemp("cli-incidents") / "store.duckdb", rows=20_000, seed=9)


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def test_json_lists_incidents_newest_first_with_their_evidence(store: Any) -> None:
    result = run("--db", store.path, "incidents", "--json")
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    assert sum(i["count"] for i in found) == store.failed_events
    last_seen = [i["last_seen_unix_nano"] for i in found]
    assert last_seen == sorted(last_seen, reverse=True)
    newest = found[0]
    assert newest["sample_event_ids"][0] == store.sample_failing_event_id
    for key in ("fingerprint", "error_class", "count", "first_seen", "last_seen", "releases", "routes",
                "affected_sessions", "sample_event_ids"):
        assert key in newest


def test_release_and_since_filter(store: Any) -> None:
    con = duckdb.connect(store.path, read_only=True)
    try:
        per_release = dict(con.execute(
            "SELECT ServiceVersion, count(DISTINCT EventId) FROM liveobs_errors GROUP BY ALL").fetchall())
        cutoff = con.execute("SELECT max(\"Timestamp\") - INTERVAL 2 HOUR FROM liveobs_errors").fetchone()
        assert cutoff is not None
        recent = con.execute(
            "SELECT count(DISTINCT EventId) FROM liveobs_errors WHERE \"Timestamp\" >= ?", [cutoff[0]]).fetchone()
        assert recent is not None
    finally:
        con.close()
    for release, count in per_release.items():
        result = run("--db", store.path, "incidents", "--release", release, "--json")
        assert result.exit_code == 0, result.stderr
        found = json.loads(result.stdout)
        assert sum(i["count"] for i in found) == count
        assert all(i["releases"] == [release] for i in found)
    since = cutoff[0].isoformat() + "Z"
    result = run("--db", store.path, "incidents", "--since", since, "--json")
    assert result.exit_code == 0, result.stderr
    assert sum(i["count"] for i in json.loads(result.stdout)) == recent[0]


def test_text_output_points_at_the_trace_command(store: Any) -> None:
    result = run("--db", store.path, "incidents", "--limit", "2")
    assert result.exit_code == 0, result.stderr
    assert f"liveobs trace --event-id {store.sample_failing_event_id}" in result.stdout
    assert result.stdout.count("liveobs trace --event-id") == 2


def test_no_incidents_is_success(store: Any) -> None:
    result = run("--db", store.path, "incidents", "--release", "0.0.0-none")
    assert result.exit_code == 0
    assert result.stdout.strip() == "no incidents"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--since", "last tuesday"], "90m, 24h, 7d"), (["--limit", "0"], "0 is not in the range")],
)
def test_bad_arguments_are_usage_errors(store: Any, args: list[str], message: str) -> None:
    result = run("--db", store.path, "incidents", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    result = run("--db", str(tmp_path / "none.duckdb"), "incidents", "--json")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: no store at ")


def _failing_click(con: Any, at: str, service: str, event: str, message: str) -> None:
    """One failing click as the collector records it: the span (the exception's text), the log line, the report."""
    rows = [("span", message, "t" * 32), ("log", "live event failed", "t" * 32), ("browser", "reply_error", "")]
    for offset, (source, text, trace_id) in enumerate(rows):
        con.execute(
            "INSERT INTO liveobs_errors VALUES (?::TIMESTAMP + INTERVAL (?) MILLISECOND, ?, ?, '1.0.0', 'prod',"
            " 'TypeError', ?, ?, ?, '0123456789abcdef', ?, 's1', 'req-1', '/board')",
            [at, offset, source, service, f"fp-{service}", text, trace_id, event],
        )


@pytest.fixture
def two_services(tmp_path: Path) -> str:
    from liveobs.correlator._db import connect

    path = tmp_path / "two.duckdb"
    con = connect(path)
    try:
        _failing_click(con, "2026-12-05 08:00:00", "board", "ev-board-1",
                       "'<' not supported between instances of 'NoneType' and 'NoneType'")
        _failing_click(con, "2026-12-05 08:01:00", "shop",
                       "ev-shop-1", "charge failed with key sk_live_4eC39HqLyjWDarjtT1zdp7dc")
    finally:
        con.close()
    return str(path)


def test_the_message_is_the_exception_text_scrubbed_and_one_click_counts_once(two_services: str) -> None:
    result = run("--db", two_services, "incidents", "--json")
    assert result.exit_code == 0, result.stderr
    found = {i["services"][0]: i for i in json.loads(result.stdout)}
    assert found["board"]["message"] == "'<' not supported between instances of 'NoneType' and 'NoneType'"
    assert (found["board"]["count"], found["board"]["records"]) == (1, 3)
    assert found["board"]["sources"] == ["browser", "log", "span"]
    shop = found["shop"]["message"]
    assert shop.startswith("charge failed with key ")
    assert "sk_live_" not in shop
    text = run("--db", two_services, "incidents")
    assert text.exit_code == 0, text.stderr
    assert "not supported between instances of 'NoneType'" in text.stdout
    assert "reply_error" not in text.stdout
    assert "live event failed" not in text.stdout


def test_service_keeps_one_services_incidents(two_services: str) -> None:
    result = run("--db", two_services, "incidents", "--service", "board", "--json")
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    assert [(i["services"], i["sample_event_ids"]) for i in found] == [(["board"], ["ev-board-1"])]
    none = run("--db", two_services, "incidents", "--service", "nobody")
    assert none.exit_code == 0
    assert none.stdout.strip() == "no incidents"
