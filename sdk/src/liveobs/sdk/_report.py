"""The report endpoint: browser reports from ``liveobs.js`` become OTel log records.

Only same-origin requests from a known session are heard: the report's
``session_id`` must equal the pseudonymous id of the caller's own session (the
middleware's :meth:`~liveobs.sdk.LiveObsMiddleware.session_id`). The body is
bounded, each session has a token bucket, every field is validated with the
:mod:`liveobs.conventions` validators and every text is scrubbed. Each report
becomes one log record with ``EventName`` ``browser.action`` or
``browser.error``, carrying the ids, the client timings and the error class;
click-to-patch latency also feeds :data:`~liveobs.conventions.evidence.METRIC_CLIENT_EVENT_LATENCY`.
"""

from __future__ import annotations

import hmac
import json
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.util.types import AttributeValue

from liveobs.conventions import (
    error_fingerprint,
    evidence,
    keys,
    valid_error_class,
    valid_error_code,
    valid_id,
    valid_name,
    valid_route,
)
from liveobs.sdk._asgi_io import BodyTooLarge, Receive, Scope, Send, header, own_origin, read_body, send_json
from liveobs.sdk._compat import ApiLogger, ApiLoggerProvider, SeverityNumber, get_logger_provider
from liveobs.sdk._evidence import bounded, record_body_limit, record_rate_limit

SessionResolver = Callable[[Mapping[str, Any]], "str | None"]

SCOPE_NAME: Final = "liveobs.sdk.browser"
RATE_POLICY: Final = "browser_reports"
DEFAULT_MAX_BODY: Final = 32 * 1024
MAX_REPORTS: Final = 50
MAX_MESSAGE: Final = 500
MAX_MS: Final = 3_600_000.0  # client timings above an hour are not believed
ERROR_KINDS: Final = frozenset({"error", "unhandledrejection", "reply_error", "timeout", "reconnect_give_up"})
_HEX32: Final = re.compile(r"[0-9a-f]{32}")
_HEX16: Final = re.compile(r"[0-9a-f]{16}")
_CONTENT_TYPES: Final = frozenset({"application/json", "text/plain"})
_DAY_MS: Final = 86_400_000


