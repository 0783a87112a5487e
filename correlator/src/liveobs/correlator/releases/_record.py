"""A release's facts written to the store (migration 8), and read back for the checks and the changed surface.

Recording a version again replaces its facts in one transaction: a release directory
is immutable, so only a correction changes them. Dry-run evidence is appended and
kept. A unit's ``ExecStart`` and environment pass the scrubber first (a unit file may
carry a password). Every value is a bound parameter. The read handlers
``release_record`` and ``release_dry_run`` write the same rows through a running
collector that owns the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import duckdb

from liveobs.correlator._readapi import ReadRequestError, read_handler
from liveobs.correlator.releases._layout import Release, read_release
from liveobs.correlator.releases._manifest import ReleaseError
from liveobs.redaction import Scrubber

FACT_TABLES: Final = ("liveobs_release_manifests", "liveobs_release_artifacts", "liveobs_release_units",
                      "liveobs_release_surface", "liveobs_release_docs")


@dataclass(frozen=True, slots=True)
class SurfaceRow:
    kind: str
    name: str
    method: str | None = None
    route: str | None = None
    auth: str | None = None
    scope: str | None = None
    doc: str | None = None
    capability: str | None = None


def surface_rows(release: Release) -> list[SurfaceRow]:
    """The release's declared surface as rows of ``liveobs_release_surface``."""
    s = release.manifest.surface
    rows = [SurfaceRow("route", r.path, method=r.method, auth=r.auth, doc=r.doc) for r in s.routes]
    rows += [SurfaceRow("live_event", e.name, route=e.route, scope=e.scope, doc=e.doc, capability=e.capability)
             for e in s.live_events]
    rows += [SurfaceRow("scope", name) for name in s.scopes]
    rows += [SurfaceRow("capability", name) for name in s.capabilities]
    rows += [SurfaceRow("migration", path) for path in s.migrations]
    return rows


def record_release(con: duckdb.DuckDBPyConnection, release: Release, now: datetime | None = None) -> None:
    """Write ``release``'s facts, replacing an earlier record of the same service and version."""
    m = release.manifest
    key = [m.service, m.version]
    scrubber = Scrubber()
    units = [(u, scrubber.scrub_mapping(u.unit.environment)) for u in release.units]
    when = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    cur = con.cursor()
    try:
        cur.execute("BEGIN TRANSACTION")
        try:
            for table in FACT_TABLES:
                cur.execute(f"DELETE FROM {table} WHERE ServiceName = ? AND Version = ?", key)
            cur.execute(
                "INSERT INTO liveobs_release_manifests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [*key, m.environment, m.rollback, m.reversible, release.digest, str(release.directory),
                 str(release.root), release.current, m.surface.schema_version, release.notes_entry,
                 str(release.rollback_dir) if release.rollback_dir else None, release.rollback_digest,
                 list(release.problems), list(m.surface.security_error_classes), list(m.surface.security_routes),
                 when],
            )
            cur.executemany(
                "INSERT INTO liveobs_release_artifacts VALUES (?, ?, ?, ?, ?, ?)",
                [[*key, n, a.path, a.declared, a.computed] for n, a in enumerate(release.artifacts)],
            )
            cur.executemany(
                "INSERT INTO liveobs_release_units VALUES (?, ?, ?, ?, ?, ?, MAP(?::VARCHAR[], ?::VARCHAR[]), ?, ?, ?)",
                [[*key, u.spec.name, str(u.unit.path), scrubber.scrub_text(u.unit.exec_start), u.unit.program,
                  list(env), [str(v) for v in env.values()], list(u.spec.readiness), u.spec.port_env,
                  list(u.problems)] for u, env in units],
            )
            surface = surface_rows(release)
            if surface:
                cur.executemany(
                    "INSERT INTO liveobs_release_surface VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [[*key, r.kind, r.name, r.method, r.route, r.auth, r.scope, r.capability, r.doc] for r in surface],
                )
            if release.docs:
                cur.executemany("INSERT INTO liveobs_release_docs VALUES (?, ?, ?, ?)",
                                [[*key, path, digest] for path, digest in release.docs.items()])
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    finally:
        cur.close()


