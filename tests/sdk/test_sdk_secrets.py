"""The secret corpus through every signal: none of it is exported; the harmless corpus survives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import structlog

from tests.sdk.secret_signals import leaked_kinds

CORPUS = json.loads((Path(__file__).parent / "secret_corpus.json").read_text())
SECRETS: list[list[str]] = CORPUS["secrets"]
HARMLESS: list[str] = CORPUS["harmless"]


def test_the_corpora_are_large_enough() -> None:
    assert len({kind for kind, _, _ in SECRETS}) >= 30
    assert len(HARMLESS) >= 30


def test_no_secret_leaves_through_attributes_events_log_fields_bodies_or_exceptions(configured: Any) -> None:
    leaked = leaked_kinds(configured, SECRETS)
    print(f"\nsecret corpus: {len(SECRETS)} formats, {len(SECRETS) - len(leaked)} caught, leaked: {leaked}")
    assert leaked == []


def test_harmless_values_survive_every_signal(configured: Any) -> None:
    log = structlog.get_logger("corpus")
    with configured.telemetry.tracer.start_as_current_span("harmless") as span:
        for i, value in enumerate(HARMLESS):
            span.set_attribute(f"value.{i}", value)
            log.info("harmless", index=i, value=value)
    configured.flush()
    (exported,) = configured.receiver.spans_named("harmless")
    records = {r["attributes"]["index"]: r for r in configured.receiver.logs_with("harmless", count=len(HARMLESS))}
    changed = [
        value for i, value in enumerate(HARMLESS)
        if exported["attributes"].get(f"value.{i}") != value or records[i]["attributes"]["value"] != value
    ]
    print(f"\nharmless corpus: {len(HARMLESS)} values, false positives: {len(changed)} {changed}")
    assert changed == []
