"""The full redaction corpus through every SDK signal (spans, events, links, logs, exceptions)."""

from __future__ import annotations

from typing import Any

import structlog
from redaction_corpus import harmless_corpus, secret_corpus

from tests.sdk.secret_signals import leaked_kinds

SECRETS = secret_corpus()
HARMLESS = harmless_corpus()


def test_no_corpus_secret_leaves_through_any_signal(configured: Any) -> None:
    leaked = leaked_kinds(configured, SECRETS)
    print(f"\nSDK, every signal: {len(SECRETS)} formats, {len(SECRETS) - len(leaked)} caught, leaked: {leaked}")
    assert leaked == []


def test_the_harmless_corpus_survives_span_and_log_attributes(configured: Any) -> None:
    log = structlog.get_logger("corpus")
    for i, value in enumerate(HARMLESS):  # one span each: a span keeps at most 128 attributes
        with configured.telemetry.tracer.start_as_current_span(f"harmless {i}") as span:
            span.set_attribute("value", value)
            log.info("harmless", index=i, value=value)
    configured.flush()
    spans = {s["name"]: s for s in configured.receiver.spans_named("harmless", count=len(HARMLESS))}
    records = {r["attributes"]["index"]: r for r in configured.receiver.logs_with("harmless", count=len(HARMLESS))}
    changed = [
        value for i, value in enumerate(HARMLESS)
        if spans[f"harmless {i}"]["attributes"].get("value") != value or records[i]["attributes"]["value"] != value
    ]
    print(f"\nSDK harmless corpus: {len(HARMLESS) - len(changed)} of {len(HARMLESS)} survive")
    assert changed == []


def test_a_log_record_that_claims_to_be_redacted_is_still_scrubbed_at_export(configured: Any) -> None:
    from liveobs.sdk._logbridge import LogBridge

    secret = "ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
    bridge = LogBridge(configured.telemetry.logger_provider, redacted=True)  # vouches for a chain that never ran
    bridge(None, "info", {"event": "unvetted", "note": f"push with {secret}", "password": "hunter2"})
    configured.flush()
    (record,) = configured.receiver.logs_with("unvetted")
    assert secret not in str(record)
    assert record["attributes"]["password"] == "[REDACTED:key]"
