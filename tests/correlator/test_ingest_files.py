"""``liveobs ingest``: JSON-lines logs and OTLP-JSON files, bad lines, idempotence, through a collector."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
from click.testing import CliRunner

from liveobs.cli import main
from liveobs.conventions import keys

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"

STRUCTLOG_LINES = [
    {"event": "cart loaded", "level": "info", "timestamp": "2026-01-02T03:04:05.123456Z", "trace_id": TRACE,
     "span_id": SPAN, "trace_flags": "01", keys.SESSION_ID: "s1", keys.EVENT_ID: "01JX", keys.SERVICE_NAME: "shop",
     keys.SERVICE_VERSION: "3.1.0", "items": 3, "api_key": "abcd1234secret"},
    {"event": "checkout failed: card 4242 declined", "level": "error", "timestamp": 1767323045.5,
     keys.ERROR_TYPE: "PaymentError", keys.REQUEST_ID: "r-9", keys.SERVICE_NAME: "shop", keys.SERVICE_VERSION: "3.1.0"},
]
OTEL_LINE = {"body": "browser error", "severity_text": "ERROR", "time_unix_nano": 1767323045000000000,
             keys.LOG_EVENT_NAME: keys.BROWSER_ERROR_EVENT, "resource": {keys.SERVICE_NAME: "web"},
             "attributes": {keys.EVENT_ID: "01JB", keys.ERROR_TYPE: "TypeError"}}


def _write_lines(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def _ingest(db: Path, *args: str):
    return CliRunner().invoke(main, ["--db", str(db), "ingest", *args])


def test_structlog_and_otel_lines_land_and_bad_lines_are_reported_by_number(tmp_path) -> None:
    db = tmp_path / "s.duckdb"
    logs = _write_lines(tmp_path / "app.jsonl", [STRUCTLOG_LINES[0], "{broken", STRUCTLOG_LINES[1], "", "[1]", OTEL_LINE])
    result = _ingest(db, str(logs), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["files"][0]
    assert (report["lines"], report["rows"], report["bad_lines"]) == (6, 3, 2)
    assert [b["line"] for b in report["bad"]] == [2, 5]
    assert "invalid JSON" in report["bad"][0]["reason"]

    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT epoch_ns(Timestamp), TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body, "
        "ResourceAttributes['service.version'], LogAttributes['items'], LogAttributes['api_key'], EventName "
        "FROM otel_logs ORDER BY Timestamp, Body"
    ).fetchall()
    assert rows == [
        (1767323045000000000, "", "", 0, "ERROR", 17, "web", "browser error", None, None, None, "browser.error"),
        (1767323045123456000, TRACE, SPAN, 1, "INFO", 9, "shop", "cart loaded", "3.1.0", "3", "[REDACTED:key]", ""),
        (1767323045500000000, "", "", 0, "ERROR", 17, "shop", "checkout failed: card 4242 declined", "3.1.0",
         None, None, ""),
    ]
    errors = con.execute("SELECT Source, ErrorType, RequestId, EventId FROM liveobs_errors ORDER BY Source").fetchall()
    assert errors == [("browser", "TypeError", None, "01JB"), ("log", "PaymentError", "r-9", None)]
    correlation = con.execute("SELECT EventId, SessionId, TraceId FROM liveobs_correlation ORDER BY EventId").fetchall()
    assert correlation == [("01JB", None, ""), ("01JX", "s1", TRACE), (None, None, "")]


def test_ingesting_the_same_file_twice_stores_it_once(tmp_path) -> None:
    db = tmp_path / "s.duckdb"
    logs = _write_lines(tmp_path / "app.jsonl", [*STRUCTLOG_LINES, OTEL_LINE] * 4000)
    first = _ingest(db, str(logs))
    assert first.exit_code == 0
    assert "12000 rows stored" in first.stdout
    second = _ingest(db, str(logs), "--json")
    assert second.exit_code == 0
    report = json.loads(second.stdout)["files"][0]
    assert report["already_ingested"] is True
    assert report["rows"] == 0
    assert report["chunks"] == 3
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM otel_logs").fetchone() == (12000,)


def test_otlp_json_documents_and_lines_are_ingested(tmp_path) -> None:
    db = tmp_path / "s.duckdb"
    spans = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
                                "scopeSpans": [{"spans": [{"traceId": TRACE, "spanId": SPAN, "name": "GET /",
                                                           "startTimeUnixNano": "1767225600000000000",
                                                           "endTimeUnixNano": "1767225600000001000"}]}]}]}
    document = tmp_path / "spans.json"
    document.write_text(json.dumps(spans, indent=2))
    logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "hi"}, "traceId": TRACE}]}]}]}
    lines = _write_lines(tmp_path / "otlp.jsonl", [logs, logs])
    result = _ingest(db, str(document), str(lines), "--json")
    assert result.exit_code == 0, result.output
    assert [f["rows"] for f in json.loads(result.stdout)["files"]] == [1, 2]
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT ServiceName, SpanName, Duration FROM otel_traces").fetchall() == [("api", "GET /", 1000)]
    assert con.execute("SELECT Body, TraceId FROM otel_logs").fetchall() == [("hi", TRACE), ("hi", TRACE)]


def test_a_file_with_no_usable_line_exits_1(tmp_path) -> None:
    bad = _write_lines(tmp_path / "bad.jsonl", ["nope", "{]"])
    result = _ingest(tmp_path / "s.duckdb", str(bad))
    assert result.exit_code == 1
    assert "line 1: invalid JSON" in result.stderr
    assert "line 2: invalid JSON" in result.stderr


def test_ingest_goes_through_a_running_collector_and_stays_idempotent(collector, tmp_path) -> None:
    logs = _write_lines(tmp_path / "app.jsonl", [*STRUCTLOG_LINES, OTEL_LINE] * 10)
    first = _ingest(collector.db, str(logs), "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["files"][0]["rows"] == 30
    second = _ingest(collector.db, str(logs), "--json")
    assert json.loads(second.stdout)["files"][0]["already_ingested"] is True
    assert collector.stop() == 0
    con = duckdb.connect(str(collector.db), read_only=True)
    assert con.execute("SELECT count(*) FROM otel_logs").fetchone() == (30,)
    assert con.execute("SELECT count(*) FROM liveobs_ingest_ledger").fetchone() == (1,)


def test_a_store_held_without_a_collector_is_a_clear_error(tmp_path) -> None:
    db = tmp_path / "held.duckdb"
    logs = _write_lines(tmp_path / "app.jsonl", STRUCTLOG_LINES)
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,sys; c=duckdb.connect({str(db)!r}); print('ok', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ok"
        result = _ingest(db, str(logs))
        assert result.exit_code == 2
        assert result.stderr.startswith("Error: the store is busy")
        assert "Traceback" not in result.output
    finally:
        holder.communicate(timeout=30)


def test_a_progress_bar_shows_on_a_terminal_for_large_files(tmp_path) -> None:
    import os
    import pty

    line = json.dumps({**STRUCTLOG_LINES[0], "padding": "x" * 400}) + "\n"
    big = tmp_path / "big.jsonl"
    big.write_text(line * (4 * 1024 * 1024 // len(line) + 100))
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "liveobs.cli", "--db", str(tmp_path / "s.duckdb"), "ingest", str(big)],
            stdout=subprocess.PIPE, stderr=terminal, text=True, timeout=120,
        )
        os.close(terminal)
        terminal = -1
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if terminal != -1:
            os.close(terminal)
        os.close(controller)
    assert result.returncode == 0
    assert b"ingesting" in shown
    assert b"100%" in shown
    assert "rows stored, 0 bad lines" in result.stdout
