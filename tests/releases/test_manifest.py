"""release.toml and unit files: each malformed one is refused with an error naming the file, the key and the fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from liveobs.correlator.releases import ReleaseError, parse_manifest, read_unit, unit_problems

GOOD = """
[release]
service = "relapp"
version = "1.4.0"
environment = "production"
rollback = "1.3.2"

[[artifacts]]
path = "artifacts/relapp-1.4.0-py3-none-any.whl"
sha256 = "{sha}"

[[units]]
name = "relapp-api"
file = "units/relapp-api.service"
readiness = ["/readyz", "/live/readiness.json"]
port_env = "RELAPP_PORT"

[surface]
routes = [{{ method = "GET", path = "/board", auth = "session", doc = "docs/board.md" }}]
live_events = [{{ name = "archive", route = "/board", scope = "viewer", capability = "cards.archive" }}]
migrations = ["migrations/0001_init.sql", "migrations/0002_sort.sql"]
""".format(sha="a" * 64)
SOURCE = Path("releases/1.4.0/release.toml")


def test_the_good_manifest_parses() -> None:
    m = parse_manifest(GOOD, SOURCE)
    assert (m.service, m.version, m.rollback, m.notes, m.docs, m.reversible) == (
        "relapp", "1.4.0", "1.3.2", "CHANGELOG.md", "docs", True)
    assert m.units[0].readiness == ("/readyz", "/live/readiness.json")
    assert m.surface.routes[0].doc == "docs/board.md"
    assert (m.surface.live_events[0].scope, m.surface.live_events[0].capability) == ("viewer", "cards.archive")


@pytest.mark.parametrize(("old", "new", "error"), [
    ('version = "1.4.0"', "", "[release] version must be a non-empty string (missing)"),
    ('rollback = "1.3.2"', 'rollback = "1.4.0"', "[release] rollback names the release itself (1.4.0)"),
    ('environment = "production"', "environment = 3", "[release] environment must be a non-empty string"),
    ('rollback = "1.3.2"', 'rollback = "1.3.2"\nreversible = "no"', "[release] reversible must be true or false"),
    ('rollback = "1.3.2"', 'rollback = "1.3.2"\nnotes = "../CHANGELOG.md"', "[release] notes must be a relative path"),
    ("a" * 64, "xyz", "[[artifacts]] #1 sha256 must be 64 hexadecimal digits"),
    ('path = "artifacts/', 'path = "/srv/artifacts/', "[[artifacts]] #1 path must be a relative path inside"),
    ('name = "relapp-api"', 'name = "relapp api"', "[[units]] #1 name 'relapp api' is not a unit name"),
    ('readiness = ["/readyz", "/live/readiness.json"]', "readiness = []",
     "[[units]] #1 readiness must name at least one readiness path"),
    ('readiness = ["/readyz", "/live/readiness.json"]', 'readiness = ["readyz"]',
     "[[units]] #1 readiness paths must start with '/': readyz"),
    ('port_env = "RELAPP_PORT"', 'port_env = "RELAPP-PORT"', "[[units]] #1 port_env 'RELAPP-PORT' is not"),
    ('method = "GET"', 'method = "FETCH"', "[[routes]] #1 method 'FETCH' is not one of"),
    ('path = "/board"', 'path = "board"', "[[routes]] #1 path must be a path starting with '/'"),
    ('"migrations/0001_init.sql", "migrations/0002_sort.sql"', '"migrations/0002_sort.sql", "migrations/0001_init.sql"',
     "[surface] migrations must be listed once each, in ascending order"),
    ('"migrations/0001_init.sql"', '"migrations/init.sql"', "[surface] migrations 'migrations/init.sql' must be"),
    ("[surface]", "[surface]\nschema_version = \"3\"", "[surface] schema_version must be an integer"),
    ("[[units]]", "[[unitz]]", "unknown key 'unitz' in the manifest's top level (did you mean units?)"),
    ('rollback = "1.3.2"', 'rolback = "1.3.2"', "unknown key 'rolback' in [release] (did you mean rollback?)"),
    ('environment = "production"', 'environment = "production"\nenvironnement = "x"',
     "unknown key 'environnement' in [release] (did you mean environment?)"),
    ('port_env = "RELAPP_PORT"', 'port_env = "RELAPP_PORT"\nreadyness = ["/x"]',
     "unknown key 'readyness' in [[units]] #1 (did you mean readiness?)"),
    ("routes = [{", "rutes = [{", "unknown key 'rutes' in [surface] (did you mean routes?)"),
    ('auth = "session"', 'auth = "session", dock = "x"', "unknown key 'dock' in [[routes]] #1 (did you mean doc?)"),
    (GOOD[GOOD.index("[[units]]"):GOOD.index("[surface]")], "",
     "no [[units]]: a release names the service units that run it"),
    (GOOD[GOOD.index("[[artifacts]]"):GOOD.index("[[units]]")], "",
     "no [[artifacts]]: a release names the artifact it runs"),
    ("[release]", "[release", "not valid TOML"),
])
def test_a_malformed_manifest_is_refused_with_a_clear_error(old: str, new: str, error: str) -> None:
    assert old in GOOD
    with pytest.raises(ReleaseError) as raised:
        parse_manifest(GOOD.replace(old, new, 1), SOURCE)
    assert str(raised.value).startswith(f"{SOURCE}: ")
    assert error in str(raised.value)


def _unit(tmp_path: Path, service: str) -> Path:
    path = tmp_path / "units" / "relapp-api.service"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(service, encoding="utf-8")
    return path


def test_a_unit_file_gives_argv_environment_and_the_command_for_a_release(tmp_path: Path) -> None:
    root = tmp_path / "deploy"
    env_file = tmp_path / "relapp.env"
    env_file.write_text('# secrets\nRELAPP_DB="/srv/relapp/cards.sqlite"\n\nRELAPP_MODE=prod\n', encoding="utf-8")
    path = _unit(tmp_path, "[Unit]\nDescription=api\n# a comment\n[Service]\n"
                           "ExecStart=%R/current/venv/bin/relapp --role api \\\n  --workers 2\n"
                           'Environment=RELAPP_PORT=8101 "RELAPP_GREETING=hello world"\n'
                           f"EnvironmentFile={env_file}\nEnvironmentFile=-{tmp_path}/absent.env\n"
                           "Environment=LIVEOBS_UNIT=relapp-api\nWorkingDirectory=%R/current\n")
    unit = read_unit(path, root)
    assert unit.name == "relapp-api"
    assert unit.argv == (f"{root.absolute()}/current/venv/bin/relapp", "--role", "api", "--workers", "2")
    assert unit.environment == {"RELAPP_PORT": "8101", "RELAPP_GREETING": "hello world",
                                "RELAPP_DB": "/srv/relapp/cards.sqlite", "RELAPP_MODE": "prod",
                                "LIVEOBS_UNIT": "relapp-api"}
    argv, env, workdir = unit.command(root, root / "releases" / "1.3.2")
    assert argv[0] == f"{root.absolute()}/releases/1.3.2/venv/bin/relapp"
    assert workdir == root.absolute() / "releases" / "1.3.2"
    assert env == unit.environment


@pytest.mark.parametrize(("service", "error"), [
    ("[Service]\nEnvironment=A=1\n", "needs exactly one ExecStart=, found 0"),
    ("[Service]\nExecStart=/a\nExecStart=/b\n", "needs exactly one ExecStart=, found 2"),
    ("[Service]\nExecStart=-/srv/app\n", "ExecStart= prefix '-' is not allowed"),
    ("[Service]\nExecStart=relapp --role api\n", "ExecStart= must start with an absolute path, not 'relapp'"),
    ("[Service]\nExecStart=/srv/app\nEnvironment=NOVALUE\n", "Environment= needs NAME=value pairs, got 'NOVALUE'"),
    ("[Service]\nExecStart=/srv/app 'unclosed\n", "ExecStart= cannot be split"),
    ("[Service]\njust words\n", "expected Key=value or [Section]"),
    ("[Service]\nExecStart=/srv/app\nEnvironmentFile=/nonexistent/app.env\n",
     "EnvironmentFile= /nonexistent/app.env does not exist"),
])
def test_a_malformed_unit_file_is_refused(tmp_path: Path, service: str, error: str) -> None:
    with pytest.raises(ReleaseError) as raised:
        read_unit(_unit(tmp_path, service), tmp_path)
    assert error in str(raised.value)


def test_a_script_shim_in_the_release_venv_is_a_shim(tmp_path: Path) -> None:
    root = tmp_path / "deploy"
    bin_dir = root / "releases" / "1.0" / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "relapp").write_text("#!/bin/sh\ncd /src/relapp && exec python -m relapp\n", encoding="utf-8")
    (root / "current").symlink_to("releases/1.0")
    unit = read_unit(_unit(tmp_path, f"[Service]\nExecStart={root.absolute()}/current/venv/bin/relapp\n"), root)
    assert unit_problems(unit, root) == [f"ExecStart runs {root.absolute()}/current/venv/bin/relapp, a shell script: "
                                         "a shell shim, not the release's entry point"]
    python_c = read_unit(_unit(tmp_path, f"[Service]\nExecStart={root.absolute()}/current/venv/bin/python -c 'x'\n"),
                         root)
    assert unit_problems(python_c, root) == ["ExecStart runs python -c, a shell shim: run the release's entry point "
                                             "directly"]


def test_a_unit_naming_the_resolved_root_runs_the_release_asked_for(tmp_path: Path) -> None:
    real = tmp_path / "real-deploy"
    (real / "releases" / "1.0" / "venv" / "bin").mkdir(parents=True)
    (real / "releases" / "1.0" / "venv" / "bin" / "relapp").write_text("#!/usr/bin/python3\n", encoding="utf-8")
    (real / "current").symlink_to("releases/1.0")
    root = tmp_path / "deploy"
    root.symlink_to(real)  # the operator names the root through a link; the unit file names it resolved
    unit = read_unit(_unit(tmp_path, f"[Service]\nExecStart={real.resolve()}/current/venv/bin/relapp\n"), root)
    assert unit_problems(unit, root) == []
    argv, _, _ = unit.command(root, root / "releases" / "1.0")
    assert argv == [f"{root.absolute()}/releases/1.0/venv/bin/relapp"]
