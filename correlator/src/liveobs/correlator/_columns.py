"""Column helpers shared by the span, log and data-point converters.

OTLP messages are walked once in tight loops that append to plain lists; the
lists become Arrow arrays in one call each. Per-resource and per-scope values
are built once and repeated with ``take``. Attribute maps live in ``_maps``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import json
import math
from decimal import Decimal
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

MAP_TYPE: Final = pa.map_(pa.string(), pa.string())
TS_TYPE: Final = pa.timestamp("ns")
# The latest time stored (year 2255): safely below DuckDB's infinity, 2**63 - 1.
MAX_NS: Final = 9_000_000_000_000_000_000


def clamp_ns(value: int) -> int:
    """An OTLP ``fixed64`` time clamped to :data:`MAX_NS`."""
    return value if value <= MAX_NS else MAX_NS


def any_json(value: Any) -> Any:
    """An OTLP ``AnyValue`` as a JSON-ready Python value."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_json(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_json(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, which)


def number_text(number: float) -> str:
    """A double as the OpenTelemetry Collector writes it (ES6 number text: ``3``, ``0.25``, ``1e-7``, ``1e+21``),
    so a value reads the same in a DuckDB store and in the Collector's ClickHouse tables."""
    if math.isnan(number) or math.isinf(number):
        return "json: unsupported value: " + ("NaN" if math.isnan(number) else ("+Inf" if number > 0 else "-Inf"))
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    shortest = Decimal(repr(number))
    if 1e-6 <= abs(number) < 1e21:
        fixed = format(shortest, "f")
        return fixed.rstrip("0").rstrip(".") if "." in fixed else fixed
    sign, digits, exponent = shortest.normalize().as_tuple()
    mantissa = "".join(map(str, digits))
    power = int(exponent) + len(mantissa) - 1
    head = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    return f"{'-' if sign else ''}{head}e{'-' if power < 0 else '+'}{abs(power)}"


def _json_text(raw: Any) -> str:
    """JSON as the Collector writes an array or map value: compact, keys sorted, doubles as :func:`number_text`."""
    if isinstance(raw, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_json_text(raw[k])}" for k in sorted(raw)) + "}"
    if isinstance(raw, list):
        return "[" + ",".join(_json_text(v) for v in raw) + "]"
    if isinstance(raw, float):
        return number_text(raw)
    return json.dumps(raw, ensure_ascii=False)


def any_text(value: Any) -> str:
    """An OTLP ``AnyValue`` as the exporter stores it in a string column."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return str(value.string_value)
    if which is None:
        return ""
    if which == "bool_value":
        return "true" if value.bool_value else "false"
    if which == "int_value":
        return str(value.int_value)
    if which == "double_value":
        return number_text(value.double_value)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return _json_text(any_json(value))


def attributes_dict(attributes: Any) -> dict[str, str]:
    """A repeated ``KeyValue`` field as plain string pairs (unscrubbed)."""
    return {kv.key: any_text(kv.value) for kv in attributes}


def repeat(values: pa.Array, indices: list[int]) -> pa.Array:
    """``values`` (one per resource or scope) repeated to one per row."""
    return values.take(pa.array(indices, pa.int32()))


def list_of(child: pa.Array, offsets: list[int]) -> pa.Array:
    """A ``LIST`` column: ``offsets`` delimit each row's slice of ``child``."""
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), child)


def sparse_offsets(marks: list[int], rows: int) -> list[int]:
    """List offsets for ``rows`` rows from ``marks``: (row, end) pairs for the rows that have items.

    Events and links are rare, so the converters note only the rows that have them.
    """
    offsets = [0] * (rows + 1)
    if not marks:
        return offsets
    end = 0
    row = 0
    for i in range(0, len(marks), 2):
        marked, marked_end = marks[i], marks[i + 1]
        while row <= marked:
            offsets[row] = end
            row += 1
        end = marked_end
    while row <= rows:
        offsets[row] = end
        row += 1
    return offsets


def hex_ids(raw: list[bytes], size: int | None = None) -> pa.Array:
    """Binary ids as one column of lowercase hex strings, hexed in one call over their concatenation.

    With ``size`` every id has that many bytes (the offsets are then computed, not counted).
    """
    data = pa.py_buffer(binascii.hexlify(b"".join(raw)))
    if size is not None:
        offsets = pc.multiply(counting(len(raw) + 1), 2 * size)
    else:
        offsets = pc.multiply(pa.array(list(itertools.accumulate(map(len, raw), initial=0)), pa.int64()), 2)
    return pa.StringArray.from_buffers(len(raw), pc.cast(offsets, pa.int32()).buffers()[1], data)


# The largest cached counting array: 2**20 int64 values (8 MiB); the cache then holds at most 16 MiB.
_MAX_CACHED_COUNT: Final = 1 << 20


def counting(n: int) -> pa.Array:
    """0, 1, … n - 1 as int64 (a slice of a cached array of the next power of two, up to 2**20)."""
    size = 1 << max(n - 1, 0).bit_length()
    if size > _MAX_CACHED_COUNT:
        return pa.array(range(n), pa.int64())
    return _counting_to(size).slice(0, n)


@functools.lru_cache(maxsize=21)
def _counting_to(n: int) -> pa.Array:
    return pa.array(range(n), pa.int64())


def hex_id(raw: bytes, size: int) -> str | None:
    """A trace or span id as lowercase hex; ``""`` when absent or all zero, None when malformed."""
    if not raw:
        return ""
    if len(raw) != size:
        return None
    return "" if raw.count(0) == size else raw.hex()
