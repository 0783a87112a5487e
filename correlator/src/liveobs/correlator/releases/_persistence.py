"""A persistence dry run: the release's new migrations on a copy of the data, then the rollback target on it.

The data is a SQLite file (the path the units find in the manifest's ``data_env``).
It is copied to a scratch directory; the migrations the judged release ships and its
rollback target does not are applied to the copy in order, each in one script;
then the rollback target's units are started on side ports with ``data_env`` naming
the copy, and their readiness paths probed. The original file is only read. Every
step is a :class:`Probe` of kind ``persistence``: a migration that fails is one with
its error, and the units are not started on a half-migrated copy.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Final

from liveobs.correlator.releases._dryrun import DEFAULT_TIMEOUT, dry_run
from liveobs.correlator.releases._errors import ReleaseError
from liveobs.correlator.releases._layout import Release
from liveobs.correlator.releases._record import Probe

KIND: Final = "persistence"
MIGRATIONS_UNIT: Final = "migrations"


def new_migrations(release: Release, target: Release) -> list[str]:
    """The release's migrations that its rollback target does not ship, in order."""
    shipped = set(target.manifest.surface.migrations)
    return [m for m in release.manifest.surface.migrations if m not in shipped]


def persistence_dry_run(release: Release, target: Release, data: Path,
                        timeout: float = DEFAULT_TIMEOUT) -> list[Probe]:
    """Apply ``release``'s new migrations to a copy of ``data``; start ``target`` on the copy; the probes."""
    data_env = release.manifest.data_env or target.manifest.data_env
    if data_env is None:
        raise ReleaseError(f"release {release.version}: [release] data_env must name the variable that points the "
                           "units at their data for a persistence dry run")
    if not data.is_file():
        raise ReleaseError(f"data file {data} does not exist")
    with tempfile.TemporaryDirectory(prefix="liveobs-persistence-") as scratch:
        copy = Path(scratch) / data.name
        shutil.copy2(data, copy)
        probes: list[Probe] = []
        for path in new_migrations(release, target):
            problem = _apply(copy, release.directory / path)
            probes.append(Probe(MIGRATIONS_UNIT, path, None, None, None, release.version, None, None, None,
                                problem, KIND))
            if problem is not None:
                return probes
        return probes + dry_run(target, timeout, {data_env: str(copy)}, KIND)


def _apply(database: Path, script: Path) -> str | None:
    try:
        sql = script.read_text(encoding="utf-8")
    except OSError as exc:
        return f"cannot read {script}: {exc}"
    con = sqlite3.connect(database)
    try:
        con.executescript(f"BEGIN;\n{sql}\nCOMMIT;")
    except sqlite3.Error as exc:
        return f"failed on a copy of the data: {exc}"
    finally:
        con.close()
    return None
