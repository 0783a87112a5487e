"""The live envelope and reply: typed, validated, and safe on hostile input."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from liveobs.conventions import (
    LiveReply,
    mint_event_id,
    parse_envelope,
    parse_message,
    parse_reply,
    valid_id,
    valid_route,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
envelope_keys = st.sampled_from(
    ["event_id", "event_name", "seq", "session_id", "connection_id", "route_id", "traceparent", "client_time"]
)
hostile_envelopes = st.dictionaries(envelope_keys | st.text(max_size=8), json_values, max_size=10)


def test_a_good_envelope_round_trips_through_the_wire() -> None:
    event_id = mint_event_id()
    raw = {
        "event_id": event_id,
        "event_name": "add_card",
        "seq": 7,
        "session_id": "s-1",
        "connection_id": "c-1",
        "route_id": "/board/{board_id}",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "client_time": 1_790_000_000_000,
    }
    env = parse_envelope(raw)
    assert env.event_id == event_id
    assert not env.event_id_minted
    assert env.rejected == ()
    assert env.to_wire() == raw


def test_a_bad_event_id_gets_a_fresh_one_and_is_reported() -> None:
    env = parse_envelope({"event_id": "bad id\n", "seq": -1, "route_id": "/a b"})
    assert env.event_id_minted
    assert valid_id(env.event_id) == env.event_id
    assert set(env.rejected) == {"event_id", "seq", "route_id"}
    assert env.seq is None
    assert env.route_id is None


def test_parse_message_keeps_the_payload_apart_from_the_envelope() -> None:
    msg = parse_message(json.dumps({"event": "add_card", "title": "x", "lo": {"event_id": "e1", "seq": 1}}))
    assert msg.error is None
    assert msg.payload == {"event": "add_card", "title": "x"}
    assert msg.envelope is not None
    assert msg.envelope.event_id == "e1"
    plain = parse_message(b'{"event": "ping"}')
    assert plain.envelope is None
    assert plain.payload == {"event": "ping"}


def test_parse_message_refuses_oversized_broken_and_deep_bodies() -> None:
    assert "over the limit" in (parse_message("x" * 70_000).error or "")
    assert "not valid JSON" in (parse_message("{broken").error or "")
    assert "not valid JSON" in (parse_message("[" * 60_000).error or "")
    assert "not valid JSON" in (parse_message(b"\xff\xfe{").error or "")
    assert "not a JSON object" in (parse_message("[1, 2]").error or "")


@given(hostile_envelopes)
def test_parse_envelope_never_raises_and_keeps_only_valid_values(raw: dict[str, Any]) -> None:
    env = parse_envelope(raw)
    assert valid_id(env.event_id) == env.event_id
    for value in (env.session_id, env.connection_id):
        assert value is None or valid_id(value) == value
    assert env.route_id is None or valid_route(env.route_id) == env.route_id
    assert env.seq is None or (isinstance(env.seq, int) and env.seq >= 0)


@given(st.one_of(st.text(), st.binary(), json_values.map(json.dumps)))
def test_parse_message_never_raises(data: str | bytes) -> None:
    msg = parse_message(data)
    assert (msg.error is None) or (msg.payload == {} and msg.envelope is None)


@given(json_values)
def test_parse_reply_never_raises(raw: Any) -> None:
    reply = parse_reply(raw)
    assert reply is None or valid_id(reply.event_id) == reply.event_id


def test_an_error_reply_carries_only_class_and_code() -> None:
    wire = LiveReply(event_id="e1", ok=False, error_class="KeyError", error_code="internal").to_wire()
    assert wire == {"event_id": "e1", "ok": False, "error_class": "KeyError", "error_code": "internal"}
    parsed = parse_reply(wire)
    assert parsed is not None
    assert parsed.error_class == "KeyError"
    assert not parsed.ok
    hostile = parse_reply({"event_id": "e1", "error_class": "Key Error: secret=1", "error_code": "<b>"})
    assert hostile is not None
    assert hostile.error_class is None
    assert hostile.error_code is None


def test_repeating_fields_are_judged_the_same_every_time() -> None:
    from liveobs.conventions import parse_envelope

    good = {"event_id": "01J0000000000000000000000D", "session_id": "k1.abc", "connection_id": "c-1",
            "route_id": "/board/{id}", "event_name": "add_card"}
    bad = {"event_id": "01J0000000000000000000000E", "session_id": "k1 abc", "connection_id": "c\n1",
           "route_id": "/board/ {id}", "event_name": "1add"}
    for _ in range(3):  # the second and third time the accepted values come from memory
        first, second = parse_envelope(good), parse_envelope(bad)
        assert (first.session_id, first.connection_id, first.route_id, first.event_name, first.rejected) == (
            "k1.abc", "c-1", "/board/{id}", "add_card", ())
        assert (second.session_id, second.connection_id, second.route_id, second.event_name) == (None,) * 4
        assert second.rejected == ("event_name", "session_id", "connection_id", "route_id")


def test_the_one_reply_encoder_writes_what_parse_reply_reads_for_plain_and_escaped_ids() -> None:
    import json

    from liveobs.conventions import parse_reply, reply_message, reply_text

    for event_id, plain in (("01a2450e-538e-7185-aaf7-ae7eecc0c4a2", True), ('ev"1\\', False)):
        text = reply_text(event_id, "0" * 31 + "1", "0" * 15 + "2", 1_764_277_264_123_456_789, 12, plain_id=plain)
        wire = json.loads(text)
        assert wire["event_id"] == event_id
        assert wire["server_time"] == 1_764_277_264_123.456789
        parsed = parse_reply(wire)
        if plain:
            assert parsed is not None
            assert parsed.patch_bytes == 12
            assert json.loads(reply_message(parsed))["lo"] == parsed.to_wire()


def _reply_text_spelled_out(event_id: str, trace_id: str, span_id: str, ns: int, patch_bytes: int | None) -> str:
    patch = "" if patch_bytes is None else f',"patch_bytes":{patch_bytes:d}'
    return (f'{{"event_id":"{event_id}","ok":true,"trace_id":"{trace_id}","span_id":"{span_id}",'
            f'"server_time":{"%d.%06d" % divmod(ns, 1_000_000)}{patch}}}')  # noqa: UP031


@given(st.from_regex(r"[A-Za-z0-9._:\-]{1,40}", fullmatch=True),
       st.one_of(st.integers(min_value=-(10**20), max_value=10**20), st.integers(min_value=0, max_value=2_000_000)),
       st.one_of(st.none(), st.booleans(), st.integers(min_value=-5, max_value=2**40)))
def test_reply_text_equals_the_spelled_out_reply_for_every_time_and_size(
        event_id: str, ns: int, patch_bytes: int | None) -> None:
    import json

    from liveobs.conventions import reply_text

    trace_id, span_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    expected = _reply_text_spelled_out(event_id, trace_id, span_id, ns, patch_bytes)
    for plain in (True, False):
        assert reply_text(event_id, trace_id, span_id, ns, patch_bytes, plain_id=plain) == expected
    wire = json.loads(expected)
    assert (wire["event_id"], wire["ok"], wire.get("patch_bytes")) == (event_id, True, patch_bytes)


valid_fields = st.fixed_dictionaries({}, optional={
    "event_id": st.sampled_from(["01J0000000000000000000000F", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "e 1", ""]),
    "event_name": st.sampled_from(["add_card", "board.move", "1add", None]),
    "seq": st.one_of(st.integers(min_value=-2, max_value=2**53 + 1), st.booleans(), st.floats(allow_nan=False)),
    "session_id": st.sampled_from(["k1.abc", "k1 abc", None]),
    "connection_id": st.sampled_from(["c-1", "c\n1"]),
    "route_id": st.sampled_from(["/board/{id}", "/board/ {id}"]),
    "traceparent": st.sampled_from(["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-xyz"]),
    "client_time": st.one_of(st.integers(min_value=946_684_799_999, max_value=946_684_800_001), st.floats()),
})


@given(st.one_of(valid_fields, hostile_envelopes, st.tuples(valid_fields, hostile_envelopes).map(
    lambda pair: {**pair[1], **pair[0]})))
def test_the_one_pass_parse_of_a_common_envelope_agrees_with_the_field_by_field_parse(raw: dict[str, Any]) -> None:
    from liveobs.conventions._envelope import _common_envelope, _field_by_field

    one_pass, by_field = parse_envelope(raw), _field_by_field(raw)
    if by_field.event_id_minted:
        assert one_pass.event_id_minted
        assert valid_id(one_pass.event_id) == one_pass.event_id
        one_pass, by_field = one_pass._replace(event_id=""), by_field._replace(event_id="")
    assert one_pass == by_field
    assert [type(v) for v in one_pass] == [type(v) for v in by_field]
    common = _common_envelope(raw)
    assert common is None or (common == by_field and not by_field.rejected)
