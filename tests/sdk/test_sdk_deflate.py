"""A reply's deflated size: the bytes websockets' own permessage-deflate puts in the frame, for a sample of replies."""

from __future__ import annotations

import json
import os
import random
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode
from websockets.sync.client import connect

from liveobs.conventions import keys
from liveobs.sdk import _deflate
from liveobs.sdk._deflate import (
    MEASURED_EVERY,
    MEASURED_FIRST,
    SPARE_PER_SECOND,
    WINDOW,
    Allowance,
    ReplyDeflate,
    deflated_size,
)


class Wire:
    """What a websockets server sends with its defaults (and uvicorn's): 12-bit window, memLevel 5, context kept."""

    def __init__(self) -> None:
        self._extension = PerMessageDeflate(False, False, 12, 12, {"memLevel": 5})

    def size(self, data: bytes, opcode: Opcode = Opcode.TEXT) -> int:
        return len(self._extension.encode(Frame(opcode, data)).data)


def _messages(seed: int, n: int) -> list[bytes]:
    rng = random.Random(seed)
    out: list[bytes] = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.25:
            out.append(rng.randbytes(rng.randint(0, 400)))
        elif kind < 0.6:
            cards = "".join(f"<li id='card-{rng.randint(0, 99)}'>{rng.choice(['Ship', 'Fix', 'Plan'])} it</li>"
                            for _ in range(rng.randint(1, 60)))
            out.append(json.dumps({"patch": cards}).encode())
        elif kind < 0.8:
            out.append(b"a" * rng.randint(1, 3 * WINDOW))
        else:
            out.append(bytes(rng.choice(b"abcdefgh<>/ ") for _ in range(rng.randint(WINDOW - 100, 3 * WINDOW))))
    return out


