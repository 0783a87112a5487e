"""Names of the evidence the SDK records and the gates read.

Security evidence is a span event named :data:`SECURITY_EVENT` on the span where
the decision was taken, with the check and its outcome as attributes; never a
secret, and offending values bounded. Performance evidence is OTel metrics (low
cardinality attributes only; ids go on exemplars) plus the span durations.
"""

from __future__ import annotations

from typing import Final

# --- security evidence: span events -------------------------------------------
SECURITY_EVENT: Final = "liveobs.security"
SECURITY_CHECK: Final = "liveobs.security.check"
SECURITY_OUTCOME: Final = "liveobs.security.outcome"
SECURITY_DETAIL: Final = "liveobs.security.detail"
SECURITY_VALUE: Final = "liveobs.security.value"

# Values of SECURITY_CHECK.
CHECK_CSP: Final = "csp"
CHECK_SRI: Final = "sri"
CHECK_WS_ORIGIN: Final = "ws_origin"
CHECK_WS_HOST: Final = "ws_host"
CHECK_BODY_LIMIT: Final = "body_limit"
CHECK_UPLOAD_SCAN: Final = "upload_scan"
CHECK_RATE_LIMIT: Final = "rate_limit"
CHECK_SCOPE: Final = "scope"
CHECK_CAPABILITY: Final = "capability"
CHECK_SESSION_KEY: Final = "session_key"
CHECK_KEY_CUSTODY: Final = "key_custody"

# Values of SECURITY_OUTCOME.
OUTCOME_ACCEPTED: Final = "accepted"
OUTCOME_REFUSED: Final = "refused"
OUTCOME_ALLOWED: Final = "allowed"
OUTCOME_DENIED: Final = "denied"
OUTCOME_CLEAN: Final = "clean"
OUTCOME_INFECTED: Final = "infected"
OUTCOME_PRESENT: Final = "present"
OUTCOME_MISSING: Final = "missing"

# Check-specific attributes.
CSP_SOURCE: Final = "liveobs.security.csp.source"  # "nonce" | "hash" | "none"
CSP_DIRECTIVES: Final = "liveobs.security.csp.directives"  # directive names, comma separated
CSP_UNSAFE_INLINE: Final = "liveobs.security.csp.unsafe_inline"
CSP_UNSAFE_EVAL: Final = "liveobs.security.csp.unsafe_eval"
SRI_ALGORITHM: Final = "liveobs.security.sri.algorithm"
LIMIT_BYTES: Final = "liveobs.security.limit_bytes"
OBSERVED_BYTES: Final = "liveobs.security.observed_bytes"
SCOPE_REQUIRED: Final = "liveobs.security.scope.required"
SCOPE_GRANTED: Final = "liveobs.security.scope.granted"
CAPABILITY_NAME: Final = "liveobs.security.capability"
KEY_ID: Final = "liveobs.security.key.id"
KEY_AGE_SECONDS: Final = "liveobs.security.key.age_seconds"
KEY_SOURCE_KIND: Final = "liveobs.security.key.source_kind"  # env | file | kms | vault | literal
UPLOAD_SCANNER: Final = "liveobs.security.upload.scanner"

# --- readiness and deploy evidence --------------------------------------------
READINESS_EVENT: Final = "liveobs.readiness"
READINESS_STATUS: Final = "liveobs.readiness.status"  # pass | warn | fail
READINESS_ENDPOINT: Final = "liveobs.readiness.endpoint"

# --- performance evidence: metric names -----------------------------------------
METRIC_RENDER_DURATION: Final = "liveobs.render.duration"  # ms, histogram
METRIC_CONNECT_DURATION: Final = "liveobs.connect.duration"  # ms, histogram
METRIC_EVENT_DURATION: Final = "liveobs.event.duration"  # ms, histogram, server side
METRIC_CLIENT_EVENT_LATENCY: Final = "liveobs.client.event.latency"  # ms, histogram, as reported
METRIC_PATCH_SIZE: Final = "liveobs.patch.size"  # By, histogram
METRIC_PATCH_COMPRESSED_SIZE: Final = "liveobs.patch.compressed_size"  # By, histogram
METRIC_COMPRESSION_RATIO: Final = "liveobs.patch.compression_ratio"  # 1, histogram
METRIC_RECONNECTS: Final = "liveobs.reconnects"  # counter
METRIC_STREAM_ITEMS: Final = "liveobs.stream.items"  # counter
METRIC_STREAM_BYTES: Final = "liveobs.stream.bytes"  # counter, By
METRIC_UPLOAD_BYTES: Final = "liveobs.upload.size"  # By, histogram
METRIC_UPLOAD_DURATION: Final = "liveobs.upload.duration"  # ms, histogram
METRIC_ACTIVE_SESSIONS: Final = "liveobs.sessions.active"  # up-down counter
METRIC_DROPPED: Final = "liveobs.telemetry.dropped"  # counter, by signal
METRIC_PROCESS_MEMORY: Final = "process.memory.usage"  # By, gauge (semconv)
METRIC_PROCESS_CPU: Final = "process.cpu.time"  # s, counter (semconv)

