"""Attribute maps: OTLP ``KeyValue`` lists → one scrubbed ``MAP(VARCHAR, VARCHAR)`` column.

The Python loop only reads each key and value once and appends them to flat
lists (the floor of what reading a protobuf costs in Python). Everything else
is vectorised over the whole batch with Arrow compute: keys repeated within a
map are collapsed (DuckDB refuses them), secret keys are blanked, values under
other keys are scrubbed once per *distinct* value, and the values of the
correlation keys are picked out as columns for the correlation index.
"""

from __future__ import annotations

import itertools
from typing import Any, Final, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from liveobs.conventions import keys
from liveobs.correlator._columns import any_text, attributes_dict, counting
from liveobs.correlator._scrub import KEY_SCAN, IngestScrubber
from liveobs.correlator._wirepairs import decode_pairs, scrub_values, scrub_where

# The attributes the correlation index and the error occurrences need.
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
_KEY_SECRET: Final = 1


class MapColumn:
    """Builds one map column; with ``capture=True`` also the :data:`CAPTURED_KEYS` columns."""

    __slots__ = ("_captured", "capture", "keys", "offsets", "scrubber", "values")

    def __init__(self, scrubber: IngestScrubber, *, capture: bool = False) -> None:
        self.keys: list[str] = []
        self.values: list[str] = []
        self.offsets: list[int] = [0]
        self.scrubber = scrubber
        self.capture = capture
        self._captured: dict[str, pa.Array] = {}

    def add(self, attributes: Any) -> None:
        """Append one map from a repeated ``KeyValue`` field."""
        keys_append = self.keys.append
        values_append = self.values.append
        for kv in attributes:
            value = kv.value
            text = value.string_value
            if not text and value.WhichOneof("value") != "string_value":
                text = any_text(value)
            keys_append(kv.key)
            values_append(text)
        self.offsets.append(len(self.keys))

    def add_dict(self, mapping: dict[str, str]) -> None:
        """Append one map from already-flattened string pairs."""
        self.keys.extend(mapping)
        self.values.extend(mapping.values())
        self.offsets.append(len(self.keys))

    def array(self) -> pa.Array:
        """The scrubbed maps (and, with ``capture``, the captured columns, see :meth:`captured`)."""
        offsets = pa.array(self.offsets, pa.int32())
        keys_array = pa.array(self.keys, pa.string())
        values = pa.array(self.values, pa.string())
        if _has_repeated_keys(offsets, keys_array):
            offsets, keys_array, values = _dedupe(self.offsets, self.keys, self.values)
        values = _scrubbed(self.scrubber, keys_array, values)
        if self.capture:
            self._captured = _capture(offsets, keys_array, values, len(self.offsets) - 1)
        return pa.MapArray.from_arrays(offsets, keys_array, values)

    def captured(self) -> dict[str, pa.Array]:
        """Per captured key, its value in each row (null where absent); after :meth:`array`."""
        return self._captured


class Resources:
    """The resources of a conversion pass: each one's service name and version, and its attributes as a map."""

    __slots__ = ("maps", "services", "versions")

    def __init__(self, scrubber: IngestScrubber) -> None:
        self.services: list[str] = []
        self.versions: list[str | None] = []
        self.maps = MapColumn(scrubber)

    def add(self, attributes: Any) -> int:
        """Append a resource from its repeated ``KeyValue`` field; its index (rows point at it)."""
        resource = attributes_dict(attributes)
        self.services.append(resource.get(keys.SERVICE_NAME, ""))
        self.versions.append(resource.get(keys.SERVICE_VERSION))
        self.maps.add_dict(resource)
        return len(self.services) - 1


