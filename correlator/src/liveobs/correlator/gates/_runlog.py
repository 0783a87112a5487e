"""Gate runs as evidence: each ``liveobs check`` run recorded in the store, and read back.

A run is one row of ``liveobs_gate_runs`` (what was selected, for which subject,
the overall status and exit code, who ran it) and one row per judged check in
``liveobs_gate_results``, written in one transaction with bound parameters.
Recording is best effort for the caller: a store opened read-only or held by
another process raises :class:`RunNotRecorded`, and the check's answer stands.

Which incidents are security-affecting, and whether the security gate passed for
a release after one, is decided here too (:func:`security_affecting`,
:func:`security_runs`), so that every page asks the same question.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Final

import duckdb

from liveobs.conventions import evidence
from liveobs.correlator.gates._model import GateReport, Status

# A run covers the security gate when it selected the whole gate (or every gate).
SECURITY_SELECTIONS: Final = ("security", "all")
# The rule for a security-affecting incident, besides a ``liveobs.security`` decision in one of
# its traces: its error class (last dotted part) or its route contains one of these words
# (case-insensitive).
SECURITY_MARKERS: Final = ("security", "csrf", "permission", "forbidden", "unauthorized", "suspicious")

_RUN_COLUMNS: Final = (
    "RunId, RanAt, Selection, Status, ExitCode, ServiceName, Environment, Release, Baseline, WindowStart, "
    "WindowEnd, Generator, Seconds"
)


class RunNotRecorded(RuntimeError):
    """The run could not be written to the store (read-only, held by another process, old schema)."""


@dataclass(frozen=True, slots=True)
class RecordedResult:
    check_id: str
    gate: str
    status: str
    required: bool
    reason: str
    observed: float | None
    threshold: str
    evidence: int


@dataclass(frozen=True, slots=True)
class GateRun:
    """One recorded run with its results, in check order."""

    run_id: str
    ran_at: datetime
    selection: str
    status: str
    exit_code: int
    service: str | None
    environment: str | None
    release: str | None
    baseline: str | None
    window_start: datetime | None
    window_end: datetime | None
    generator: str
    seconds: float | None
    results: tuple[RecordedResult, ...] = ()

    @property
    def security_passed(self) -> bool:
        """Whether every required security check of this run passed (warn and not applicable count)."""
        judged = [r for r in self.results if r.gate == "security" and r.required]
        return bool(judged) and all(r.status != Status.FAIL and r.status != Status.UNKNOWN for r in judged)


def generator(program: str) -> str:
    """``program`` and the version of the correlator that judged, e.g. ``liveobs check (liveobs-correlator 0.4.0)``."""
    try:
        version = metadata.version("liveobs-correlator")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"{program} (liveobs-correlator {version})"


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def record_run(
    con: duckdb.DuckDBPyConnection, report: GateReport, selection: str, program: str,
    ran_at: datetime | None = None,
) -> str:
    """Write ``report`` as one run and its results; returns the run id. Raises :class:`RunNotRecorded`."""
    run_id = uuid.uuid4().hex
    when = _utc(ran_at) or datetime.now(UTC).replace(tzinfo=None)
    s = report.subject
    cur = con.cursor()
    try:
        cur.execute("BEGIN TRANSACTION")
        try:
            cur.execute(
                f"INSERT INTO liveobs_gate_runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, when, selection, report.status.value, int(report.exit_code), s.service, s.environment,
                 s.release, s.baseline, _utc(s.since), _utc(s.until), generator(program), round(report.seconds, 4)],
            )
            cur.executemany(
                "INSERT INTO liveobs_gate_results (RunId, Position, CheckId, Gate, Status, Required, Reason, Observed,"
                " Threshold, Evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [[run_id, n, r.id, r.gate, r.status.value, r.required, r.reason, r.observed, r.threshold, r.evidence]
                 for n, r in enumerate(report.results)],
            )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    except duckdb.Error as exc:
        raise RunNotRecorded(f"the gate run was not recorded in the store: {str(exc).splitlines()[0]}") from exc
    finally:
        cur.close()
    return run_id


def _has_tables(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'liveobs_gate_runs'").fetchone()
    return bool(row and row[0])


def _runs(con: duckdb.DuckDBPyConnection, where: str, params: list[object], limit: int) -> list[GateRun]:
    if not _has_tables(con):
        return []
    rows = con.execute(
        f"SELECT {_RUN_COLUMNS} FROM liveobs_gate_runs WHERE {where} ORDER BY RanAt DESC, RunId LIMIT ?",
        [*params, limit],
    ).fetchall()
    if not rows:
        return []
    results: dict[str, list[RecordedResult]] = {}
    for run_id, *rest in con.execute(
        "SELECT RunId, CheckId, Gate, Status, Required, Reason, Observed, Threshold, Evidence"
        " FROM liveobs_gate_results WHERE list_contains(?, RunId) ORDER BY RunId, Position",
        [[r[0] for r in rows]],
    ).fetchall():
        results.setdefault(run_id, []).append(RecordedResult(*rest))
    return [
        GateRun(str(row[0]), row[1], str(row[2]), str(row[3]), int(row[4]), row[5], row[6], row[7], row[8], row[9],
                row[10], str(row[11]), row[12], tuple(results.get(row[0], ())))
        for row in rows
    ]


def run(con: duckdb.DuckDBPyConnection, run_id: str) -> GateRun | None:
    found = _runs(con, "RunId = ?", [run_id], 1)
    return found[0] if found else None


def latest_runs(con: duckdb.DuckDBPyConnection, limit: int = 100) -> list[GateRun]:
    """The newest run per (service, environment, release, selection), newest first."""
    where = """RunId IN (SELECT arg_max(RunId, RanAt) FROM liveobs_gate_runs
                         GROUP BY ServiceName, Environment, Release, Selection)"""
    return _runs(con, where, [], limit)


def security_runs(con: duckdb.DuckDBPyConnection, release: str, after: datetime) -> list[GateRun]:
    """Runs of the whole security gate for ``release`` after ``after`` (UTC), newest first: ``security``,
    ``all``, or a list of checks (``liveobs check changed``) that holds ``security.*``."""
    return _runs(con, "Release = ? AND (list_contains(?, Selection) OR list_contains(string_split(Selection, ','), ?))"
                      " AND RanAt > ?", [release, list(SECURITY_SELECTIONS), "security.*", _utc(after)], 50)


def security_affecting(con: duckdb.DuckDBPyConnection, fingerprint: str, error_class: str,
                       routes: tuple[str, ...] | list[str]) -> bool:
    """Whether an incident touches security: a ``liveobs.security`` decision in one of its traces, a
    marker word (:data:`SECURITY_MARKERS`) in its error class or one of its routes, or its class or a
    route listed in the recorded manifest of its release (``[surface] security_error_classes``,
    ``security_routes``; see ``docs/releases.md``)."""
    named = [error_class.rsplit(".", 1)[-1], *routes]
    if any(marker in text.lower() for text in named for marker in SECURITY_MARKERS):
        return True
    marked = con.execute(
        """SELECT count(*) FROM liveobs_release_manifests m
           WHERE (m.ServiceName, m.Version) IN (SELECT ServiceName, ServiceVersion FROM liveobs_errors WHERE Fingerprint = ?)
             AND (list_contains(m.SecurityErrorClasses, ?) OR list_has_any(m.SecurityRoutes, ?))""",
        [fingerprint, named[0], list(routes)],
    ).fetchone()
    if marked and marked[0]:
        return True
    row = con.execute(
        """SELECT count(*) FROM otel_traces
           WHERE TraceId IN (SELECT TraceId FROM liveobs_errors WHERE Fingerprint = ? AND TraceId <> '')
             AND list_contains(Events."Name", ?)""",
        [fingerprint, evidence.SECURITY_EVENT],
    ).fetchone()
    return bool(row and row[0])
