"""Which releases the evidence holds, and when each one's records begin and end.

The gate engine asks here for the subject's service, release and baseline when
they are not given. The same lookup yields, per table, the first and last record
of the release and of its baseline; the scope adds these as time bounds, so a scan
skips the row groups of other releases (records arrive roughly in time order, and
DuckDB prunes row groups by their timestamp range). The bounds are exact: they come
from the same filter the scope applies, widened to whole microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from liveobs.correlator._sqlcursor import QUERY_ERRORS, Cursor
from liveobs.correlator.gates._budgets import Manifest
from liveobs.correlator.gates._catalogue import bind, convention_params
from liveobs.correlator.gates._model import WINDOW_END, WINDOW_START, GateError, Subject

# Releases seen in spans, per environment, with their first and last span in ns since the epoch:
# (release, environment, first_ns, last_ns). The release facts retention kept of deleted spans count too.
_SPAN_RELEASES: Final = """
SELECT release, environment, epoch_ns(min(first_seen)), epoch_ns(max(last_seen))
FROM (
    SELECT ResourceAttributes[$SERVICE_VERSION] AS release, ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] AS environment,
           min("Timestamp") AS first_seen, max("Timestamp") AS last_seen
    FROM otel_traces
    WHERE ($service IS NULL OR ServiceName = $service)
      AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
      AND "Timestamp" >= $since AND "Timestamp" < $until
      AND nullif(ResourceAttributes[$SERVICE_VERSION], '') IS NOT NULL
    GROUP BY 1, 2
    UNION ALL
    SELECT Release, Environment, greatest(FirstSeen, $since), least(LastSeen, $until)
    FROM liveobs_releases
    WHERE ($service IS NULL OR ServiceName = $service)
      AND ($environment IS NULL OR Environment = $environment)
      AND LastSeen >= $since AND FirstSeen < $until
)
GROUP BY 1, 2
ORDER BY 3
"""
# The first and last log record of the release and the baseline: (release, first_ns, last_ns).
_LOG_RELEASES: Final = """
SELECT ResourceAttributes[$SERVICE_VERSION] AS release, epoch_ns(min("Timestamp")), epoch_ns(max("Timestamp"))
FROM otel_logs
WHERE ($service IS NULL OR ServiceName = $service)
  AND ($environment IS NULL OR ResourceAttributes[$DEPLOYMENT_ENVIRONMENT] = $environment)
  AND "Timestamp" >= $since AND "Timestamp" < $until
  AND ResourceAttributes[$SERVICE_VERSION] IN ($release, $baseline)
