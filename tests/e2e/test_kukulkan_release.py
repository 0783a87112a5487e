"""Kukulkan's release tooling: wheels that differ in code, a layout liveobs accepts, and the supervisor.

The wheels are built by ``pip wheel`` from copies of the source tree (1.3.2 and 1.4.1
with their patches applied), laid out as release directories and read back with
liveobs's own release reader; the supervisor runs real processes from unit files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kukulkan"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))

from kukulkan_release.build import BuildError, Built, build, source_digest, versions  # noqa: E402
from kukulkan_release.deploy import Deployment, prepare  # noqa: E402
from kukulkan_release.layout import point_current  # noqa: E402
from kukulkan_release.supervisor import Supervisor, UnitError, parse_unit  # noqa: E402

from liveobs.correlator.releases import read_release  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Every release built and laid out once for the module, with their unit files; units stopped after."""
    base = tmp_path_factory.mktemp("kukulkan-release")
    prepare(base / "deploy", base / "build")
    deployed = Deployment(base / "deploy", {"kukulkan-api": {}, "kukulkan-ui": {}}, "k1:" + "A" * 43)
    yield deployed
    deployed.stop()


def _wheel_text(wheel: Path, member: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(member).decode()


def test_the_two_wheels_differ_in_code_and_a_rebuild_is_cached(deployment: Deployment) -> None:
    work = deployment.root.parent / "build"
    old, new = build("1.3.2", work), build("1.4.0", work)
    assert old.wheel.name == "kukulkan-1.3.2-py3-none-any.whl"
    assert new.wheel.name == "kukulkan-1.4.0-py3-none-any.whl"
    old_live, new_live = _wheel_text(old.wheel, "kukulkan/live.py"), _wheel_text(new.wheel, "kukulkan/live.py")
    for handler in ("sort_by_due", "clear_done"):
        assert f"async def {handler}(" in new_live
        assert handler not in old_live
    assert "cards.clear" in _wheel_text(new.wheel, "kukulkan/accounts.py")
    assert "cards.clear" not in _wheel_text(old.wheel, "kukulkan/accounts.py")
    assert "kukulkan/demo.py" not in zipfile.ZipFile(new.wheel).namelist()  # the demo is no part of a release
    built = new.wheel.stat().st_mtime_ns
    again = build("1.4.0", work)
    assert again.wheel == new.wheel
    assert again.wheel.stat().st_mtime_ns == built  # not rebuilt
    assert source_digest("1.3.2") != source_digest("1.4.0")


def test_the_fix_release_sorts_undated_cards_last_and_rolls_back_past_the_rolled_back_release(
        deployment: Deployment) -> None:
    assert versions() == ("1.3.2", "1.4.0", "1.4.1")  # by version, not by name
    work = deployment.root.parent / "build"
    fixed, faulty = build("1.4.1", work), build("1.4.0", work)
    assert fixed.wheel.name == "kukulkan-1.4.1-py3-none-any.whl"
    sort = ("from kukulkan.board import Board; b = Board.seeded(); "
            "print([c.title for c in b.sort_by_due('todo')])")
    for built, expected in ((fixed, "['Write the release notes', 'Triage the bug reports']\n"), (faulty, None)):
        ran = subprocess.run([sys.executable, "-c", sort], capture_output=True, text=True, timeout=30, check=False,
                             env={**os.environ, "PYTHONPATH": str(built.source)})
        if expected is None:  # 1.4.0's bug: a card without a due date cannot be compared with a dated one
            assert ran.returncode == 1, ran.stdout
            assert "TypeError" in ran.stderr
        else:
            assert (ran.returncode, ran.stdout) == (0, expected), ran.stderr
    # 1.4.0 was rolled back: the fix names 1.3.2 as its rollback target, its notes name what 1.3.2 lacks.
    assert fixed.declared_rollback() == "1.3.2"
    assert faulty.declared_rollback() is None
    release = read_release(deployment.root, "1.4.1")
    assert release.problems == ()
    assert release.manifest.rollback == "1.3.2"
    assert release.rollback_dir == deployment.root / "releases" / "1.3.2"
    assert release.notes_entry is not None
    for named in ("sort_by_due", "clear_done", "cards.clear"):
        assert named in release.notes_entry
    assert read_release(deployment.root, "1.4.0").manifest.rollback == "1.3.2"


@pytest.mark.parametrize("declared", ['"1.4.1"', '""', "3"])
def test_a_release_naming_itself_or_nothing_as_its_rollback_target_is_refused(tmp_path: Path, declared: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.kukulkan.release]\nrollback = {declared}\n")
    built = Built("1.4.1", tmp_path, tmp_path / "kukulkan-1.4.1-py3-none-any.whl", "0" * 64)
    with pytest.raises(BuildError, match="not another release"):
        built.declared_rollback()


def test_liveobs_reads_the_layout_without_problems(deployment: Deployment) -> None:
    root = deployment.root
    point_current(root, "1.4.0")
    release = read_release(root, "1.4.0")
    assert release.problems == ()
    assert [u.problems for u in release.units] == [(), ()]
    assert [u.spec.name for u in release.units] == ["kukulkan-api", "kukulkan-ui"]
    assert release.manifest.rollback == "1.3.2"
    assert release.rollback_dir == root / "releases" / "1.3.2"
    assert release.digest is not None
    assert release.digest != release.rollback_digest
    assert release.notes_entry is not None
    assert "clear_done" in release.notes_entry
    assert os.readlink(root / "current") == "releases/1.4.0"
    # The venv runs the wheel's code, never the checkout's.
    site = next((root / "releases" / "1.3.2" / "venv" / "lib").glob("python3.*/site-packages"))
    assert "sort_by_due" not in (site / "kukulkan" / "live.py").read_text()


def test_units_switch_releases_by_the_link_and_restart(deployment: Deployment) -> None:
    root = deployment.root
    try:
        first = deployment.start("1.3.2")
        api = deployment.url("kukulkan-api")
        assert httpx.get(api + "/api/release", timeout=5).json()["version"] == "1.3.2"
        assert httpx.get(api + "/board", timeout=5).status_code == 404  # the API unit serves the API only
        second = deployment.switch("1.4.0")
        assert set(first.values()).isdisjoint(second.values())
        body = httpx.get(deployment.url("kukulkan-ui") + "/live/readiness.json", timeout=5).json()
        assert body["version"] == "1.4.0"
        assert body["checks"]["release:directory"][0]["output"] == (
            f"running 1.4.0 from {(root / 'releases' / '1.4.0').resolve()}")
    finally:
        deployment.stop()
    assert all(_gone(pid) for pid in (*first.values(), *second.values()))


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _unit(tmp_path: Path, body: str, name: str = "demo") -> Path:
    path = tmp_path / f"{name}.service"
    path.write_text(body)
    return path


def test_the_supervisor_restarts_a_failing_unit_and_stops_it_cleanly(tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    script = tmp_path / "serve.py"
    # The first run fails; later runs record their environment and wait for SIGTERM.
    script.write_text(
        "import os, signal, sys, time\n"
        f"runs = open({str(marker)!r}, 'a+')\n"
        "runs.write(os.environ.get('GREETING', '-') + ' ' + os.environ.get('HOME', 'no-home') + '\\n'); runs.close()\n"
        f"if len(open({str(marker)!r}).read().splitlines()) == 1: sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
        "while True: time.sleep(0.05)\n")
    unit = parse_unit(_unit(tmp_path, f"[Unit]\nDescription=x\n\n[Service]\nExecStart={sys.executable} {script}\n"
                                      "Environment=GREETING=hello\nRestart=on-failure\nRestartSec=0.1\n"
                                      "TimeoutStopSec=5\n"))
    supervisor = Supervisor(tmp_path / "logs")
    supervisor.start(unit)
    try:
        deadline = time.monotonic() + 20
        while supervisor.restarts("demo") < 1 or len(marker.read_text().splitlines()) < 2:
            assert time.monotonic() < deadline, "the failed unit was not restarted"
            time.sleep(0.05)
        proc = supervisor.process("demo")
        assert proc is not None
        assert proc.poll() is None
    finally:
        code = supervisor.stop("demo")
    assert code == 0  # stopped by SIGTERM, cleanly
    # Only the unit's environment (and PATH) reaches the process, not the caller's.
    assert marker.read_text().splitlines() == ["hello no-home", "hello no-home"]
    assert "exited with 3; restart 1" in (tmp_path / "logs" / "demo.log").read_text()


def test_the_supervisor_kills_a_unit_that_ignores_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "stubborn.py"
    script.write_text("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                      "print('stubborn-ready', flush=True)\nwhile True: time.sleep(0.05)\n")
    unit = parse_unit(_unit(tmp_path, f"[Service]\nExecStart={sys.executable} {script}\nTimeoutStopSec=0.5\n"))
    supervisor = Supervisor(tmp_path / "logs")
    proc = supervisor.start(unit)
    deadline = time.monotonic() + 20
    while "stubborn-ready\n" not in (tmp_path / "logs" / "demo.log").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert supervisor.stop("demo") == -signal.SIGKILL
    assert proc.poll() is not None


@pytest.mark.parametrize(("body", "message"), [
    ("[Service]\nExecStart=serve --port 1\n", "absolute path"),
    ("[Service]\nExecStart=/bin/true\nUser=root\n", "User= is not supported"),
    ("[Service]\nEnvironment=A=1\n", "no ExecStart"),
    ("[Service]\nExecStart=/bin/true\nRestart=always\n", "Restart=always is not supported"),
    ("[Socket]\nListenStream=80\n", "unknown section [Socket]"),
    ("[Service]\nExecStart=/bin/true\nEnvironment=NOVALUE\n", "is not NAME=value"),
])
def test_the_supervisor_refuses_what_it_cannot_run_as_written(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(UnitError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_unit(_unit(tmp_path, body))
