"""The OTLP trace request, read with each span's attributes, events, links and status left as wire bytes.

Reading a ``KeyValue`` through the protobuf runtime costs four attribute
lookups and two new wrapper objects, about 0.4 µs, and a span has ten or more.
Attributes repeat heavily (the session, route and connection ids, the method,
the release), so the collector parses requests with a twin of the OTLP message
whose repeated ``KeyValue``, ``Event`` and ``Link`` fields and ``Status`` are
declared ``bytes`` (the same field numbers and wire type): each attribute
arrives as the bytes of its ``KeyValue``, and an :class:`AttributeInterner`
decodes and scrubs each distinct one once.
"""

from __future__ import annotations

from typing import Any, Final

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from liveobs.correlator._columns import any_text
from liveobs.correlator._otlp import MalformedBody
from liveobs.correlator._scrub import IngestScrubber
from liveobs.redaction import HEX_ID_CHARS

_PACKAGE: Final = "liveobs.correlator.rawspans"
# Span fields read as raw bytes instead of messages: attributes, events, links, status.
_RAW_FIELDS: Final = frozenset({9, 11, 13, 15})
# Distinct attributes remembered across requests before the memo starts afresh, and the bytes they
# may hold: values sent once (ids, long messages) must not keep their request's memory alive.
DEFAULT_INTERNED: Final = 100_000
DEFAULT_INTERNED_BYTES: Final = 16 * 1024 * 1024
# An attribute longer than this is decoded each time it occurs and never remembered across requests.
MAX_REMEMBERED_ATTRIBUTE: Final = 1024
# What a remembered pair costs beyond its text: the dict slot, two str and one bytes header, list slots.
_PAIR_OVERHEAD: Final = 200
# Distinct attribute heads (key and value length) remembered for the fast path, at most.
MAX_HEADS: Final = 4096
# Under the built-in rules a value of at most this many lower-case hex digits and dashes needs no rule (the
# shared scrubber's own fast path, see liveobs.redaction): checked here on the wire bytes, where deleting
# those bytes is a third of the cost of the scrubber's call (ids are the attributes seen once).
_HEX_BYTES: Final = HEX_ID_CHARS.encode()
MAX_HEX_ID: Final = 128


def _message_classes() -> dict[str, type[Message]]:
    file = descriptor_pb2.FileDescriptorProto(
        name="liveobs/correlator/rawspans.proto",
        package=_PACKAGE,
        syntax="proto3",
        dependency=[
            "opentelemetry/proto/common/v1/common.proto",
            "opentelemetry/proto/resource/v1/resource.proto",
        ],
    )
    span = file.message_type.add()
    trace_pb2.Span.DESCRIPTOR.CopyToProto(span)
    span.name = "RawSpan"
    del span.nested_type[:]
    del span.enum_type[:]
    for field in span.field:
        if field.number in _RAW_FIELDS:
            field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
            field.ClearField("type_name")
        elif field.type == descriptor_pb2.FieldDescriptorProto.TYPE_ENUM:
            field.type = descriptor_pb2.FieldDescriptorProto.TYPE_INT32
            field.ClearField("type_name")
    for name, original, child in (
        ("RawScopeSpans", trace_pb2.ScopeSpans, "RawSpan"),
        ("RawResourceSpans", trace_pb2.ResourceSpans, "RawScopeSpans"),
        ("RawTraceRequest", None, "RawResourceSpans"),
    ):
        message = file.message_type.add()
        if original is None:
            message.name = name
            message.field.add(
                name="resource_spans", number=1,
                label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
                type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
            )
        else:
            original.DESCRIPTOR.CopyToProto(message)
            message.name = name
        for field in message.field:
            if field.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED:
                field.type_name = f".{_PACKAGE}.{child}"
    pool = descriptor_pool.Default()
    try:
        described = pool.FindFileByName(file.name)
    except KeyError:
        described = pool.Add(file)
    return {name: message_factory.GetMessageClass(described.message_types_by_name[name]) for name in
            ("RawTraceRequest", "RawSpan")}


_CLASSES: Final = _message_classes()
RawTraceRequest: Final = _CLASSES["RawTraceRequest"]


def raw_trace_request(payload: bytes | Message) -> Any:
    """A ``RawTraceRequest`` from a protobuf body or an already-parsed ``ExportTraceServiceRequest``."""
    body = payload if isinstance(payload, bytes) else payload.SerializeToString()
    request = RawTraceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise MalformedBody(f"invalid protobuf ExportTraceServiceRequest: {str(exc)[:200]}") from None
    return request


def parse_part(cls: type[Message], raw: bytes, what: str) -> Any:
    """One message from the raw bytes of a span's field, or raise 400."""
    try:
        return cls.FromString(raw)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise MalformedBody(f"invalid span {what}: {str(exc)[:200]}") from None


