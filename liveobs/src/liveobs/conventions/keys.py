"""Attribute keys, header names and event names of the correlation contract.

This is the only module that spells them; everything else imports the constants.
OpenTelemetry semantic-convention names are used where one exists, our own keys
live under ``liveobs.``.
"""

from __future__ import annotations

from typing import Final

# --- resource -----------------------------------------------------------------
SERVICE_NAME: Final = "service.name"
SERVICE_VERSION: Final = "service.version"
DEPLOYMENT_ENVIRONMENT: Final = "deployment.environment.name"

# --- the correlation ids ------------------------------------------------------
SESSION_ID: Final = "session.id"
SESSION_PREVIOUS_ID: Final = "session.previous_id"
REQUEST_ID: Final = "liveobs.request.id"
EVENT_ID: Final = "liveobs.event.id"
ROUTE_ID: Final = "liveobs.route.id"
CONNECTION_ID: Final = "liveobs.connection.id"

# Top-level trace context fields of a log line, as the OTel log data model names them.
LOG_TRACE_ID: Final = "trace_id"
LOG_SPAN_ID: Final = "span_id"
LOG_TRACE_FLAGS: Final = "trace_flags"

# --- live events --------------------------------------------------------------
EVENT_NAME: Final = "liveobs.event.name"
EVENT_SEQ: Final = "liveobs.event.seq"
PATCH_BYTES: Final = "liveobs.patch.bytes"
PATCH_COMPRESSED_BYTES: Final = "liveobs.patch.compressed_bytes"
CLIENT_TIME: Final = "liveobs.client.time_unix_ms"
RECONNECT: Final = "liveobs.connection.reconnect"

# --- errors -------------------------------------------------------------------
ERROR_TYPE: Final = "error.type"
ERROR_FINGERPRINT: Final = "liveobs.error.fingerprint"
ERROR_CODE: Final = "liveobs.error.code"
EXCEPTION_EVENT: Final = "exception"
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"

# --- HTTP (OTel semantic conventions) -----------------------------------------
HTTP_ROUTE: Final = "http.route"
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
URL_PATH: Final = "url.path"
URL_SCHEME: Final = "url.scheme"
USER_AGENT_ORIGINAL: Final = "user_agent.original"

# --- browser reports (log records with these EventName values) ----------------
BROWSER_ACTION_EVENT: Final = "browser.action"
BROWSER_ERROR_EVENT: Final = "browser.error"
BROWSER_LATENCY_MS: Final = "liveobs.browser.latency_ms"
BROWSER_CONNECT_MS: Final = "liveobs.browser.connect_ms"
BROWSER_RECONNECTS: Final = "liveobs.browser.reconnects"
BROWSER_ERROR_KIND: Final = "liveobs.browser.error_kind"

# --- release ------------------------------------------------------------------
RELEASE_ID: Final = "liveobs.release.id"
# What a process runs (resource attributes, computed by the SDK at configure time; docs/releases.md):
# the digest of the release's artifact ("sha256:<hex>"), the release directory it runs from,
# whether that is a release ("release"), a source checkout ("checkout") or neither ("unknown"),
# and the service unit that started it.
RELEASE_DIGEST: Final = "liveobs.release.digest"
RELEASE_DIR: Final = "liveobs.release.dir"
RELEASE_SOURCE: Final = "liveobs.release.source"
RELEASE_UNIT: Final = "liveobs.release.unit"
RELEASE_SOURCE_RELEASE: Final = "release"
RELEASE_SOURCE_CHECKOUT: Final = "checkout"
RELEASE_SOURCE_UNKNOWN: Final = "unknown"
# The environment variables a unit sets: the unit's name (outside systemd), and a file the
# SDK writes the attributes above to at configure time (how a dry run hears them).
ENV_UNIT: Final = "LIVEOBS_UNIT"
ENV_RELEASE_REPORT: Final = "LIVEOBS_RELEASE_REPORT"

# --- HTTP headers and page meta names ----------------------------------------
HEADER_REQUEST_ID: Final = "X-Request-ID"
HEADER_TRACEPARENT: Final = "traceparent"
HEADER_TRACESTATE: Final = "tracestate"
HEADER_SERVER_TIMING: Final = "Server-Timing"
META_TRACEPARENT: Final = "traceparent"
META_SESSION_ID: Final = "liveobs-session-id"
META_ROUTE_ID: Final = "liveobs-route-id"
META_REQUEST_ID: Final = "liveobs-request-id"
META_RELEASE: Final = "liveobs-release"

# The live envelope travels under this key, next to the app's own payload.
ENVELOPE_KEY: Final = "lo"

# The ids a span or log line is correlated by, in the order the correlator shows them.
CORRELATION_KEYS: Final[tuple[str, ...]] = (
    EVENT_ID,
    SESSION_ID,
    REQUEST_ID,
    ROUTE_ID,
    CONNECTION_ID,
)

# --- added for the SDK ----------------------------------------------------------
# A structlog field that becomes the OTel log record's EventName.
LOG_EVENT_NAME: Final = "event_name"
# The connection a reconnecting session had before this one.
CONNECTION_PREVIOUS_ID: Final = "liveobs.connection.previous_id"
# The live event's span is a new trace; the link to the connection span carries this.
LINK_KIND: Final = "liveobs.link.kind"
# Server-Timing metric names.
SERVER_TIMING_APP: Final = "app"
SERVER_TIMING_TRACEPARENT: Final = "traceparent"
# Health endpoints.
HEALTH_READYZ_PATH: Final = "/readyz"
HEALTH_READINESS_PATH: Final = "/live/readiness.json"
HEALTH_CONTENT_TYPE: Final = "application/health+json"
# The telemetry signal a dropped-items count is for ("spans" | "logs").
TELEMETRY_SIGNAL: Final = "liveobs.telemetry.signal"
# Evidence an evidence driver (``liveobs drive``) produced: its requests and live sockets
# carry HEADER_EVIDENCE_SOURCE, and the SDK records EVIDENCE_SOURCE on their spans, so
# the gates never count them as production traffic.
HEADER_EVIDENCE_SOURCE: Final = "X-Liveobs-Evidence"
EVIDENCE_SOURCE: Final = "liveobs.evidence.source"
EVIDENCE_DRIVEN: Final = "driven"
# A process started by ``liveobs release dry-run`` (it sets ENV_RELEASE_REPORT) carries EVIDENCE_SOURCE =
# EVIDENCE_DRY_RUN on its resource: its readiness answers are dry-run evidence, its telemetry is no
# traffic of the release, so the gates leave it out of their scope.
EVIDENCE_DRY_RUN: Final = "dry-run"
