"""The bearer token shared by the collector and the CLI.

Read from the environment variable ``LIVEOBS_TOKEN`` or from the file named by
``LIVEOBS_TOKEN_FILE``; compared in constant time. No token configured means
the collector accepts unauthenticated requests (it listens on 127.0.0.1 by default).
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Final

TOKEN_ENV: Final = "LIVEOBS_TOKEN"
TOKEN_FILE_ENV: Final = "LIVEOBS_TOKEN_FILE"


class TokenError(ValueError):
    """The token file cannot be read or is empty."""


def load_token(token_file: str | os.PathLike[str] | None = None) -> str | None:
    """The configured token: ``token_file`` if given, else the environment, else None."""
    path = token_file if token_file is not None else os.environ.get(TOKEN_FILE_ENV)
    if path:
        try:
            token = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TokenError(f"cannot read the token file {path}: {exc.strerror}") from None
        if not token:
            raise TokenError(f"the token file {path} is empty")
        return token
    return os.environ.get(TOKEN_ENV) or None


def bearer_matches(authorization: str | None, token: str | None) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (always true without a token)."""
    if token is None:
        return True
    if not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


def bearer_header(token: str | None) -> dict[str, str]:
    """The request header that presents ``token`` (empty without one)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


class InsecureBindError(ValueError):
    """A non-loopback address without a token, not explicitly accepted."""


def check_bind(host: str, token: str | None, *, insecure_no_token: bool = False) -> str | None:
    """Refuse a non-loopback ``host`` without a token unless ``insecure_no_token``; a warning when accepted."""
    from liveobs.correlator._origin import is_loopback

    if token is not None or is_loopback(host):
        return None
    if not insecure_no_token:
        raise InsecureBindError(
            f"refusing to listen on {host} without a token: anyone who can reach it could read every trace "
            "and write spans. Set LIVEOBS_TOKEN or LIVEOBS_TOKEN_FILE (or --token-file), or pass "
            "--insecure-no-token to accept that"
        )
    return f"WARNING: listening on {host} without a token: anyone who can reach it can read and write the store"
