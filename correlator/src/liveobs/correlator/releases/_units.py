"""Explicit systemd-style unit files: parsed, judged (release artifact, no checkout, no shim), and made runnable.

Only the ``[Service]`` section is read: one ``ExecStart=``, any ``Environment=`` and
``EnvironmentFile=`` lines, an optional ``WorkingDirectory=``. ``%R`` in a value stands for the deploy
root. A unit is *proper* when its program is a file of ``<root>/current/venv/bin``:
not a shell or ``env`` wrapper, not ``python -c``, not a shell script, and not a
path into a source checkout. :func:`UnitFile.command` gives the argv and
environment that run the unit for a chosen release directory, which is how a dry
run starts the release on side ports and how a supervisor starts the unit.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from liveobs.correlator.releases._manifest import ReleaseError

SECTION: Final = "Service"
ROOT_SPECIFIER: Final = "%R"
_SHELLS: Final = frozenset({"sh", "bash", "dash", "zsh", "ksh", "fish", "env", "busybox", "xargs"})
_PYTHON: Final = re.compile(r"python[0-9.]*")
_SHELL_SHEBANG: Final = re.compile(r"#!\s*(/usr)?/bin/(env\s+)?(sh|bash|dash|zsh|ksh)\b")
_CHECKOUT_MARKERS: Final = (".git", "pyproject.toml", "setup.py")
_PREFIXES: Final = "-@+!:"
_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class UnitFile:
    """One parsed unit file: ``ExecStart`` as argv, its environment, its working directory."""

    name: str
    path: Path
    exec_start: str
    argv: tuple[str, ...]
    environment: dict[str, str] = field(default_factory=dict)
    working_directory: str | None = None

    @property
    def program(self) -> str:
        return self.argv[0]

    def problems(self, root: Path, release_dir: Path | None = None) -> list[str]:
        """Why this unit does not run the release's artifact from the release tree (empty: it does)."""
        return unit_problems(self, root, release_dir)

    def command(self, root: Path, release_dir: Path | None = None) -> tuple[list[str], dict[str, str], Path | None]:
        """(argv, environment, working directory) of the unit, ``<root>/current`` replaced by ``release_dir``."""
        currents = {str(root.absolute() / "current"), str(root.resolve() / "current")}
        target = str(release_dir.absolute()) if release_dir is not None else str(root.absolute() / "current")

        def place(value: str) -> str:
            for current in currents:
                if value == current or value.startswith(current + "/"):
                    return target + value[len(current):]
            return value

        argv = [place(a) for a in self.argv]
        workdir = Path(place(self.working_directory)) if self.working_directory else None
        return argv, {k: place(v) for k, v in self.environment.items()}, workdir


