"""The release a process runs, on its resource: digest, directory, source and unit (docs/releases.md)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from liveobs.conventions import keys

# Configures the SDK and prints the resource's release attributes as JSON.
_APP = """
import json, liveobs.sdk
t = liveobs.sdk.configure("release-app", "1.0.0", set_global=False, cache_logger=False)
attrs = dict(t.tracer_provider.resource.attributes)
print(json.dumps({k: v for k, v in attrs.items() if str(k).startswith("liveobs.release.")}))
t.shutdown()
"""


def _run(app_dir: Path, python: str = sys.executable, **env: str) -> tuple[dict[str, str], str]:
    app_dir.mkdir(parents=True, exist_ok=True)
    script = app_dir / "app.py"
    script.write_text(_APP, encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEOBS_", "OTEL_"))}
    done = subprocess.run([python, str(script)], cwd=app_dir, env={**clean, **env}, capture_output=True,
                          text=True, timeout=60, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _release(root: Path, artifact: bytes = b"PK wheel bytes") -> tuple[Path, str]:
    release = root / "releases" / "1.0.0"
    (release / "artifacts").mkdir(parents=True)
    (release / "artifacts" / "app-1.0.0-py3-none-any.whl").write_bytes(artifact)
    digest = hashlib.sha256(artifact).hexdigest()
    (release / "release.toml").write_text(
        f'[release]\nversion = "1.0.0"\n[[artifacts]]\npath = "artifacts/app-1.0.0-py3-none-any.whl"\n'
        f'sha256 = "{digest}"\n', encoding="utf-8")
    return release, "sha256:" + digest


def test_process_in_a_release_directory_reports_its_artifact_digest_and_unit(tmp_path: Path) -> None:
    release, digest = _release(tmp_path)
    report = tmp_path / "report.json"
    attrs, _ = _run(release / "app", LIVEOBS_UNIT="app-api", LIVEOBS_RELEASE_REPORT=str(report))
    assert attrs == {keys.RELEASE_SOURCE: "release", keys.RELEASE_DIR: str(release.resolve()),
                     keys.RELEASE_DIGEST: digest, keys.RELEASE_UNIT: "app-api"}
    assert json.loads(report.read_text(encoding="utf-8")) == attrs


def test_digest_is_computed_from_the_file_never_from_the_environment(tmp_path: Path) -> None:
    release, digest = _release(tmp_path, b"the real artifact")
    fake = "sha256:" + "0" * 64
    attrs, _ = _run(release / "app", OTEL_RESOURCE_ATTRIBUTES=f"{keys.RELEASE_DIGEST}={fake}")
    assert attrs[keys.RELEASE_DIGEST] == digest != fake


def test_process_in_a_checkout_reports_checkout_without_digest(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'app'\n", encoding="utf-8")
    attrs, _ = _run(tmp_path / "src")
    assert attrs == {keys.RELEASE_SOURCE: "checkout"}


def test_unreadable_manifest_degrades_with_a_warning_and_the_app_starts(tmp_path: Path) -> None:
    release, _ = _release(tmp_path)
    (release / "release.toml").write_text("[release\nbroken", encoding="utf-8")
    attrs, stderr = _run(release / "app")
    assert attrs == {keys.RELEASE_SOURCE: "release", keys.RELEASE_DIR: str(release.resolve())}
    assert "release digest failed" in stderr


def test_a_release_venv_running_app_code_from_a_checkout_reports_checkout(tmp_path: Path) -> None:
    release, _ = _release(tmp_path / "deploy")
    venv = release / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "_test_environment.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n", encoding="utf-8")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text("[project]\nname = 'app'\n", encoding="utf-8")
    attrs, _ = _run(checkout / "src", python=str(venv / "bin" / "python"))
    assert attrs == {keys.RELEASE_SOURCE: "checkout"}
    # The same interpreter running the release's own code reports the release.
    attrs, _ = _run(release / "app", python=str(venv / "bin" / "python"))
    assert attrs[keys.RELEASE_SOURCE] == "release"



def test_a_dry_run_process_marks_its_telemetry_as_dry_run_evidence(tmp_path: Path) -> None:
    release, _ = _release(tmp_path)
    script = tmp_path / "evidence.py"
    script.write_text(_APP.replace('str(k).startswith("liveobs.release.")', f'k == "{keys.EVIDENCE_SOURCE}"'),
                      encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEOBS_", "OTEL_"))}
    for env, expected in (({}, {}), ({keys.ENV_RELEASE_REPORT: str(tmp_path / "r.json")},
                                     {keys.EVIDENCE_SOURCE: keys.EVIDENCE_DRY_RUN})):
        done = subprocess.run([sys.executable, str(script)], cwd=release, env={**clean, **env}, capture_output=True,
                              text=True, timeout=60, check=True)
        assert json.loads(done.stdout.strip().splitlines()[-1]) == expected
