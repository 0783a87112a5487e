"""Lay Kukulkan's releases out in the deploy root the release recorder and the deploy checks read.

    <root>/releases/<version>/   release.toml, artifacts/<wheel>, venv/, CHANGELOG.md, docs/
    <root>/current               -> releases/<version> (relative); a deploy or a rollback re-points it
    <root>/units/<unit>.service  the API and UI units, shared by every release
    <root>/secrets/session-keys  the cookie-signing keys the units name (mode 0600)

A release directory is written once, into a temporary directory renamed into
place, and kept while the source it was built from is unchanged (its digest is in
``.source-digest``); the app inside its ``venv`` is installed from the wheel
alone. The venv takes its dependencies (the web stack and the liveobs SDK) from
the environment that lays it out, through a ``site`` path file, so laying a
release out needs no network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kukulkan_release.build import BuildError, Built

SERVICE: Final = "kukulkan"
ENVIRONMENT: Final = "production"
READINESS: Final = ("/readyz", "/live/readiness.json")
PORT_ENV: Final = "KUKULKAN_PORT"


@dataclass(frozen=True, slots=True)
class UnitSpec:
    name: str
    entry_point: str
    description: str


UNITS: Final = (
    UnitSpec("kukulkan-api", "kukulkan-api", "Kukulkan API (the JSON API)"),
    UnitSpec("kukulkan-ui", "kukulkan-ui", "Kukulkan UI (pages, sign-in, the live socket, uploads)"),
)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _table(name: str, values: Mapping[str, Any], array: bool = False) -> str:
    head = f"[[{name}]]" if array else f"[{name}]"
    return "\n".join([head, *(f"{k} = {_toml_value(v)}" for k, v in values.items())]) + "\n"


def release_manifest(built: Built, wheel_name: str, wheel_sha256: str, rollback: str | None) -> str:
    """``release.toml`` of one release: its version, rollback target, artifact, units and surface."""
    with (built.source / "surface.toml").open("rb") as fh:
        surface = tomllib.load(fh)
    release: dict[str, Any] = {"service": SERVICE, "version": built.version, "environment": ENVIRONMENT,
                               "rollback": rollback or _previous_patch(built.version)}
    release.update(notes="CHANGELOG.md", docs="docs", reversible=True)
    parts = [
        "# Written by kukulkan_release.layout from the release's source; do not edit a laid-out release.\n",
        _table("release", release),
        _table("artifacts", {"path": f"artifacts/{wheel_name}", "sha256": wheel_sha256}, array=True),
        *(_table("units", {"name": u.name, "file": f"units/{u.name}.service", "readiness": list(READINESS),
                           "port_env": PORT_ENV}, array=True) for u in UNITS),
        _table("surface", surface),
    ]
    return "\n".join(parts)


def _previous_patch(version: str) -> str:
    """The oldest release laid out here rolls back to the release before it, which is no longer kept."""
    major, minor, patch = (int(part) for part in version.split("."))
    if patch == 0:
        raise BuildError(f"the oldest release {version} needs a rollback target: the build knows none")
    return f"{major}.{minor}.{patch - 1}"


def _site_packages() -> str:
    return sysconfig.get_paths()["purelib"]


def _make_venv(venv: Path, wheel: Path) -> None:
    """A virtual environment with the app installed from ``wheel`` and its dependencies from this one."""
    base = getattr(sys, "_base_executable", sys.executable)
    for argv, what in (
        ([base, "-m", "venv", "--without-pip", str(venv)], "creating the release's venv"),
        ([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
          "--no-deps", "--no-index", str(wheel)], f"installing {wheel.name}"),
    ):
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
        if result.returncode != 0:
            raise BuildError(f"{what} failed (exit {result.returncode}): {(result.stderr or result.stdout).strip()}")
    purelib = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    # Dependencies only: the release's own site-packages comes first, so kukulkan is always the wheel's.
    (purelib / "zz_dependencies.pth").write_text(f"import site; site.addsitedir({_site_packages()!r})\n")


def lay_out(root: Path, built: Built, rollback: str | None) -> Path:
    """``<root>/releases/<version>``, written unless the same source already is there."""
    releases = root / "releases"
    target = releases / built.version
    stamp = target / ".source-digest"
    written = f"{built.source_digest} rollback {rollback}"  # the manifest also names the rollback target
    if stamp.exists() and stamp.read_text().strip() == written:
        return target
    releases.mkdir(parents=True, exist_ok=True)
    staging = releases / f".{built.version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "artifacts").mkdir(parents=True)
    wheel = staging / "artifacts" / built.wheel.name
    shutil.copy2(built.wheel, wheel)
    shutil.copy2(built.source / "CHANGELOG.md", staging / "CHANGELOG.md")
    shutil.copytree(built.source / "docs", staging / "docs")
    (staging / "release.toml").write_text(release_manifest(built, wheel.name, sha256_file(wheel), rollback))
    # The venv is made where it will live: its scripts name their interpreter by absolute path.
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    try:
        _make_venv(target / "venv", target / "artifacts" / built.wheel.name)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    stamp.write_text(written + "\n")
    return target


def unit_file(root: Path, unit: UnitSpec, port: int, environment: Mapping[str, str]) -> str:
    """A systemd unit that runs the entry point of whatever release ``current`` points at."""
    lines = ["[Unit]", f"Description={unit.description}", "", "[Service]", "Type=exec",
             f"ExecStart={root.resolve() / 'current' / 'venv' / 'bin' / unit.entry_point}",
             f"Environment={PORT_ENV}={port}", f"Environment=LIVEOBS_UNIT={unit.name}"]
    lines += [f"Environment={k}={v}" for k, v in environment.items()]
    lines += [f"WorkingDirectory={root.resolve()}", "Restart=on-failure", "RestartSec=1", "TimeoutStopSec=20",
              "", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def write_session_keys(root: Path, keys: str) -> Path:
    """The cookie-signing keys, in a file only the owner reads (the units name the file, not the secret)."""
    secrets = root / "secrets"
    secrets.mkdir(mode=0o700, exist_ok=True)
    path = secrets / "session-keys"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(keys + "\n")
    return path


def write_units(root: Path, ports: Mapping[str, int],
                environment: Mapping[str, Mapping[str, str]]) -> list[Path]:
    """One unit file per unit, with its port and its ``environment`` (by unit name)."""
    units = root / "units"
    units.mkdir(parents=True, exist_ok=True)
    written = []
    for unit in UNITS:
        path = units / f"{unit.name}.service"
        path.write_text(unit_file(root, unit, ports[unit.name], environment.get(unit.name, {})))
        written.append(path)
    return written


def point_current(root: Path, version: str) -> None:
    """Re-point ``current`` at ``releases/<version>`` atomically (a new link renamed over the old one)."""
    if not (root / "releases" / version / "release.toml").is_file():
        raise BuildError(f"no release directory {root / 'releases' / version}")
    link = root / "current"
    staging = root / ".current.new"
    staging.unlink(missing_ok=True)
    staging.symlink_to(Path("releases") / version)
    staging.replace(link)


def current_version(root: Path) -> str | None:
    link = root / "current"
    return Path(os.readlink(link)).name if link.is_symlink() else None
