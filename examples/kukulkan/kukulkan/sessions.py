"""Signed session cookies over a key ring that rotates without signing anyone out.

The cookie is ``<session key>.<key id>.<HMAC-SHA256>``. New cookies are signed
with the current key; cookies signed with an older key in the ring still verify
and are re-signed with the current key on the next response. The raw session
key never leaves the app: liveobs sees only its keyed pseudonym.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

COOKIE_NAME: Final = "kukulkan_session"
_KEY_ID_RE: Final = re.compile(r"[A-Za-z0-9]{1,16}")
_SESSION_KEY_RE: Final = re.compile(r"[A-Za-z0-9_\-]{22,64}")
MIN_SECRET_BYTES: Final = 32
KEEP_OLD_KEYS: Final = 2


@dataclass(frozen=True, slots=True)
class SessionKey:
    key_id: str
    secret: bytes
    created: float | None  # when the key was made, if known (never the time it was loaded)


class KeyRing:
    """Signing keys by id; the current one signs, any of them verifies.

    ``source_kind`` says where the secrets came from (``env``, ``file`` or
    ``generated``), the key-custody evidence the security gate reads.
    """

    def __init__(self, keys: list[SessionKey], source_kind: str) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        for key in keys:
            if not _KEY_ID_RE.fullmatch(key.key_id):
                raise ValueError("key ids are 1-16 letters or digits")
            if len(key.secret) < MIN_SECRET_BYTES:
                raise ValueError(f"session key {key.key_id!r} is shorter than {MIN_SECRET_BYTES} bytes")
        self._keys = list(keys)
        self.source_kind = source_kind
        self._lock = threading.Lock()

    @property
    def current(self) -> SessionKey:
        return self._keys[0]

    @property
    def keys(self) -> tuple[SessionKey, ...]:
        return tuple(self._keys)

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(k.key_id for k in self._keys)

    def rotate(self, key_id: str | None = None, secret: bytes | None = None) -> SessionKey:
        """Make a new key current; keep the :data:`KEEP_OLD_KEYS` most recent old ones."""
        new = SessionKey(key_id or f"k{int(time.time())}", secret or os.urandom(32), time.time())
        with self._lock:
            old = [k for k in self._keys if k.key_id != new.key_id][:KEEP_OLD_KEYS]
            candidate = [new, *old]
            KeyRing(candidate, self.source_kind)  # validates
            self._keys = candidate
        return new

    def sign(self, session_key: str) -> str:
        key = self.current
        return f"{session_key}.{key.key_id}.{_mac(key.secret, session_key)}"

    def verify(self, cookie: str) -> tuple[str, bool] | None:
        """``(session key, signed with the current key)``, or ``None`` when the cookie is not ours."""
        session_key, _, rest = cookie.partition(".")
        key_id, _, mac = rest.partition(".")
        if not _SESSION_KEY_RE.fullmatch(session_key):
            return None
        for key in self._keys:
            if key.key_id == key_id and hmac.compare_digest(_mac(key.secret, session_key), mac):
                return session_key, key is self.current
        return None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> KeyRing:
        """Keys from ``KUKULKAN_SESSION_KEYS_FILE`` or ``KUKULKAN_SESSION_KEYS``, else a generated one.

        Both hold ``id:secret`` entries (lines or commas), the current key first;
        secrets are URL-safe base64 of at least 32 bytes.
        """
        path = environ.get("KUKULKAN_SESSION_KEYS_FILE")
        if path:
            file = Path(path)
            return cls(_parse(file.read_text(), file.stat().st_mtime), "file")
        text = environ.get("KUKULKAN_SESSION_KEYS")
        if text:
            # The environment says nothing of when a key was made; loading it now does not make it new.
            return cls(_parse(text, None), "env")
        return cls([SessionKey("gen1", os.urandom(32), time.time())], "generated")


def new_session_key() -> str:
    return secrets.token_urlsafe(24)


def encode_secret(secret: bytes) -> str:
    return base64.urlsafe_b64encode(secret).decode().rstrip("=")


def _mac(secret: bytes, session_key: str) -> str:
    digest = hmac.new(secret, session_key.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _parse(text: str, created: float | None) -> list[SessionKey]:
    keys = []
    for entry in re.split(r"[,\n]", text):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep:
            raise ValueError("session keys are id:secret entries")
        secret = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        keys.append(SessionKey(key_id, secret, created))
    return keys


class SessionStore:
    """Sessions by session key, anonymous (``None``) or signed in (in memory: the example keeps one process).

    Every visitor gets a session before signing in, so that the sign-in itself is
    correlated; signing in always starts a new session (no session fixation).
    """

    def __init__(self) -> None:
        self._users: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def exists(self, session_key: str) -> bool:
        return session_key in self._users

    def create(self, user_name: str | None = None) -> str:
        session_key = new_session_key()
        with self._lock:
            self._users[session_key] = user_name
        return session_key

    def user_name(self, session_key: str) -> str | None:
        return self._users.get(session_key)

    def end(self, session_key: str) -> None:
        with self._lock:
            self._users.pop(session_key, None)
