"""Security evidence: one span event per security decision, never a secret.

Each ``record_*`` function adds a :data:`~liveobs.conventions.evidence.SECURITY_EVENT`
span event to ``span`` (the current span by default) with the check, its
outcome and check-specific attributes. Offending values (an Origin, a Host) are
bounded and scrubbed before they are recorded; key material is never accepted
as an argument, only key ids, ages and the kind of source a key came from.
The gates read these events from the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Final

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from liveobs.conventions import evidence, valid_id
from liveobs.evidence import (
    Served,
    canary_of,
    needs_sri,
    page_resources,
    resources_json,
    served_json,
    stored_form,
    upload_digest,
)
from liveobs.redaction import DEFAULT_SCRUBBER

MAX_VALUE_CHARS: Final = 128
KEY_SOURCE_KINDS: Final = frozenset({"env", "file", "kms", "vault", "literal", "generated"})


def bounded(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """``value`` as text, scrubbed of secrets and cut to ``limit`` characters."""
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    text = DEFAULT_SCRUBBER.scrub_text(text[: limit * 4])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def record_security(
    check: str,
    outcome: str,
    attributes: dict[str, AttributeValue] | None = None,
    *,
    span: trace.Span | None = None,
) -> None:
    """Add one security span event; the building block of the ``record_*`` helpers."""
    target = span if span is not None else trace.get_current_span()
    if not target.is_recording():
        return
    event: dict[str, AttributeValue] = {evidence.SECURITY_CHECK: check, evidence.SECURITY_OUTCOME: outcome}
    if attributes:
        event.update(attributes)
    target.add_event(evidence.SECURITY_EVENT, event)


# --- automatic from responses -------------------------------------------------


def csp_attributes(policy: str | None) -> tuple[str, dict[str, AttributeValue]]:
    """The outcome and attributes that keep a response's ``Content-Security-Policy`` header(s).

    The header is kept as observed (nonces as digests, see :func:`liveobs.evidence.stored_form`);
    the gate grades it.
    """
    if not policy or not policy.strip():
        return evidence.OUTCOME_MISSING, {}
    return evidence.OUTCOME_PRESENT, {evidence.CSP_POLICY: stored_form(policy)}


def record_csp(policy: str | None, *, span: trace.Span | None = None) -> None:
    """Record the CSP a response carried (``None``: none), for the gate to grade."""
    outcome, attributes = csp_attributes(policy)
    record_security(evidence.CHECK_CSP, outcome, attributes, span=span)


def sri_attributes(
    html: str, page_origin: str = "", served: Sequence[Served] = ()
) -> tuple[str, dict[str, AttributeValue]]:
    """The page's scripts, stylesheets and preloads with their integrity, and assets as served."""
    found = page_resources(html)
    attributes: dict[str, AttributeValue] = {
        evidence.SRI_RESOURCES: resources_json(found),
        evidence.PAGE_ORIGIN: bounded(page_origin, 256),
    }
    if served:
        attributes[evidence.SRI_SERVED] = served_json(served)
    outcome = evidence.OUTCOME_PRESENT if needs_sri(found, page_origin) else evidence.OUTCOME_MISSING
    return outcome, attributes


def record_sri(html: str, *, page_origin: str = "", served: Sequence[Served] = (),
               span: trace.Span | None = None) -> None:
    """Record an HTML page's subresources and their integrity (``served``: assets as they were served)."""
    outcome, attributes = sri_attributes(html, page_origin, served)
    record_security(evidence.CHECK_SRI, outcome, attributes, span=span)


# --- WebSocket handshake, limits, uploads, rate limits ---------------------------


def _outcome(ok: bool, yes: str, no: str) -> str:
    return yes if ok else no


def _handshake(value: str | None, host: str | None) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {evidence.SECURITY_VALUE: bounded(value) if value else "(none)"}
    if host is not None:
        attributes[evidence.HANDSHAKE_HOST] = bounded(host) if host else "(none)"
    return attributes


def record_ws_origin(origin: str | None, accepted: bool, *, host: str | None = None,
                     span: trace.Span | None = None) -> None:
    """A WebSocket handshake's Origin check: the Origin (bounded), the Host it came to, and the answer."""
    attributes = _handshake(origin, host)
    outcome = _outcome(accepted, evidence.OUTCOME_ACCEPTED, evidence.OUTCOME_REFUSED)
    record_security(evidence.CHECK_WS_ORIGIN, outcome, attributes, span=span)


def record_ws_host(host: str | None, accepted: bool, *, origin: str | None = None,
                   span: trace.Span | None = None) -> None:
    """A WebSocket handshake's Host check: the Host (bounded), its Origin, and the answer."""
    attributes = _handshake(host, None)
    if origin is not None:
        attributes[evidence.HANDSHAKE_ORIGIN] = bounded(origin) if origin else "(none)"
    outcome = _outcome(accepted, evidence.OUTCOME_ACCEPTED, evidence.OUTCOME_REFUSED)
    record_security(evidence.CHECK_WS_HOST, outcome, attributes, span=span)


def record_body_limit(
    limit_bytes: int, observed_bytes: int, *, refused: bool = True, span: trace.Span | None = None
) -> None:
    """A request or message body checked against its size limit."""
    outcome = evidence.OUTCOME_REFUSED if refused else evidence.OUTCOME_ACCEPTED
    attributes: dict[str, AttributeValue] = {
        evidence.LIMIT_BYTES: int(limit_bytes),
        evidence.OBSERVED_BYTES: int(observed_bytes),
    }
    record_security(evidence.CHECK_BODY_LIMIT, outcome, attributes, span=span)


