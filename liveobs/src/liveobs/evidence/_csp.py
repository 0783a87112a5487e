"""Content-Security-Policy: parse a header, keep it in a storable form, grade it per directive.

The grading follows what Mozilla's HTTP Observatory and Google's CSP Evaluator
flag: scripts allowed from ``*`` or a bare scheme (``https:``, ``data:``...),
``'unsafe-eval'`` whatever else is present, ``'unsafe-inline'`` without a nonce
or hash, ``object-src``, ``base-uri`` and ``frame-ancestors`` left open. A nonce
or hash with ``'strict-dynamic'`` makes browsers ignore host and scheme lists, so
those are not held against such a policy. Several policies on one response are
all enforced, so a weakness counts only when every policy has it.

The stored form of a policy replaces each nonce with a short digest of it (enough
to see a nonce reused across responses, useless to an attacker later) and each
hash source with its hex digest, so redaction never mistakes them for secrets.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

MAX_POLICY_CHARS: Final = 4096
DIGEST_BYTES: Final = {"sha256": 32, "sha384": 48, "sha512": 64}
_SOURCE_VALUE: Final = re.compile(r"^'(nonce|sha256|sha384|sha512)-([^']*)'$", re.IGNORECASE)
_HEX: Final = re.compile(r"^[0-9a-f]+$")
_NAME: Final = re.compile(r"^[a-z][a-z0-9\-]{0,40}$")
_SCHEME: Final = re.compile(r"^[a-z][a-z0-9+.\-]*:$")
# Schemes that let anyone's content in as a script or plugin.
RISKY_SCHEMES: Final = frozenset({"http:", "https:", "data:", "blob:", "filesystem:", "ws:", "wss:", "ftp:"})
# A stored nonce keeps this many hex characters of its SHA-256.
NONCE_DIGEST_CHARS: Final = 16


@dataclass(frozen=True, slots=True)
class Finding:
    """One weakness of a policy: a short code (stable, for counting) and what it means."""

    code: str
    text: str


def decode_digest(algorithm: str, value: str) -> bytes | None:
    """The digest bytes of a base64 (or, in the stored form, hex) value of the right size, else None."""
    size = DIGEST_BYTES.get(algorithm.lower())
    if size is None or not value:
        return None
    if len(value) == 2 * size and _HEX.match(value):
        return bytes.fromhex(value)
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_" if ("-" in value or "_" in value)
                               else None, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == size else None


def parse_policy(text: str) -> dict[str, list[str]]:
    """Directive name -> its source tokens; the first occurrence of a directive wins (as browsers do)."""
    policy: dict[str, list[str]] = {}
    for part in text.split(";"):
        tokens = part.strip().split()
        if not tokens:
            continue
        name = tokens[0].lower()
        if _NAME.match(name) and name not in policy:
            policy[name] = tokens[1:]
    return policy


def split_policies(header_text: str) -> list[str]:
    """The policies of one or more ``Content-Security-Policy`` headers (joined by commas)."""
    return [p.strip() for p in header_text.split(",") if p.strip()]


def stored_form(header_text: str) -> str:
    """The header as the evidence keeps it: nonces as digests, hash sources in hex, bounded."""
    out: list[str] = []
    for policy in split_policies(header_text[: MAX_POLICY_CHARS * 2]):
        parts = []
        for part in policy.split(";"):
            tokens = [_stored_source(t) for t in part.split()]
            if tokens:
                parts.append(" ".join(tokens))
        out.append("; ".join(parts))
    return ", ".join(out)[:MAX_POLICY_CHARS]


def _stored_source(token: str) -> str:
    match = _SOURCE_VALUE.match(token)
    if match is None:
        return token
    kind, value = match.group(1).lower(), match.group(2)
    if kind == "nonce":
        if value.startswith("h."):  # already stored
            return token
        return f"'nonce-h.{hashlib.sha256(value.encode()).hexdigest()[:NONCE_DIGEST_CHARS]}'"
    digest = decode_digest(kind, value)
    return f"'{kind}-{digest.hex() if digest is not None else 'invalid'}'"


def nonces(header_text: str) -> set[str]:
    """The nonces a header carries (their stored digests when it is in the stored form)."""
    found = set()
    for token in header_text.split():
        match = _SOURCE_VALUE.match(token.rstrip(";,"))
        if match and match.group(1).lower() == "nonce" and match.group(2):
            found.add(match.group(2).removeprefix("h."))
    return found


def _effective(policy: dict[str, list[str]], name: str) -> list[str] | None:
    """A fetch directive's sources, falling back to ``default-src`` (None: unrestricted)."""
    if name in policy:
        return policy[name]
    return policy.get("default-src")


def _open_sources(sources: Iterable[str]) -> list[str]:
    """Sources that let anyone's content in: ``*``, a bare risky scheme, a host over plain http."""
    out = []
    for raw in sources:
        s = raw.lower()
        if s == "*" or (_SCHEME.match(s) and s in RISKY_SCHEMES) or s.startswith("http://") or s.endswith("://*"):
            out.append(raw)
    return out


def _has_nonce_or_hash(sources: Sequence[str]) -> bool:
    for s in sources:
        match = _SOURCE_VALUE.match(s)
        if match is None or not match.group(2):
            continue
        kind, value = match.group(1).lower(), match.group(2)
        if kind == "nonce" or decode_digest(kind, value) is not None:
            return True
    return False


def grade_policy(text: str) -> list[Finding]:
    """The weaknesses of one policy, per directive."""
    policy = parse_policy(text)
    found: list[Finding] = []
    scripts = _effective(policy, "script-src")
    if scripts is None:
        found.append(Finding("script-src-missing", "no script-src or default-src: any script may run"))
    else:
        lowered = [s.lower() for s in scripts]
        protected = _has_nonce_or_hash(scripts)
        strict = protected and "'strict-dynamic'" in lowered
        if "'unsafe-eval'" in lowered:
            found.append(Finding("unsafe-eval", "script-src allows 'unsafe-eval'"))
        if "'unsafe-inline'" in lowered and not protected:
            found.append(Finding("unsafe-inline", "script-src allows 'unsafe-inline' without a nonce or hash"))
        opened = _open_sources(scripts)
        if opened and not strict:
            found.append(Finding("script-src-open", f"script-src allows {' '.join(sorted(set(opened)))}"))
    for name in ("object-src", "base-uri", "frame-ancestors"):
        sources = _effective(policy, name) if name == "object-src" else policy.get(name)
        if sources is None:
            found.append(Finding(f"{name}-missing", f"{name} not set"))
        elif _open_sources(sources):
            found.append(Finding(f"{name}-open", f"{name} allows {' '.join(sorted(set(_open_sources(sources))))}"))
    return found


def grade_header(header_text: str | None) -> list[Finding]:
    """The weaknesses of a response's CSP: those every one of its policies has."""
    policies = split_policies(header_text or "")
    if not policies:
        return [Finding("missing", "no CSP header")]
    graded = [grade_policy(p) for p in policies]
    common = set.intersection(*({f.code for f in g} for g in graded))
    return [f for f in graded[0] if f.code in common]
