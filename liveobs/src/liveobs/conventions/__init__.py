"""The correlation contract as code.

Attribute keys and header names (:mod:`liveobs.conventions.keys`), evidence
names (:mod:`liveobs.conventions.evidence`), id minting and validation, the live
envelope and reply, and the error fingerprint. Standard library only.
"""

from liveobs.conventions import evidence, keys
from liveobs.conventions._envelope import (
    DEFAULT_MAX_MESSAGE_BYTES,
    LiveEnvelope,
    LiveMessage,
    parse_envelope,
    parse_message,
    valid_error_class,
    valid_error_code,
    valid_name,
    valid_route,
)
from liveobs.conventions._fingerprint import error_fingerprint, message_template
from liveobs.conventions._ids import (
    MAX_ID_LENGTH,
    TraceParent,
    format_traceparent,
    id_or_mint,
    mint_connection_id,
    mint_event_id,
    mint_request_id,
    parse_traceparent,
    uuid7,
    valid_id,
    valid_span_id,
    valid_trace_id,
)
from liveobs.conventions._reply import LiveReply, ms_text, parse_reply, reply_message, reply_text

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "MAX_ID_LENGTH",
    "LiveEnvelope",
    "LiveMessage",
    "LiveReply",
    "TraceParent",
    "error_fingerprint",
    "evidence",
    "format_traceparent",
    "id_or_mint",
    "keys",
    "message_template",
    "mint_connection_id",
    "mint_event_id",
    "mint_request_id",
    "ms_text",
    "parse_envelope",
    "parse_message",
    "parse_reply",
    "parse_traceparent",
    "reply_message",
    "reply_text",
    "uuid7",
    "valid_error_class",
    "valid_error_code",
    "valid_id",
    "valid_name",
    "valid_route",
    "valid_span_id",
    "valid_trace_id",
]
