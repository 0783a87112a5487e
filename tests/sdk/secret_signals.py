"""Send a secret corpus through every signal the SDK exports, and find what leaked."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import structlog
from opentelemetry.trace import Link

import liveobs.sdk


def leaked_kinds(configured: Any, secrets: Sequence[Sequence[str]]) -> list[str]:
    """Each ``(kind, text, secret)`` as a span attribute, event and link attribute, a log body, log fields
    (nested and as JSON text) and an exception message; the kinds whose secret was exported or written."""
    log = structlog.get_logger("corpus")
    tracer = configured.telemetry.tracer
    with tracer.start_as_current_span("anchor") as anchor:
        anchor_context = anchor.get_span_context()
    for kind, text, _ in secrets:
        with tracer.start_as_current_span(f"corpus {kind}", links=[Link(anchor_context, {"why": text})]) as span:
            span.set_attribute("note", text)
            span.add_event("checkpoint", {"detail": text})
            log.info(text)
            log.info("field", detail=text, nested={"inner": [text]}, as_json=json.dumps({"x": text}))
            try:
                with liveobs.sdk.live_event("corpus"):
                    raise ValueError(f"failed with {text}")
            except ValueError:
                log.exception("event failed")
    configured.flush()
    exported = configured.receiver.all_bytes().decode("utf-8", "replace")
    written = configured.log_lines.getvalue()
    assert len(configured.receiver.spans_named("corpus", count=len(secrets))) == len(secrets)
    return [kind for kind, _, secret in secrets if secret in exported or secret in written]
