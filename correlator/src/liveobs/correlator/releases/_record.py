"""A release's facts written to the store (migration 8), and read back for the checks and the changed surface.

Recording a version again replaces its facts in one transaction: a release directory
is immutable, so only a correction changes them. Dry-run evidence is appended and
kept. Every value is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import duckdb

from liveobs.correlator.releases._layout import Release

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


def surface_rows(release: Release) -> list[SurfaceRow]:
    """The release's declared surface as rows of ``liveobs_release_surface``."""
    s = release.manifest.surface
    rows = [SurfaceRow("route", r.path, method=r.method, auth=r.auth, doc=r.doc) for r in s.routes]
    rows += [SurfaceRow("live_event", e.name, route=e.route, scope=e.scope, doc=e.doc) for e in s.live_events]
    rows += [SurfaceRow("scope", name) for name in s.scopes]
    rows += [SurfaceRow("capability", name) for name in s.capabilities]
    rows += [SurfaceRow("migration", path) for path in s.migrations]
    return rows


def record_release(con: duckdb.DuckDBPyConnection, release: Release, now: datetime | None = None) -> None:
    """Write ``release``'s facts, replacing an earlier record of the same service and version."""
    m = release.manifest
    key = [m.service, m.version]
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
                [[*key, u.spec.name, str(u.unit.path), u.unit.exec_start, u.unit.program,
                  list(u.unit.environment), list(u.unit.environment.values()), list(u.spec.readiness),
                  u.spec.port_env, list(u.problems)] for u in release.units],
            )
            surface = surface_rows(release)
            if surface:
                cur.executemany(
                    "INSERT INTO liveobs_release_surface VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [[*key, r.kind, r.name, r.method, r.route, r.auth, r.scope, r.doc] for r in surface],
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