@dataclass(frozen=True, slots=True)
class Probe:
    """One answer a dry run heard (or did not) from a unit of the release on a side port."""

    unit: str
    path: str
    port: int | None
    http_status: int | None
    health_status: str | None
    reported_version: str | None
    reported_digest: str | None
    reported_source: str | None
    reported_directory: str | None
    problem: str | None
    kind: str = "readiness"


def record_dry_run(con: duckdb.DuckDBPyConnection, run_id: str, service: str, version: str,
                   probes: list[Probe], now: datetime | None = None) -> None:
    """Append one dry run's probes to ``liveobs_release_dryruns``."""
    when = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    if not probes:
        return
    con.executemany(
        "INSERT INTO liveobs_release_dryruns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [[run_id, when, service, version, p.kind, p.unit, p.path, p.port, p.http_status, p.health_status,
          p.reported_version, p.reported_digest, p.reported_source, p.reported_directory, p.problem]
         for p in probes],
    )


def recorded(con: duckdb.DuckDBPyConnection, service: str, version: str) -> dict[str, Any] | None:
    """The recorded manifest row of ``service`` ``version`` as a dict, or None."""
    cur = con.execute("SELECT * FROM liveobs_release_manifests WHERE ServiceName = ? AND Version = ?",
                      [service, version])
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description or ()], row, strict=True))


# --- recording through a collector that owns the store ---------------------------

_PROBE_FIELDS: Final = frozenset(Probe.__dataclass_fields__)


def summary(release: Release) -> dict[str, Any]:
    """What was recorded, as the CLI prints it."""
    m = release.manifest
    return {
        "service": m.service, "version": m.version, "environment": m.environment, "digest": release.digest,
        "directory": str(release.directory), "current": release.current, "rollback": m.rollback,
        "rollback_directory": str(release.rollback_dir) if release.rollback_dir else None,
        "rollback_digest": release.rollback_digest, "reversible": m.reversible,
        "notes_entry": release.notes_entry is not None, "docs": len(release.docs),
        "units": [{"name": u.spec.name, "exec_start": Scrubber().scrub_text(u.unit.exec_start),
                   "problems": list(u.problems)} for u in release.units],
        "routes": len(m.surface.routes), "live_events": len(m.surface.live_events),
        "scopes": list(m.surface.scopes), "capabilities": list(m.surface.capabilities),
        "migrations": list(m.surface.migrations), "schema_version": m.surface.schema_version,
        "problems": list(release.problems),
    }


@read_handler("release_record")
def record_handler(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> dict[str, Any]:
    """``{"root", "version"?}`` -> the summary of the release recorded."""
    root, version = params.get("root"), params.get("version")
    if not isinstance(root, str) or (version is not None and not isinstance(version, str)):
        raise ReadRequestError("release_record needs root (a path) and an optional version (a string)")
    try:
        release = read_release(Path(root), version)
    except ReleaseError as exc:
        raise ReadRequestError(str(exc)) from exc
    record_release(con, release)
    return {**summary(release),
            "rollback_recorded": recorded(con, release.manifest.service, release.manifest.rollback) is not None}


@read_handler("release_dry_run")
def dry_run_handler(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> dict[str, Any]:
    """``{"run_id", "service", "version", "probes": [Probe fields]}`` -> ``{"recorded": n}``."""
    try:
        probes = [Probe(**{k: v for k, v in p.items() if k in _PROBE_FIELDS}) for p in params["probes"]]
        record_dry_run(con, str(params["run_id"]), str(params["service"]), str(params["version"]), probes)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ReadRequestError(f"bad release_dry_run request: {exc}") from exc
    return {"recorded": len(probes)}
