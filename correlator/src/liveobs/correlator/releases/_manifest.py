"""``release.toml``: parsed into typed facts, every malformed key a :class:`ReleaseError` naming it.

The format is in ``docs/releases.md``. Paths are checked to stay inside the
release directory (or, for unit files, the deploy root); nothing here touches the
files they name except to read the manifest itself.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

MANIFEST: Final = "release.toml"
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_UNIT_NAME: Final = re.compile(r"[A-Za-z0-9@_.-]+")
_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MIGRATION: Final = re.compile(r"(\d{4})_[A-Za-z0-9_-]+\.sql")
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "WS"})


class ReleaseError(ValueError):
    """The release cannot be read or acted on; the message names the file, the key and what is wrong."""


@dataclass(frozen=True, slots=True)
class Artifact:
    path: str
    sha256: str


@dataclass(frozen=True, slots=True)
class UnitSpec:
    name: str
    file: str
    readiness: tuple[str, ...]
    port_env: str


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    auth: str
    doc: str | None


@dataclass(frozen=True, slots=True)
class LiveEvent:
    name: str
    route: str
    scope: str | None
    doc: str | None
    capability: str | None = None


@dataclass(frozen=True, slots=True)
class Surface:
    routes: tuple[Route, ...] = ()
    live_events: tuple[LiveEvent, ...] = ()
    scopes: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    schema_version: int | None = None
    migrations: tuple[str, ...] = ()
    security_error_classes: tuple[str, ...] = ()
    security_routes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReleaseManifest:
    """One release's manifest, as declared (nothing verified against the files yet)."""

    service: str
    version: str
    environment: str
    rollback: str
    notes: str
    docs: str
    reversible: bool
    artifacts: tuple[Artifact, ...]
    units: tuple[UnitSpec, ...]
    surface: Surface
    data_env: str | None = None


class _Reader:
    """Typed access to one table of the manifest, with errors that say where."""

    def __init__(self, data: Any, where: str, source: Path) -> None:
        if not isinstance(data, dict):
            raise ReleaseError(f"{source}: {where} must be a table")
        self.data, self.where, self.source = data, where, source

    def fail(self, key: str, what: str) -> ReleaseError:
        return ReleaseError(f"{self.source}: {self.where} {key} {what}")

    def only(self, *known: str) -> None:
        """Refuse a key this table does not have (a typo would otherwise drop a fact silently)."""
        for key in self.data:
            if key not in known:
                near = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean {near[0]}?" if near else f"known: {', '.join(known)}"
                raise ReleaseError(f"{self.source}: unknown key {key!r} in {self.where} ({hint})")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "must be a non-empty string" + ("" if key in self.data else " (missing)"))
        return value

    def optional(self, key: str) -> str | None:
        return self.text(key) if key in self.data else None

    def words(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, "must be a list of non-empty strings")
        return tuple(value)

    def inside(self, key: str, default: str | None = None) -> str:
        value = self.text(key, default)
        pure = PurePosixPath(value)
        if pure.is_absolute() or ".." in pure.parts:
            raise self.fail(key, f"must be a relative path inside the directory, not {value!r}")
        return value

    def url_path(self, key: str) -> str:
        value = self.text(key)
        if not value.startswith("/"):
            raise self.fail(key, f"must be a path starting with '/', not {value!r}")
        return value


def _tables(data: dict[str, Any], key: str, source: Path, *known: str) -> list[_Reader]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ReleaseError(f"{source}: {key} must be an array of tables ([[{key}]])")
    tables = [_Reader(item, f"[[{key}]] #{n}", source) for n, item in enumerate(value, 1)]
    for table in tables:
        table.only(*known)
    return tables


