"""The collector's HTTP surface: a small ASGI app served by uvicorn.

``POST /v1/traces|logs|metrics`` (OTLP/HTTP, protobuf or JSON, gzip), ``GET
/healthz``, the web view's pages (``GET /incidents`` and the rest, :mod:`_ui_asgi`), ``POST /api/v1/read/<name>`` (the read API of the store this
process owns; each read first commits every acknowledged request) and ``POST
/api/v1/flush`` (commit what the spool holds now). Memory is bounded by a byte budget that covers bodies being
received, decompressed and waiting for their commit; a request that would
exceed it is answered 429 with ``Retry-After`` before its body is read.

Transport rules (this module's ``_transport_*`` functions and ``_origin``): a
request must name this collector in ``Host`` (without a token) and carry no
cross-site ``Origin``/``Sec-Fetch-Site``; the read API takes only
``application/json``; compressed bodies are inflated in a worker thread; an
unexpected failure is answered 500 with an error id that the log holds with
the detail, never the detail itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import duckdb

from liveobs.correlator._auth import bearer_matches
from liveobs.correlator._decompress import decode_body
from liveobs.correlator._origin import OriginPolicy
from liveobs.correlator._otlp import (
    DEFAULT_MAX_BODY_BYTES,
    JSON,
    SIGNALS,
    BodyError,
    BodyTooLarge,
    media_type,
    response_body,
    status_body,
)
from liveobs.correlator._readapi import (
    FLUSH_TIMEOUT_S,
    READ_PATH_PREFIX,
    NotFoundError,
    ReadRequestError,
    read_handlers,
)
from liveobs.correlator._spoolwriter import Backlogged
from liveobs.correlator._ui_asgi import CollectorPages
from liveobs.correlator._ui_http import is_page
from liveobs.correlator._writer import Writer, WriteResult

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HEALTH_PATH: Final = "/healthz"
FLUSH_PATH: Final = "/api/v1/flush"
DEFAULT_MAX_BUFFERED_BYTES: Final = 128 * 1024 * 1024
MAX_READ_BODY_BYTES: Final = 1024 * 1024
RETRY_AFTER_SECONDS: Final = "1"
# ``liveobs ingest`` names each chunk it sends, so that a chunk is stored once.
MAX_SOURCE_KEY: Final = 200
# How long a read or a flush waits for acknowledged requests to be committed.
# Bodies inflated at once, in worker threads; each holds at most max_body_bytes beyond the byte budget.
MAX_INFLATING: Final = 2
log = logging.getLogger("liveobs.correlator.server")


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


async def _answer(send: Send, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Budget:
    """Bytes held by requests in flight; refuses what would exceed the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0

    def take(self, amount: int) -> bool:
        if self.used + amount > self.limit:
            return False
        self.used += amount
        self.peak = max(self.peak, self.used)
        return True

    def give(self, amount: int) -> None:
        self.used -= amount


