"""Process life: a SIGTERM right after a burst of live events exports every span and record; configure twice;
shutdown then configure again with the global providers; a real fork after configure()."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import liveobs.sdk
from tests.sdk.process_helpers import app_process, burst, collector

CONNECTIONS = 40
EVENTS_EACH = 24  # 960 live events


@pytest.mark.timeout(180)
def test_sigterm_right_after_a_burst_exports_every_event_connection_and_log_record(tmp_path: Path) -> None:
    with collector(tmp_path) as store, app_process(tmp_path, store.url) as app:

        async def run() -> tuple[int, int]:
            sockets, replies = await burst(app.ws, CONNECTIONS, EVENTS_EACH)
            app.proc.send_signal(signal.SIGTERM)  # the sockets are still open
            started = time.monotonic()
            while app.proc.poll() is None and time.monotonic() - started < 30:
                await asyncio.sleep(0.05)
            for ws in sockets:
                await ws.close()
            return len(replies), sum(1 for r in replies if r.get("lo", {}).get("ok") is True)

        sent, answered = asyncio.run(run())
        assert (sent, answered) == (CONNECTIONS * EVENTS_EACH, CONNECTIONS * EVENTS_EACH)
        assert app.proc.returncode is not None, "the app did not stop within 30 s"
        log = app.log.read_text()
        assert "export did not finish" not in log, log
        events = store.rows("SELECT count(*), count(DISTINCT SpanAttributes['liveobs.event.id']) FROM otel_traces "
                            "WHERE SpanName = 'live.event tick'")
        connections = store.rows("SELECT count(*), count(DISTINCT SpanAttributes['liveobs.connection.id']) "
                                 "FROM otel_traces WHERE SpanName = 'live.connection'")
        records = store.rows("SELECT count(*) FROM otel_logs WHERE Body = 'handled'")
    assert events == [(CONNECTIONS * EVENTS_EACH, CONNECTIONS * EVENTS_EACH)]
    assert connections == [(CONNECTIONS, CONNECTIONS)]
    assert records == [(CONNECTIONS * EVENTS_EACH,)]


class _Logs(LogRecordExporter):
    def __init__(self) -> None:
        self.bodies: list[Any] = []

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        self.bodies.extend(getattr(r, "log_record", r).body for r in batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _counted(reader: InMemoryMetricReader, name: str) -> int:
    data = reader.get_metrics_data()
    return sum(int(point.value) for rm in (data.resource_metrics if data else ()) for sm in rm.scope_metrics
               for metric in sm.metrics if metric.name == name for point in metric.data.data_points)


def test_configure_twice_and_shutdown_then_configure_reach_what_a_framework_took_from_the_globals_before() -> None:
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    first_logs, second_logs = _Logs(), _Logs()
    first_metrics, second_metrics = InMemoryMetricReader(), InMemoryMetricReader()
    try:
        liveobs.sdk.configure("life", span_exporter=first, log_exporter=first_logs, metric_readers=[first_metrics],
                              batch=False, configure_structlog=False)
        # What FastAPI does once, at its first request: take a tracer, a meter and a logger from the globals.
        cached = trace.get_tracer("a.framework", schema_url="https://opentelemetry.io/schemas/1.44.0")
        requests = metrics.get_meter("a.framework").create_counter("framework.requests")
        logger = _logs.get_logger_provider().get_logger("a.framework")
        with cached.start_as_current_span("before"):
            requests.add(1)
            logger.emit(body="before")
        assert _counted(first_metrics, "framework.requests") == 1
        again = liveobs.sdk.configure("life", span_exporter=first, log_exporter=first_logs,
                                      metric_readers=[first_metrics], batch=False, configure_structlog=False)
        assert again is liveobs.sdk.current_telemetry()
        liveobs.sdk.shutdown()
        with cached.start_as_current_span("while stopped"):
            requests.add(5)
            logger.emit(body="while stopped")
        liveobs.sdk.configure("life", "2.0.0", span_exporter=second, log_exporter=second_logs,
                              metric_readers=[second_metrics], batch=False, configure_structlog=False)
        with cached.start_as_current_span("after"):
            requests.add(2)
            logger.emit(body="after")
        assert _counted(second_metrics, "framework.requests") == 2
    finally:
        liveobs.sdk.shutdown()
    assert [s.name for s in first.get_finished_spans()] == ["before"]
    after = second.get_finished_spans()
    assert [s.name for s in after] == ["after"]
    assert after[0].resource.attributes["service.version"] == "2.0.0"
    scope = after[0].instrumentation_scope
    assert scope is not None
    assert (scope.name, scope.version, scope.schema_url) == (
        "a.framework", "", "https://opentelemetry.io/schemas/1.44.0")  # the SDK writes no version as ""
    assert first_logs.bodies == ["before"]
    assert second_logs.bodies == ["after"]


def test_a_forked_child_exports_its_own_spans_and_the_parent_keeps_exporting(receiver) -> None:  # type: ignore[no-untyped-def]
    telemetry = liveobs.sdk.configure("forked", endpoint=receiver.url, configure_structlog=False, set_global=False)
    try:
        with liveobs.sdk.live_event("before_fork"):
            pass
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: one event, flushed at its exit
            code = 1
            try:
                os.close(read)
                with liveobs.sdk.live_event("in_child") as event:
                    pass
                ok = liveobs.sdk.current_telemetry() is telemetry and telemetry.force_flush(10_000)
                os.write(write, json.dumps({"event_id": event.event_id, "flushed": ok}).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        with os.fdopen(read) as pipe:
            child = json.loads(pipe.read())
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        with liveobs.sdk.live_event("after_fork"):
            pass
        telemetry.force_flush()
    finally:
        liveobs.sdk.shutdown()
    assert child["flushed"] is True
    names = [s["name"] for s in receiver.spans_named("live.event", count=3)]
    assert sorted(names) == ["live.event after_fork", "live.event before_fork", "live.event in_child"]
    in_child = receiver.spans_named("live.event in_child")[0]
    assert in_child["attributes"]["liveobs.event.id"] == child["event_id"]


@pytest.mark.parametrize("stop", ["exit", "SIGTERM", "SIGINT"])
def test_a_plain_script_exports_everything_pending_at_exit_and_on_sigterm_and_sigint(receiver, stop: str) -> None:  # type: ignore[no-untyped-def]
    script = Path(__file__).parent / "apps" / "plain_script.py"
    proc = subprocess.Popen([sys.executable, str(script), receiver.url, "exit" if stop == "exit" else "wait"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        if stop != "exit":
            proc.send_signal(getattr(signal, stop))
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    expected = {"exit": 0, "SIGTERM": -signal.SIGTERM, "SIGINT": -signal.SIGINT}[stop]  # SIGINT: through atexit
    assert proc.returncode == expected, err
    assert "export did not finish" not in err
    assert len(receiver.spans_named("live.event tick", count=300, timeout=5)) == 300
    assert len(receiver.logs_with("handled", count=300, timeout=5)) == 300


def test_what_could_not_be_exported_by_the_deadline_is_counted_in_one_last_line() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    script = Path(__file__).parent / "apps" / "plain_script.py"
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(script), dead, "exit", "1.5"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 12  # bounded: the exporters alone would retry for 10 s and more
    last = [line for line in done.stderr.splitlines() if line.startswith("liveobs: export did not finish")]
    assert len(last) == 1, done.stderr
    assert "unexported spans 300" in last[0]
    assert "unexported logs 300" in last[0]


def _child_events(count: int) -> None:
    for i in range(count):
        with liveobs.sdk.live_event("in_worker", seq=i):
            pass


def test_a_multiprocessing_child_flushes_its_spans_when_it_ends(receiver) -> None:  # type: ignore[no-untyped-def]
    import multiprocessing

    liveobs.sdk.configure("pool", endpoint=receiver.url, configure_structlog=False, set_global=False)
    try:
        worker = multiprocessing.get_context("fork").Process(target=_child_events, args=(50,))
        worker.start()
        worker.join(30)
        assert worker.exitcode == 0
        # Exported by the child before it ended: the parent never had these spans to flush.
        assert len(receiver.spans_named("live.event in_worker", count=50, timeout=5)) == 50
    finally:
        liveobs.sdk.shutdown()


@pytest.mark.timeout(180)
def test_gunicorn_preload_workers_each_export_their_events_and_flush_on_sigterm(tmp_path: Path) -> None:
    with collector(tmp_path) as store, app_process(tmp_path, store.url, gunicorn_workers=2) as app:
        async def run() -> int:
            sockets, replies = await burst(app.ws, 8, 30)
            app.proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            while app.proc.poll() is None and time.monotonic() - started < 30:
                await asyncio.sleep(0.05)
            for ws in sockets:
                await ws.close()
            return len(replies)

        assert asyncio.run(run()) == 240
        assert app.proc.returncode == 0, app.log.read_text()
        events = store.rows("SELECT count(*) FROM otel_traces WHERE SpanName = 'live.event tick'")
        records = store.rows("SELECT count(*) FROM otel_logs WHERE Body = 'handled'")
    assert events == [(240,)]
    assert records == [(240,)]
