"""Both store paths: through a running ``liveobs collect`` and from the file, with the same answers.

The store is filled the real way: the official OpenTelemetry exporters send to
the collector subprocess (``collector`` fixture in conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode, set_span_in_context

import liveobs.correlator
from liveobs.cli import main
from liveobs.conventions import keys, mint_connection_id, mint_event_id, mint_request_id
from liveobs.correlator import LocalStore, RemoteStore, StoreUnavailableError

RESOURCE = Resource.create(
    {keys.SERVICE_NAME: "shop", keys.SERVICE_VERSION: "3.1.0", keys.DEPLOYMENT_ENVIRONMENT: "staging"}
)


@dataclass
class Sent:
    event_id: str
    trace_id: str
    request_id: str
    session_id: str
    connection_id: str
    page_request_id: str


class App:
    """Spans and logs shaped like the SDK's, sent by the official OTLP/HTTP exporters."""

    def __init__(self, url: str) -> None:
        self.tracing = TracerProvider(resource=RESOURCE)
        self.tracing.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces")))
        self.logging = LoggerProvider(resource=RESOURCE)
        self.logging.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/v1/logs")))
        self.tracer = self.tracing.get_tracer("liveobs.sdk")
        self.logger = self.logging.get_logger("liveobs.sdk")

    def session(self, *, fail: bool) -> Sent:
        session_id, page_request = uuid.uuid4().hex, mint_request_id()
        join_request, connection_id = mint_request_id(), mint_connection_id()
        with self.tracer.start_as_current_span("GET /cart") as page:
            page.set_attributes({keys.SESSION_ID: session_id, keys.REQUEST_ID: page_request,
                                 keys.ROUTE_ID: "cart.view", keys.HTTP_ROUTE: "/cart"})
        event_id = mint_event_id()
        ids = {keys.SESSION_ID: session_id, keys.REQUEST_ID: join_request, keys.ROUTE_ID: "cart.view",
               keys.CONNECTION_ID: connection_id, keys.EVENT_ID: event_id}
        with self.tracer.start_as_current_span("live.event add_to_cart") as root:
            root.set_attributes({**ids, keys.EVENT_NAME: "add_to_cart"})
            trace_id = format(root.get_span_context().trace_id, "032x")
            span_id = format(root.get_span_context().span_id, "016x")
            self.log("live event received", ids, root)
            with self.tracer.start_as_current_span("handle_event") as child:
                child.set_attributes(ids)
                if fail:
                    try:
                        raise KeyError("cart item 'sku-9' is missing")
                    except KeyError as exc:
                        child.record_exception(exc)
                        child.set_status(Status(StatusCode.ERROR, "KeyError"))
                        child.set_attribute(keys.ERROR_TYPE, "KeyError")
                        root.set_attribute(keys.ERROR_TYPE, "KeyError")
                        root.set_status(Status(StatusCode.ERROR))
                        self.log("live event failed", {**ids, keys.ERROR_TYPE: "KeyError"}, child, SeverityNumber.ERROR)
        browser = {keys.SESSION_ID: session_id, keys.EVENT_ID: event_id, keys.ROUTE_ID: "cart.view",
                   keys.REQUEST_ID: page_request, keys.CONNECTION_ID: connection_id, keys.BROWSER_LATENCY_MS: 41.5}
        self.logger.emit(LogRecord(body="browser.action", severity_number=SeverityNumber.INFO, severity_text="INFO",
                                   event_name=keys.BROWSER_ACTION_EVENT, attributes=browser))
        if fail:
            self.logger.emit(LogRecord(
                body="Something went wrong", severity_number=SeverityNumber.ERROR, severity_text="ERROR",
                event_name=keys.BROWSER_ERROR_EVENT, trace_id=int(trace_id, 16), span_id=int(span_id, 16),
                attributes={**browser, keys.ERROR_TYPE: "KeyError", keys.BROWSER_ERROR_KIND: "reply_error"},
            ))
        return Sent(event_id, trace_id, join_request, session_id, connection_id, page_request)

    def log(self, body: str, ids: dict[str, str], span: Any, severity: SeverityNumber = SeverityNumber.INFO) -> None:
        self.logger.emit(LogRecord(body=body, severity_number=severity, severity_text=severity.name,
                                   context=set_span_in_context(span), attributes=ids))

    def shutdown(self) -> None:
        self.tracing.shutdown()
        self.logging.shutdown()


def answers(store: liveobs.correlator.Store, sent: Sent) -> dict[str, dict[str, Any]]:
    return {
        "event": store.trace(event_id=sent.event_id).to_dict(),
        "request": store.trace(request_id=sent.request_id).to_dict(),
        "trace": store.trace(trace_id=sent.trace_id).to_dict(),
        "session": store.trace(session_id=sent.session_id).to_dict(),
    }


