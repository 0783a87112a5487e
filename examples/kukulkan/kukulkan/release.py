"""Which release this process runs: the package's own version and, when deployed, its release directory.

A deployed Kukulkan runs from ``<root>/releases/<version>/venv``; the release
directory above it holds ``release.toml``. A process started from a source
checkout has no release directory.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from kukulkan import __version__

MANIFEST_NAME = "release.toml"


@dataclass(frozen=True, slots=True)
class RunningRelease:
    version: str  # the version of the code that runs (the package's own)
    directory: Path | None  # the release directory it was started from, if any
    manifest_version: str | None  # the version that directory's release.toml names

    @property
    def consistent(self) -> bool:
        """The code is the release its directory says it is (or runs outside any release directory)."""
        return self.directory is None or self.manifest_version == self.version


def release_directory(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` that holds a release manifest."""
    for candidate in (start, *start.parents):
        if (candidate / MANIFEST_NAME).is_file():
            return candidate
    return None


def running_release(prefix: str | None = None) -> RunningRelease:
    """The release of this process, from ``sys.prefix`` (the release's virtual environment)."""
    directory = release_directory(Path(prefix or sys.prefix).resolve())
    if directory is None:
        return RunningRelease(__version__, None, None)
    try:
        with (directory / MANIFEST_NAME).open("rb") as fh:
            table = tomllib.load(fh).get("release", {})
        named = table.get("version") if isinstance(table, dict) else None
    except (OSError, tomllib.TOMLDecodeError):
        named = None
    return RunningRelease(__version__, directory, named if isinstance(named, str) else None)
