"""Attributes read from their wire bytes: the fast reader agrees with the protobuf runtime or declines."""

from __future__ import annotations

from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from liveobs.correlator._columns import any_text, hex_ids
from liveobs.correlator._rawspans import string_pair

VALUES = st.one_of(
    st.none(),
    st.text(max_size=140).map(lambda v: ("string_value", v)),
    st.integers(-5, 5).map(lambda v: ("int_value", v)),
    st.booleans().map(lambda v: ("bool_value", v)),
    st.just(("empty", None)),
)


def _runtime(raw: bytes) -> tuple[str, str] | None:
    try:
        kv = KeyValue.FromString(raw)
    except DecodeError:
        return None
    return kv.key, any_text(kv.value)


@given(key=st.text(max_size=140), value=VALUES, cut=st.integers(0, 300), flip=st.tuples(st.integers(0, 300), st.integers(0, 255)))
def test_the_fast_reader_agrees_with_the_runtime_or_declines(key, value, cut, flip) -> None:
    raw = _key_value(key, value)
    for candidate in (raw, raw[:cut], raw + b"\x00", _flipped(raw, *flip)):
        pair = string_pair(candidate)
        if pair is not None:
            assert pair == _runtime(candidate)


def _flipped(raw: bytes, at: int, byte: int) -> bytes:
    if not raw:
        return raw
    out = bytearray(raw)
    out[at % len(out)] = byte
    return bytes(out)


def test_common_string_attributes_take_the_fast_path() -> None:
    raw = KeyValue(key="session.id", value={"string_value": "5f0c6b2e9d"}).SerializeToString()
    assert string_pair(raw) == ("session.id", "5f0c6b2e9d")
    assert string_pair(KeyValue(key="n", value={"int_value": 3}).SerializeToString()) is None
    assert string_pair(b"\x0a\x01\xff\x12\x00") is None  # invalid UTF-8: left to the runtime, which refuses it


@settings(deadline=None)  # the first example warms Arrow's compute kernels: seconds on a loaded machine
@given(ids=st.lists(st.binary(min_size=8, max_size=8), max_size=20), parents=st.lists(st.sampled_from([b"", b"\x01" * 8, bytes(range(8))]), max_size=20))
def test_ids_are_hexed_as_one_column_exactly_as_one_by_one(ids, parents) -> None:
    assert hex_ids(ids, 8).to_pylist() == [i.hex() for i in ids]
    assert hex_ids(parents).to_pylist() == [p.hex() for p in parents]


@given(key=st.sampled_from(["session.id", "password", "http.route", "k" * 126]), values=st.lists(st.text(max_size=140),
       max_size=8), flip=st.tuples(st.integers(0, 300), st.integers(0, 255)))
def test_a_new_value_under_a_known_key_is_interned_as_a_first_decode_would(key, values, flip) -> None:
    from liveobs.correlator._otlp import MalformedBody
    from liveobs.correlator._rawspans import AttributeInterner
    from liveobs.correlator._scrub import IngestScrubber

    scrubber = IngestScrubber()
    raws = [KeyValue(key=key, value={"string_value": "a-first-value"}).SerializeToString()]
    raws += [KeyValue(key=key, value={"string_value": v}).SerializeToString() for v in values]
    raws.append(_flipped(raws[-1], *flip))
    warm = AttributeInterner(scrubber)  # learns the key's head from the first value, then takes the fast path
    for raw in raws:
        fresh = AttributeInterner(scrubber)  # decodes each attribute from scratch
        try:
            expected: object = fresh.pair_values[fresh[raw]], fresh.pair_keys[fresh[raw]]
        except MalformedBody:
            expected = MalformedBody
        try:
            got: object = warm.pair_values[warm[raw]], warm.pair_keys[warm[raw]]
        except MalformedBody:
            got = MalformedBody
        assert got == expected
        if got is not MalformedBody:
            assert warm.key_codes[warm[raw]] == warm.key_numbers[warm.pair_keys[warm[raw]]]


