"""Rollback: re-point ``<root>/current`` at the current release's rollback target, atomically.

The new link is made next to the old one and renamed over it, so ``current`` always
names a release. A rollback target without a release directory (or manifest), or a
current release whose manifest declares its migrations irreversible, is refused.
The answer names the units to restart: the same unit files run the target, because
they start ``<root>/current/venv/bin/<entry point>``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from liveobs.correlator.releases._errors import ReleaseError
from liveobs.correlator.releases._layout import current_version, release_dir
from liveobs.correlator.releases._manifest import MANIFEST, read_manifest


@dataclass(frozen=True, slots=True)
class Rollback:
    """What a rollback did: ``current`` moved from one release to another; these units must restart."""

    service: str
    from_version: str
    to_version: str
    units: tuple[str, ...]
    unit_files: tuple[str, ...]


def plan_rollback(root: Path) -> Rollback:
    """What :func:`rollback` would do, or a :class:`ReleaseError` saying why it cannot."""
    version = current_version(root)
    if version is None:
        raise ReleaseError(f"{root}/current is not a link to releases/<version>: nothing to roll back")
    manifest = read_manifest(release_dir(root, version))
    if not manifest.reversible:
        raise ReleaseError(f"release {version} declares its migrations irreversible (reversible = false): "
                           f"rolling back to {manifest.rollback} would run it on data it cannot read")
    target_dir = release_dir(root, manifest.rollback)
    if not (target_dir / MANIFEST).is_file():
        raise ReleaseError(f"rollback target {manifest.rollback} has no release directory ({target_dir} with "
                           f"{MANIFEST})")
    target = read_manifest(target_dir)
    if target.version != manifest.rollback:
        raise ReleaseError(f"{target_dir / MANIFEST} names version {target.version}, not {manifest.rollback}")
    ours = {u.name: u.file for u in manifest.units}
    theirs = {u.name: u.file for u in target.units}
    if ours != theirs:
        raise ReleaseError(f"release {version} and its rollback target {target.version} name different units "
                           f"({sorted(ours.items())} vs {sorted(theirs.items())}): a rollback restarts the same units")
    return Rollback(manifest.service, version, target.version, tuple(ours), tuple(ours.values()))


def rollback(root: Path) -> Rollback:
    """Point ``current`` at the rollback target (atomically); returns what moved and the units to restart."""
    plan = plan_rollback(root)
    link = root / "current"
    staged = root / f".current.{os.getpid()}.tmp"
    try:
        staged.unlink(missing_ok=True)
        staged.symlink_to(Path("releases") / plan.to_version)
        os.replace(staged, link)
    except OSError as exc:
        staged.unlink(missing_ok=True)
        raise ReleaseError(f"cannot re-point {link}: {exc}") from exc
    return plan