def parse_manifest(text: str, source: Path) -> ReleaseManifest:
    """The manifest in ``text`` (read from ``source``, named in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ReleaseError(f"{source}: not valid TOML ({exc})") from exc
    _Reader(data, "the manifest's top level", source).only("release", "artifacts", "units", "surface")
    release = _Reader(data.get("release"), "[release]", source)
    release.only("service", "version", "environment", "rollback", "notes", "docs", "reversible", "data_env")
    version, rollback = release.text("version"), release.text("rollback")
    if rollback == version:
        raise release.fail("rollback", f"names the release itself ({version}): it must be an earlier release")
    reversible = release.data.get("reversible", True)
    if not isinstance(reversible, bool):
        raise release.fail("reversible", "must be true or false")
    artifacts = tuple(Artifact(t.inside("path"), _sha256(t)) for t in _tables(data, "artifacts", source, "path", "sha256"))
    if not artifacts:
        raise ReleaseError(f"{source}: no [[artifacts]]: a release names the artifact it runs")
    units = tuple(_unit(t) for t in _tables(data, "units", source, "name", "file", "readiness", "port_env"))
    if not units:
        raise ReleaseError(f"{source}: no [[units]]: a release names the service units that run it")
    names = [u.name for u in units]
    if len(set(names)) != len(names):
        raise ReleaseError(f"{source}: [[units]] names repeat: {', '.join(sorted(names))}")
    data_env = release.optional("data_env")
    if data_env is not None and not _ENV_NAME.fullmatch(data_env):
        raise release.fail("data_env", f"{data_env!r} is not an environment variable name")
    return ReleaseManifest(
        service=release.text("service"), version=version, environment=release.text("environment"),
        rollback=rollback, notes=release.inside("notes", "CHANGELOG.md"), docs=release.inside("docs", "docs"),
        reversible=reversible, artifacts=artifacts, units=units,
        surface=_surface(_Reader(data.get("surface", {}), "[surface]", source)), data_env=data_env,
    )


def read_manifest(release_dir: Path) -> ReleaseManifest:
    """The manifest of ``release_dir``; a missing or malformed one is a :class:`ReleaseError`."""
    source = release_dir / MANIFEST
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReleaseError(f"{release_dir} holds no {MANIFEST}: not a release directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReleaseError(f"{source}: cannot read it ({exc})") from exc
    return parse_manifest(text, source)


def _sha256(t: _Reader) -> str:
    value = t.text("sha256").lower().removeprefix("sha256:")
    if not _HEX64.fullmatch(value):
        raise t.fail("sha256", "must be 64 hexadecimal digits")
    return value


def _unit(t: _Reader) -> UnitSpec:
    name = t.text("name")
    if not _UNIT_NAME.fullmatch(name):
        raise t.fail("name", f"{name!r} is not a unit name (letters, digits, @ _ . -)")
    readiness = t.words("readiness")
    if not readiness:
        raise t.fail("readiness", "must name at least one readiness path")
    bad = [p for p in readiness if not p.startswith("/")]
    if bad:
        raise t.fail("readiness", f"paths must start with '/': {', '.join(bad)}")
    port_env = t.text("port_env")
    if not _ENV_NAME.fullmatch(port_env):
        raise t.fail("port_env", f"{port_env!r} is not an environment variable name")
    return UnitSpec(name, t.inside("file"), readiness, port_env)


def _surface(s: _Reader) -> Surface:
    routes = []
    s.only("routes", "live_events", "scopes", "capabilities", "schema_version", "migrations", "security_error_classes",
           "security_routes")
    for t in _tables(s.data, "routes", s.source, "method", "path", "auth", "doc"):
        method = t.text("method").upper()
        if method not in _METHODS:
            raise t.fail("method", f"{method!r} is not one of {', '.join(sorted(_METHODS))}")
        routes.append(Route(method, t.url_path("path"), t.text("auth"), t.optional("doc")))
    events = [LiveEvent(t.text("name"), t.url_path("route"), t.optional("scope"), t.optional("doc"),
                        t.optional("capability"))
              for t in _tables(s.data, "live_events", s.source, "name", "route", "scope", "capability", "doc")]
    schema_version = s.data.get("schema_version")
    if schema_version is not None and (not isinstance(schema_version, int) or isinstance(schema_version, bool)):
        raise s.fail("schema_version", "must be an integer")
    migrations = s.words("migrations")
    numbers = []
    for path in migrations:
        named = _MIGRATION.fullmatch(PurePosixPath(path).name)
        if named is None or PurePosixPath(path).is_absolute() or ".." in PurePosixPath(path).parts:
            raise s.fail("migrations", f"{path!r} must be a relative path named NNNN_<name>.sql")
        numbers.append(int(named[1]))
    if numbers != sorted(set(numbers)):
        raise s.fail("migrations", "must be listed once each, in ascending order")
    return Surface(tuple(routes), tuple(events), s.words("scopes"), s.words("capabilities"), schema_version,
                   migrations, s.words("security_error_classes"), s.words("security_routes"))
