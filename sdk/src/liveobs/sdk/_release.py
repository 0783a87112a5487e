"""What the process runs: the release directory, its artifact's digest, the source kind and the unit.

Computed once, when the resource is built at ``configure()``; nothing here runs per
event. The release directory is the first directory holding ``release.toml`` above the
file of the code that called ``configure()`` (the app's), else above ``sys.prefix`` (the
release's ``venv``) or the program being run; app code under a checkout (``.git`` or
``pyproject.toml`` above it, no ``release.toml``) makes the source ``checkout`` even in
a release's venv. The digest is
``sha256:<hex>`` of the manifest's first artifact, hashed from the file (cached by
path, size and modification time), never taken from an environment variable. The
layout is described in ``docs/releases.md``. Any failure degrades to fewer attributes
through :func:`~liveobs.sdk._faults.fault`; it never raises into the app.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import sys
import tomllib
from pathlib import Path
from types import FrameType
from typing import Final

from liveobs.conventions import keys
from liveobs.sdk._faults import fault

MANIFEST: Final = "release.toml"
_CHECKOUT_MARKERS: Final = (".git", "pyproject.toml")
_CHUNK: Final = 1 << 20
_SYSTEMD_SUFFIX: Final = ".service"
_CGROUP: Final = "/proc/self/cgroup"
# Frames of these modules are skipped when looking for the app's file (configure's caller).
_OUR_MODULES: Final = ("liveobs.", "opentelemetry.")
_MAX_FRAMES: Final = 64
# (resolved path, size, mtime_ns) -> "sha256:<hex>"
_digests: dict[tuple[str, int, int], str] = {}


def release_attributes() -> dict[str, str]:
    """The ``liveobs.release.*`` resource attributes of this process; never raises."""
    try:
        attributes = _attributes()
    except Exception as exc:
        fault("configure: release attributes", exc)
        return {keys.RELEASE_SOURCE: keys.RELEASE_SOURCE_UNKNOWN}
    _report(attributes)
    if os.environ.get(keys.ENV_RELEASE_REPORT):  # started by a dry run: its telemetry is no traffic
        return {**attributes, keys.EVIDENCE_SOURCE: keys.EVIDENCE_DRY_RUN}
    return attributes


def _attributes() -> dict[str, str]:
    out: dict[str, str] = {}
    unit = unit_name()
    if unit:
        out[keys.RELEASE_UNIT] = unit
    app = _app_file()
    # The app's own code decides first: a release venv that imports the app from a checkout is a checkout.
    release_dir = find_release_dir(app.parent) if app is not None else None
    if release_dir is None and app is not None and _under_checkout(app.parent):
        out[keys.RELEASE_SOURCE] = keys.RELEASE_SOURCE_CHECKOUT
        return out
    starts = _starting_points()
    if release_dir is None:
        release_dir = next((d for d in (find_release_dir(p) for p in starts) if d is not None), None)
    if release_dir is None:
        checkout = any(_under_checkout(p) for p in [*starts, Path.cwd()])
        out[keys.RELEASE_SOURCE] = keys.RELEASE_SOURCE_CHECKOUT if checkout else keys.RELEASE_SOURCE_UNKNOWN
        return out
    out[keys.RELEASE_SOURCE] = keys.RELEASE_SOURCE_RELEASE
    out[keys.RELEASE_DIR] = str(release_dir)
    try:
        out[keys.RELEASE_DIGEST] = release_digest(release_dir)
    except (OSError, ValueError) as exc:
        fault("configure: release digest", f"{release_dir}: {exc}")
    return out


def _app_file() -> Path | None:
    """The file of the code that called ``configure()``: the first frame outside liveobs and OpenTelemetry."""
    here = inspect.currentframe()
    frame: FrameType | None = here.f_back if here is not None else None
    depth = 0
    while frame is not None and depth < _MAX_FRAMES:
        if not str(frame.f_globals.get("__name__", "")).startswith(_OUR_MODULES):
            name = frame.f_code.co_filename
            return Path(name).absolute() if name and not name.startswith("<") else None
        frame, depth = frame.f_back, depth + 1
    return None


def _starting_points() -> list[Path]:
    points = [Path(sys.prefix)]
    program = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    if program:
        points.append(Path(program).absolute().parent)
    return points


def find_release_dir(start: Path) -> Path | None:
    """The first directory at or above ``start`` (resolved) that holds ``release.toml``."""
    here = start.resolve()
    for directory in (here, *here.parents):
        if (directory / MANIFEST).is_file():
            return directory
    return None


def _under_checkout(start: Path) -> bool:
    here = start.resolve()
    return any((d / marker).exists() for d in (here, *here.parents) for marker in _CHECKOUT_MARKERS)


def release_digest(release_dir: Path) -> str:
    """``sha256:<hex>`` of the first ``[[artifacts]]`` file the manifest names (hashed, cached)."""
    data = tomllib.loads((release_dir / MANIFEST).read_text(encoding="utf-8"))
    artifacts = data.get("artifacts")
    if not isinstance(artifacts, list) or not artifacts or not isinstance(artifacts[0], dict):
        raise ValueError(f"{MANIFEST} names no [[artifacts]]")
    path = artifacts[0].get("path")
    if not isinstance(path, str) or not path:
        raise ValueError(f"{MANIFEST}: the first [[artifacts]] has no path")
    artifact = (release_dir / path).resolve()
    if not artifact.is_relative_to(release_dir):
        raise ValueError(f"{MANIFEST}: artifact {path} lies outside the release directory")
    stat = artifact.stat()
    key = (str(artifact), stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        digest = hashlib.sha256()
        with artifact.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        _digests[key] = "sha256:" + digest.hexdigest()
    return _digests[key]


def unit_name() -> str | None:
    """The systemd unit of this process (from ``/proc/self/cgroup``), else ``LIVEOBS_UNIT``."""
    try:
        with open(_CGROUP, encoding="utf-8") as f:
            for line in f:
                leaf = line.rstrip("\n").rsplit("/", 1)[-1]
                if leaf.endswith(_SYSTEMD_SUFFIX):
                    return leaf.removesuffix(_SYSTEMD_SUFFIX)
    except OSError:
        pass
    return os.environ.get(keys.ENV_UNIT) or None


def _report(attributes: dict[str, str]) -> None:
    """Write the attributes to ``LIVEOBS_RELEASE_REPORT`` when it names a file (a dry run reads it)."""
    target = os.environ.get(keys.ENV_RELEASE_REPORT)
    if not target:
        return
    try:
        partial = f"{target}.{os.getpid()}.tmp"
        with open(partial, "w", encoding="utf-8") as f:
            json.dump(attributes, f)
        os.replace(partial, target)
    except OSError as exc:
        fault("configure: release report", exc)
