"""The secret patterns: which keys hold secrets, and what secret values look like.

One definition for the SDK (before data leaves the process) and the collector
(again on ingest). Each value pattern has a short kind name that goes into the
replacement marker, so a reader knows what was removed without seeing it.
"""

from __future__ import annotations

import re
from typing import Final

from liveobs.conventions import evidence, keys

# Keys whose values are secrets whatever they look like. Matched against the
# lower-cased key with separators (``-``, ``.``, space) folded to ``_``.
KEY_PATTERN: Final = re.compile(
    r"(^|_)("
    r"pass(word|wd|phrase)?|pwd|secret|client_secret|token|access_token|refresh_token|id_token"
    r"|api_?key|apikey|auth|authorization|proxy_authorization|credentials?|cookie|set_cookie"
    r"|session_?key|session_?secret|private_?key|signing_?key|secret_?key|encryption_?key"
    r"|x_api_key|x_auth_token|csrf(_token)?|xsrf(_token)?|dsn|connection_string|conn_str"
    r")($|_)"
)

# (kind, pattern). Order matters only for the kind shown in the marker.
VALUE_PATTERNS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("private_key", re.compile(
        r"-----BEGIN[ A-Z0-9]*PRIVATE KEY( BLOCK)?-----[\s\S]*?(-----END[ A-Z0-9]*PRIVATE KEY( BLOCK)?-----|$)"
    )),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")),
    ("url_password", re.compile(r"(?<=[a-zA-Z0-9+.\-]://)[^\s:/@'\"]*:[^\s/@'\"]+(?=@)")),
    ("bearer", re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9_\-.~+/]{8,}=*")),
    ("basic_auth", re.compile(r"(?i)\bbasic\s+[A-Za-z0-9+/]{8,}={0,2}")),
    ("aws_access_key", re.compile(r"\b(AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b")),
    ("aws_secret_key", re.compile(r"(?i)aws.{0,20}?['\"=:\s][A-Za-z0-9/+]{40}\b")),
    ("gcp_api_key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("google_oauth", re.compile(r"\bya29\.[0-9A-Za-z_\-]{20,}")),
    ("github_token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b")),
    ("gitlab_token", re.compile(r"\bgl(pat|dt|rt|ptt|cbt|oas|soat|ft|imt|agent)-[A-Za-z0-9_\-]{20,}")),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}")),
    ("slack_webhook", re.compile(r"hooks\.slack\.com/(services|workflows)/[A-Za-z0-9/_\-]+")),
    ("stripe_key", re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9]{16,}")),
    ("openai_key", re.compile(r"\bsk-(proj-|ant-(api\d\d-)?)?[A-Za-z0-9_\-]{20,}")),
    ("npm_token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("pypi_token", re.compile(r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}")),
    ("sendgrid_key", re.compile(r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b")),
    ("twilio_key", re.compile(r"\bSK[0-9a-fA-F]{32}\b")),
    ("mailgun_key", re.compile(r"\bkey-[0-9a-zA-Z]{32}\b")),
    ("digitalocean_token", re.compile(r"\bdo[opr]_v1_[a-f0-9]{64}\b")),
    ("shopify_token", re.compile(r"\bshp(at|ca|pa|ss)_[a-fA-F0-9]{32}\b")),
    ("azure_storage_key", re.compile(r"(?i)AccountKey=[A-Za-z0-9+/=]{40,}")),
    ("azure_sas", re.compile(r"(?i)\bsig=[A-Za-z0-9%+/=]{30,}")),
    ("heroku_key", re.compile(r"(?i)heroku.{0,20}[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")),
    ("datadog_key", re.compile(r"(?i)\b(dd|datadog)_?(api|app)_?key.{0,5}[0-9a-f]{32,40}\b")),
    ("huggingface_token", re.compile(r"\bhf_[A-Za-z0-9]{34,}\b")),
    ("age_secret_key", re.compile(r"\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b")),
    ("cookie_header", re.compile(r"(?i)\b(set-)?cookie:\s*[^\r\n]+")),
    ("authorization_header", re.compile(r"(?i)\b(proxy-)?authorization:\s*[^\r\n]+")),
    ("assignment", re.compile(
        r"(?i)\b(password|passwd|pwd|secret|api_?key|access_?token|auth_?token|client_?secret)"
        r"(\s*[=:]\s*|\"\s*:\s*\")(?!\[REDACTED)[^\s&,;\"']{4,}"
    )),
)

# A long token of mixed letters and digits with high entropy is treated as a key
# even when no pattern names it. Hex-only strings (commit hashes, trace ids) and
# UUIDs stay below the entropy floor by construction: hex has at most 4 bits a char.
HIGH_ENTROPY_TOKEN: Final = re.compile(r"(?<![A-Za-z0-9_\-+/=])[A-Za-z0-9_\-+/]{32,}={0,2}(?![A-Za-z0-9_\-+/=])")
HIGH_ENTROPY_MIN_BITS: Final = 4.3

# Keys that are never redacted by name: the liveobs ids and trace context, which
# are pseudonymous by design and the whole point of the data.
ALLOWED_KEYS: Final = frozenset(
    {
        *keys.CORRELATION_KEYS,
        keys.SESSION_PREVIOUS_ID,
        keys.ERROR_FINGERPRINT,
        keys.LOG_TRACE_ID,
        keys.LOG_SPAN_ID,
        keys.LOG_TRACE_FLAGS,
        keys.HEADER_TRACEPARENT,
        evidence.KEY_ID,
        evidence.KEY_AGE_SECONDS,
        evidence.KEY_SOURCE_KIND,
        evidence.SECURITY_CHECK,
        evidence.SECURITY_OUTCOME,
    }
)

MARKER_PREFIX: Final = "[REDACTED"