def test_every_size_equals_the_frame_websockets_sends_after_the_same_messages() -> None:
    for seed in range(6):
        wire, sent = Wire(), bytearray()
        for raw in _messages(seed, 60):
            assert deflated_size(raw, sent) == wire.size(raw), (seed, len(raw))
            sent += raw


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=600), st.text(max_size=300).map(str.encode),
                          st.integers(1, 9000).map(lambda n: b"<li>card</li>" * (n // 13 + 1))), max_size=25))
def test_any_sequence_of_messages_is_measured_as_websockets_compresses_it(messages: list[bytes]) -> None:
    wire, sent = Wire(), bytearray()
    for raw in messages:
        assert deflated_size(raw, sent) == wire.size(raw, Opcode.BINARY)
        sent += raw


def _replay(deflate: ReplyDeflate, messages: list[bytes], push: Any) -> list[int | None]:
    """Send ``messages`` (those where ``push(i)`` as other messages, the rest as replies): each reply's size,
    checked against the frame websockets sends whenever it is measured."""
    wire, sizes = Wire(), []
    for i, raw in enumerate(messages):
        expected = wire.size(raw)
        if push(i):  # not measured, but later replies may refer back to it
            deflate.sent(raw)
            continue
        size = deflate.size(raw)
        assert size is None or size == expected, i
        sizes.append(size)
    return sizes


def _measured(sizes: list[int | None]) -> list[int]:
    return [n for n, size in enumerate(sizes) if size is not None]


def test_a_busy_connection_measures_its_first_replies_then_every_sixteenth_and_counts_what_else_it_sent() -> None:
    deflate = ReplyDeflate(spare=lambda: False)  # the process has measured its spare replies
    measured = _measured(_replay(deflate, _messages(7, 80), lambda i: i > 12 and i % 3 == 2))
    replies = 80 - sum(1 for i in range(80) if i > 12 and i % 3 == 2)
    assert measured == [n for n in range(replies) if n < MEASURED_FIRST or (n + 1) % MEASURED_EVERY == 0]
    assert measured[:MEASURED_FIRST + 2] == [0, 1, 2, 3, 4, 5, 6, 7, 15, 31]


def test_replies_past_the_sample_are_measured_while_the_process_has_spare_ones() -> None:
    allowance = iter([True] * 10 + [False] * 10 + [True] * 40)
    deflate = ReplyDeflate(spare=lambda: next(allowance))
    measured = _measured(_replay(deflate, _messages(13, 80), lambda i: i % 4 == 3))
    # the first 8; past them the sample (the 16th, 32nd, 48th) and each reply the allowance lets through
    sampled = [n for n in range(MEASURED_FIRST, 60) if (n + 1) % MEASURED_EVERY == 0]
    asked = [n for n in range(MEASURED_FIRST, 60) if n not in sampled]
    spare = asked[:10] + asked[20:]
    assert measured == sorted([*range(MEASURED_FIRST), *sampled, *spare])


def test_the_allowance_gives_its_rate_a_second_and_no_more() -> None:
    now = [100.0]
    allowance = Allowance(SPARE_PER_SECOND, clock=lambda: now[0])
    assert sum(allowance.take() for _ in range(200)) == SPARE_PER_SECOND
    now[0] += 0.5
    assert sum(allowance.take() for _ in range(200)) == SPARE_PER_SECOND // 2
    now[0] += 60  # an idle minute leaves at most one second's worth
    assert sum(allowance.take() for _ in range(200)) == SPARE_PER_SECOND


def test_a_push_among_the_first_replies_is_in_the_next_reply_s_window() -> None:
    sizes = _replay(ReplyDeflate(), _messages(11, 3 + MEASURED_FIRST), lambda i: i in (2, 3, 6))
    assert None not in sizes


def test_a_reply_that_repeats_what_was_just_sent_is_measured_small() -> None:
    patch = os.urandom(1500)  # incompressible alone
    deflate = ReplyDeflate()
    deflate.sent(patch)
    size = deflate.size(patch)
    assert size is not None
    assert size < 30  # every byte refers back to the message before


def test_a_connection_holds_a_bounded_window_whatever_it_sent() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        deflate = ReplyDeflate()
        deflate.size(os.urandom(1 << 20))
        for _ in range(200):
            deflate.sent(os.urandom(700))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 3 * WINDOW + 1024, held


def test_event_spans_carry_the_sampled_sizes_of_the_app_s_own_messages(
        configured: Any, serve: Any, envelope: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each event's reply, then a push: a few events a second, so every reply carries the size websockets gives."""
    monkeypatch.setattr(_deflate, "_SPARE", Allowance(SPARE_PER_SECOND))  # none spent by the tests before
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    import liveobs.sdk

    def reply(n: int) -> str:
        return json.dumps({"patch": "".join(f"<li>card {i}</li>" for i in range(n % 7, 40)), "n": n})

    def push(n: int) -> str:
        return json.dumps({"stream": f"<p>{n} cards moved</p>" * 5})

    async def live(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            n = json.loads(text)["n"]
            await websocket.send_text(reply(n))
            await websocket.send_text(push(n))

    events = 20
    app = liveobs.sdk.LiveObsMiddleware(Starlette(routes=[WebSocketRoute("/live", live)]),
                                        telemetry=configured.telemetry)
    server = serve(app)
    ids = [f"018f3b2a-7c4d-7e5f-8a9b-0c1d2e3f{n:04x}" for n in range(events)]
    with connect(f"{server.ws}/live") as ws:
        for n, event_id in enumerate(ids):
            message = json.loads(envelope("add_card", event_id, n + 1))
            ws.send(json.dumps({**message, "n": n}))
            assert json.loads(ws.recv())["n"] == n
            ws.recv()
    spans = {s["attributes"][keys.EVENT_ID]: s["attributes"] for s in configured.receiver.spans_named("live.event", events)}
    wire = Wire()
    for n, event_id in enumerate(ids):
        attributes, sent = spans[event_id], reply(n).encode()
        expected = wire.size(sent)
        wire.size(push(n).encode())
        assert attributes[keys.PATCH_BYTES] == len(sent)
        assert attributes[keys.PATCH_COMPRESSED_BYTES] == expected, n
