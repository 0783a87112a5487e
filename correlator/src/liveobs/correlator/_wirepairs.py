"""Attributes decoded from their wire bytes as whole Arrow columns, for the ones the interner has not seen.

Spans as apps send them carry ids seen once (event, request, trace ids): each is
an attribute the interner (``_rawspans``) has never met. Decoding those one by
one in Python cost more than the rest of a span's conversion. Here they are
read in one pass per key length with Arrow compute: an attribute in the
canonical string form (see :func:`~liveobs.correlator._rawspans.string_pair`:
``0a <key len> key 12 <len> [0a <len> value]``, lengths below 128) yields its
key and value; any other (numbers, long values, invalid UTF-8) is left to the
interner, which reads it with the protobuf runtime.

Scrubbing follows the shared scrubber's rules: a secret key's non-empty value is
replaced whole, and every other value is scanned, once per distinct value, except
values of at most 128 lower-case hex digits and dashes under the built-in rules
(the shared scrubber's own fast path: no rule matches them).
"""

from __future__ import annotations

import re
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from liveobs.correlator._rawspans import MAX_HEX_ID
from liveobs.correlator._scrub import IngestScrubber
from liveobs.redaction import HEX_ID_CHARS

_MAX_SHORT: Final = 0x7F
# The shared scrubber's hex fast path (liveobs.redaction: HEX_ID_CHARS, at most 128 characters).
_HEX_ONLY: Final = rf"\A[{re.escape(HEX_ID_CHARS)}]{{0,{MAX_HEX_ID}}}\z"
_KEY_TAG: Final = pa.scalar(b"\x0a", pa.binary())
_VALUE_TAG: Final = pa.scalar(b"\x12", pa.binary())
_STRING_TAG: Final = pa.scalar(b"\x0a", pa.binary())


def _as_bytes(numbers: pa.Array) -> pa.Array:
    """Small integers as one-byte binaries (to compare with bytes sliced out of the wire)."""
    small = pc.cast(numbers, pa.uint8(), safe=False)
    one = pa.Array.from_buffers(pa.binary(1), len(small), [None, small.buffers()[1]], offset=small.offset)
    return pc.cast(one, pa.binary())


def _byte(values: pa.Array, at: int) -> pa.Array:
    """The byte at ``at`` of each value (empty where a value is shorter)."""
    return pc.binary_slice(values, at, at + 1)


def decode_pairs(raws: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(positions, keys, values) of the ``raws`` (binary ``KeyValue`` bytes) in the canonical string form, in
    position order; the others are left out (their positions are not listed)."""
    lengths = pc.binary_length(raws)
    candidate = pc.and_(pc.greater_equal(lengths, 4), pc.equal(_byte(raws, 0), _KEY_TAG))
    positions = pc.indices_nonzero(candidate)
    if not len(positions):
        return positions, pa.array([], pa.string()), pa.array([], pa.string())
    raws, lengths = raws.take(positions), lengths.take(positions)
    key_lengths = pc.cast(pc.cast(_byte(raws, 1), pa.binary(1)).view(pa.uint8()), pa.int32())
    found_positions: list[pa.Array] = []
    found_keys: list[pa.Array] = []
    found_values: list[pa.Array] = []
    for k in pc.unique(key_lengths).to_pylist():
        if k > _MAX_SHORT:
            continue
        here = pc.equal(key_lengths, k)
        group, size = raws.filter(here), lengths.filter(here)
        value_size = pc.subtract(size, k + 4)
        ok = pc.and_(pc.greater_equal(value_size, 0), pc.less_equal(value_size, _MAX_SHORT))
        ok = pc.and_(ok, pc.equal(_byte(group, k + 2), _VALUE_TAG))
        ok = pc.and_(ok, pc.equal(_byte(group, k + 3), _as_bytes(value_size)))
        # A value: exactly one string field filling the AnyValue (``0a <len> text``).
        string = pc.and_(pc.greater_equal(value_size, 2), pc.equal(_byte(group, k + 4), _STRING_TAG))
        string = pc.and_(string, pc.equal(_byte(group, k + 5), _as_bytes(pc.subtract(value_size, 2))))
        ok = pc.and_(ok, pc.or_(pc.equal(value_size, 0), string))
        group = group.filter(ok)
        try:
            keys = pc.cast(pc.binary_slice(group, 2, 2 + k), pa.string())
            values = pc.cast(pc.binary_slice(group, k + 6, k + 6 + _MAX_SHORT), pa.string())
        except pa.ArrowInvalid:  # invalid UTF-8 somewhere in the group: the interner reads each one
            continue
        found_positions.append(positions.filter(here).filter(ok))
        found_keys.append(keys)
        found_values.append(values)
    if not found_positions:
        return pa.array([], pa.uint64()), pa.array([], pa.string()), pa.array([], pa.string())
    where = pa.concat_arrays(found_positions)
    order = pc.sort_indices(where)
    return where.take(order), pa.concat_arrays(found_keys).take(order), pa.concat_arrays(found_values).take(order)


def scrub_values(scrubber: IngestScrubber, keys: pa.Array, values: pa.Array) -> pa.Array:
    """``values`` as the scrubber would store them under ``keys`` (see the module's docstring)."""
    if not len(values):
        return values
    distinct = pc.unique(keys).to_pylist()
    secret = [key for key in distinct if scrubber.secret_key(key)]
    scanned = pc.is_in(keys, pa.array(secret, pa.string())) if secret else None
    if scanned is not None:
        scanned = pc.invert(scanned)
    if scrubber.scrubber.default_rules:
        plain = pc.match_substring_regex(values, _HEX_ONLY)
        to_scan = pc.invert(plain) if scanned is None else pc.and_(scanned, pc.invert(plain))
    else:
        to_scan = pc.is_valid(values) if scanned is None else scanned
    values = scrub_where(scrubber, values, to_scan)
    if secret:
        blank = pc.and_(pc.invert(scanned), pc.not_equal(values, ""))
        values = pc.if_else(blank, pa.scalar(scrubber.key_marker, pa.string()), values)
    return values


def scrub_where(scrubber: IngestScrubber, values: pa.Array, mask: pa.Array) -> pa.Array:
    """``values`` with each one under ``mask`` scrubbed as text: one scrubber call per distinct value."""
    changed = {}
    for text in pc.unique(values.filter(mask)).to_pylist():
        cleaned = scrubber.text(text)
        if cleaned != text:
            changed[text] = cleaned
    if not changed:
        return values
    position = pc.index_in(values, value_set=pa.array(list(changed), pa.string()))
    replaced = pc.take(pa.array(list(changed.values()), pa.string()), position)
    return pc.if_else(pc.and_(mask, pc.is_valid(position)), replaced, values)
