"""Column builders shared by the span, log and data-point converters.

OTLP messages are walked once in tight loops that append to plain lists; the
lists become Arrow arrays in one call each. Attribute maps are built flat (keys,
values, offsets) and become one ``MapArray``; per-resource and per-scope values
are built once and repeated with ``take``.
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from liveobs.conventions import keys
from liveobs.correlator._scrub import KEY_SCAN, IngestScrubber

MAP_TYPE: Final = pa.map_(pa.string(), pa.string())
TS_TYPE: Final = pa.timestamp("ns")
_MAX_NS: Final = (1 << 63) - 1


def clamp_ns(value: int) -> int:
    """An OTLP ``fixed64`` time that fits Arrow's signed nanoseconds."""
    return value if value <= _MAX_NS else _MAX_NS


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
        return repr(value.double_value)
    return json.dumps(any_json(value), separators=(",", ":"), ensure_ascii=False)


# The attributes the correlation index and the error occurrences need, captured
# while maps are built so that nothing has to look inside the maps afterwards.
CAPTURED_KEYS: Final = (
    keys.EVENT_ID,
    keys.SESSION_ID,
    keys.REQUEST_ID,
    keys.ROUTE_ID,
    keys.CONNECTION_ID,
    keys.HTTP_ROUTE,
    keys.EVENT_NAME,
    keys.ERROR_TYPE,
    keys.EXCEPTION_TYPE,
)
SLOT: Final = {key: n for n, key in enumerate(CAPTURED_KEYS)}
_NO_SLOTS: Final[dict[str, int]] = {}


class MapColumn:
    """A ``MAP(VARCHAR, VARCHAR)`` column built from OTLP ``KeyValue`` lists, scrubbed.

    With ``capture=True`` each row's values for :data:`CAPTURED_KEYS` are kept in
    :attr:`captured` (one list per row, ``None`` where absent).
    """

    __slots__ = ("_codes", "_slots", "captured", "keys", "offsets", "scrubber", "values")

    def __init__(self, scrubber: IngestScrubber, *, capture: bool = False) -> None:
        self.keys: list[str] = []
        self.values: list[str] = []
        self.offsets: list[int] = [0]
        self.scrubber = scrubber
        self.captured: list[list[str | None]] | None = [] if capture else None
        self._slots = SLOT if capture else _NO_SLOTS
        self._codes: dict[str, int] = {}

    def add(self, attributes: Any) -> None:
        """Append one map from a repeated ``KeyValue`` field."""
        keys_append = self.keys.append
        values_append = self.values.append
        codes = self._codes
        texts = self.scrubber.scanned_texts
        captured = self.captured
        row: list[str | None] | None = None
        if captured is not None:
            row = [None] * len(CAPTURED_KEYS)
            captured.append(row)
        for kv in attributes:
            key = kv.key
            value = kv.value
            text = value.string_value
            if not text and value.WhichOneof("value") != "string_value":
                text = any_text(value)
            code = codes.get(key)
            if code is None:
                code = codes[key] = self.scrubber.key_code(key, self._slots)
            kind = code & 3
            stored = text if kind == 0 else texts.get(text) if kind == KEY_SCAN else None
            if stored is None:
                stored = self.scrubber.value(key, text)
            keys_append(key)
            values_append(stored)
            if code > 3 and row is not None:
                row[(code >> 2) - 1] = stored
        self.offsets.append(len(self.keys))

    def add_dict(self, mapping: dict[str, str]) -> None:
        """Append one map from already-flattened string pairs."""
        scrub = self.scrubber.value
        for key, text in mapping.items():
            self.keys.append(key)
            self.values.append(scrub(key, text))
        self.offsets.append(len(self.keys))

    def array(self) -> pa.Array:
        """The built maps; a key repeated within one map keeps its last value (DuckDB needs unique keys)."""
        offsets = pa.array(self.offsets, pa.int32())
        keys_array = pa.array(self.keys, pa.string())
        if _has_repeated_keys(offsets, keys_array):
            return _dedupe(self.offsets, self.keys, self.values)
        return pa.MapArray.from_arrays(offsets, keys_array, pa.array(self.values, pa.string()))

    def captured_columns(self) -> list[list[str | None]]:
        """The captured values as one list per key of :data:`CAPTURED_KEYS`."""
        rows = self.captured or []
        if not rows:
            return [[] for _ in CAPTURED_KEYS]
        return [list(column) for column in zip(*rows, strict=True)]


def _has_repeated_keys(offsets: pa.Array, keys_array: pa.Array) -> bool:
    """Whether some map repeats a key: (row, key) pairs counted distinct, vectorised."""
    if len(keys_array) < 2:
        return False
    encoded = pc.dictionary_encode(keys_array).indices
    rows = pc.list_parent_indices(pa.ListArray.from_arrays(offsets, keys_array))
    width = pa.scalar(len(keys_array) + 1, pa.int64())
    pairs = pc.add(pc.multiply(pc.cast(rows, pa.int64()), width), pc.cast(encoded, pa.int64()))
    return bool(pc.count_distinct(pairs).as_py() != len(keys_array))


def _dedupe(offsets: list[int], keys_list: list[str], values: list[str]) -> pa.Array:
    out_offsets = [0]
    out_keys: list[str] = []
    out_values: list[str] = []
    for start, end in itertools.pairwise(offsets):
        row = dict(zip(keys_list[start:end], values[start:end], strict=True))
        out_keys.extend(row)
        out_values.extend(row.values())
        out_offsets.append(len(out_keys))
    return pa.MapArray.from_arrays(
        pa.array(out_offsets, pa.int32()), pa.array(out_keys, pa.string()), pa.array(out_values, pa.string())
    )


def attributes_dict(attributes: Any) -> dict[str, str]:
    """A repeated ``KeyValue`` field as plain string pairs (unscrubbed)."""
    return {kv.key: any_text(kv.value) for kv in attributes}


def repeat(values: pa.Array, indices: list[int]) -> pa.Array:
    """``values`` (one per resource or scope) repeated to one per row."""
    return values.take(pa.array(indices, pa.int32()))


def list_of(child: pa.Array, offsets: list[int]) -> pa.Array:
    """A ``LIST`` column: ``offsets`` delimit each row's slice of ``child``."""
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), child)


def hex_id(raw: bytes, size: int) -> str | None:
    """A trace or span id as lowercase hex; ``""`` when absent or all zero, None when malformed."""
    if not raw:
        return ""
    if len(raw) != size:
        return None
    return "" if raw.count(0) == size else raw.hex()