def interned_map_array(numbers: list[int], offsets: list[int], pairs: InternedPairs) -> tuple[pa.Array, dict[str, pa.Array]]:
    """A map column from pair numbers (see ``_rawspans.AttributeInterner``), and its captured columns.

    Pair ``n`` is ``pairs.pair_keys[n]`` with the already-scrubbed ``pairs.pair_values[n]``;
    only the pairs this batch uses become Arrow strings. Keys are compared as the
    interner's key numbers, not as strings.
    """
    offsets_array = pa.array(offsets, pa.int32())
    rows = len(offsets) - 1
    if not numbers:
        empty = pa.array([], pa.string())
        return pa.MapArray.from_arrays(offsets_array, empty, empty), _capture(offsets_array, empty, empty, rows)
    number_array = pa.array(numbers, pa.int64())
    used = pc.unique(number_array)
    local = pc.index_in(number_array, value_set=used)
    used_list = used.to_pylist()
    keys_of, values_of, codes_of = pairs.pair_keys, pairs.pair_values, pairs.key_codes
    keys_array = pa.array([keys_of[n] for n in used_list], pa.string()).take(local)
    values = pa.array([values_of[n] for n in used_list], pa.string()).take(local)
    used_codes = [codes_of[n] for n in used_list]
    codes = pa.array(used_codes, pa.int64()).take(local)
    parents = pc.list_parent_indices(pa.ListArray.from_arrays(offsets_array, codes))
    if _repeats(parents, codes, len(pairs.key_numbers)):
        offsets_array, keys_array, values = _dedupe(offsets, keys_array.to_pylist(), values.to_pylist())
        return pa.MapArray.from_arrays(offsets_array, keys_array, values), _capture(
            offsets_array, keys_array, values, rows
        )
    captured = _capture_slots(parents, local, used_codes, values, rows, pairs.key_numbers)
    return pa.MapArray.from_arrays(offsets_array, keys_array, values), captured


class InternedPairs(Protocol):
    """Numbered (key, scrubbed value) pairs, and a number per distinct key."""

    pair_keys: list[str]
    pair_values: list[str]
    key_codes: list[int]
    key_numbers: dict[str, int]


class Interner(InternedPairs, Protocol):
    """:class:`InternedPairs` that number raw ``KeyValue`` bytes (``_rawspans.AttributeInterner``)."""

    scrubber: IngestScrubber

    def get(self, raw: bytes, default: None = None, /) -> int | None: ...

    def __getitem__(self, raw: bytes, /) -> int: ...


def wire_map_array(raws: list[bytes], offsets: list[int], interner: Interner) -> tuple[pa.Array, dict[str, pa.Array]]:
    """A map column from raw ``KeyValue`` bytes (``offsets`` delimit each row's), and its captured columns.

    Attributes the interner holds are its pairs; the rest are decoded together
    (see ``_wirepairs``), and those the canonical reader declines go through the
    interner one by one. A pair met more than once in the batch (a session's id)
    is interned for the batches after it; ids seen once are not remembered.
    """
    if not raws:
        return interned_map_array([], offsets, interner)
    listed: list[int | None] = list(map(interner.get, raws))
    numbers = pa.array(listed, pa.int64())
    if not numbers.null_count:
        return interned_map_array(listed, offsets, interner)  # type: ignore[arg-type]
    missed = pc.indices_nonzero(pc.is_null(numbers)).to_pylist()
    missed_raws = [raws[i] for i in missed]
    missed_array = pa.array(missed_raws, pa.binary())
    where, keys_found, values_found = decode_pairs(missed_array)
    if len(where) < len(missed):
        decoded = set(where.to_pylist())
        for n, at in enumerate(missed):
            if n not in decoded:
                listed[at] = interner[missed_raws[n]]
        numbers = pa.array(listed, pa.int64())
    if len(where):
        found_raws = missed_array.take(where)
        counts = pc.value_counts(found_raws)
        for raw in counts.field("values").filter(pc.greater(counts.field("counts"), 1)).to_pylist():
            interner[raw]  # remembered for later batches
    if not len(where):
        return interned_map_array(listed, offsets, interner)  # type: ignore[arg-type]
    key_numbers = interner.key_numbers
    distinct = pc.unique(keys_found).to_pylist()
    for key in distinct:
        key_numbers.setdefault(key, len(key_numbers))
    codes_found = pa.array([key_numbers[k] for k in distinct], pa.int64()).take(
        pc.index_in(keys_found, value_set=pa.array(distinct, pa.string())))
    values_found = scrub_values(interner.scrubber, keys_found, values_found)
    offsets_array = pa.array(offsets, pa.int32())
    rows = len(offsets) - 1
    used = pc.unique(pc.drop_null(numbers))
    used_list = used.to_pylist()
    # Each attribute's place in this pass's pairs: the interned pairs it uses, then the decoded ones in order.
    place = pc.replace_with_mask(pc.index_in(numbers, value_set=used), pc.is_null(numbers),
                                 pc.cast(pc.add(counting(len(where)), len(used_list)), pa.int32()))
    keys_array = pa.concat_arrays([pa.array([interner.pair_keys[n] for n in used_list], pa.string()),
                                   keys_found]).take(place)
    values = pa.concat_arrays([pa.array([interner.pair_values[n] for n in used_list], pa.string()),
                               values_found]).take(place)
    codes = pa.concat_arrays([pa.array([interner.key_codes[n] for n in used_list], pa.int64()),
                              codes_found]).take(place)
    parents = pc.list_parent_indices(pa.ListArray.from_arrays(offsets_array, codes))
    if _repeats(parents, codes, len(key_numbers)):
        offsets_array, keys_array, values = _dedupe(offsets, keys_array.to_pylist(), values.to_pylist())
        return pa.MapArray.from_arrays(offsets_array, keys_array, values), _capture(
            offsets_array, keys_array, values, rows
        )
    captured = _captured_by_code(parents, codes, values, rows, key_numbers)
    return pa.MapArray.from_arrays(offsets_array, keys_array, values), captured


