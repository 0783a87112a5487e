"""The redaction corpus from the official OTel exporters (no liveobs SDK) into a real ``liveobs collect``.

Every secret goes in every place a sender can put text: span names, attributes
(the allow-listed id keys too), event attributes, link attributes, status
messages, log bodies and log attributes. None may be in the store afterwards;
the harmless corpus must be stored unchanged.
"""

from __future__ import annotations

import duckdb
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, Status, StatusCode
from redaction_corpus import harmless_corpus, secret_corpus

from liveobs.conventions import keys

RESOURCE = Resource.create({keys.SERVICE_NAME: "shop", keys.SERVICE_VERSION: "2.0.1"})
SECRETS = secret_corpus()
HARMLESS = harmless_corpus()


def _store_text(db: str) -> str:
    con = duckdb.connect(db, read_only=True)
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    return "\n".join(str(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)


def test_no_corpus_secret_reaches_the_store_from_a_non_sdk_sender(collector) -> None:
    tracer_provider = TracerProvider(resource=RESOURCE)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.url}/v1/traces")))
    tracer = tracer_provider.get_tracer("plain.otel")
    logger_provider = LoggerProvider(resource=RESOURCE)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{collector.url}/v1/logs")))
    logger = logger_provider.get_logger("plain.otel")
    with tracer.start_as_current_span("anchor") as anchor:
        anchor_context = anchor.get_span_context()
    for kind, text, _ in SECRETS:
        with tracer.start_as_current_span(f"corpus {kind} {text}", links=[Link(anchor_context, {"why": text})]) as span:
            span.set_attributes({"note": text, keys.SESSION_ID: text, keys.REQUEST_ID: text, keys.EVENT_ID: text})
            span.add_event("checkpoint", {"detail": text})
            span.set_status(Status(StatusCode.ERROR, f"failed with {text}"))
        logger.emit(LogRecord(body=text, severity_number=SeverityNumber.ERROR,
                              attributes={"detail": text, keys.SESSION_ID: text}))
    tracer_provider.shutdown()
    logger_provider.shutdown()
    assert collector.stop() == 0
    stored = _store_text(str(collector.db))
    assert stored.count("corpus ") >= len(SECRETS)
    leaked = [kind for kind, _, secret in SECRETS if secret in stored]
    print(f"\ncollector, non-SDK sender: {len(SECRETS)} formats, {len(SECRETS) - len(leaked)} caught, leaked: {leaked}")
    assert leaked == []


def test_the_harmless_corpus_and_the_liveobs_ids_are_stored_unchanged(collector) -> None:
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.url}/v1/traces")))
    tracer = provider.get_tracer("plain.otel")
    for i, value in enumerate(HARMLESS):
        with tracer.start_as_current_span(f"harmless {i}") as span:
            span.set_attributes({"value": value, keys.SESSION_ID: value})
    provider.shutdown()
    assert collector.stop() == 0
    con = duckdb.connect(str(collector.db), read_only=True)
    rows = dict(con.execute(
        "SELECT SpanName, [SpanAttributes['value'], SpanAttributes['session.id']] FROM otel_traces").fetchall())
    changed = [v for i, v in enumerate(HARMLESS) if rows.get(f"harmless {i}") != [v, v]]
    print(f"\ncollector harmless corpus: {len(HARMLESS) - len(changed)} of {len(HARMLESS)} survive")
    assert changed == []
