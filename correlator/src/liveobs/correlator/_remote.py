"""Reading through a running collector: discovery file, token, and the HTTP client.

``liveobs collect`` writes ``<db path>.collector.json`` =
``{"url": "http://127.0.0.1:PORT", "pid": PID, "db": "<abs path>"}`` next to the
store while it owns the file. A store is read remotely when that file names a
live process whose port accepts a connection. Requests are
``POST /api/v1/read/<name>`` with JSON parameters and the same bearer token as
ingest (``LIVEOBS_TOKEN`` or the file named by ``LIVEOBS_TOKEN_FILE``).

Whoever can write next to a store can write a discovery file, so the token goes
only where it is safe: a discovery file is trusted when it belongs to this user,
is not writable by others, names a loopback address (a collector bound to
every interface is reached on loopback) and, where ``/proc`` shows it, a port on
which the named process itself listens; any other collector must be named by
the user (``liveobs --url``, ``LIVEOBS_URL``). Answers that do not have the
expected shape are a clean error, not a crash.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from liveobs.correlator._auth import TOKEN_ENV, TOKEN_FILE_ENV, TokenError, load_token
from liveobs.correlator._discovery import discovery_path, read_discovery
from liveobs.correlator._incidents import DEFAULT_LIMIT, Incident, parse_since
from liveobs.correlator._origin import is_loopback
from liveobs.correlator._readapi import READ_PATH_PREFIX, READ_TIMEOUT_S, NotFoundError, ReadRequestError
from liveobs.correlator._store import Store, StoreUnavailableError
from liveobs.correlator._trace import DEFAULT_CONTEXT
from liveobs.correlator._traceresult import TraceResult

_PROBE_TIMEOUT_S: Final = 1.0
_MAX_ERROR_TEXT: Final = 300


@dataclass(frozen=True, slots=True)
class CollectorAddress:
    """A running collector that owns a store, as its discovery file describes it."""

    url: str
    pid: int
    db: str


def read_token() -> str | None:
    """The bearer token, read as the collector reads it (``LIVEOBS_TOKEN_FILE``, ``LIVEOBS_TOKEN``)."""
    try:
        return load_token()
    except TokenError as exc:
        raise StoreUnavailableError(str(exc)) from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname or not parts.port:
        return False
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def _loopback_url(url: str) -> str | None:
    """``url`` if it names a loopback address; a wildcard bind address (``0.0.0.0``, ``::``) turned into
    loopback; None for any other host."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in ("0.0.0.0", "::"):
        loopback = "127.0.0.1" if host == "0.0.0.0" else "[::1]"
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{loopback}:{parts.port}" if parts.port else loopback))
    return url if host and is_loopback(host) else None


def _check_trusted(db: str | os.PathLike[str]) -> None:
    """Refuse a discovery file that another user owns or that others may write."""
    path = discovery_path(db)
    try:
        info = path.stat()
    except OSError:
        return
    if info.st_uid != os.getuid():
        raise StoreUnavailableError(f"the discovery file {path} belongs to another user; not trusted with the token")
    if info.st_mode & 0o022:
        raise StoreUnavailableError(f"the discovery file {path} is writable by others; not trusted with the token")


def _listening_inodes(pid: int, port: int) -> set[str]:
    """The socket inodes listening on TCP ``port`` in ``pid``'s network namespace."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def listens_on(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds a socket listening on ``port``; None where ``/proc`` cannot tell."""
    if not Path("/proc/self/fd").is_dir():
        return None
    inodes = _listening_inodes(pid, port)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False  # another user's process, or gone
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