def _captured_by_code(
    parents: pa.Array, codes: pa.Array, values: pa.Array, rows: int, key_numbers: dict[str, int]
) -> dict[str, pa.Array]:
    """As :func:`_capture_slots`, from each attribute's key code."""
    slot_of_code = _slots_by_code(key_numbers)
    if not rows or not slot_of_code:
        return dict.fromkeys(CAPTURED_KEYS, pa.nulls(rows, pa.string()))
    slots = pa.array([slot_of_code.get(code) for code in range(len(key_numbers))], pa.int64()).take(codes)
    return _scatter_slots(slots, parents, values, rows)


def _slots_by_code(key_numbers: dict[str, int]) -> dict[int, int]:
    """Key code -> its slot (place in :data:`CAPTURED_KEYS`), for the captured keys the interner has numbered."""
    return {code: slot for slot, key in enumerate(CAPTURED_KEYS) if (code := key_numbers.get(key)) is not None}


def _repeats(parents: pa.Array, codes: pa.Array, distinct_keys: int) -> bool:
    """Whether some row repeats a key code (codes below ``distinct_keys``): distinct (row, key) pairs counted."""
    if len(codes) < 2:
        return False
    pairs = pc.add(pc.multiply(pc.cast(parents, pa.int64()), distinct_keys + 1), pc.cast(codes, pa.int64()))
    return bool(pc.count_distinct(pairs).as_py() != len(codes))


def _capture_slots(
    parents: pa.Array, local: pa.Array, used_codes: list[int], values: pa.Array, rows: int, key_numbers: dict[str, int]
) -> dict[str, pa.Array]:
    """The captured columns, from the slot (place in :data:`CAPTURED_KEYS`) of each used pair's key."""
    slot_of_code = _slots_by_code(key_numbers)
    used_slots = [slot_of_code.get(code) for code in used_codes]
    if not rows or all(slot is None for slot in used_slots):
        return dict.fromkeys(CAPTURED_KEYS, pa.nulls(rows, pa.string()))
    return _scatter_slots(pa.array(used_slots, pa.int64()).take(local), parents, values, rows)


