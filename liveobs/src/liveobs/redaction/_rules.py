"""The secret patterns: which keys hold secrets, and what secret values look like.

One definition for the SDK (before data leaves the process) and the collector
(again on ingest). Each value pattern has a short kind name that goes into the
replacement marker, so a reader knows what was removed without seeing it.
"""

from __future__ import annotations

import re
from typing import Final

from liveobs.conventions import evidence, keys
from liveobs.redaction._formats import FORMATS
from liveobs.redaction._vendors import VENDORS

# Keys whose values are secrets whatever they look like. Matched against the key
# folded by :func:`fold_key` (camelCase split, lower case, separators as ``_``).
KEY_PATTERN: Final = re.compile(
    r"(?:^|_)(?:"
    r"pass|password|passwd|passphrase|passcode|pwd|secret|secrets|client_secret|token|access_token"
    r"|refresh_token|id_token|auth_token|api_?key|apikey|auth|authorization|proxy_authorization"
    r"|credentials?|creds|cookie|cookies|set_cookie|session|session_?id|sessionid|sessid|session_?key"
    r"|session_?secret|session_?token|session_?cookie|private_?key|signing_?key|secret_?key"
    r"|encryption_?key|master_?key|account_?key|access_?key|shared_?access_?key|sas_?token"
    r"|x_api_key|x_auth_token|csrf|xsrf|csrf_?token|xsrf_?token|csrftoken|dsn|connection_?string"
    r"|conn_?str|database_url|db_url|jwt|bearer|otp|totp|mfa_?code|mfa|pin|cvv|cvc"
    r")(?:$|_)"
    # A name that ends in a secret word with no separator: dbpassword, csrftoken, jsessionid.
    r"|[a-z0-9](?:password|passwd|passphrase|secret|token|apikey|sessionid|sessid)$"
)
# Names that hold facts about a secret, not the secret: token_count, password_changed_at.
KEY_NOT_SECRET: Final = re.compile(
    r"_(?:count|counts|type|usage|limit|length|len|size|ttl|expires|expires_at|expires_in|expiry"
    r"|expiration|kind|name|format|algorithm|alg|endpoint|url|uri|path|hint|policy|rotated_at"
    r"|changed_at|updated_at|created_at|used|valid|present|set|required|source_kind)$"
    r"|^(?:max|prompt|completion|total|input|output|cached|reasoning)_tokens?$"
)
_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS: Final = re.compile(r"[^a-z0-9]{1,256}")


def fold_key(key: str) -> str:
    """``dbPassword`` → ``db_password``; ``X-Api-Key`` → ``x_api_key``."""
    return _SEPARATORS.sub("_", _CAMEL.sub("_", key[:256]).lower()).strip("_")


# Value patterns given to ``Scrubber(extra_value_patterns=…)`` in earlier releases
# ran after these; the catalogue itself lives in ``_formats`` and ``_vendors``.
VALUE_PATTERNS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (f.kind, f.pattern) for f in (*FORMATS, *VENDORS)
)

# A long token of mixed letters and digits with high entropy is treated as a key
# even when no pattern names it. Hex-only strings (commit hashes, trace ids) and
# UUIDs stay below the entropy floor by construction: hex has at most 4 bits a char.
HIGH_ENTROPY_TOKEN: Final = re.compile(
    r"(?<![A-Za-z0-9_\-+/=])[A-Za-z0-9_\-+/]{32,1024}={0,2}(?![A-Za-z0-9_\-+/=])"
)
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
