"""Security evidence: one span event per security decision, never a secret.

Each ``record_*`` function adds a :data:`~liveobs.conventions.evidence.SECURITY_EVENT`
span event to ``span`` (the current span by default) with the check, its
outcome and check-specific attributes. Offending values (an Origin, a Host) are
bounded and scrubbed before they are recorded; key material is never accepted
as an argument, only key ids, ages and the kind of source a key came from.
The gates read these events from the store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from liveobs.conventions import evidence, valid_id
from liveobs.redaction import DEFAULT_SCRUBBER

MAX_VALUE_CHARS: Final = 128
KEY_SOURCE_KINDS: Final = frozenset({"env", "file", "kms", "vault", "literal", "generated"})

_CSP_NONCE: Final = re.compile(r"'nonce-[A-Za-z0-9+/_=\-]+'")
_CSP_HASH: Final = re.compile(r"'sha(256|384|512)-[A-Za-z0-9+/_=\-]+'")
_DIRECTIVE_NAME: Final = re.compile(r"[a-z][a-z0-9\-]{0,40}")
# External scripts and stylesheets, the elements SRI protects.
_TAG: Final = re.compile(r"<(script|link)\b([^>]*)>", re.IGNORECASE)
_ATTR: Final = re.compile(r"""([a-zA-Z\-]+)\s*(?:=\s*("[^"]*"|'[^']*'|[^\s>]+))?""")
_SRI_ALGORITHM: Final = re.compile(r"(sha256|sha384|sha512)-")
_SRI_STRENGTH: Final = {"sha256": 1, "sha384": 2, "sha512": 3}


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
    """The outcome and attributes that describe a ``Content-Security-Policy`` header value."""
    if not policy or not policy.strip():
        return evidence.OUTCOME_MISSING, {evidence.CSP_SOURCE: "none"}
    directives: list[str] = []
    script_sources = ""
    for part in policy.split(";"):
        tokens = part.strip().split()
        if not tokens:
            continue
        name = tokens[0].lower()
        if _DIRECTIVE_NAME.fullmatch(name) and name not in directives:
            directives.append(name)
        if name == "script-src" or (name == "default-src" and not script_sources):
            script_sources = " ".join(tokens[1:])
    source = "nonce" if _CSP_NONCE.search(script_sources) else "hash" if _CSP_HASH.search(script_sources) else "none"
    return evidence.OUTCOME_PRESENT, {
        evidence.CSP_SOURCE: source,
        evidence.CSP_DIRECTIVES: ",".join(directives),
        evidence.CSP_UNSAFE_INLINE: "'unsafe-inline'" in script_sources,
        evidence.CSP_UNSAFE_EVAL: "'unsafe-eval'" in script_sources,
    }


def record_csp(policy: str | None, *, span: trace.Span | None = None) -> None:
    """Record whether a response carried a CSP, and how it protects scripts (no nonce values)."""
    outcome, attributes = csp_attributes(policy)
    record_security(evidence.CHECK_CSP, outcome, attributes, span=span)


def sri_attributes(html: str) -> tuple[str, dict[str, AttributeValue]]:
    """SRI coverage of the external scripts and stylesheets in an HTML document."""
    covered = uncovered = 0
    weakest: str | None = None
    for match in _TAG.finditer(html):
        attrs = {m.group(1).lower(): (m.group(2) or "").strip("\"'") for m in _ATTR.finditer(match.group(2))}
        if match.group(1).lower() == "script":
            external = "src" in attrs
        else:
            external = "stylesheet" in attrs.get("rel", "").lower().split() and "href" in attrs
        if not external:
            continue
        algorithm = _SRI_ALGORITHM.match(attrs.get("integrity", ""))
        if algorithm is None:
            uncovered += 1
            continue
        covered += 1
        name = algorithm.group(1)
        if weakest is None or _SRI_STRENGTH[name] < _SRI_STRENGTH[weakest]:
            weakest = name
    outcome = evidence.OUTCOME_PRESENT if covered and not uncovered else evidence.OUTCOME_MISSING
    attributes: dict[str, AttributeValue] = {evidence.SRI_COVERED: covered, evidence.SRI_UNCOVERED: uncovered}
    if weakest is not None:
        attributes[evidence.SRI_ALGORITHM] = weakest
    return outcome, attributes


def record_sri(html: str, *, span: trace.Span | None = None) -> None:
    """Record the SRI coverage of an HTML page's external scripts and stylesheets."""
    outcome, attributes = sri_attributes(html)
    record_security(evidence.CHECK_SRI, outcome, attributes, span=span)


# --- WebSocket handshake, limits, uploads, rate limits ---------------------------


def _outcome(ok: bool, yes: str, no: str) -> str:
    return yes if ok else no


def record_ws_origin(origin: str | None, accepted: bool, *, span: trace.Span | None = None) -> None:
    """A WebSocket handshake's Origin check; the Origin is kept only when refused, bounded."""
    attributes: dict[str, AttributeValue] = {}
    if not accepted:
        attributes[evidence.SECURITY_VALUE] = bounded(origin) if origin else "(none)"
    outcome = _outcome(accepted, evidence.OUTCOME_ACCEPTED, evidence.OUTCOME_REFUSED)
    record_security(evidence.CHECK_WS_ORIGIN, outcome, attributes, span=span)


def record_ws_host(host: str | None, accepted: bool, *, span: trace.Span | None = None) -> None:
    """A WebSocket handshake's Host check; the Host is kept only when refused, bounded."""
    attributes: dict[str, AttributeValue] = {}
    if not accepted:
        attributes[evidence.SECURITY_VALUE] = bounded(host) if host else "(none)"
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
    span: trace.Span | None = None,
) -> None:
    """An uploaded file's malware scan result (scanner, size, the finding when infected).

    ``accepted`` records what the app then did with the file (the gate requires
    every infected upload refused).
    """
    attributes: dict[str, AttributeValue] = {evidence.UPLOAD_SCANNER: bounded(scanner, 64)}
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


def record_capability(name: str, allowed: bool, *, span: trace.Span | None = None) -> None:
    """A capability check (``board.delete``) and whether it allowed the action."""
    attributes: dict[str, AttributeValue] = {evidence.CAPABILITY_NAME: bounded(name, 64)}
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
    created_at: datetime | float,
    *,
    now: datetime | None = None,
    span: trace.Span | None = None,
) -> None:
    """The session-secret key in use: its id and age in seconds (``created_at`` as datetime or Unix time)."""
    created = created_at if isinstance(created_at, datetime) else datetime.fromtimestamp(created_at, UTC)
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    age = ((now or datetime.now(UTC)) - created).total_seconds()
    attributes: dict[str, AttributeValue] = {
        evidence.KEY_ID: _key_id(key_id),
        evidence.KEY_AGE_SECONDS: max(0, int(age)),
    }
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