def test_hex_ids_under_a_known_key_pass_as_the_scrubber_would_pass_them() -> None:
    from liveobs.correlator._rawspans import AttributeInterner
    from liveobs.correlator._scrub import IngestScrubber
    from liveobs.redaction import CachedScrubber, Scrubber

    values = ["0" * 32, "5f0c6b2e-9d41-4c1e-8a6b-0123456789ab", "a" * 128, "a" * 129, "ABCDEF0123", "",
              "ghp_" + "a" * 36, "0123456789abcdef" * 4 + "-"]
    for scrubber in (IngestScrubber(), IngestScrubber(Scrubber(extra_value_patterns=[("zeros", r"\b0{32}\b")]))):
        warm = AttributeInterner(scrubber)
        warm[KeyValue(key="liveobs.event.id", value={"string_value": "b" * 32}).SerializeToString()]
        reference = CachedScrubber(scrubber.scrubber, fast_paths=False)
        for value in values:
            raw = KeyValue(key="liveobs.event.id", value={"string_value": value}).SerializeToString()
            assert warm.pair_values[warm[raw]] == reference.value("liveobs.event.id", value)


def _key_value(key: str, value: tuple[str, object] | None) -> bytes:
    kv = KeyValue(key=key)
    if value is not None:
        kind, inner = value
        if kind == "empty":
            kv.value.SetInParent()
        else:
            setattr(kv.value, kind, inner)
    return bytes(kv.SerializeToString())


@settings(deadline=None)
@given(pairs=st.lists(st.tuples(st.text(max_size=140), VALUES, st.integers(0, 300),
                                st.tuples(st.integers(0, 300), st.integers(0, 255))), max_size=12))
def test_decoding_a_column_of_attributes_agrees_with_the_one_by_one_reader_or_declines(pairs) -> None:
    import pyarrow as pa

    from liveobs.correlator._wirepairs import decode_pairs

    raws = []
    for key, value, cut, flip in pairs:
        raw = _key_value(key, value)
        raws += [raw, raw[:cut], _flipped(raw, *flip)]
    where, keys, values = decode_pairs(pa.array(raws, pa.binary()))
    assert where.to_pylist() == sorted(where.to_pylist())
    for at, key, value in zip(where.to_pylist(), keys.to_pylist(), values.to_pylist(), strict=True):
        assert string_pair(raws[at]) == (key, value)


def test_ids_as_apps_send_them_are_all_decoded_as_a_column() -> None:
    import pyarrow as pa

    from liveobs.correlator._wirepairs import decode_pairs

    raws = [_key_value(k, ("string_value", v)) for k, v in (
        ("liveobs.event.id", "0" * 32), ("session.id", "5f0c6b2e9d"), ("http.route", "/cart/{id}"), ("k", ""),
        ("ключ", "значение"), ("x" * 127, "y" * 120))]
    raws.append(_key_value("n", ("int_value", 3)))  # not a string: left to the interner
    where, keys, values = decode_pairs(pa.array(raws, pa.binary()))
    assert where.to_pylist() == [0, 1, 2, 3, 4, 5]
    assert list(zip(keys.to_pylist(), values.to_pylist(), strict=True)) == [string_pair(r) for r in raws[:6]]


@settings(deadline=None)
@given(pairs=st.lists(st.tuples(st.sampled_from(["session.id", "password", "api_key", "http.route", "liveobs.event.id"]),
                                st.one_of(st.text(max_size=60), st.sampled_from(
                                    ["", "0" * 32, "Bearer abc.def.ghi", "ghp_" + "a" * 36, "a" * 129, "-" * 5]))),
                      max_size=20))
def test_a_column_of_values_is_scrubbed_as_the_scrubber_scrubs_each(pairs) -> None:
    import pyarrow as pa

    from liveobs.correlator._scrub import IngestScrubber
    from liveobs.correlator._wirepairs import scrub_values
    from liveobs.redaction import Scrubber

    for scrubber in (IngestScrubber(), IngestScrubber(Scrubber(extra_value_patterns=[("zeros", r"0{32}")]))):
        keys = pa.array([k for k, _ in pairs], pa.string())
        values = pa.array([v for _, v in pairs], pa.string())
        assert scrub_values(scrubber, keys, values).to_pylist() == [scrubber.value(k, v) for k, v in pairs]
