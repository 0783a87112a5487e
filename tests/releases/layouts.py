"""Deploy roots for the release tests: real wheels of a tiny ASGI app, real venvs, unit files, `current`.

``relapp`` is built as a wheel per version (zipfile, with a RECORD of real hashes) and
installed into each release's own venv with pip. The venv sees the test environment's
packages (uvicorn, liveobs.sdk) through a site directory line, never the app: the app
comes from the wheel only. Its readiness answers come from ``liveobs.sdk``'s Health,
and ``liveobs.sdk.configure()`` at startup reports the release the process runs.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVICE = "relapp"
UNITS = ("relapp-api", "relapp-ui")
READINESS = ("/readyz", "/live/readiness.json")

_APP = '''
import os

import liveobs.sdk
import uvicorn

SERVICE = "relapp"
VERSION = {version!r}
ROUTES = {routes!r}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    status = 200 if scope["path"] in ROUTES else 404
    body = ("relapp " + VERSION + " " + scope["path"]).encode()
    await send({{"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]}})
    await send({{"type": "http.response.body", "body": body}})


def main():
    data = os.environ.get("RELAPP_DB")
    if data:  # this release reads the cards table as it knows it; a migration that breaks that stops it here
        import sqlite3
        sqlite3.connect(data).execute("SELECT id, title FROM cards LIMIT 1").fetchall()
    liveobs.sdk.configure(SERVICE, VERSION, "production")
    served = liveobs.sdk.LiveObsMiddleware(app, health=liveobs.sdk.Health(version=VERSION))
    uvicorn.run(served, host="127.0.0.1", port=int(os.environ["RELAPP_PORT"]), log_level="warning",
                lifespan="off")
'''


def build_wheel(out: Path, version: str, routes: tuple[str, ...]) -> Path:
    """A wheel of ``relapp`` ``version`` serving ``routes``, with a console script ``relapp``."""
    out.mkdir(parents=True, exist_ok=True)
    dist = f"relapp-{version}.dist-info"
    files = {
        "relapp/__init__.py": f"VERSION = {version!r}\n",
        "relapp/app.py": _APP.format(version=version, routes=list(routes)),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: relapp\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/entry_points.txt": "[console_scripts]\nrelapp = relapp.app:main\n",
    }
    record = [f"{name},sha256={_b64(text.encode())},{len(text.encode())}" for name, text in files.items()]
    files[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    wheel = out / f"relapp-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, text in files.items():
            z.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), text)
    return wheel


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def install_venv(release: Path, wheel: Path) -> None:
    """``release/venv`` with the wheel installed by pip; the test environment's packages on its path.

    pip runs once per wheel (into a cache next to it); each release gets a copy whose
    scripts' interpreter lines are rewritten to its own venv, as a venv built in place has.
    """
    cache = wheel.parent / "venv"
    if not cache.is_dir():
        _pip_venv(cache, wheel)
    venv = release / "venv"
    shutil.copytree(cache, venv, symlinks=True)
    for script in (venv / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        text = script.read_bytes()
        if text.startswith(b"#!") or str(cache).encode() in text:
            script.write_bytes(text.replace(str(cache).encode(), str(venv.absolute()).encode()))
    pyvenv = venv / "pyvenv.cfg"
    pyvenv.write_text(pyvenv.read_text(encoding="utf-8").replace(str(cache), str(venv.absolute())), encoding="utf-8")


def _pip_venv(venv: Path, wheel: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "_test_environment.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
                    "--no-deps", "--no-index", "--no-compile", str(wheel)], check=True, timeout=120)


@dataclass
class Spec:
    """One release of a test deploy root."""

    version: str
    rollback: str
    routes: list[dict[str, Any]]
    live_events: list[dict[str, Any]] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    capabilities: list[str] = field(default_factory=list)
    schema_version: int = 1
    migrations: dict[str, str] = field(default_factory=dict)
    docs: dict[str, str] = field(default_factory=dict)
    notes: str = ""
    reversible: bool = True
    security_error_classes: list[str] = field(default_factory=list)
    security_routes: list[str] = field(default_factory=list)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def manifest_text(spec: Spec, wheel_name: str, digest: str) -> str:
    lines = ["[release]", f'service = "{SERVICE}"', f'version = "{spec.version}"', 'environment = "production"',
             f'rollback = "{spec.rollback}"', 'notes = "CHANGELOG.md"', 'docs = "docs"',
             f"reversible = {_toml_value(spec.reversible)}", 'data_env = "RELAPP_DB"', "", "[[artifacts]]",
             f'path = "artifacts/{wheel_name}"', f'sha256 = "{digest}"', ""]
    for unit in UNITS:
        lines += ["[[units]]", f'name = "{unit}"', f'file = "units/{unit}.service"',
                  f"readiness = {_toml_value(list(READINESS))}", 'port_env = "RELAPP_PORT"', ""]
    lines += ["[surface]", f"routes = {_toml_value(spec.routes)}", f"live_events = {_toml_value(spec.live_events)}",
              f"scopes = {_toml_value(spec.scopes)}", f"capabilities = {_toml_value(spec.capabilities)}",
              f"schema_version = {spec.schema_version}",
              f"migrations = {_toml_value([f'migrations/{m}' for m in spec.migrations])}",
              f"security_error_classes = {_toml_value(spec.security_error_classes)}",
              f"security_routes = {_toml_value(spec.security_routes)}", ""]
    return "\n".join(lines)


def write_release(root: Path, spec: Spec, wheel: Path) -> Path:
    """``root/releases/<version>``: manifest, artifact, venv, notes, docs, migrations."""
    release = root / "releases" / spec.version
    (release / "artifacts").mkdir(parents=True)
    shutil.copy2(wheel, release / "artifacts" / wheel.name)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (release / "release.toml").write_text(manifest_text(spec, wheel.name, digest), encoding="utf-8")
    (release / "CHANGELOG.md").write_text(spec.notes, encoding="utf-8")
    for path, text in spec.docs.items():
        (release / path).parent.mkdir(parents=True, exist_ok=True)
        (release / path).write_text(text, encoding="utf-8")
    for name, sql in spec.migrations.items():
        (release / "migrations").mkdir(exist_ok=True)
        (release / "migrations" / name).write_text(sql, encoding="utf-8")
    install_venv(release, wheel)
    return release


def write_units(root: Path, exec_start: dict[str, str] | None = None, environment: str = "") -> None:
    """The two unit files; ``exec_start`` overrides a unit's ExecStart= line, ``environment`` adds NAME=value pairs."""
    (root / "units").mkdir(parents=True, exist_ok=True)
    for n, unit in enumerate(UNITS):
        role = unit.split("-")[1]
        command = (exec_start or {}).get(unit, f"{root.absolute()}/current/venv/bin/relapp --role {role}")
        (root / "units" / f"{unit}.service").write_text(
            f"[Unit]\nDescription=relapp {role}\n\n[Service]\nExecStart={command}\n"
            f"Environment=RELAPP_PORT={18100 + n} LIVEOBS_UNIT={unit} {environment}\nRestart=on-failure\n",
            encoding="utf-8")


def point_current(root: Path, version: str) -> None:
    link = root / "current"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(Path("releases") / version)
