"""OTLP JSON bodies written by hand from the specification: logs and metrics land like protobuf ones."""

from __future__ import annotations

import socket
import subprocess
import sys

import duckdb
import httpx
from click.testing import CliRunner

from liveobs.cli import main
from liveobs.conventions import keys

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b173"
RESOURCE = {"attributes": [{"key": keys.SERVICE_NAME, "value": {"stringValue": "shop"}},
                           {"key": keys.SERVICE_VERSION, "value": {"stringValue": "4.2"}}]}


def test_otlp_json_logs_land_with_ids_severity_and_event_name(collector) -> None:
    body = {"resourceLogs": [{"resource": RESOURCE, "scopeLogs": [{"scope": {"name": "app"}, "logRecords": [
        {"timeUnixNano": "1767225600000000000", "severityNumber": 17, "severityText": "ERROR",
         "body": {"stringValue": "payment failed"}, "traceId": TRACE, "spanId": SPAN, "flags": 1,
         "eventName": keys.BROWSER_ERROR_EVENT,
         "attributes": [{"key": keys.EVENT_ID, "value": {"stringValue": "01JEV"}},
                        {"key": keys.ERROR_TYPE, "value": {"stringValue": "PaymentError"}},
                        {"key": "cart", "value": {"kvlistValue": {"values": [{"key": "n", "value": {"intValue": "3"}}]}}}]},
        {"observedTimeUnixNano": "1767225600000000001", "body": {"stringValue": "no event time"}},
    ]}]}]}
    response = httpx.post(f"{collector.url}/v1/logs", json=body)
    assert (response.status_code, response.json()) == (200, {})
    assert collector.stop() == 0
    con = duckdb.connect(str(collector.db), read_only=True)
    rows = con.execute(
        "SELECT epoch_ns(Timestamp), TraceId, SpanId, TraceFlags, SeverityNumber, Body, EventName, "
        "LogAttributes['cart'], ResourceAttributes['service.version'] FROM otel_logs ORDER BY Timestamp"
    ).fetchall()
    assert rows == [
        (1767225600000000000, TRACE, SPAN, 1, 17, "payment failed", "browser.error", '{"n":3}', "4.2"),
        (1767225600000000001, "", "", 0, 0, "no event time", "", None, "4.2"),
    ]
    assert con.execute("SELECT Source, ErrorType, TraceId, EventId, ServiceVersion FROM liveobs_errors").fetchall() == [
        ("browser", "PaymentError", TRACE, "01JEV", "4.2")
    ]


def test_otlp_json_metrics_land_in_their_tables_with_exemplar_ids(collector) -> None:
    point = {"attributes": [{"key": keys.ROUTE_ID, "value": {"stringValue": "cart.show"}}],
             "startTimeUnixNano": "1767225600000000000", "timeUnixNano": "1767225660000000000"}
    body = {"resourceMetrics": [{"resource": RESOURCE, "scopeMetrics": [{"scope": {"name": "liveobs.sdk"}, "metrics": [
        {"name": "liveobs.event.duration", "unit": "ms", "histogram": {"aggregationTemporality": 2, "dataPoints": [
            {**point, "count": "3", "sum": 57.0, "bucketCounts": ["1", "1", "1"], "explicitBounds": [10.0, 20.0],
             "min": 5.0, "max": 40.0,
             "exemplars": [{"timeUnixNano": "1767225601000000000", "asDouble": 40.0, "traceId": TRACE, "spanId": SPAN}]},
        ]}},
        {"name": "liveobs.reconnects", "sum": {"aggregationTemporality": 2, "isMonotonic": True,
                                               "dataPoints": [{**point, "asInt": "7"}]}},
        {"name": "process.memory.usage", "unit": "By", "gauge": {"dataPoints": [{**point, "asDouble": 1.5e8}]}},
        {"name": "liveobs.patch.size", "exponentialHistogram": {"aggregationTemporality": 2, "dataPoints": [
            {**point, "count": "2", "sum": 300.0, "scale": 1, "zeroCount": "0",
             "positive": {"offset": 5, "bucketCounts": ["1", "1"]}}]}},
        {"name": "legacy.latency", "summary": {"dataPoints": [
            {**point, "count": "4", "sum": 10.0, "quantileValues": [{"quantile": 0.5, "value": 2.0}, {"quantile": 0.99, "value": 4.0}]}]}},
    ]}]}]}
    response = httpx.post(f"{collector.url}/v1/metrics", json=body)
    assert (response.status_code, response.json()) == (200, {})
    assert collector.stop() == 0
    con = duckdb.connect(str(collector.db), read_only=True)
    assert con.execute(
        'SELECT MetricName, "Count", "Sum", BucketCounts, ExplicitBounds, Exemplars.TraceId, Exemplars.SpanId, '
        "Attributes['liveobs.route.id'], ServiceName FROM otel_metrics_histogram"
    ).fetchall() == [("liveobs.event.duration", 3, 57.0, [1, 1, 1], [10.0, 20.0], [TRACE], [SPAN], "cart.show", "shop")]
    assert con.execute('SELECT "Value", IsMonotonic, AggregationTemporality FROM otel_metrics_sum').fetchall() == [(7.0, True, 2)]
    assert con.execute('SELECT "Value" FROM otel_metrics_gauge').fetchall() == [(1.5e8,)]
    assert con.execute("SELECT Scale, PositiveOffset, PositiveBucketCounts FROM otel_metrics_exp_histogram").fetchall() == [
        (1, 5, [1, 1])
    ]
    assert con.execute("SELECT ValueAtQuantiles.Quantile, ValueAtQuantiles.Value FROM otel_metrics_summary").fetchall() == [
        ([0.5, 0.99], [2.0, 4.0])
    ]


def test_token_file_is_shared_by_collector_and_ingest(collector_factory, tmp_path, monkeypatch) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token-123\n")
    running = collector_factory(extra_args=["--token-file", str(token_file)])
    logs = tmp_path / "app.jsonl"
    logs.write_text('{"event": "hello", "level": "info"}\n')
    monkeypatch.delenv("LIVEOBS_TOKEN", raising=False)
    monkeypatch.setenv("LIVEOBS_TOKEN_FILE", str(tmp_path / "missing"))
    refused = CliRunner().invoke(main, ["--db", str(running.db), "ingest", str(logs)])
    assert refused.exit_code == 1
    assert "cannot read the token file" in refused.stderr
    monkeypatch.setenv("LIVEOBS_TOKEN_FILE", str(token_file))
    accepted = CliRunner().invoke(main, ["--db", str(running.db), "ingest", str(logs)])
    assert accepted.exit_code == 0, accepted.output
    assert "1 rows stored" in accepted.stdout
    monkeypatch.setenv("LIVEOBS_TOKEN_FILE", str(tmp_path / "other"))
    (tmp_path / "other").write_text("wrong")
    logs.write_text('{"event": "second", "level": "info"}\n')
    wrong = CliRunner().invoke(main, ["--db", str(running.db), "ingest", str(logs)])
    assert wrong.exit_code == 2
    assert "answered 401" in wrong.stderr


def test_collect_reports_a_busy_port_in_one_line(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "liveobs.cli", "--db", str(tmp_path / "s.duckdb"), "collect", "--port", str(port)],
            capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert not (tmp_path / "s.duckdb.collector.json").exists()


def test_collect_refuses_a_bad_memory_limit_in_one_line(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "liveobs.cli", "--db", str(tmp_path / "s.duckdb"), "collect", "--memory-limit", "lots"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "Invalid value for --memory-limit: 'lots' is not a size" in result.stderr
    assert "Traceback" not in result.stderr

