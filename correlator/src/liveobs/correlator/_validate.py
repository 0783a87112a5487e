"""Checking a request before it is acknowledged: a parse, the items it will reject, and salvage.

A request is acknowledged once its body is durable and has parsed; conversion
comes later. So the parse here decides the answer: a body that does not parse as
a whole is split along the OTLP message structure (resources, scopes, items),
each span, log record or metric is tried on its own at the depth it has in the
request, and the request is rebuilt from the items that parse. Their number and
the reason go back to the sender as OTLP ``partial_success``, with the items whose
ids the converter will refuse. Only a body whose framing itself is broken, or
where nothing survives, is refused whole (400).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from google.protobuf.message import DecodeError, Message

from liveobs.correlator._otlp import (
    LOGS,
    PROTOBUF,
    TRACES,
    MalformedBody,
    Signal,
    parse_json_object,
    parse_request,
)

# The OTLP nesting shared by the three signals: request.1 = resource group, group.1 = resource,
# group.2 = scope group, scope group.1 = scope, scope group.2 = item (span, log record, metric).
_GROUP: Final = 1
_RESOURCE: Final = 1
_SCOPE_GROUP: Final = 2
_SCOPE: Final = 1
_ITEM: Final = 2
# Metric data fields (gauge, sum, histogram, exponential histogram, summary); each holds data points at 1.
_METRIC_DATA: Final = frozenset({5, 7, 9, 10, 11})
_ITEM_NAMES: Final = {TRACES.name: "spans", LOGS.name: "log records"}
# The same nesting in the OTLP JSON mapping: (resource groups, scope groups, items) per signal.
_JSON_PATHS: Final = {
    TRACES.name: ("resourceSpans", "scopeSpans", "spans"),
    LOGS.name: ("resourceLogs", "scopeLogs", "logRecords"),
    "metrics": ("resourceMetrics", "scopeMetrics", "metrics"),
}


@dataclass(slots=True)
class Checked:
    """A request that parsed: the message, the body to store, the rows it holds and the items it rejects."""

    message: Message
    body: bytes
    rejected: int = 0
    reason: str = ""
    items: int = 0
    media: str = ""  # the media type of ``body`` when it is not the request's (a salvaged JSON body)


class _Broken(Exception):
    """The wire framing itself is broken."""


def check_request(signal: Signal, body: bytes, media: str) -> Checked:
    """Parse ``body``; salvage the items that parse when the whole does not; raise 400 if nothing can be kept."""
    try:
        message = parse_request(signal, body, media)
        checked = Checked(message, body)
    except MalformedBody as whole:
        try:
            checked = _salvage(signal, body) if media == PROTOBUF else _salvage_json(signal, body)
        except MalformedBody:
            raise whole from None  # nothing to keep: the parse's own message says best what is wrong
    checked.items, bad_ids = count_items(signal, checked.message)
    if bad_ids:
        checked.rejected += bad_ids
        what = "metrics had no data" if signal.name not in _ITEM_NAMES else f"{_ITEM_NAMES[signal.name]} had" \
            " malformed trace or span ids"
        note = f"{bad_ids} {what}"
        checked.reason = f"{checked.reason}; {note}" if checked.reason else note
    return checked


def count_items(signal: Signal, message: Any) -> tuple[int, int]:
    """(rows the converter will store, items it will refuse), by the rules of _spans, _logrecords, _datapoints."""
    good = bad = 0
    if signal is TRACES:
        for rs in message.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    parent = span.parent_span_id
                    if len(span.trace_id) != 16 or len(span.span_id) != 8 or (parent and len(parent) != 8):
                        bad += 1
                    else:
                        good += 1
    elif signal is LOGS:
        for rl in message.resource_logs:
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    tid, sid = record.trace_id, record.span_id
                    if (tid and len(tid) != 16) or (sid and len(sid) != 8):
                        bad += 1
                    else:
                        good += 1
    else:
        for rm in message.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    if kind is None:
                        bad += 1
                    else:
                        good += len(getattr(metric, kind).data_points)
    return good, bad


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _Broken
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, start of the field, end) of each field; the value of a bytes field is
    ``buf[end - length:end]``, see :func:`_value`."""
    pos = 0
    while pos < len(buf):
        start = pos
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            pos += length
        elif wire == 5:
            pos += 4
        else:
            raise _Broken
        if pos > len(buf) or number == 0:
            raise _Broken
        yield number, wire, start, pos


def _value(buf: bytes, start: int, end: int) -> bytes:
    """The payload of the length-delimited field at ``buf[start:end]``."""
    _, pos = _varint(buf, start)
    _, pos = _varint(buf, pos)
    return buf[pos:end]


def _field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _parses(signal: Signal, body: bytes) -> bool:
    try:
        signal.request.FromString(body)
    except (DecodeError, RecursionError, ValueError):
        return False
    return True


def _wrap(group: bytes = b"", scope_group: bytes = b"", item: bytes | None = None) -> bytes:
    """A request holding one part at the depth it has in a real request (so that depth limits apply equally)."""
    if item is not None:
        scope_group += _field(_ITEM, item)
    return _field(_GROUP, group + _field(_SCOPE_GROUP, scope_group))


def _count_points(metric: bytes) -> int:
    """The data points of a metric (1 when its framing cannot be read)."""
    try:
        points = sum(
            1
            for number, wire, start, end in _fields(metric) if number in _METRIC_DATA and wire == 2
            for inner, inner_wire, _, _ in _fields(_value(metric, start, end)) if inner == 1 and inner_wire == 2
        )
    except _Broken:
        return 1
    return max(points, 1)