def discover(db: str | os.PathLike[str]) -> CollectorAddress | None:
    """The collector that owns ``db``, if its discovery file names a live, answering one.

    Raises :class:`StoreUnavailableError` when the file names a live process but cannot be
    trusted with the token: another user's or others-writable file, or a non-loopback URL.
    A process that does not itself listen on the named port is not the collector: None.
    """
    record = read_discovery(db)
    if record is None:
        return None
    try:
        found = CollectorAddress(url=str(record["url"]).rstrip("/"), pid=int(record["pid"]), db=str(record.get("db", "")))
    except (ValueError, KeyError, TypeError):
        return None
    if found.db and os.path.realpath(found.db) != os.path.realpath(os.fspath(db)):
        return None
    if not found.url.startswith(("http://", "https://")) or not _alive(found.pid):
        return None
    _check_trusted(db)
    try:
        url = _loopback_url(found.url)
        port = urllib.parse.urlsplit(url).port if url else None
    except ValueError:  # a port out of range or not a number
        return None
    if url is None:
        raise StoreUnavailableError(
            f"the discovery file {discovery_path(db)} names {found.url[:200]}, which is not a loopback address; "
            "the token is sent only to a loopback collector or to one you name with --url or LIVEOBS_URL"
        )
    found = CollectorAddress(url=url, pid=found.pid, db=found.db)
    if port is None or listens_on(found.pid, port) is False:
        return None  # stale (the process id was reused) or forged: not the collector, never sent the token
    return found if _answers(found.url) else None


def _visible(text: str) -> str:
    """``text`` with every character that is not printable (controls, escapes, bidirectional marks)
    shown escaped: an error message is printed on the user's terminal."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _error_text(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return _visible(text.strip()[:_MAX_ERROR_TEXT])
    if isinstance(data, dict):
        for key in ("error", "message", "detail"):
            if isinstance(data.get(key), str):
                return _visible(str(data[key])[:_MAX_ERROR_TEXT])
    return _visible(text.strip()[:_MAX_ERROR_TEXT])


class RemoteStore(Store):
    """A store owned by a running collector, read over its local HTTP API."""

    def __init__(self, url: str, *, db: str = "", token: str | None = None, timeout: float = READ_TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self.location = f"{db} (via collector {self.url})" if db else self.url
        self._token = token if token is not None else read_token()
        self._timeout = timeout

    @property
    def is_remote(self) -> bool:
        return True

    def read(self, name: str, params: dict[str, Any]) -> Any:
        """Call the read handler ``name`` with ``params``; its JSON result."""
        request = urllib.request.Request(
            f"{self.url}{READ_PATH_PREFIX}{urllib.parse.quote(name)}",
            data=json.dumps(params).encode("utf-8"),
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            message = _error_text(exc.read())
            if exc.code == 404:
                raise NotFoundError(message) from None
            if exc.code == 400:
                raise ReadRequestError(message) from None
            if exc.code in (401, 403):
                raise StoreUnavailableError(
                    f"the collector at {self.url} refused the token ({exc.code}); set {TOKEN_ENV} or {TOKEN_FILE_ENV}"
                ) from None
            raise StoreUnavailableError(f"the collector at {self.url} answered {exc.code}: {message}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StoreUnavailableError(f"the collector at {self.url} did not answer: {reason}") from None
        except ValueError as exc:
            raise StoreUnavailableError(f"the collector at {self.url} sent a malformed answer: {exc}") from None

    def _malformed(self, exc: Exception) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"the collector at {self.url} sent an answer of the wrong shape: {type(exc).__name__}: {str(exc)[:200]}"
        )

    def trace(
        self,
        *,
        event_id: str | None = None,
        request_id: str | None = None,
        trace_id: str | None = None,
        session_id: str | None = None,
        context: int = DEFAULT_CONTEXT,
    ) -> TraceResult:
        ids = {"event_id": event_id, "request_id": request_id, "trace_id": trace_id, "session_id": session_id}
        params: dict[str, Any] = {k: v for k, v in ids.items() if v is not None}
        params["context"] = context
        answer = self.read("trace", params)
        try:
            return TraceResult.from_dict(answer)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise self._malformed(exc) from None

    def incidents(
        self, *, since: str | datetime | None = None, release: str | None = None, limit: int = DEFAULT_LIMIT,
        service: str | None = None,
    ) -> list[Incident]:
        # A relative "since" is turned into a time here, so both paths mean the same moment.
        start = parse_since(since)
        params: dict[str, Any] = {"limit": limit}
        if start is not None:
            params["since"] = start.astimezone(UTC).isoformat()
        if release is not None:
            params["release"] = release
        if service is not None:
            params["service"] = service
        answer = self.read("incidents", params)
        try:
            return [Incident.from_dict(item) for item in answer]
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise self._malformed(exc) from None

    def close(self) -> None:
        """Nothing to release: every read is one HTTP request."""