def record_upload_scan(
    clean: bool,
    *,
    scanner: str,
    size_bytes: int | None = None,
    threat: str | None = None,
    accepted: bool | None = None,
    content: bytes | None = None,
    span: trace.Span | None = None,
) -> None:
    """An uploaded file's malware scan result (scanner, size, the finding when infected).

    ``accepted`` records what the app then did with the file (the gate requires
    every infected upload refused). ``content`` (the file) is never kept: only its
    SHA-256 and whether it was the EICAR test file, so the gate sees what the
    scanner said about the canary.
    """
    attributes: dict[str, AttributeValue] = {evidence.UPLOAD_SCANNER: bounded(scanner, 64)}
    if content is not None:
        attributes[evidence.UPLOAD_SHA256] = upload_digest(content)
        if size_bytes is None:
            size_bytes = len(content)
        canary = canary_of(content)
        if canary is not None:
            attributes[evidence.UPLOAD_CANARY] = canary
    if accepted is not None:
        attributes[evidence.SECURITY_DECISION] = evidence.OUTCOME_ACCEPTED if accepted else evidence.OUTCOME_REFUSED
    if size_bytes is not None:
        attributes[evidence.OBSERVED_BYTES] = int(size_bytes)
    if not clean and threat:
        attributes[evidence.UPLOAD_THREAT] = bounded(threat)
    outcome = _outcome(clean, evidence.OUTCOME_CLEAN, evidence.OUTCOME_INFECTED)
    record_security(evidence.CHECK_UPLOAD_SCAN, outcome, attributes, span=span)


def record_rate_limit(
    allowed: bool, *, policy: str, per_minute: float | None = None, span: trace.Span | None = None
) -> None:
    """A rate limiter's decision; ``policy`` names the limiter (low cardinality, never a client key)."""
    attributes: dict[str, AttributeValue] = {evidence.RATE_LIMIT_POLICY: bounded(policy, 64)}
    if per_minute is not None:
        attributes[evidence.RATE_LIMIT_PER_MINUTE] = float(per_minute)
    outcome = _outcome(allowed, evidence.OUTCOME_ALLOWED, evidence.OUTCOME_DENIED)
    record_security(evidence.CHECK_RATE_LIMIT, outcome, attributes, span=span)


# --- authorisation ----------------------------------------------------------------


def _names(values: Iterable[str]) -> str:
    return ",".join(sorted({bounded(v, 64) for v in values}))


def record_scope(
    required: Iterable[str], granted: Iterable[str], *, span: trace.Span | None = None
) -> bool:
    """Check ``required`` scopes against ``granted``, record the decision and return it."""
    need, have = set(required), set(granted)
    allowed = need <= have
    attributes: dict[str, AttributeValue] = {
        evidence.SCOPE_REQUIRED: _names(need),
        evidence.SCOPE_GRANTED: _names(have),
    }
    outcome = _outcome(allowed, evidence.OUTCOME_ALLOWED, evidence.OUTCOME_DENIED)
    record_security(evidence.CHECK_SCOPE, outcome, attributes, span=span)
    return allowed


def record_capability(
    name: str, allowed: bool, *, granted: Iterable[str] | None = None, span: trace.Span | None = None
) -> None:
    """A capability check (``board.delete``), the capabilities the caller held, and the decision.

    With ``granted``, the gate can see an action allowed that the caller's grants did not cover.
    """
    attributes: dict[str, AttributeValue] = {evidence.CAPABILITY_NAME: bounded(name, 64)}
    if granted is not None:
        attributes[evidence.CAPABILITY_GRANTED] = _names(granted)
    outcome = _outcome(allowed, evidence.OUTCOME_ALLOWED, evidence.OUTCOME_DENIED)
    record_security(evidence.CHECK_CAPABILITY, outcome, attributes, span=span)


# --- keys: ids, ages and custody; never the key -----------------------------------------


def _key_id(key_id: str) -> str:
    if valid_id(key_id) is None or len(key_id) > 64:
        raise ValueError("a key id is 1-64 id characters; pass the id, never the key")
    if DEFAULT_SCRUBBER.scrub_text(key_id) != key_id:
        raise ValueError("this key id looks like key material; pass the id, never the key")
    return key_id


def record_session_key(
    key_id: str,
    created_at: datetime | float | None = None,
    *,
    now: datetime | None = None,
    span: trace.Span | None = None,
) -> None:
    """The session-secret key in use: its id, and its age in seconds when its creation time is known.

    Pass ``created_at`` only when it is the key's real creation time (a key
    store's record), never the time the process loaded it: the gate also dates
    each key id from the first time the evidence saw it in use.
    """
    attributes: dict[str, AttributeValue] = {evidence.KEY_ID: _key_id(key_id)}
    if created_at is not None:
        created = created_at if isinstance(created_at, datetime) else datetime.fromtimestamp(created_at, UTC)
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        age = ((now or datetime.now(UTC)) - created).total_seconds()
        attributes[evidence.KEY_AGE_SECONDS] = max(0, int(age))
    record_security(evidence.CHECK_SESSION_KEY, evidence.OUTCOME_PRESENT, attributes, span=span)


def record_key_custody(
    source_kind: str, *, key_id: str | None = None, span: trace.Span | None = None
) -> None:
    """Where a key came from: ``env``, ``file``, ``kms``, ``vault``, ``literal`` or ``generated``."""
    if source_kind not in KEY_SOURCE_KINDS:
        raise ValueError(f"key source kind must be one of {sorted(KEY_SOURCE_KINDS)}")
    attributes: dict[str, AttributeValue] = {evidence.KEY_SOURCE_KIND: source_kind}
    if key_id is not None:
        attributes[evidence.KEY_ID] = _key_id(key_id)
    record_security(evidence.CHECK_KEY_CUSTODY, evidence.OUTCOME_PRESENT, attributes, span=span)
