"""Releases as evidence: the deploy root's layout, manifests and unit files, recorded in the store.

The layout is the contract of ``docs/releases.md``. :func:`read_release` reads one
release's facts and problems, :func:`record_release` stores them, :func:`dry_run`
starts a release's units on side ports and records what they answer, and
:func:`rollback` re-points ``current``. :func:`read_unit` is the one parser of unit
files (process supervisors use it too).
"""

from liveobs.correlator.releases._errors import ReleaseError
from liveobs.correlator.releases._layout import Release, current_version, read_release, sha256_file
from liveobs.correlator.releases._manifest import ReleaseManifest, Surface, parse_manifest, read_manifest
from liveobs.correlator.releases._record import Probe, record_dry_run, record_release, recorded
from liveobs.correlator.releases._units import UnitFile, read_unit, unit_problems

__all__ = [
    "Probe",
    "Release",
    "ReleaseError",
    "ReleaseManifest",
    "Surface",
    "UnitFile",
    "current_version",
    "parse_manifest",
    "read_manifest",
    "read_release",
    "read_unit",
    "record_dry_run",
    "record_release",
    "recorded",
    "sha256_file",
    "unit_problems",
]