# --- added with the browser client and the evidence recorders -------------------
SRI_COVERED: Final = "liveobs.security.sri.covered"  # external scripts/styles with integrity
SRI_UNCOVERED: Final = "liveobs.security.sri.uncovered"  # external scripts/styles without
RATE_LIMIT_POLICY: Final = "liveobs.security.rate_limit.policy"  # the limiter's name, low cardinality
RATE_LIMIT_PER_MINUTE: Final = "liveobs.security.rate_limit.per_minute"
UPLOAD_THREAT: Final = "liveobs.security.upload.threat"  # the scanner's finding, bounded
# Process CPU time by mode (OTel semantic conventions).
CPU_MODE: Final = "cpu.mode"
# Browser report attributes beyond the ids (see keys.BROWSER_*).
BROWSER_ERROR_CODE: Final = "liveobs.browser.error_code"
BROWSER_REPORTS_DROPPED: Final = "liveobs.browser.reports_dropped"
BROWSER_ATTEMPTS: Final = "liveobs.browser.attempts"

# --- added for the release gates ----------------------------------------------
# The outcome a correct app gives to a deliberate attempt (the probe's foreign Origin,
# over-limit body, burst): the gate fails when SECURITY_OUTCOME differs from it.
SECURITY_EXPECTED: Final = "liveobs.security.expected"
# What was done with an upload after its scan: "accepted" | "refused".
SECURITY_DECISION: Final = "liveobs.security.decision"
# Comma-separated field names of an error reply sent to the browser (e.g. "type,code").
ERROR_REPLY_FIELDS: Final = "liveobs.error.reply.fields"
# The probe's step that recorded a span ("page", "asset", "readyz", "ws_origin", ...).
PROBE_STEP: Final = "liveobs.probe.step"
PROBE_SCOPE: Final = "liveobs.probe"

# --- primary evidence: what was observed, judged by the gates -------------------
# The response's Content-Security-Policy header(s) in the stored form of liveobs.evidence.
CSP_POLICY: Final = "liveobs.security.csp.policy"
# The page's own origin (scheme://host[:port]), to tell cross-origin subresources apart.
PAGE_ORIGIN: Final = "liveobs.security.page.origin"
# The page's scripts, stylesheets and preloads with their integrity, as JSON (liveobs.evidence).
SRI_RESOURCES: Final = "liveobs.security.sri.resources"
# Assets as they were served (url, HTTP status, digests), as JSON.
SRI_SERVED: Final = "liveobs.security.sri.served"
# A WebSocket handshake's Host header, next to its Origin (SECURITY_VALUE).
HANDSHAKE_HOST: Final = "liveobs.security.handshake.host"
HANDSHAKE_ORIGIN: Final = "liveobs.security.handshake.origin"
# The capabilities the caller held when a capability was decided (comma separated).
CAPABILITY_GRANTED: Final = "liveobs.security.capability.granted"
# An upload's SHA-256 (hex) and, when it was a test file, which one ("eicar").
UPLOAD_SHA256: Final = "liveobs.security.upload.sha256"
UPLOAD_CANARY: Final = "liveobs.security.upload.canary"
# A readiness answer as observed: HTTP status, the body's version and releaseId, redirects.
READINESS_HTTP_STATUS: Final = "liveobs.readiness.http_status"
READINESS_VERSION: Final = "liveobs.readiness.version"
READINESS_RELEASE_ID: Final = "liveobs.readiness.release_id"
READINESS_REDIRECTS: Final = "liveobs.readiness.redirects"

# The span event the SDK adds when a WebSocket is accepted (an accepted connect).
WEBSOCKET_CONNECT_EVENT: Final = "websocket.connect"
# Evidence an evidence driver produced carries keys.EVIDENCE_SOURCE = keys.EVIDENCE_DRIVEN
# on its spans (the SDK records it from the driver's X-Liveobs-Evidence header): it never
# counts as production traffic (rollback service, real-traffic checks).
# The canary value of UPLOAD_CANARY for the EICAR test file.
CANARY_EICAR: Final = "eicar"
