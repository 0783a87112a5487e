"""Build Kukulkan's release artifacts from source: a wheel per version.

1.4.0 is the example's source tree as it is; every other release is that tree
with its patch applied (the reviewed difference between the releases):
``releases/1.3.2.patch`` takes 1.4.0's new features out, ``releases/1.4.1.patch``
is the fix of 1.4.0's ``sort_by_due``. Each wheel is built by ``pip wheel`` from a clean copy of its source,
never from the checkout in place, and is cached under the build directory by the
digest of its source, so a repeat build with unchanged sources is instant.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

EXAMPLE: Final = Path(__file__).resolve().parents[1]
SOURCE_FILES: Final = ("pyproject.toml", "surface.toml", "CHANGELOG.md")
SOURCE_DIRS: Final = ("kukulkan", "docs")
# The demo's own modules live beside the app but are no part of a release (pyproject.toml excludes them).
NOT_RELEASED: Final = frozenset({"kukulkan/demo.py", "kukulkan/demo_steps.py", "kukulkan/scenario.py",
                                 "kukulkan/client.py"})
PATCHES: Final = EXAMPLE / "releases"
TREE: Final = "1.4.0"  # the release the source tree itself declares


class BuildError(RuntimeError):
    """A release could not be built; the message says which step failed."""


@dataclass(frozen=True, slots=True)
class Built:
    version: str
    source: Path  # the release's source tree (its docs, notes and surface are copied from here)
    wheel: Path
    source_digest: str  # sha256 of the sources and the patch it was built from

    def declared_rollback(self) -> str | None:
        """The rollback target the release's source names (``[tool.kukulkan.release] rollback``), if any."""
        with (self.source / "pyproject.toml").open("rb") as fh:
            declared: object = tomllib.load(fh).get("tool", {}).get("kukulkan", {}).get("release", {}).get("rollback")
        if declared is None:
            return None
        if not isinstance(declared, str) or not declared or declared == self.version:
            raise BuildError(f"release {self.version} names rollback target {declared!r}: not another release")
        return declared


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def versions() -> tuple[str, ...]:
    """Every version that can be built: the tree's own and one per patch, oldest first."""
    return tuple(sorted({TREE, *(p.stem for p in PATCHES.glob("*.patch"))}, key=_key))


def _files(root: Path) -> list[Path]:
    out = [root / name for name in SOURCE_FILES]
    for directory in SOURCE_DIRS:
        out += sorted(p for p in (root / directory).rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
                      and p.relative_to(root).as_posix() not in NOT_RELEASED)
    return out


def source_digest(version: str) -> str:
    """What a release is built from: every source file (path and content) and its patch."""
    digest = hashlib.sha256(version.encode())
    for path in _files(EXAMPLE):
        digest.update(str(path.relative_to(EXAMPLE)).encode() + b"\0" + path.read_bytes() + b"\0")
    patch = PATCHES / f"{version}.patch"
    if patch.exists():
        digest.update(patch.read_bytes())
    return digest.hexdigest()


def _copy_source(dest: Path) -> None:
    for path in _files(EXAMPLE):
        target = dest / path.relative_to(EXAMPLE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def _run(argv: list[str], cwd: Path, what: str) -> None:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        raise BuildError(f"{what} failed (exit {result.returncode}): {(result.stderr or result.stdout).strip()}")


def build(version: str, work: Path) -> Built:
    """The wheel of ``version`` under ``work/<version>-<digest prefix>/``, built unless already there."""
    if version not in versions():
        raise BuildError(f"no release {version}: known are {', '.join(versions())}")
    digest = source_digest(version)
    home = work / f"{version}-{digest[:16]}"
    source, dist = home / "src", home / "dist"
    wheels = sorted(dist.glob(f"kukulkan-{version}-*.whl")) if dist.is_dir() else []
    if len(wheels) == 1 and (home / "done").exists():
        return Built(version, source, wheels[0], digest)
    shutil.rmtree(home, ignore_errors=True)
    _copy_source(source)
    patch = PATCHES / f"{version}.patch"
    if patch.exists():
        _run(["git", "apply", "--whitespace=nowarn", str(patch)], source, f"applying {patch.name}")
    declared = _declared_version(source)
    if declared != version:
        raise BuildError(f"the source of {version} declares version {declared}")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir",
          str(dist), str(source)], home, f"building the {version} wheel")
    wheels = sorted(dist.glob(f"kukulkan-{version}-*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"building {version} made {len(wheels)} wheels, not one")
    (home / "done").write_text(digest + "\n")
    return Built(version, source, wheels[0], digest)


def _declared_version(source: Path) -> str | None:
    for line in (source / "kukulkan" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].split("#", 1)[0].strip().strip('"')
    return None