class TokenBuckets:
    """Per-key token buckets (``per_minute`` refill, ``burst`` capacity), bounded in keys."""

    def __init__(self, per_minute: float, burst: int, max_keys: int = 10_000) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, wanted: int, now: float | None = None) -> int:
        """Take up to ``wanted`` tokens for ``key``; returns how many were granted."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.per_minute / 60.0)
            granted = min(wanted, int(tokens))
            self._buckets[key] = (tokens - granted, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            return granted


def _number(value: object, high: float = MAX_MS) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if 0 <= value <= high else None


def _count(value: object, high: int = 1_000_000) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= high else None


def _match(pattern: re.Pattern[str], value: object) -> str | None:
    return value if isinstance(value, str) and pattern.fullmatch(value) and set(value) != {"0"} else None


def same_origin(scope: Scope, allowed: frozenset[str] = frozenset()) -> bool:
    """Whether the request comes from a page of this origin (Sec-Fetch-Site, Origin, else Referer)."""
    site = header(scope, b"sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    mine = own_origin(scope)
    origin = header(scope, b"origin")
    if origin is not None:
        return origin.lower() == mine or origin in allowed
    referer = header(scope, b"referer")
    if referer is None:
        return site == "same-origin"
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}".lower() == mine or f"{parts.scheme}://{parts.netloc}" in allowed


class ReportEndpoint:
    """ASGI app for ``POST /_liveobs/report``: same origin, known session, bounded, rate-limited.

    ``session_id`` maps a request scope to the caller's pseudonymous session id
    (pass the middleware's ``session_id``); ``owns_session(scope, pseudonym)``,
    when given (the middleware's ``owns_session``), also accepts the caller's
    pseudonym under an earlier key of the ring, so pages rendered before a key
    rotation keep reporting. ``per_minute``/``burst`` bound the
    reports per session. ``logger_provider`` defaults to the one
    :func:`liveobs.sdk.configure` set up, else the global one.
    """

    def __init__(
        self,
        session_id: SessionResolver,
        *,
        owns_session: Callable[[Mapping[str, Any], str], bool] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        per_minute: float = 60.0,
        burst: int = 30,
        allowed_origins: frozenset[str] = frozenset(),
        logger_provider: ApiLoggerProvider | None = None,
    ) -> None:
        self.session_id = session_id
        self.owns_session = owns_session
        self.max_body = max_body
        self.buckets = TokenBuckets(per_minute, burst)
        self.allowed_origins = allowed_origins
        self._provider = logger_provider
        self._logger: ApiLogger | None = None
        self._logger_of: object = None

    def _telemetry(self) -> Any:
        from liveobs.sdk._configure import current_telemetry

        return current_telemetry()

    def logger(self) -> ApiLogger:
        provider = self._provider
        if provider is None:
            telemetry = self._telemetry()
            provider = telemetry.logger_provider if telemetry is not None else get_logger_provider()
        if self._logger is None or self._logger_of is not provider:
            self._logger, self._logger_of = provider.get_logger(SCOPE_NAME), provider
        return self._logger

    def _own_session(self, scope: Mapping[str, Any], claimed: str) -> bool:
        """Whether ``claimed`` is the caller's own session id (under the current key, or an earlier one)."""
        actual = self.session_id(scope)
        if actual is not None and hmac.compare_digest(claimed, actual):
            return True
        return self.owns_session is not None and self.owns_session(scope, claimed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "POST":
            await send_json(send, 405, {"error": "method not allowed"}, [(b"allow", b"POST")])
            return
        if not same_origin(scope, self.allowed_origins):
            await send_json(send, 403, {"error": "cross-origin report refused"})
            return
        content_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if content_type not in _CONTENT_TYPES:
            await send_json(send, 415, {"error": "reports are JSON"})
            return
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            record_body_limit(self.max_body, int(declared))
            await send_json(send, 413, {"error": "report body over the limit"})
            return
        try:
            raw = await read_body(receive, self.max_body)
        except BodyTooLarge as exc:
            record_body_limit(self.max_body, exc.observed)
            await send_json(send, 413, {"error": "report body over the limit"})
            return
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("reports"), list):
            await send_json(send, 400, {"error": "a report is a JSON object with a reports list"})
            return
        claimed = valid_id(body.get("session_id"))
        if claimed is None or not self._own_session(scope, claimed):
            await send_json(send, 403, {"error": "unknown session"})
            return
        items = body["reports"][:MAX_REPORTS]
        granted = self.buckets.take(claimed, len(items))
        record_rate_limit(granted == len(items), policy=RATE_POLICY, per_minute=self.buckets.per_minute)
        if granted == 0 and items:
            retry = max(1, math.ceil(60.0 / max(self.buckets.per_minute, 1e-9)))
            await send_json(send, 429, {"error": "too many reports"}, [(b"retry-after", str(retry).encode())])
            return
        page = _page_ids(body, claimed)
        accepted = sum(self.emit(item, page) for item in items[:granted])
        await send_json(send, 202, {"accepted": accepted, "dropped": len(body["reports"]) - accepted})

    def emit(self, item: object, page: dict[str, AttributeValue]) -> bool:
        """Turn one validated report into a log record; ``False`` when it is not a report."""
        if not isinstance(item, dict):
            return False
        event_name = item.get("type")
        if event_name not in (keys.BROWSER_ACTION_EVENT, keys.BROWSER_ERROR_EVENT):
            return False
        is_error = event_name == keys.BROWSER_ERROR_EVENT
        attributes = dict(page)
        ids = {
            keys.EVENT_ID: valid_id(item.get("event_id")),
            keys.CONNECTION_ID: valid_id(item.get("connection_id")),
            keys.EVENT_NAME: valid_name(item.get("event_name")),
        }
        attributes.update({k: v for k, v in ids.items() if v is not None})
        numbers: dict[str, float | int | None] = {
            keys.EVENT_SEQ: _count(item.get("seq"), 2**53 - 1),
            keys.BROWSER_LATENCY_MS: _number(item.get("latency_ms")),
            keys.BROWSER_CONNECT_MS: _number(item.get("connect_ms")),
            keys.BROWSER_RECONNECTS: _count(item.get("reconnects")),
            keys.PATCH_BYTES: _count(item.get("patch_bytes"), 2**31),
            evidence.BROWSER_ATTEMPTS: _count(item.get("attempts")),
        }
        attributes.update({k: v for k, v in numbers.items() if v is not None})
        error_class = valid_error_class(item.get("error_class"))
        body: str = str(event_name)
        if is_error:
            kind = item.get("error_kind")
            attributes[keys.BROWSER_ERROR_KIND] = kind if kind in ERROR_KINDS else "other"
            attributes[keys.ERROR_TYPE] = error_class or str(attributes[keys.BROWSER_ERROR_KIND])
            code = valid_error_code(item.get("error_code"))
            if code is not None:
                attributes[evidence.BROWSER_ERROR_CODE] = code
            message = item.get("message")
            body = bounded(message, MAX_MESSAGE) if isinstance(message, str) and message else str(
                attributes[keys.BROWSER_ERROR_KIND])
            telemetry = self._telemetry()
            service = telemetry.service_name if telemetry is not None else "browser"
            attributes[keys.ERROR_FINGERPRINT] = error_fingerprint(
                service, str(attributes[keys.ERROR_TYPE]), body if error_class is not None else None)
        context = _trace_context(item)
        latency = attributes.get(keys.BROWSER_LATENCY_MS)
        if isinstance(latency, float) and (not is_error or item.get("error_kind") == "reply_error"):
            from liveobs.sdk._perf import perf_recorder

            # Recorded in the live event's trace, so the exemplar leads to the event's span.
            token = otel_context.attach(context)
            try:
                perf_recorder().client_event(
                    latency, route=str(page.get(keys.ROUTE_ID, "")) or None,
                    event_name=ids[keys.EVENT_NAME], error_type=error_class if is_error else None)
            finally:
                otel_context.detach(token)
        now_ns = time.time_ns()
        self.logger().emit(
            timestamp=_client_time_ns(item.get("time"), now_ns),
            observed_timestamp=now_ns,
            context=context,
            severity_number=SeverityNumber.ERROR if is_error else SeverityNumber.INFO,
            severity_text="ERROR" if is_error else "INFO",
            body=body,
            attributes=attributes,
            event_name=str(event_name),
        )
        return True


def _page_ids(body: Mapping[str, Any], session_id: str) -> dict[str, AttributeValue]:
    page: dict[str, AttributeValue] = {keys.SESSION_ID: session_id}
    route = valid_route(body.get("route_id"))
    if route is not None:
        page[keys.ROUTE_ID] = route
    request_id = valid_id(body.get("request_id"))
    if request_id is not None:
        page[keys.REQUEST_ID] = request_id
    release = valid_id(body.get("release"))
    if release is not None:
        page[keys.RELEASE_ID] = release
    dropped = _count(body.get("dropped"))
    if dropped:
        page[evidence.BROWSER_REPORTS_DROPPED] = dropped
    return page


def _client_time_ns(value: object, now_ns: int) -> int:
    # A client clock more than a day off is not believed.
    ms = _number(value, high=float(2**53))
    if ms is None or abs(ms - now_ns / 1e6) > _DAY_MS:
        return now_ns
    return int(ms * 1_000_000)


def _trace_context(item: Mapping[str, Any]) -> otel_context.Context:
    """The live event's trace (from the reply the browser saw), else no trace at all."""
    trace_id = _match(_HEX32, item.get("trace_id"))
    span_id = _match(_HEX16, item.get("span_id"))
    if trace_id is None or span_id is None:
        # Explicitly no span: an empty Context would let the SDK fall back to the current one.
        return trace.set_span_in_context(trace.INVALID_SPAN, otel_context.Context())
    span_context = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(1))
    return trace.set_span_in_context(NonRecordingSpan(span_context), otel_context.Context())
