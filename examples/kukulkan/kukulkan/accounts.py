"""Who may do what: demo accounts, their scope, and capabilities.

Two scopes: ``viewer`` reads the board, ``editor`` also changes it. The
``cards.archive`` and ``cards.clear`` capabilities are granted to editors only,
so a viewer is refused by scope (writes) and by capability (archive, clear).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Final

SCOPE_VIEWER: Final = "viewer"
SCOPE_EDITOR: Final = "editor"
CAP_ARCHIVE: Final = "cards.archive"
CAP_UPLOAD: Final = "cards.upload"
CAP_CLEAR: Final = "cards.clear"

_CAPABILITIES: Final[dict[str, frozenset[str]]] = {
    SCOPE_VIEWER: frozenset(),
    SCOPE_EDITOR: frozenset({CAP_ARCHIVE, CAP_UPLOAD, CAP_CLEAR}),
}
_RANK: Final = {SCOPE_VIEWER: 0, SCOPE_EDITOR: 1}
_ITERATIONS: Final = 50_000


class AccessDenied(PermissionError):
    """The signed-in user lacks the scope or capability an action needs."""

    code = "forbidden"

    def __init__(self, kind: str, required: str, granted: str) -> None:
        super().__init__(f"{kind} {required} required")
        self.kind = kind
        self.required = required
        self.granted = granted


@dataclass(frozen=True, slots=True)
class User:
    name: str
    scope: str

    @property
    def capabilities(self) -> frozenset[str]:
        return _CAPABILITIES[self.scope]

    def has_scope(self, scope: str) -> bool:
        return _RANK[self.scope] >= _RANK[scope]

    def require_scope(self, scope: str) -> None:
        if not self.has_scope(scope):
            raise AccessDenied("scope", scope, self.scope)

    def require_capability(self, capability: str) -> None:
        if capability not in self.capabilities:
            raise AccessDenied("capability", capability, self.scope)


@dataclass(frozen=True, slots=True)
class _Account:
    user: User
    salt: bytes
    digest: bytes


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _ITERATIONS)


class Accounts:
    """Accounts by name with salted PBKDF2 password hashes."""

    def __init__(self) -> None:
        self._accounts: dict[str, _Account] = {}

    def add(self, name: str, password: str, scope: str) -> User:
        if scope not in _RANK:
            raise ValueError(f"unknown scope {scope!r}")
        salt = os.urandom(16)
        user = User(name, scope)
        self._accounts[name] = _Account(user, salt, _hash(password, salt))
        return user

    def authenticate(self, name: str, password: str) -> User | None:
        account = self._accounts.get(name)
        if account is None:
            _hash(password, b"\0" * 16)  # same work for unknown names
            return None
        return account.user if hmac.compare_digest(_hash(password, account.salt), account.digest) else None

    def get(self, name: str) -> User | None:
        account = self._accounts.get(name)
        return account.user if account else None


# The demo's accounts; the README and the demo client sign in with these.
DEMO_ACCOUNTS: Final = (("ana", "ana-edits-cards", SCOPE_EDITOR), ("vic", "vic-only-looks", SCOPE_VIEWER))


def demo_accounts() -> Accounts:
    accounts = Accounts()
    for name, password, scope in DEMO_ACCOUNTS:
        accounts.add(name, password, scope)
    return accounts