class CollectorApp:
    """The ASGI application; one per collector process."""

    def __init__(
        self,
        writer: Writer,
        read_con: duckdb.DuckDBPyConnection,
        *,
        token: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        origin_policy: OriginPolicy | None = None,
    ) -> None:
        self.writer = writer
        self.read_con = read_con
        self.token = token
        self.max_body_bytes = max_body_bytes
        self.budget = _Budget(max_buffered_bytes)
        self.refused = 0
        self.draining = False
        self._cursor_lock = threading.Lock()
        self.origin_policy = origin_policy if origin_policy is not None else OriginPolicy.build(token=token)
        self.forbidden = 0
        # Connections closed for being slow or idle, reported by the HTTP protocol (see ``_connections``).
        self.closed_connections: Callable[[], int] | None = None
        self._inflating: asyncio.Semaphore | None = None
        self._pages: CollectorPages | None = None
        # More (name, value, unit) figures for /healthz, e.g. the retention's.
        self.health_sources: list[Callable[[], list[tuple[str, float, str | None]]]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        method = scope["method"]
        refusal = self._transport_refusal(scope)
        if refusal is not None:
            self.forbidden += 1
            await _answer(send, 403, json.dumps({"code": 7, "message": refusal}).encode(), JSON)
            return
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            await self._health(send)
            return
        if method in ("GET", "HEAD") and is_page(path):  # the web view: its own key, see _ui_asgi
            if self._pages is None:
                self._pages = CollectorPages(self.read_con, self.writer.flush, self._cursor_lock, self.token,
                                             self.writer.gate)
            await self._pages(scope, send)
            return
        if not bearer_matches(_header(scope, b"authorization") or None, self.token):
            await _answer(send, 401, b'{"code":16,"message":"missing or wrong bearer token"}', JSON,
                          {"WWW-Authenticate": "Bearer"})
            return
        signal = SIGNALS.get(path)
        if signal is not None and method == "POST":
            await self._ingest(scope, receive, send, signal)
        elif path == FLUSH_PATH and method == "POST":
            await self._flush(send)
        elif path.startswith(READ_PATH_PREFIX) and method == "POST":
            await self._read(scope, receive, send, path[len(READ_PATH_PREFIX):])
        elif signal is not None or path.startswith(READ_PATH_PREFIX) or path == FLUSH_PATH:
            await _answer(send, 405, b'{"message":"use POST"}', JSON, {"Allow": "POST"})
        else:
            await _answer(send, 404, json.dumps({"message": f"no such endpoint {path}"}).encode(), JSON)

    async def _flush(self, send: Send) -> None:
        """Commit every acknowledged request now; answer with the committed and pending row counts."""
        flushed = await asyncio.to_thread(self.writer.flush, FLUSH_TIMEOUT_S)
        stats = self.writer.stats
        body = json.dumps({"committed": flushed, "rows": stats.rows, "pendingRows": stats.pending_rows}).encode()
        await _answer(send, 200 if flushed else 503, body, JSON)

    async def _health(self, send: Send) -> None:
        # A health check never forces a commit (probes would make commits small): rows acknowledged and
        # not yet committed are reported as store:pendingRows.
        stats = self.writer.stats
        status = "fail" if self.draining else "pass"
        observed: list[tuple[str, float, str | None]] = [
            ("store:commits", stats.commits, None),
            ("store:rows", stats.rows, None),
            ("store:commitTime", round(stats.commit_seconds, 3), "s"),
            ("ingest:convertTime", round(stats.convert_seconds, 3), "s"),
            ("store:commitCpuTime", round(stats.commit_cpu_seconds, 3), "s"),
            ("ingest:convertCpuTime", round(stats.convert_cpu_seconds, 3), "s"),
            ("ingest:convertBatches", stats.convert_batches, None),
            ("ingest:stagedRows", stats.staged_rows, None),
            ("ingest:buffered", self.budget.used, "By"),
            ("ingest:refused", self.refused, None),
            ("http:forbidden", self.forbidden, None),
            ("http:closedSlowConnections", self.closed_connections() if self.closed_connections else 0, None),
            ("store:maxCommitRows", stats.max_commit_rows, None),
            ("store:rowsInsertedEarly", stats.early_rows, None),
            ("store:pendingRows", stats.pending_rows, None),
            ("store:droppedRows", stats.dropped_rows, None),
            ("spool:fsyncs", stats.fsyncs, None),
            ("spool:fsyncTime", round(stats.fsync_seconds, 3), "s"),
            ("spool:maxFsyncTime", round(stats.max_fsync_seconds, 4), "s"),
            ("spool:replayed", stats.replayed, None),
            ("spool:damagedBytes", stats.damaged_bytes, "By"),
            ("ingest:backlog", stats.backlog_bytes, "By"),
            ("ingest:duplicates", stats.duplicates, None),
        ]
        for source in self.health_sources:
            observed += source()
        checks = {
            name: [{"observedValue": value, **({"observedUnit": unit} if unit else {}), "status": status}]
            for name, value, unit in observed
        }
        body = {"status": status, "checks": checks}
        await _answer(send, 503 if self.draining else 200, json.dumps(body).encode(), "application/health+json")

    async def _read_body(self, receive: Receive, limit: int, held: list[int]) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ConnectionResetError("client went away")
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(f"body exceeds the limit of {limit} bytes")
                if not self.budget.take(len(chunk)):
                    raise _Overloaded
                held[0] += len(chunk)
                chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, send: Send, media: str, status: int, message: str) -> None:
        self.refused += 1
        await _answer(send, status, status_body(media, status, message), media, {"Retry-After": RETRY_AFTER_SECONDS})

    async def _ingest(self, scope: Scope, receive: Receive, send: Send, signal: Any) -> None:
        media = JSON
        held = [0]
        try:
            media = media_type(_header(scope, b"content-type"))
            if self.draining:
                await self._refuse(send, media, 503, "the collector is shutting down; retry later")
                return
            declared = _header(scope, b"content-length")
            if declared.isdigit() and int(declared) > self.max_body_bytes:
                raise BodyTooLarge(f"body of {declared} bytes exceeds the limit of {self.max_body_bytes} bytes")
            if declared.isdigit() and self.budget.used + int(declared) > self.budget.limit:
                raise _Overloaded
            if self.writer.backlogged():  # acknowledged data waits for conversion: refuse before reading
                raise _Overloaded
            body = await self._read_body(receive, self.max_body_bytes, held)
            encoding = _header(scope, b"content-encoding")
            if encoding:
                plain = await self._transport_decode(body, encoding)
                if not self.budget.take(len(plain)):
                    raise _Overloaded
                held[0] += len(plain)
                body = plain
            source_key = _header(scope, b"x-liveobs-source-key")[:MAX_SOURCE_KEY] or None
            # A request sent again by the same sender (same credentials, same body) is stored once.
            sender = _header(scope, b"authorization")
            result = await self._submit(signal, body, media, source_key, sender)
        except _Overloaded:
            await self._refuse(send, media, 429, "the collector is at capacity; retry later")
            return
        except BodyError as exc:
            await _answer(send, exc.status, status_body(media, exc.status, str(exc)), media)
            return
        except ConnectionResetError:
            return
        finally:
            self.budget.give(held[0])
        if isinstance(result, BodyError):
            await _answer(send, result.status, status_body(media, result.status, _public_text(result)), media)
        elif isinstance(result, Backlogged):
            await self._refuse(send, media, 429, str(result))
        elif isinstance(result, BaseException):
            await self._refuse(send, media, 503, f"the store could not commit (error id {_error_id(result)})")
        else:
            note = result.message or (f"{result.rejected} items were rejected" if result.rejected else "")
            ledger = {"X-Liveobs-Rows": str(result.accepted), "X-Liveobs-Duplicate": "1" if result.duplicate else "0"}
            await _answer(send, 200, response_body(signal, media, result.rejected, note), media, ledger)

    async def _submit(
        self, signal: Any, body: bytes, media: str, source_key: str | None = None, sender: str | None = None
    ) -> WriteResult | BaseException:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WriteResult | BaseException] = loop.create_future()

        def done(outcome: WriteResult | BaseException) -> None:
            loop.call_soon_threadsafe(_settle, future, outcome)

        self.writer.submit(signal, body, done, media=media, source_key=source_key, source=source_key, sender=sender)
        return await future

    async def _read(self, scope: Scope, receive: Receive, send: Send, name: str) -> None:
        handler = read_handlers().get(name)
        if _header(scope, b"content-type").split(";", 1)[0].strip().lower() != JSON:
            await _answer(send, 415, b'{"message":"the read API takes only application/json"}', JSON)
            return
        held = [0]
        try:
            raw = await self._read_body(receive, MAX_READ_BODY_BYTES, held)
        except (BodyTooLarge, _Overloaded):
            await _answer(send, 413, b'{"message":"read request too large"}', JSON)
            return
        except ConnectionResetError:
            return
        finally:
            self.budget.give(held[0])
        if handler is None:
            await _answer(send, 404, json.dumps({"message": f"no read handler named {name!r}"}).encode(), JSON)
            return
        try:
            params = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            await _answer(send, 400, json.dumps({"message": f"invalid JSON: {exc}"}).encode(), JSON)
            return
        if not isinstance(params, dict):
            await _answer(send, 400, b'{"message":"parameters must be a JSON object"}', JSON)
            return
        status, payload = await asyncio.to_thread(self._run_read, handler, params)
        await _answer(send, status, payload, JSON)

    def _run_read(self, handler: Any, params: dict[str, Any]) -> tuple[int, bytes]:
        # A read sees every acknowledged request: commit what the spool holds first.
        if not self.writer.flush(FLUSH_TIMEOUT_S):
            return 503, b'{"message":"the store has not committed the acknowledged data yet; retry later"}'
        with self._cursor_lock:  # a connection is not thread-safe, even to open cursors from
            cursor = self.read_con.cursor()
        try:
            with self.writer.gate.shared():  # never beside the retention pass's checkpoint (see _storegate)
                result = handler(cursor, params)
            return 200, json.dumps(result, default=str).encode()
        except ReadRequestError as exc:
            return 400, json.dumps({"message": str(exc)}).encode()
        except NotFoundError as exc:
            return 404, json.dumps({"message": str(exc)}).encode()
        except Exception as exc:
            error_id = _error_id(exc)
            return 500, json.dumps({"message": f"internal error (error id {error_id})", "error_id": error_id}).encode()
        finally:
            cursor.close()

    # --- transport: who may ask, and how bodies are decoded -------------------------------------------

    def _transport_refusal(self, scope: Scope) -> str | None:
        """Why this request's Host, Origin or Sec-Fetch-Site is refused (403), or None."""
        server = scope.get("server")
        return self.origin_policy.refusal(
            _header(scope, b"host"), _header(scope, b"origin"), _header(scope, b"sec-fetch-site"),
            server[0] if server else None,
        )

    async def _transport_decode(self, body: bytes, encoding: str) -> bytes:
        """The body after its Content-Encoding, inflated in a worker thread (at most MAX_INFLATING at once)."""
        if self._inflating is None:
            self._inflating = asyncio.Semaphore(MAX_INFLATING)
        async with self._inflating:
            return await asyncio.to_thread(decode_body, body, encoding, self.max_body_bytes)


def _error_id(exc: BaseException) -> str:
    """Log ``exc`` with a new error id and return the id (the answer carries the id, never the detail)."""
    error_id = secrets.token_hex(6)
    log.error("error id %s: %s: %s", error_id, type(exc).__name__, exc, exc_info=exc)
    return error_id


def _public_text(error: BodyError) -> str:
    """What an error answer may say: the message of a client error; an error id for a server error."""
    if error.status < 500:
        return str(error)
    return f"internal error (error id {_error_id(error)})"


class _Overloaded(Exception):
    """The byte budget is spent: answer 429 with Retry-After."""


def _settle(future: asyncio.Future[WriteResult | BaseException], outcome: WriteResult | BaseException) -> None:
    if not future.done():
        future.set_result(outcome)
