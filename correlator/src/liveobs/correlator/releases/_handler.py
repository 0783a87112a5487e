"""Recording releases and dry runs as read handlers, so the CLI writes through a collector that owns the store.

The same functions serve the local path (the CLI calls them with its own writing
connection), so both paths record the same rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import duckdb

from liveobs.correlator._readapi import ReadRequestError, read_handler
from liveobs.correlator.releases import _changed as _changed  # registers the "release_changed" handler
from liveobs.correlator.releases._errors import ReleaseError
from liveobs.correlator.releases._layout import Release, read_release
from liveobs.correlator.releases._record import Probe, record_dry_run, record_release

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
        "units": [{"name": u.spec.name, "exec_start": u.unit.exec_start, "problems": list(u.problems)}
                  for u in release.units],
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
    return summary(release)


@read_handler("release_dry_run")
def dry_run_handler(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> dict[str, Any]:
    """``{"run_id", "service", "version", "probes": [Probe fields]}`` -> ``{"recorded": n}``."""
    try:
        probes = [Probe(**{k: v for k, v in p.items() if k in _PROBE_FIELDS}) for p in params["probes"]]
        record_dry_run(con, str(params["run_id"]), str(params["service"]), str(params["version"]), probes)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ReadRequestError(f"bad release_dry_run request: {exc}") from exc
    return {"recorded": len(probes)}
