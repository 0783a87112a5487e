"""The store URL: a DuckDB path, ``chdb:///folder`` or ``clickhouse(s)://user@host:port/database``.

A URL never carries a password: command lines end up in shell history and in
``ps`` output. The password comes from ``LIVEOBS_CLICKHOUSE_PASSWORD_FILE`` (a
file holding it) or ``LIVEOBS_CLICKHOUSE_PASSWORD``; the user from the URL, else
``LIVEOBS_CLICKHOUSE_USER``, else ClickHouse's ``default``.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

DEFAULT_DATABASE: Final = "otel"  # the OpenTelemetry Collector's ClickHouse exporter's default
HTTP_PORT: Final = 8123
HTTPS_PORT: Final = 8443
USER_ENV: Final = "LIVEOBS_CLICKHOUSE_USER"
PASSWORD_ENV: Final = "LIVEOBS_CLICKHOUSE_PASSWORD"
PASSWORD_FILE_ENV: Final = "LIVEOBS_CLICKHOUSE_PASSWORD_FILE"

# Query parameters a server URL may carry (a chdb URL takes only ``database``).
_SERVER_OPTIONS: Final = frozenset({"ca_cert", "verify"})
_SCHEMES: Final = ("chdb", "clickhouse", "clickhouses")

Kind = Literal["duckdb", "chdb", "clickhouse"]


class StoreURLError(ValueError):
    """A store URL that cannot be used as given (the message says why and what to do)."""


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed store location. ``password`` is never printed (see :meth:`redacted`)."""

    kind: Kind
    path: str = ""  # the DuckDB file or the chdb data folder
    host: str = ""
    port: int = 0
    database: str = DEFAULT_DATABASE
    user: str = ""
    password: str = field(default="", repr=False)
    secure: bool = False
    verify: bool = True
    ca_cert: str | None = None

    @property
    def engine(self) -> Literal["duckdb", "clickhouse"]:
        return "duckdb" if self.kind == "duckdb" else "clickhouse"

    def redacted(self) -> str:
        """The location as a user may see it: no password, ever."""
        if self.kind == "duckdb":
            return self.path
        if self.kind == "chdb":
            return f"chdb://{self.path}?database={self.database}"
        scheme = "clickhouses" if self.secure else "clickhouse"
        user = f"{urllib.parse.quote(self.user, safe='')}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}/{self.database}"


def is_store_url(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names a ClickHouse store rather than a DuckDB file."""
    text = os.fspath(location)
    return isinstance(text, str) and text.split(":", 1)[0].lower() in _SCHEMES and "://" in text


def _database(name: str, where: str) -> str:
    name = urllib.parse.unquote(name)
    if not name:
        return DEFAULT_DATABASE
    if not name.replace("_", "a").isalnum() or not name.isascii():
        raise StoreURLError(f"{where}: the database name {name!r} may hold only letters, digits and '_'")
    return name


def _options(query: str, allowed: frozenset[str], where: str) -> dict[str, str]:
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise StoreURLError(f"{where}: cannot read the query string {query!r}") from None
    options: dict[str, str] = {}
    for key, value in pairs:
        if key in ("password", "pass", "pwd"):
            raise _password_error(where)
        if key not in allowed:
            raise StoreURLError(f"{where}: unknown option {key!r} (known: {', '.join(sorted(allowed)) or 'none'})")
        options[key] = value
    return options


def _password_error(where: str) -> StoreURLError:
    return StoreURLError(
        f"{where}: a store URL must not carry a password (it would show in shell history and process "
        f"lists); put it in a file named by {PASSWORD_FILE_ENV}, or in {PASSWORD_ENV}"
    )


def read_password(environ: dict[str, str] | None = None) -> str:
    """The ClickHouse password from ``LIVEOBS_CLICKHOUSE_PASSWORD_FILE`` or ``LIVEOBS_CLICKHOUSE_PASSWORD``."""
    env = os.environ if environ is None else environ
    path = env.get(PASSWORD_FILE_ENV)
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise StoreURLError(f"cannot read the password file {path} ({PASSWORD_FILE_ENV}): {exc.strerror}") from None
    return env.get(PASSWORD_ENV, "")


def parse_store_url(location: str | os.PathLike[str], environ: dict[str, str] | None = None) -> StoreURL:
    """Parse a store location; credentials come from ``environ`` (default: the process environment).

    Raises :class:`StoreURLError` for a URL that carries a password, an unknown
    scheme option, a missing host or folder, or a bad port.
    """
    text = os.fspath(location)
    if not is_store_url(text):
        if "://" in text:
            scheme = text.split("://", 1)[0]
            raise StoreURLError(f"unknown store scheme {scheme!r}: use a DuckDB file path, chdb:///folder, "
                                "clickhouse://host/db or clickhouses://host/db")
        return StoreURL(kind="duckdb", path=text)
    parts = urllib.parse.urlsplit(text)
    scheme = parts.scheme.lower()
    where = f"{scheme}:// URL"
    if parts.fragment:
        raise StoreURLError(f"{where}: a fragment ('#…') has no meaning here")
    if scheme == "chdb":
        if parts.netloc:
            raise StoreURLError(f"{where}: give an absolute folder, chdb:///path/to/folder (three slashes)")
        folder = urllib.parse.unquote(parts.path)
        if not folder or folder == "/":
            raise StoreURLError(f"{where}: name the data folder, e.g. chdb:///var/lib/liveobs/chdb")
        options = _options(parts.query, frozenset({"database"}), where)
        return StoreURL(kind="chdb", path=folder, database=_database(options.get("database", ""), where))
    try:
        password_given = parts.password is not None
        port = parts.port
    except ValueError:
        raise StoreURLError(f"{where}: the port must be a number from 1 to 65535") from None
    if password_given:
        raise _password_error(where)
    if not parts.hostname:
        raise StoreURLError(f"{where}: name the server, e.g. {scheme}://user@host:{HTTP_PORT}/otel")
    path = parts.path.strip("/")
    if "/" in path:
        raise StoreURLError(f"{where}: the path is the database name alone, e.g. /otel")
    options = _options(parts.query, _SERVER_OPTIONS, where)
    secure = scheme == "clickhouses"
    if not secure and ("ca_cert" in options or "verify" in options):
        raise StoreURLError(f"{where}: ca_cert and verify apply to TLS; use clickhouses://")
    verify_text = options.get("verify", "true").lower()
    if verify_text not in ("true", "false"):
        raise StoreURLError(f"{where}: verify must be true or false")
    env = os.environ if environ is None else environ
    user = urllib.parse.unquote(parts.username) if parts.username else env.get(USER_ENV, "")
    return StoreURL(
        kind="clickhouse",
        host=parts.hostname,
        port=port or (HTTPS_PORT if secure else HTTP_PORT),
        database=_database(path, where),
        user=user,
        password=read_password(dict(env)),
        secure=secure,
        verify=verify_text == "true",
        ca_cert=options.get("ca_cert") or None,
    )