def _scatter_slots(slots: pa.Array, parents: pa.Array, values: pa.Array, rows: int) -> dict[str, pa.Array]:
    """The captured columns in one pass: each attribute with a slot goes to position ``slot * rows + row``
    of one array (keys are unique within a map, so positions are too), whose slices are the columns. Only
    integers are filtered; the values are taken once."""
    wanted = pc.is_valid(slots)
    positions = pc.add(pc.multiply(pc.filter(slots, wanted), rows), pc.cast(pc.filter(parents, wanted), pa.int64()))
    attribute = pc.filter(counting(len(slots)), wanted)
    index = pc.take(attribute, pc.index_in(counting(len(CAPTURED_KEYS) * rows), value_set=positions))
    column = pc.take(values, index)
    return {key: column.slice(slot * rows, rows) for slot, key in enumerate(CAPTURED_KEYS)}


def _has_repeated_keys(offsets: pa.Array, keys_array: pa.Array) -> bool:
    """Whether some map repeats a key string (the keys numbered by dictionary encoding)."""
    if len(keys_array) < 2:
        return False
    rows = pc.list_parent_indices(pa.ListArray.from_arrays(offsets, keys_array))
    return _repeats(rows, pc.dictionary_encode(keys_array).indices, len(keys_array))


def _dedupe(offsets: list[int], keys_list: list[str], values: list[str]) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Collapse repeated keys within each map, keeping the last value (as a dict would)."""
    out_offsets = [0]
    out_keys: list[str] = []
    out_values: list[str] = []
    for start, end in itertools.pairwise(offsets):
        row = dict(zip(keys_list[start:end], values[start:end], strict=True))
        out_keys.extend(row)
        out_values.extend(row.values())
        out_offsets.append(len(out_keys))
    return pa.array(out_offsets, pa.int32()), pa.array(out_keys, pa.string()), pa.array(out_values, pa.string())


def _scrubbed(scrubber: IngestScrubber, keys_array: pa.Array, values: pa.Array) -> pa.Array:
    if not len(keys_array):
        return values
    kinds: dict[int, list[str]] = {}
    for key in pc.unique(keys_array).to_pylist():
        kinds.setdefault(scrubber.key_kind(key), []).append(key)
    secret = kinds.get(_KEY_SECRET)
    if secret:
        blank = pc.and_(pc.is_in(keys_array, pa.array(secret, pa.string())), pc.not_equal(values, ""))
        values = pc.if_else(blank, pa.scalar(scrubber.key_marker, pa.string()), values)
    scanned = kinds.get(KEY_SCAN)
    if scanned:
        values = scrub_where(scrubber, values, pc.is_in(keys_array, pa.array(scanned, pa.string())))
    return values


def _capture(offsets: pa.Array, keys_array: pa.Array, values: pa.Array, rows: int) -> dict[str, pa.Array]:
    nulls = pa.nulls(rows, pa.string())
    present = set(pc.unique(keys_array).to_pylist()) if len(keys_array) else set()
    wanted = [k for k in CAPTURED_KEYS if k in present]
    if not wanted:
        return dict.fromkeys(CAPTURED_KEYS, nulls)
    parents = pc.list_parent_indices(pa.ListArray.from_arrays(offsets, keys_array))
    row_ids = pa.array(range(rows), pa.int64())
    captured = dict.fromkeys(CAPTURED_KEYS, nulls)
    for key in wanted:
        here = pc.equal(keys_array, key)
        # Keys are unique within a map, so each row has at most one position.
        position = pc.index_in(row_ids, value_set=pc.filter(parents, here))
        captured[key] = pc.take(pc.filter(values, here), position)
    return captured


def scrubbed_texts(scrubber: IngestScrubber, texts: list[str]) -> pa.Array:
    """A string column with every distinct value scrubbed once (names, messages, bodies)."""
    values = pa.array(texts, pa.string())
    if not len(values):
        return values
    return scrub_where(scrubber, values, pc.is_valid(values))


def enum_names(codes: list[int] | pa.Array, names: tuple[str, ...]) -> pa.Array:
    """Enum numbers as the exporter's names; a number outside ``names`` stays a number."""
    numbers = codes if isinstance(codes, pa.Array) else pa.array(codes, pa.int32())
    known = pc.and_(pc.greater_equal(numbers, 0), pc.less(numbers, len(names)))
    named = pc.take(pa.array(names, pa.string()), pc.if_else(known, numbers, 0))
    return pc.if_else(known, named, pc.cast(numbers, pa.string()))
