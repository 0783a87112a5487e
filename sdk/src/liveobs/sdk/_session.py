"""Session pseudonyms: a keyed hash of the app's session key, with rotating keys.

The app supplies a callable that finds its raw session key in the ASGI scope
(a cookie value, a server-side session id). Only ``<key id>.<HMAC-SHA256,
truncated>`` ever reaches a signal; the raw key never does. A :class:`SessionKeyRing`
holds the current key and earlier ones, so a pseudonym minted before a
rotation can still be matched.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

_KEY_ID_RE: Final = re.compile(r"[A-Za-z0-9]{1,16}")
_DIGEST_HEX: Final = 32  # 128 bits
_CACHE_MAX: Final = 4096

SessionKeyFinder = Callable[[Mapping[str, Any]], "str | bytes | None"]


class SessionKeyRing:
    """HMAC keys by id; the first (or ``current``) pseudonymises, all of them match.

    ``SessionKeyRing({"k2": new_secret, "k1": old_secret}, current="k2")``.
    Keys are bytes or text of at least 16 bytes.
    """

    def __init__(self, keys: Mapping[str, bytes | str], current: str | None = None) -> None:
        if not keys:
            raise ValueError("a session key ring needs at least one key")
        ring: dict[str, bytes] = {}
        for key_id, secret in keys.items():
            if not _KEY_ID_RE.fullmatch(key_id):
                raise ValueError("key ids are 1-16 letters or digits")
            raw = secret.encode() if isinstance(secret, str) else bytes(secret)
            if len(raw) < 16:
                raise ValueError(f"session key {key_id!r} is shorter than 16 bytes")
            ring[key_id] = raw
        self.current = current if current is not None else next(iter(ring))
        if self.current not in ring:
            raise ValueError(f"current key {self.current!r} is not in the ring")
        self._keys = ring
        # Keyed HMAC states, copied per use.
        self._macs = {key_id: hmac.new(secret, digestmod=hashlib.sha256) for key_id, secret in ring.items()}
        # Pseudonyms by the process's keyed 64-bit hash of the raw key: a request's repeat visits cost a lookup,
        # and no raw session key is kept. Bounded: at most _CACHE_MAX entries of a few dozen bytes each.
        self._cache: dict[int, str] = {}

    @classmethod
    def ephemeral(cls) -> SessionKeyRing:
        """A random key for this process: pseudonyms are stable until it restarts."""
        return cls({"eph": os.urandom(32)})

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def _digest(self, key_id: str, raw: bytes) -> str:
        mac = self._macs[key_id].copy()
        mac.update(raw)
        return f"{key_id}.{mac.hexdigest()[:_DIGEST_HEX]}"

    def pseudonymise(self, session_key: str | bytes) -> str:
        """The session id for ``session_key`` under the current key (the raw key is not kept)."""
        raw = session_key.encode("utf-8", "surrogatepass") if isinstance(session_key, str) else session_key
        key = hash(raw)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._digest(self.current, raw)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.pop(next(iter(self._cache)))  # the oldest: dicts keep insertion order
            self._cache[key] = hit
        return hit

    def matches(self, pseudonym: str, session_key: str | bytes) -> bool:
        """Whether ``pseudonym`` was minted for ``session_key`` under any key in the ring."""
        key_id, _, _ = pseudonym.partition(".")
        if key_id not in self._keys:
            return False
        raw = session_key.encode("utf-8", "surrogatepass") if isinstance(session_key, str) else session_key
        return hmac.compare_digest(self._digest(key_id, raw), pseudonym)

    def rotated(self, new_id: str, new_key: bytes | str, keep: int = 2) -> SessionKeyRing:
        """A ring with ``new_id`` current and the ``keep`` most recent old keys."""
        old = [(k, v) for k, v in self._keys.items() if k != new_id][:keep]
        return SessionKeyRing({new_id: new_key, **dict(old)}, current=new_id)


def cookie_session(name: str) -> SessionKeyFinder:
    """A session-key finder that reads cookie ``name`` from the request headers."""
    wanted = name.encode("latin-1")

    def find(scope: Mapping[str, Any]) -> bytes | None:
        for header, value in scope.get("headers") or ():
            if header == b"cookie":
                for part in value.split(b";"):
                    k, sep, v = part.strip().partition(b"=")
                    if sep and k == wanted and v:
                        return bytes(v)
        return None

    return find