def read_unit(path: Path, root: Path, name: str | None = None) -> UnitFile:
    """Parse the unit file at ``path`` of the deploy ``root``; a malformed file is a :class:`ReleaseError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReleaseError(f"unit file {path}: cannot read it ({exc})") from exc
    unit = name or path.name.removesuffix(".service")
    section, exec_starts, env, workdir = None, [], {}, None
    for number, (key, value) in _lines(text):
        if key.startswith("["):
            section = key.strip("[]")
            continue
        if section != SECTION:
            continue
        value = value.replace(ROOT_SPECIFIER, str(root.absolute()))
        where = f"unit file {path}, line {number}"
        if key == "ExecStart":
            exec_starts.append(value)
        elif key == "Environment":
            env.update(_environment(value, where))
        elif key == "EnvironmentFile":
            env.update(_environment_file(value, where))
        elif key == "WorkingDirectory":
            workdir = value
    if section is None and not exec_starts:
        raise ReleaseError(f"unit file {path}: no [{SECTION}] section")
    if len(exec_starts) != 1:
        raise ReleaseError(f"unit file {path}: [{SECTION}] needs exactly one ExecStart=, found {len(exec_starts)}")
    exec_start = exec_starts[0].strip()
    if exec_start[:1] and exec_start[0] in _PREFIXES:
        raise ReleaseError(f"unit file {path}: ExecStart= prefix {exec_start[0]!r} is not allowed: run the "
                           "program plainly")
    try:
        argv = tuple(shlex.split(exec_start))
    except ValueError as exc:
        raise ReleaseError(f"unit file {path}: ExecStart= cannot be split ({exc})") from exc
    if not argv:
        raise ReleaseError(f"unit file {path}: ExecStart= is empty")
    if not os.path.isabs(argv[0]):
        raise ReleaseError(f"unit file {path}: ExecStart= must start with an absolute path, not {argv[0]!r}")
    return UnitFile(unit, path, exec_start, argv, env, workdir)


def _lines(text: str) -> list[tuple[int, tuple[str, str]]]:
    """(line number, (key, value)) per logical line; sections come as ``("[Name]", "")``."""
    out: list[tuple[int, tuple[str, str]]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending, start = pending + line[:-1] + " ", start or number
            continue
        line, first = pending + line, start or number
        pending, start = "", 0
        if line.startswith("[") and line.endswith("]"):
            out.append((first, (line, "")))
        elif "=" in line:
            key, value = line.split("=", 1)
            out.append((first, (key.strip(), value.strip())))
        else:
            raise ReleaseError(f"line {first}: expected Key=value or [Section], got {line!r}")
    return out


def _environment(value: str, where: str) -> dict[str, str]:
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise ReleaseError(f"{where}: Environment= cannot be split ({exc})") from exc
    out: dict[str, str] = {}
    for word in words:
        key, sep, item = word.partition("=")
        if not sep or not _ENV_NAME.fullmatch(key):
            raise ReleaseError(f"{where}: Environment= needs NAME=value pairs, got {word!r}")
        out[key] = item
    return out


def _environment_file(value: str, where: str) -> dict[str, str]:
    """``EnvironmentFile=[-]PATH``: its ``NAME=value`` lines (``-``: the file may be missing)."""
    optional = value.startswith("-")
    path = Path(value.removeprefix("-"))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if optional:
            return {}
        raise ReleaseError(f"{where}: EnvironmentFile= {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReleaseError(f"{where}: EnvironmentFile= {path} cannot be read ({exc})") from exc
    env: dict[str, str] = {}
    for line in (raw.strip() for raw in text.splitlines()):
        if line and line[0] not in "#;":
            env.update(_environment(line, f"{where} ({path})"))
    return env


def unit_problems(unit: UnitFile, root: Path, release_dir: Path | None = None) -> list[str]:
    """What is wrong with how ``unit`` starts the release in ``release_dir`` (default: the one ``current``
    points at); empty when it runs the release's artifact from the release tree."""
    program = Path(unit.program)
    base = program.name
    if base in _SHELLS:
        return [f"ExecStart runs {base}, a shell shim: run the release's entry point directly"]
    if _PYTHON.fullmatch(base) and "-c" in unit.argv[1:]:
        return [f"ExecStart runs {base} -c, a shell shim: run the release's entry point directly"]
    bin_dir = root.absolute() / "current" / "venv" / "bin"
    if program.parent not in (bin_dir, root.resolve() / "current" / "venv" / "bin"):
        checkout = _checkout_of(program)
        where = f"a source checkout ({checkout})" if checkout else "outside the release tree"
        return [f"ExecStart runs {program} from {where}, not from {bin_dir}"]
    if "PYTHONPATH" in unit.environment:
        return [f"Environment= sets PYTHONPATH={unit.environment['PYTHONPATH']}: the release's venv alone must "
                "provide the app"]
    real = (release_dir or (root / "current")).resolve() / "venv" / "bin" / base
    if not real.exists():
        return [f"ExecStart runs {program}, which the release does not hold ({real})"]
    if real.is_symlink():
        # A venv's interpreter links to the base Python; any other link must stay in the release tree.
        target = real.resolve()
        if not _PYTHON.fullmatch(base) and not target.is_relative_to((root / "releases").resolve()):
            checkout = _checkout_of(target)
            where = f"a source checkout ({checkout})" if checkout else "outside the release tree"
            return [f"ExecStart runs {program}, a link into {where}"]
        return []
    if _SHELL_SHEBANG.match(_first_line(real)):
        return [f"ExecStart runs {program}, a shell script: a shell shim, not the release's entry point"]
    return []


def _checkout_of(path: Path) -> Path | None:
    for directory in path.absolute().parents:
        if any((directory / marker).exists() for marker in _CHECKOUT_MARKERS):
            return directory
    return None


def _first_line(path: Path) -> str:
    try:
        with path.open("rb") as f:
            return f.readline(256).decode("utf-8", "replace")
    except OSError:
        return ""
