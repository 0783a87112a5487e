"""A deploy root: one release read as facts, and a rollback that re-points `current`.

:func:`read_release` reads one release of a deploy root (``docs/releases.md``).
A malformed manifest or unit file, or a release directory that does not exist, is a
:class:`ReleaseError`: there is nothing to record. Everything else that is wrong
(a directory that is a checkout or a fixture, an artifact whose digest differs from
the manifest, a unit that runs a shim, a rollback target without a directory) is a
*problem*: recorded with the facts, so that the deploy gate fails with the reason.

:func:`rollback` points ``<root>/current`` at the current release's rollback target: the
new link is made next to the old one and renamed over it, so ``current`` always names a
release. A target without a release directory, or a current release that declares its
migrations irreversible, is refused. The same unit files run the target (they start
``<root>/current/venv/bin/<entry point>``), and the answer names them to restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from liveobs.correlator.releases._manifest import (
    MANIFEST,
    ReleaseError,
    ReleaseManifest,
    UnitSpec,
    read_manifest,
)
from liveobs.correlator.releases._units import UnitFile, read_unit, unit_problems

CHECKOUT_MARKERS: Final = (".git", "pyproject.toml", "setup.py", "setup.cfg")
_CHUNK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class ArtifactFact:
    path: str
    declared: str
    computed: str | None


@dataclass(frozen=True, slots=True)
class UnitFact:
    spec: UnitSpec
    unit: UnitFile
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Release:
    """One release of a deploy root, with what is wrong with it."""

    root: Path
    directory: Path
    manifest: ReleaseManifest
    digest: str | None
    artifacts: tuple[ArtifactFact, ...]
    units: tuple[UnitFact, ...]
    current: str | None
    notes_entry: str | None
    docs: dict[str, str]
    rollback_dir: Path | None
    rollback_digest: str | None
    problems: tuple[str, ...] = field(default=())

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def is_current(self) -> bool:
        return self.current == self.version


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def current_version(root: Path) -> str | None:
    """The version ``<root>/current`` points at (``releases/<version>``), or None without a link."""
    link = root / "current"
    if not link.is_symlink():
        return None
    target = Path(os.readlink(link))
    return target.name if target.parent.name == "releases" else None


def release_dir(root: Path, version: str) -> Path:
    if not version or "/" in version or version in (".", ".."):
        raise ReleaseError(f"{version!r} is not a release version")
    return root / "releases" / version


def read_release(root: Path, version: str | None = None) -> Release:
    """Read release ``version`` of the deploy ``root`` (default: the one ``current`` points at)."""
    if not root.is_dir():
        raise ReleaseError(f"deploy root {root} is not a directory")
    current = current_version(root)
    version = version or current
    if version is None:
        raise ReleaseError(f"{root}/current is not a link to releases/<version>: name the release (--version)")
    directory = release_dir(root, version)
    if not directory.is_dir():
        raise ReleaseError(f"release directory {directory} does not exist")
    manifest = read_manifest(directory)
    problems: list[str] = []
    if manifest.version != version:
        problems.append(f"{directory / MANIFEST} names version {manifest.version}, its directory is {version}")
    if directory.is_symlink():
        problems.append(f"{directory} is a link to {directory.resolve()}, not a release directory")
    problems += directory_problems(directory)
    artifacts = tuple(_artifact(directory, a.path, a.sha256) for a in manifest.artifacts)
    for a in artifacts:
        if a.computed is None:
            problems.append(f"artifact {a.path} is missing from {directory}")
        elif a.computed != a.declared:
            problems.append(f"artifact {a.path} has sha256 {a.computed[:12]}…, the manifest says {a.declared[:12]}…")
    first = artifacts[0]
    digest = "sha256:" + first.computed if first.computed else None
    units = tuple(_unit(root, spec, directory) for spec in manifest.units)
    notes_entry = None
    notes = directory / manifest.notes
    if notes.is_file():
        notes_entry = notes_entry_of(notes.read_text(encoding="utf-8", errors="replace"), version)
    else:
        problems.append(f"release notes {manifest.notes} are missing from {directory}")
    docs = doc_digests(directory, manifest.docs)
    named = {*(r.doc for r in manifest.surface.routes), *(e.doc for e in manifest.surface.live_events)}
    for path in sorted(p for p in named if p is not None):
        if path not in docs:
            problems.append(f"doc {path} named in [surface] is missing from {directory}")
    for path in manifest.surface.migrations:
        if not (directory / path).is_file():
            problems.append(f"migration {path} is missing from {directory}")
    rollback_dir = release_dir(root, manifest.rollback)
    rollback_digest = None
    if (rollback_dir / MANIFEST).is_file():
        try:
            target = read_manifest(rollback_dir)
            file = rollback_dir / target.artifacts[0].path
            rollback_digest = "sha256:" + sha256_file(file) if file.is_file() else None
        except (ReleaseError, OSError) as exc:
            problems.append(f"rollback target {manifest.rollback}: {exc}")
    return Release(root.absolute(), directory.absolute(), manifest, digest, artifacts, units, current, notes_entry,
                   docs, rollback_dir.absolute() if rollback_dir.is_dir() else None, rollback_digest, tuple(problems))


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
    unfit = directory_problems(target_dir)
    if unfit:
        raise ReleaseError(f"rollback target {manifest.rollback} is not a release built from its artifact: "
                           + "; ".join(unfit))
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


def directory_problems(directory: Path) -> list[str]:
    """Why ``directory`` is not a release directory built from an artifact (a checkout, a fixture)."""
    problems = [f"{directory} holds {m}: a source checkout or fixture, not a release directory"
                for m in CHECKOUT_MARKERS if (directory / m).exists()]
    venv = directory / "venv"
    if not (venv / "bin").is_dir():
        problems.append(f"{directory} has no venv/bin: the app is not installed from the artifact")
        return problems
    for record in sorted(venv.glob("lib/python*/site-packages/*.dist-info/direct_url.json")):
        try:
            origin = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(origin, dict) and isinstance(origin.get("dir_info"), dict):
            kind = "an editable install" if origin["dir_info"].get("editable") else "a directory install"
            problems.append(f"venv installs {record.parent.name.split('-')[0]} from {origin.get('url')} "
                            f"({kind} of a checkout), not from the artifact")
    return problems


def _artifact(directory: Path, path: str, declared: str) -> ArtifactFact:
    file = directory / path
    return ArtifactFact(path, declared, sha256_file(file) if file.is_file() else None)


def _unit(root: Path, spec: UnitSpec, directory: Path) -> UnitFact:
    path = root / spec.file
    if not path.is_file():
        raise ReleaseError(f"unit {spec.name}: unit file {path} does not exist")
    unit = read_unit(path, root, spec.name)
    return UnitFact(spec, unit, tuple(unit_problems(unit, root, directory)))


def notes_entry_of(text: str, version: str) -> str | None:
    """The release notes' entry for ``version``: its heading and the text up to the next heading as high."""
    heading = re.compile(rf"^(#+)\s*\[?v?{re.escape(version)}\]?(?=\s|$)", re.MULTILINE)
    found = heading.search(text)
    if found is None:
        return None
    level = len(found[1])
    following = re.compile(rf"^#{{1,{level}}}\s", re.MULTILINE).search(text, found.end())
    return text[found.start():following.start() if following else len(text)].strip()


def doc_digests(directory: Path, docs: str) -> dict[str, str]:
    """``{path relative to the release directory: sha256 of the content}`` of every file under ``docs``."""
    base = directory / docs
    if not base.is_dir():
        return {}
    return {str(p.relative_to(directory)): sha256_file(p) for p in sorted(base.rglob("*")) if p.is_file()}
