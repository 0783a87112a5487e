"""Protobuf trace and log requests converted many at a time, each bad request failing alone.

A conversion pass costs about the same for one span or log record as for a few
thousand (its Arrow calls: about 4 ms for a pass of spans, 1.6 ms for one of
log records), so a sender that exports each span and record on its own (a
simple processor) would otherwise cost a pass per request. The converter hands
over every request that waits, and here the requests of each signal are
converted in one pass (``spans_tables``, ``logs_tables``); if that pass fails,
they are converted one by one, so that only the bad one fails. The conversion
process and the collector's own converter both convert through here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from liveobs.correlator._correlation import Converted
from liveobs.correlator._logrecords import logs_tables
from liveobs.correlator._otlp import (
    LOGS,
    PROTOBUF,
    TRACES,
    BodyError,
    ConversionFailed,
    Signal,
    parse_request,
)
from liveobs.correlator._rawspans import AttributeInterner, raw_trace_request
from liveobs.correlator._scrub import IngestScrubber
from liveobs.correlator._spans import spans_tables

# The signals converted in batches, in the order of their codes on the conversion process's pipe.
BATCHED: tuple[Signal, ...] = (TRACES, LOGS)


def batchable(signal: Signal, media: str) -> bool:
    """Whether requests of this signal and media type are converted here."""
    return media == PROTOBUF and signal in BATCHED


def convert_batch(
    requests: Sequence[tuple[Signal, bytes]], scrubber: IngestScrubber, interner: AttributeInterner
) -> list[Converted | BodyError]:
    """Each request (a signal of :data:`BATCHED` and its protobuf body) converted, or why it cannot be."""
    results: list[Converted | BodyError] = []
    order: list[int] = []
    for signal in BATCHED:
        indexes = [n for n, (s, _) in enumerate(requests) if s is signal]
        if indexes:
            results.extend(_convert(signal, [requests[n][1] for n in indexes], scrubber, interner))
            order.extend(indexes)
    by_request: list[Converted | BodyError] = [Converted()] * len(requests)
    for n, result in zip(order, results, strict=True):
        by_request[n] = result
    return by_request


def _parse(signal: Signal, body: bytes) -> Any:
    # Spans are read from the wire with their attributes as raw bytes (see _rawspans).
    return raw_trace_request(body) if signal is TRACES else parse_request(signal, body, PROTOBUF)


def _pass(signal: Signal, messages: list[Any], scrubber: IngestScrubber, interner: AttributeInterner) -> list[Converted]:
    return spans_tables(messages, scrubber, interner) if signal is TRACES else logs_tables(messages, scrubber)


def _convert(
    signal: Signal, bodies: list[bytes], scrubber: IngestScrubber, interner: AttributeInterner
) -> list[Converted | BodyError]:
    """Requests of one signal in one pass; if that fails, each alone (so only a bad one fails)."""
    with contextlib.suppress(Exception):  # the pass per body below names the failure
        return list(_pass(signal, [_parse(signal, b) for b in bodies], scrubber, interner))
    results: list[Converted | BodyError] = []
    for body in bodies:
        try:
            results.append(_pass(signal, [_parse(signal, body)], scrubber, interner)[0])
        except BodyError as exc:
            results.append(exc)
        except Exception as exc:  # a converter bug fails this request, not the converter
            results.append(ConversionFailed(f"cannot convert the request: {type(exc).__name__}: {exc}"[:300]))
    return results
