"""liveobs in-app instrumentation for live web apps.

``liveobs.sdk.configure(...)`` and one ASGI middleware
(:class:`LiveObsMiddleware`), and every structlog line, span and metric of the
app carries the request, session, event, route and trace ids; each browser
action over the WebSocket gets its own trace; no secret leaves the process.
Nothing happens at import.
"""

from liveobs.sdk._assets import ASSET_PATH, REPORT_PATH, ClientAsset, client_asset, script_tag
from liveobs.sdk._configure import Instruments, Telemetry, configure, current_telemetry, shutdown
from liveobs.sdk._context import ContextExecutor, LiveIds, bind_ids, current_ids, run_in_context
from liveobs.sdk._dropped import DropCounter
from liveobs.sdk._evidence import (
    record_body_limit,
    record_capability,
    record_csp,
    record_key_custody,
    record_rate_limit,
    record_scope,
    record_security,
    record_session_key,
    record_sri,
    record_upload_scan,
    record_ws_host,
    record_ws_origin,
)
from liveobs.sdk._evidence_asgi import EvidenceMiddleware, observe_live_app
from liveobs.sdk._faults import fault_counts
from liveobs.sdk._health import CheckResult, Health
from liveobs.sdk._http import head_tags, start_session
from liveobs.sdk._live import EventRecorder, current_event, error_reply, handle_event, live_event
from liveobs.sdk._logbridge import LogBridge
from liveobs.sdk._middleware import LiveObsMiddleware
from liveobs.sdk._origin import OriginPolicy, WebSocketGuard
from liveobs.sdk._perf import PerfRecorder, perf_recorder
from liveobs.sdk._processors import (
    LiveObsChain,
    add_correlation_ids,
    add_timestamp,
    liveobs_processors,
    render_json,
)
from liveobs.sdk._redact import FastScrubber, RedactingLogRecordProcessor, RedactingSpanExporter, Redactor
from liveobs.sdk._report import ReportEndpoint
from liveobs.sdk._session import SessionKeyRing, cookie_session

__all__ = [
    "ASSET_PATH",
    "REPORT_PATH",
    "CheckResult",
    "ClientAsset",
    "ContextExecutor",
    "DropCounter",
    "EventRecorder",
    "EvidenceMiddleware",
    "FastScrubber",
    "Health",
    "Instruments",
    "LiveIds",
    "LiveObsChain",
    "LiveObsMiddleware",
    "LogBridge",
    "OriginPolicy",
    "PerfRecorder",
    "RedactingLogRecordProcessor",
    "RedactingSpanExporter",
    "Redactor",
    "ReportEndpoint",
    "SessionKeyRing",
    "Telemetry",
    "WebSocketGuard",
    "add_correlation_ids",
    "add_timestamp",
    "bind_ids",
    "client_asset",
    "configure",
    "cookie_session",
    "current_event",
    "current_ids",
    "current_telemetry",
    "error_reply",
    "fault_counts",
    "handle_event",
    "head_tags",
    "live_event",
    "liveobs_processors",
    "observe_live_app",
    "perf_recorder",
    "record_body_limit",
    "record_capability",
    "record_csp",
    "record_key_custody",
    "record_rate_limit",
    "record_scope",
    "record_security",
    "record_session_key",
    "record_sri",
    "record_upload_scan",
    "record_ws_host",
    "record_ws_origin",
    "render_json",
    "run_in_context",
    "script_tag",
    "shutdown",
    "start_session",
]