def _one(item: bytes) -> int:
    return 1


def _salvage(signal: Signal, body: bytes) -> Checked:
    """The request rebuilt from the items that parse; 400 when its framing is broken or nothing is left."""
    weight = _count_points if signal.name not in _ITEM_NAMES else _one
    rejected = kept = 0
    groups: list[bytes] = []
    try:
        for number, wire, start, end in _fields(body):
            if number != _GROUP or wire != 2:
                continue  # unknown request fields are dropped
            group = _value(body, start, end)
            head = b""
            scopes: list[tuple[bytes, list[bytes]]] = []
            for g_number, g_wire, g_start, g_end in _fields(group):
                if g_number == _SCOPE_GROUP and g_wire == 2:
                    scope_group = _value(group, g_start, g_end)
                    scope_head, items = b"", []
                    for s_number, s_wire, s_start, s_end in _fields(scope_group):
                        if s_number == _ITEM and s_wire == 2:
                            items.append(_value(scope_group, s_start, s_end))
                        elif _parses(signal, _wrap(scope_group=scope_group[s_start:s_end])):
                            scope_head += scope_group[s_start:s_end]
                    scopes.append((scope_head, items))
                elif _parses(signal, _wrap(group=group[g_start:g_end])):
                    head += group[g_start:g_end]
                elif g_number == _RESOURCE:
                    head = b""
                    scopes = []
                    break  # a resource that does not parse: nothing under it can be attributed
            scope_parts = b""
            for scope_head, items in scopes:
                good = b""
                for item in items:
                    if _parses(signal, _wrap(head, scope_head, item)):
                        good += _field(_ITEM, item)
                        kept += 1
                    else:
                        rejected += weight(item)
                if good:
                    scope_parts += _field(_SCOPE_GROUP, scope_head + good)
            if scope_parts:
                groups.append(_field(_GROUP, head + scope_parts))
            rejected += _lost_items(group, weight) if not scopes else 0
    except _Broken:
        raise MalformedBody(f"invalid protobuf {signal.request.__name__}: its framing is broken") from None
    clean = b"".join(groups)
    if not kept:
        raise MalformedBody(f"invalid protobuf {signal.request.__name__}: no {_ITEM_NAMES.get(signal.name, 'metric')}"
                            " in it can be read")
    try:
        message = signal.request.FromString(clean)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise MalformedBody(f"invalid protobuf {signal.request.__name__}: {str(exc)[:200]}") from None
    what = _ITEM_NAMES.get(signal.name, "data points")
    return Checked(message, clean, rejected, f"{rejected} {what} could not be read (invalid UTF-8, nesting too"
                                             " deep or a malformed field) and were dropped")


def _lost_items(group: bytes, weight: Callable[[bytes], int]) -> int:
    """The items of a resource group dropped whole (its resource does not parse)."""
    lost = 0
    for number, wire, start, end in _fields(group):
        if number == _SCOPE_GROUP and wire == 2:
            scope_group = _value(group, start, end)
            lost += sum(weight(_value(scope_group, s, e)) for n, w, s, e in _fields(scope_group)
                        if n == _ITEM and w == 2)
    return lost


def _json_points(item: Any) -> int:
    """The data points of a JSON metric (1 when it has none that can be counted)."""
    if not isinstance(item, dict):
        return 1
    points = sum(len(data.get("dataPoints") or []) for data in item.values()
                 if isinstance(data, dict) and isinstance(data.get("dataPoints"), list))
    return max(points, 1)


def _list(obj: Any, key: str) -> list[Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []


def _salvage_json(signal: Signal, body: bytes) -> Checked:
    """A JSON request rebuilt from the items that parse alone (stored as protobuf); 400 if none does."""
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise MalformedBody(f"invalid JSON: {str(exc)[:200]}") from None
    groups_key, scopes_key, items_key = _JSON_PATHS[signal.name]
    weight = _json_points if signal.name not in _ITEM_NAMES else (lambda item: 1)
    kept = rejected = 0
    groups = []
    for group in _list(obj, groups_key):
        head = {k: v for k, v in group.items() if k != scopes_key} if isinstance(group, dict) else {}
        scopes = []
        for scope in _list(group, scopes_key):
            scope_head = {k: v for k, v in scope.items() if k != items_key} if isinstance(scope, dict) else {}
            good = []
            for item in _list(scope, items_key):
                trial = {groups_key: [{**head, scopes_key: [{**scope_head, items_key: [item]}]}]}
                try:
                    parse_json_object(signal, copy.deepcopy(trial))
                except MalformedBody:
                    rejected += weight(item)
                    continue
                good.append(item)
            if good:
                scopes.append({**scope_head, items_key: good})
                kept += len(good)
        if scopes:
            groups.append({**head, scopes_key: scopes})
    if not kept:
        raise MalformedBody(f"invalid OTLP JSON: no {_ITEM_NAMES.get(signal.name, 'metric')} in it can be read")
    message = parse_json_object(signal, {groups_key: groups})
    what = _ITEM_NAMES.get(signal.name, "data points")
    return Checked(message, bytes(message.SerializeToString()), rejected,
                   f"{rejected} {what} could not be read (a malformed field) and were dropped", media=PROTOBUF)
