"""Releases as evidence: the deploy root's layout, manifests and unit files, recorded in the store.

The layout is the contract of ``docs/releases.md``. :func:`read_release` reads one
release's facts and problems, :func:`record_release` stores them, :func:`dry_run`
starts a release's units on side ports and records what they answer,
:func:`persistence_dry_run` runs the rollback target on a migrated copy of its data,
:func:`rollback` re-points ``current``, and :func:`select_changed` chooses the gates
of the changed surface. :func:`read_unit` is the one parser of unit files (process
supervisors use it too). Importing the package registers its read handlers
(``release_record``, ``release_dry_run``, ``release_changed``).
"""

from liveobs.correlator.releases._changed import Selected, select_changed
from liveobs.correlator.releases._dryrun import dry_run, persistence_dry_run, stop
from liveobs.correlator.releases._layout import (
    Release,
    Rollback,
    current_version,
    plan_rollback,
    read_release,
    rollback,
    sha256_file,
)
from liveobs.correlator.releases._manifest import (
    ReleaseError,
    ReleaseManifest,
    Surface,
    parse_manifest,
    read_manifest,
)
from liveobs.correlator.releases._record import Probe, record_dry_run, record_release, recorded
from liveobs.correlator.releases._units import UnitFile, read_unit, unit_problems

__all__ = [
    "Probe",
    "Release",
    "ReleaseError",
    "ReleaseManifest",
    "Rollback",
    "Selected",
    "Surface",
    "UnitFile",
    "current_version",
    "dry_run",
    "parse_manifest",
    "persistence_dry_run",
    "plan_rollback",
    "read_manifest",
    "read_release",
    "read_unit",
    "record_dry_run",
    "record_release",
    "recorded",
    "rollback",
    "select_changed",
    "sha256_file",
    "stop",
    "unit_problems",
]
