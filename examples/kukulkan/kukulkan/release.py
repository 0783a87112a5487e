"""The release manifest: which release runs now and which one a rollback returns to."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

MANIFEST_PATH: Final = Path(__file__).resolve().parent.parent / "release-manifest.toml"
_VERSION_RE: Final = re.compile(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.\-]+)?")


@dataclass(frozen=True, slots=True)
class ReleaseManifest:
    service: str
    current: str
    rollback: str
    environment: str


def load_manifest(path: Path = MANIFEST_PATH) -> ReleaseManifest:
    """Read and validate the manifest's ``[release]`` table; a missing or bad field is a ``ValueError``."""
    with path.open("rb") as fh:
        data = tomllib.load(fh).get("release")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a [release] table is required")
    fields = {}
    for name in ("service", "current", "rollback", "environment"):
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"{path}: {name} must be a non-empty string")
        fields[name] = value
    for name in ("current", "rollback"):
        if not _VERSION_RE.fullmatch(fields[name]):
            raise ValueError(f"{path}: {name} {fields[name]!r} is not a semantic version")
    if fields["current"] == fields["rollback"]:
        raise ValueError(f"{path}: rollback must differ from current")
    return ReleaseManifest(**fields)