def string_pair(raw: bytes) -> tuple[str, str] | None:
    """(key, value) of a ``KeyValue`` with a string value in the canonical encoding, read without the protobuf
    runtime (a third of the cost); None for any other shape or invalid UTF-8, which the runtime then reads.

    The canonical shape, lengths below 128: ``0a <len> key 12 <len> [0a <len> value]``.
    """
    size = len(raw)
    if size < 4 or raw[0] != 0x0A or raw[1] > 0x7F:
        return None
    key_end = raw[1] + 2
    if key_end + 2 > size or raw[key_end] != 0x12:
        return None
    value_size = raw[key_end + 1]
    start = key_end + 2
    if value_size > 0x7F or start + value_size != size:
        return None
    if value_size and (value_size < 2 or raw[start] != 0x0A or raw[start + 1] != value_size - 2):
        return None
    try:
        return raw[2:key_end].decode(), raw[start + 2:].decode()
    except UnicodeDecodeError:
        return None


class AttributeInterner(dict[bytes, int]):
    """Raw ``KeyValue`` bytes → the number of their (key, scrubbed value) pair, decoding each distinct one once.

    Read with ``interner.get`` (a dict lookup in C; a miss is decoded with its batch as a column, see
    ``_wirepairs``), or indexed: a miss (``__missing__``) then decodes, scrubs and numbers the pair. Pairs
    are numbered across requests; :meth:`start_request` starts afresh between
    requests once ``limit`` pairs or ``byte_limit`` bytes are held. An attribute
    longer than :data:`MAX_REMEMBERED_ATTRIBUTE` is numbered for its own request
    only: never looked up, and its text is dropped when the next request starts.
    The memo therefore holds at most about ``byte_limit`` bytes beyond the
    attributes of the last request.
    """

    def __init__(
        self, scrubber: IngestScrubber, limit: int = DEFAULT_INTERNED, byte_limit: int = DEFAULT_INTERNED_BYTES
    ) -> None:
        super().__init__()
        self.scrubber = scrubber
        self.limit = limit
        self.byte_limit = byte_limit
        self.held_bytes = 0
        self._long: list[int] = []
        self.pair_keys: list[str] = []
        self.pair_values: list[str] = []
        self.key_codes: list[int] = []
        self.key_numbers: dict[str, int] = {}
        # The bytes before a string value (``0a <len> key 12 <len> 0a <len>``) -> (key, its code, whether it
        # names a secret, the attribute's whole size): a new value under a known key is then one decode and
        # one scrub of its text. Keys are few; their heads per value length too (at most MAX_HEADS kept).
        self._heads: dict[bytes, tuple[str, int, bool, int]] = {}
        self._hex_passes = scrubber.scrubber.default_rules

    def start_request(self) -> None:
        for number in self._long:
            # The key stays counted: ``key_numbers`` keeps it until the memo starts afresh.
            self.held_bytes -= len(self.pair_values[number])
            self.pair_keys[number] = self.pair_values[number] = ""
        self._long.clear()
        if len(self.pair_keys) >= self.limit or self.held_bytes >= self.byte_limit:
            self.held_bytes = 0
            self.clear()
            self.pair_keys.clear()
            self.pair_values.clear()
            self.key_codes.clear()
            self.key_numbers.clear()
            self._heads.clear()

    def __missing__(self, raw: bytes) -> int:
        size = len(raw)
        if size > 6 and raw[0] == 0x0A:
            end = raw[1] + 6
            head = self._heads.get(raw[:end])
            if head is not None and head[3] == size:
                data = raw[end:]
                try:
                    text = data.decode()
                except UnicodeDecodeError:
                    pass
                else:
                    key, code, secret, _ = head
                    number = len(self.pair_keys)
                    if secret and text:
                        value = self.scrubber.key_marker
                    elif self._hex_passes and size - end <= MAX_HEX_ID and not data.translate(None, _HEX_BYTES):
                        value = text
                    else:
                        value = self.scrubber.text(text)
                    self.pair_keys.append(key)
                    self.pair_values.append(value)
                    self.key_codes.append(code)
                    self.held_bytes += size + len(key) + len(value) + _PAIR_OVERHEAD
                    self[raw] = number
                    return number
        return self._decode(raw)

    def _decode(self, raw: bytes) -> int:
        pair = string_pair(raw)
        if pair is None:
            kv = parse_part(KeyValue, raw, "attribute")
            key, text = kv.key, any_text(kv.value)
        else:
            key, text = pair
        number = len(self.pair_keys)
        value = self.scrubber.value(key, text)
        self.pair_keys.append(key)
        self.pair_values.append(value)
        code = self.key_numbers.get(key)
        if code is None:
            code = self.key_numbers[key] = len(self.key_numbers)
        self.key_codes.append(code)
        if pair is not None and text and len(self._heads) < MAX_HEADS:
            # A canonical string attribute (see string_pair): its text starts after the six bytes of framing.
            self._heads[raw[:raw[1] + 6]] = (key, code, self.scrubber.secret_key(key), len(raw))
        if len(raw) > MAX_REMEMBERED_ATTRIBUTE:
            self.held_bytes += len(key) + len(value) + _PAIR_OVERHEAD
            self._long.append(number)
        else:
            self.held_bytes += len(raw) + len(key) + len(value) + _PAIR_OVERHEAD
            self[raw] = number
        return number