def test_both_paths_resolve_a_failing_event_the_same_while_data_keeps_arriving(collector: Any) -> None:
    app = App(collector.url)
    sent = app.session(fail=True)
    app.session(fail=False)

    stop = threading.Event()
    background = App(collector.url)

    def keep_sending() -> None:
        while not stop.is_set():
            background.session(fail=False)

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        with liveobs.correlator.open(collector.db) as store:
            assert isinstance(store, RemoteStore)
            remote = answers(store, sent)
            remote_incidents = [i.to_dict() for i in store.incidents()]
            assert [i.to_dict() for i in store.incidents(since="1h", release="3.1.0")] == remote_incidents
            assert store.incidents(release="0.0.1") == []
        cli = CliRunner().invoke(main, ["--db", str(collector.db), "trace", "--event-id", sent.event_id, "--json"])
    finally:
        stop.set()
        sender.join()
        background.shutdown()
        app.shutdown()

    for answer in remote.values():
        assert (answer["event_id"], answer["trace_id"], answer["request_id"]) == (
            sent.event_id, sent.trace_id, sent.request_id)
        assert (answer["session_id"], answer["connection_id"], answer["route_id"]) == (
            sent.session_id, sent.connection_id, "cart.view")
        assert answer["error_class"] == "KeyError"
        assert answer["release"] == "3.1.0"
        assert [s["name"] for s in answer["spans"]] == ["live.event add_to_cart", "handle_event"]
        assert [line["body"] for line in answer["logs"]] == ["live event received", "live event failed"]
        assert answer["browser"]["action"]["attributes"][keys.EVENT_ID] == sent.event_id
        assert [b["body"] for b in answer["browser"]["errors"]] == ["Something went wrong"]
        assert answer["context"]["page_render"]["request_id"] == sent.page_request_id
    assert cli.exit_code == 0, cli.stderr
    assert json.loads(cli.stdout) == remote["event"]
    assert [i["error_class"] for i in remote_incidents] == ["KeyError"]
    assert remote_incidents[0]["sample_event_ids"] == [sent.event_id]

    assert collector.stop() == 0
    with liveobs.correlator.open(collector.db) as store:
        assert isinstance(store, LocalStore)
        assert answers(store, sent) == remote
        assert [i.to_dict() for i in store.incidents()] == remote_incidents
        assert [i.to_dict() for i in store.incidents(since="1h", release="3.1.0")] == remote_incidents
    assert remote["session"]["candidates"][0]["error_class"] == "KeyError"
    assert [c["kind"] for c in remote["session"]["candidates"]] == ["event", "page"]


def test_a_not_found_id_is_a_404_through_the_collector_and_exit_1_in_the_cli(collector: Any) -> None:
    unknown = mint_event_id()
    with liveobs.correlator.open(collector.db) as store:
        assert store.is_remote
        with pytest.raises(liveobs.correlator.NotFoundError, match=unknown):
            store.trace(event_id=unknown)
        with pytest.raises(liveobs.correlator.ReadRequestError, match="not a trace id"):
            store.trace(trace_id="nope")
    result = CliRunner().invoke(main, ["--db", str(collector.db), "trace", "--event-id", unknown])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: no span or log carries event id {unknown}"


def test_the_token_is_required_when_the_collector_has_one(
    collector_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = collector_factory(db=tmp_path / "secured.duckdb", token="s3cret-token")
    monkeypatch.delenv("LIVEOBS_TOKEN", raising=False)
    monkeypatch.delenv("LIVEOBS_TOKEN_FILE", raising=False)
    with pytest.raises(StoreUnavailableError, match="refused the token"):
        liveobs.correlator.open(running.db).incidents()
    result = CliRunner().invoke(main, ["--db", str(running.db), "incidents"])
    assert result.exit_code == 3
    assert "refused the token" in result.stderr
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    monkeypatch.setenv("LIVEOBS_TOKEN_FILE", str(token_file))
    assert liveobs.correlator.open(running.db).incidents() == []


def test_a_stale_discovery_file_is_ignored(collector: Any) -> None:
    discovery = Path(f"{collector.db}.collector.json")
    record = json.loads(discovery.read_text())
    assert collector.stop() == 0
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    discovery.write_text(json.dumps({**record, "pid": int(gone.stdout)}))
    started = time.perf_counter()
    with liveobs.correlator.open(collector.db) as store:
        assert isinstance(store, LocalStore)
        assert store.incidents() == []
    assert time.perf_counter() - started < 5