GROUP BY 1
"""
# The services in the store, at most three: (service name).
_SERVICES: Final = """
SELECT DISTINCT ServiceName FROM (
    SELECT ServiceName FROM otel_traces UNION ALL SELECT ServiceName FROM liveobs_releases
) WHERE ServiceName IS NOT NULL LIMIT 3
"""
_EPOCH: Final = datetime(1970, 1, 1)
# Bounds that select nothing, for a release with no records in a table.
_NOTHING: Final = (WINDOW_END, WINDOW_START)


@dataclass(frozen=True, slots=True)
class Resolved:
    """The subject with its gaps filled, notes on how, and the time-bound parameters of the scope."""

    subject: Subject
    notes: tuple[str, ...] = ()
    bounds: dict[str, datetime] = field(default_factory=dict)


def stored_time(value: datetime | None, default: datetime) -> datetime:
    """A bound as the store keeps time: naive UTC (TIMESTAMP_NS)."""
    if value is None:
        return default
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def resolve(cur: Cursor, subject: Subject, needs_baseline: bool) -> Resolved:
    """Fill in the service and environment (when the evidence has one), the release (newest seen), the baseline.

    Evidence of two services or two environments is never merged: when the subject
    does not name one and the evidence holds several, the gate cannot run.
    """
    notes: list[str] = []
    try:
        if subject.service is None:
            services = [r[0] for r in cur.execute(_SERVICES).fetchall()]
            if len(services) == 1:
                subject = _with(subject, service=services[0])
            elif len(services) > 1:
                raise GateError(f"the store holds several services ({', '.join(sorted(services))}, ...): name one "
                                "(--service, or the manifest's service)")
        window = {**convention_params(), "service": subject.service, "environment": subject.environment,
                  "since": stored_time(subject.since, WINDOW_START), "until": stored_time(subject.until, WINDOW_END)}
        rows = cur.execute(_SPAN_RELEASES, bind(_SPAN_RELEASES, window, "release lookup")).fetchall()
        release = subject.release
        if release is None and rows:
            release = max(rows, key=lambda r: r[3])[0]
            notes.append(f"release {release}: the newest in the evidence")
        if subject.environment is None and release is not None:
            places = sorted({str(r[1]) for r in rows if r[0] == release and r[1] is not None})
            if len(places) > 1:
                raise GateError(f"release {release} has evidence from several environments ({', '.join(places)}): "
                                "name one (--environment, or the manifest's environment)")
            if places:
                subject = _with(subject, environment=places[0])
                window["environment"] = places[0]
                rows = [r for r in rows if r[1] == places[0]]
        baseline = subject.baseline
        first = {r[0]: r[2] for r in rows}
        if needs_baseline and baseline is None and release in first:
            earlier = [r for r in rows if r[0] != release and r[2] < first[release]]
            if earlier:
                baseline = earlier[-1][0]
                notes.append(f"baseline {baseline}: the release that served before {release} in the same environment")
        subject = _with(subject, release=release, baseline=baseline)
        if release is None:
            return Resolved(subject, tuple(notes))
        params = {**window, "release": release, "baseline": baseline}
        logs = cur.execute(_LOG_RELEASES, bind(_LOG_RELEASES, params, "release lookup")).fetchall()
    except QUERY_ERRORS as exc:
        raise GateError(f"cannot read the store: {exc}") from exc
    spans: dict[str, tuple[int, int]] = {}
    for r in rows:
        low, high = spans.get(r[0], (r[2], r[3]))
        spans[r[0]] = (min(low, r[2]), max(high, r[3]))
    log_ranges = {r[0]: (r[1], r[2]) for r in logs}
    bounds: dict[str, datetime] = {}
    for prefix, version in (("", release), ("baseline_", baseline)):
        for table, ranges in (("span", spans), ("log", log_ranges)):
            low, high = _bounds(ranges.get(version) if version is not None else None)
            bounds[f"{prefix}{table}_from"], bounds[f"{prefix}{table}_to"] = low, high
    return Resolved(subject, tuple(notes), bounds)


def bind_manifest(subject: Subject, manifest: Manifest | None) -> tuple[Subject, list[str]]:
    """The manifest's service, environment, current release and rollback target fill the subject's gaps.

    The rollback target is the regression baseline unless one is given. A subject that
    names another service or environment than the manifest is an error.
    """
    if manifest is None:
        return subject, []
    notes = []
    for name in ("service", "environment"):
        given, named = getattr(subject, name), getattr(manifest, name)
        if given is not None and named is not None and given != named:
            raise GateError(f"the manifest is for {name} {named}, the gate was asked for {given}")
    release = subject.release or manifest.current
    baseline = subject.baseline or (manifest.rollback if manifest.rollback != release else None)
    if subject.baseline is None and baseline is not None:
        notes.append(f"baseline {baseline}: the manifest's rollback target")
    return _with(subject, service=subject.service or manifest.service,
                 environment=subject.environment or manifest.environment, release=release, baseline=baseline), notes


def _bounds(range_ns: tuple[int, int] | None) -> tuple[datetime, datetime]:
    """``[from, to)`` in whole microseconds that holds every record from ``first_ns`` to ``last_ns``."""
    if range_ns is None:
        return _NOTHING
    first_ns, last_ns = range_ns
    return (_EPOCH + timedelta(microseconds=first_ns // 1000),
            _EPOCH + timedelta(microseconds=last_ns // 1000 + 1))


def _with(subject: Subject, **changes: Any) -> Subject:
    values = {"service": subject.service, "release": subject.release, "environment": subject.environment,
              "since": subject.since, "until": subject.until, "baseline": subject.baseline, **changes}
    return Subject(**values)
