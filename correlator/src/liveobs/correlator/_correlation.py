"""The correlation index rows of a converted batch, built from the captured ids.

The attribute maps pick out the liveobs ids while they are built
(:data:`~liveobs.correlator._maps.CAPTURED_KEYS`); here those columns become the
``liveobs_correlation`` rows with vectorised Arrow compute, keeping only rows
that carry at least one liveobs id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from liveobs.conventions import keys

_ID_KEYS: Final = (keys.EVENT_ID, keys.SESSION_ID, keys.REQUEST_ID, keys.ROUTE_ID, keys.CONNECTION_ID)


@dataclass(slots=True)
class Converted:
    """One request as Arrow tables by target table, plus the rows that may be errors."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    rejected: int = 0
    span_error_candidates: pa.Table | None = None
    log_error_candidates: pa.Table | None = None

    @property
    def accepted(self) -> int:
        return sum(t.num_rows for name, t in self.tables.items() if name != "liveobs_correlation")


def correlation_rows(
    signal: str,
    base: pa.Table,
    service_versions: pa.Array,
    captured: dict[str, pa.Array],
    event_names: pa.Array | None = None,
) -> tuple[pa.Table, pa.Array] | None:
    """``liveobs_correlation`` rows for ``base`` (spans or logs) and the mask of the rows of ``base`` kept,
    or None when no row has an id."""
    columns = captured
    mask = pc.is_valid(columns[keys.EVENT_ID])
    for key in _ID_KEYS[1:]:
        mask = pc.or_(mask, pc.is_valid(columns[key]))
    if not pc.any(mask).as_py():
        return None
    event_name = columns[keys.EVENT_NAME]
    if event_names is not None:
        event_name = pc.coalesce(pc.if_else(pc.equal(event_names, ""), pa.scalar(None, pa.string()), event_names), event_name)
    table = pa.table(
        {
            "Timestamp": base.column("Timestamp"),
            "Signal": pa.array([signal] * base.num_rows, pa.string()),
            "ServiceName": base.column("ServiceName"),
            "ServiceVersion": service_versions,
            "TraceId": base.column("TraceId"),
            "SpanId": base.column("SpanId"),
            "EventId": columns[keys.EVENT_ID],
            "SessionId": columns[keys.SESSION_ID],
            "RequestId": columns[keys.REQUEST_ID],
            "RouteId": pc.coalesce(columns[keys.ROUTE_ID], columns[keys.HTTP_ROUTE]),
            "ConnectionId": columns[keys.CONNECTION_ID],
            "EventName": event_name,
            "ErrorType": columns[keys.ERROR_TYPE],
        }
    )
    return table.filter(mask), mask


def log_error_mask(captured: dict[str, pa.Array], event_names: pa.Array) -> pa.Array:
    """Log rows that report an error class or are browser error reports."""
    mask = pc.or_(pc.is_valid(captured[keys.ERROR_TYPE]), pc.is_valid(captured[keys.EXCEPTION_TYPE]))
    mask = pc.or_(mask, pc.equal(event_names, keys.BROWSER_ERROR_EVENT))
    attr_names = pc.fill_null(captured[keys.EVENT_NAME], "")
    return pc.or_(mask, pc.equal(attr_names, keys.BROWSER_ERROR_EVENT))


def per_request(
    name: str,
    table: pa.Table,
    ends: list[int],
    rejected: list[int],
    correlation: tuple[pa.Table, pa.Array] | None,
    errors: tuple[pa.Table, pa.Array] | None,
) -> list[tuple[Converted, pa.Table | None]]:
    """Rows of several requests converted together, cut back into a :class:`Converted` per request (its rows
    of ``name``, rejected count and correlation rows) and its error candidates (None when it has none).

    ``ends`` and ``rejected`` hold, per request, the rows and the rejected items counted up to its end;
    ``correlation`` and ``errors`` are filtered tables with the masks they were filtered by.
    """
    if len(ends) == 1:
        out = Converted({name: table}, rejected[0])
        if correlation is not None:
            out.tables["liveobs_correlation"] = correlation[0]
        return [(out, None if errors is None else errors[0])]
    starts = [0, *ends[:-1]]
    rejected_before = [0, *rejected[:-1]]
    correlation_parts = _split_rows(*correlation, starts, ends) if correlation is not None else None
    error_parts = _split_rows(*errors, starts, ends) if errors is not None else None
    outs: list[tuple[Converted, pa.Table | None]] = []
    for n, (start, end) in enumerate(zip(starts, ends, strict=True)):
        out = Converted({name: table.slice(start, end - start)}, rejected[n] - rejected_before[n])
        if correlation_parts is not None and correlation_parts[n].num_rows:
            out.tables["liveobs_correlation"] = correlation_parts[n]
        candidates = error_parts[n] if error_parts is not None and error_parts[n].num_rows else None
        outs.append((out, candidates))
    return outs


def _split_rows(filtered: pa.Table, mask: pa.Array, starts: list[int], ends: list[int]) -> list[pa.Table]:
    """``filtered`` (the rows of ``mask``) cut into the parts that came from each row range."""
    running = pc.cumulative_sum(pc.cast(mask, pa.int64()))
    # Rows kept before each boundary (only those are read back into Python).
    bounds = [0, *pc.take(running, pa.array([max(end - 1, 0) for end in ends], pa.int64())).to_pylist()]
    parts = []
    for n, (start, end) in enumerate(zip(starts, ends, strict=True)):
        first = bounds[n] if start else 0
        last = bounds[n + 1] if end else 0
        parts.append(filtered.slice(first, last - first))
    return parts
