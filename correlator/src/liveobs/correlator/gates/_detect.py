"""A second secret detector, independent of the redaction rules.

The secret scan must find what redaction missed, so it shares nothing with
``liveobs.redaction``: its own list of key words, its own table of vendor
prefixes, and checks by structure (a PEM armour line, a JWT whose header decodes
to JSON with an ``alg``, a password in URL userinfo) and by randomness (a long
token of mixed letters and digits with high entropy). Every pattern here is
also valid RE2, so the same text serves as DuckDB's prefilter; it is kept as
plain alternations of literals and bounded runs.

A hit is reported as a kind, never as the value.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import re
from collections import Counter
from typing import Final

from liveobs.conventions import evidence, keys

# Words that make a key name a secret's, matched on the name split into words
# (camelCase, snake_case, kebab-case, dotted); a name made of one of these joined
# to others without separators (``dbpassword``) counts by suffix.
SECRET_WORDS: Final = frozenset({
    "password", "passwd", "passphrase", "pwd", "pass", "secret", "token", "apikey", "credential",
    "credentials", "cookie", "bearer", "jwt", "sessionid", "privatekey", "otp", "authorization",
})
_WORD_PAIRS: Final = frozenset({
    ("api", "key"), ("private", "key"), ("access", "key"), ("secret", "key"), ("signing", "key"),
    ("session", "id"), ("session", "key"), ("account", "key"), ("master", "key"), ("client", "secret"),
    ("auth", "token"), ("set", "cookie"), ("x", "auth"),
})
_FACT_WORDS: Final = frozenset({"count", "type", "length", "size", "ttl", "expires", "expiry", "name", "kind", "url",
                                "limit", "usage", "tokens", "at", "hint", "policy", "format"})
_SUFFIXES: Final = ("password", "passwd", "secret", "token", "apikey", "sessionid")

# Vendor prefixes and the shortest run that follows each (a separately kept table).
PREFIXES: Final[tuple[tuple[str, int], ...]] = (
    ("AKIA", 16), ("ASIA", 16), ("ghp_", 30), ("gho_", 30), ("ghs_", 30), ("ghu_", 30), ("ghr_", 30),
    ("github_pat_", 40), ("glpat-", 20), ("gldt-", 20), ("glrt-", 20), ("xoxb-", 10), ("xoxp-", 10),
    ("xoxa-", 10), ("xapp-", 20), ("sk_live_", 10), ("rk_live_", 10), ("sk_test_", 10), ("whsec_", 20),
    ("sk-proj-", 20), ("sk-ant-", 20), ("AIza", 30), ("ya29.", 20), ("GOCSPX-", 20), ("hf_", 30),
    ("npm_", 30), ("pypi-", 50), ("hvs.", 20), ("hvb.", 20), ("dop_v1_", 40), ("shpat_", 30),
    ("AGE-SECRET-KEY-1", 40), ("SG.", 60), ("xkeysib-", 60), ("glc_", 30), ("glsa_", 30),
    ("dapi", 32), ("dp.pt.", 40), ("pscale_tkn_", 30), ("sntrys_", 40), ("PMAK-", 50), ("lin_api_", 40),
    ("NRAK-", 27), ("ATATT3", 60), ("sq0csp-", 40), ("EAAA", 40), ("dckr_pat_", 25), ("tskey-", 20),
)
# Kinds named after the key-material budget's list; other prefixes are "vendor_token".
_PREFIX_KIND: Final = {"AGE-SECRET-KEY-1": "age_secret_key", "AKIA": "aws_access_key", "ASIA": "aws_access_key"}
PEM_ARMOUR: Final = "-----BEGIN "
ENTROPY_MIN_LENGTH: Final = 32
ENTROPY_MIN_BITS: Final = 3.6
_TOKEN: Final = re.compile(r"[A-Za-z0-9+/_=-]{32,2048}")
_JWT: Final = re.compile(r"eyJ[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{2,16384}\.[A-Za-z0-9_-]{0,4096}")
_USERINFO: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://([^\s\"'<>]{0,512})@")
_HOST_PORT: Final = re.compile(r"[^:/?#@]*:[0-9]{1,5}")
_ASSIGNED: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]{0,63})[\"']?[ \t]{0,4}[=:][ \t]{0,4}[\"']?([^\s\"'&;,<>]{6,512})")
_WORDS: Final = re.compile(r"[A-Z]{2,}(?=[A-Z][a-z]|[0-9]|\b|_)|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_DATA_MAGIC: Final = ("iVBORw0KGg", "/9j/", "R0lGOD", "UklGR", "PHN2Zy", "JVBERi0")
_MARKER: Final = "[REDACTED"
_RUN: Final = re.compile(r"[A-Za-z0-9_.\-]{1,4096}")

# The liveobs ids: pseudonymous by design, and their shapes are fixed by the conventions.
_ID_KEYS: Final = frozenset({*keys.CORRELATION_KEYS, keys.SESSION_PREVIOUS_ID, keys.CONNECTION_PREVIOUS_ID,
                             keys.ERROR_FINGERPRINT, evidence.KEY_ID})
_ID_SHAPE: Final = re.compile(r"[0-9a-f-]{8,64}|[A-Za-z0-9_-]{1,32}\.[0-9a-f]{8,64}")


def key_words(key: str) -> list[str]:
    """``dbPassword`` → ``["db", "password"]``; ``X-API-Key`` → ``["x", "api", "key"]``."""
    return [w.lower() for w in _WORDS.findall(key[:256])]


def secret_name(key: str) -> bool:
    """Whether a key name says its value is a secret."""
    words = key_words(key)
    if not words or words[-1] in _FACT_WORDS:
        return False
    if any(w in SECRET_WORDS or w.endswith(_SUFFIXES) for w in words):
        return True
    return any(pair in _WORD_PAIRS for pair in itertools.pairwise(words))


def bits(text: str) -> float:
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in Counter(text).values())


def random_token(token: str) -> bool:
    """A long run of letters and digits of all three classes that looks random."""
    core = token.rstrip("=")
    if len(core) < ENTROPY_MIN_LENGTH or core.startswith(_DATA_MAGIC):
        return False
    parts = core.split("/")
    if len(parts) >= 4 and max(map(len, parts)) < 24:  # a file path, not base64 (which has a "/" in 64)
        return False
    if not (any(c.isdigit() for c in core) and any(c.islower() for c in core) and any(c.isupper() for c in core)):
        return False
    return bits(core) >= ENTROPY_MIN_BITS


def _jwt(text: str) -> bool:
    for m in _JWT.finditer(text):
        head = m.group(0).split(".", 1)[0]
        try:
            decoded = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
        if isinstance(decoded, dict) and "alg" in decoded:
            return True
    return False


def detect(key: str, value: str) -> list[str]:
    """The kinds of secret in ``value`` stored under ``key`` (empty when none)."""
    if not value:
        return []
    found: list[str] = []
    is_id = key in _ID_KEYS
    if is_id and _ID_SHAPE.fullmatch(value):
        return []
    if not is_id and secret_name(key) and not value.startswith(_MARKER):
        found.append("key")
    if PEM_ARMOUR in value:
        found.append("private_key" if "PRIVATE" in value or "KEY-----" in value else "pem_block")
    if "eyJ" in value and _jwt(value):
        found.append("jwt")
    if "://" in value:
        for m in _USERINFO.finditer(value):
            userinfo = m.group(1)
            if "/" in userinfo and _HOST_PORT.fullmatch(userinfo.split("/", 1)[0]):
                continue
            password = userinfo.partition(":")[2]
            if password and not password.startswith(_MARKER):
                found.append("url_password")
                break
    for prefix, run in PREFIXES:
        start = value.find(prefix)
        tail = _RUN.match(value, start + len(prefix)) if start >= 0 else None
        if tail is not None and tail.end() - tail.start() >= run:
            found.append(_PREFIX_KIND.get(prefix, "vendor_token"))
            break
    if "=" in value or ":" in value:
        for m in _ASSIGNED.finditer(value):
            if secret_name(m.group(1)) and not m.group(2).startswith(_MARKER):
                found.append("assignment")
                break
    for m in _TOKEN.finditer(value):
        if random_token(m.group(0)) and not value.endswith("base64,", 0, m.start()):
            found.append("high_entropy")
            break
    return list(dict.fromkeys(found))


def value_prefilter() -> str:
    """An RE2 pattern matching every value :func:`detect` can flag by its value alone."""
    prefixes = "|".join(re.escape(p) for p, _ in PREFIXES)
    assigned = "|".join(sorted({*SECRET_WORDS, *(a + b for a, b in _WORD_PAIRS), "key", "auth"}))
    return "|".join((
        f"(?:{prefixes})",
        re.escape(PEM_ARMOUR),
        r"eyJ[A-Za-z0-9_-]{8}",
        r"://[^\s]*:[^\s]*@",
        f"(?i)(?:{assigned})[A-Za-z0-9_.-]*[\"']?[ \t]*[=:]",
    ))


def key_prefilter() -> str:
    """An RE2 pattern over raw keys matching every key :func:`secret_name` names."""
    words = sorted({*SECRET_WORDS, *(f"{a}[_.\\- ]?{b}" for a, b in _WORD_PAIRS)})
    return "(?i)(?:" + "|".join(words) + ")"
