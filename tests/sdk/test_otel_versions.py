"""The SDK installed with three OpenTelemetry releases, each in its own environment, running a live app.

``scripts/otel_matrix.py`` makes (or reuses) one virtual environment per
release under ``.venv-matrix/`` with that release pinned, and runs
``scripts/otel_smoke_app.py`` in it: configure(), a structlog line, an HTTP
request and a failing live event under a real uvicorn server, with assertions
on what the exporters received.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import otel_matrix  # noqa: E402


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_an_app_runs_on_the_floor_a_middle_and_the_newest_opentelemetry_release() -> None:
    releases = [otel_matrix.RELEASES[name] for name in ("floor", "middle", "newest")]
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "otel_matrix.py"), "smoke", *releases],
                          capture_output=True, text=True, timeout=1100, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    for release in releases:
        assert f"ok: opentelemetry-sdk {release}," in done.stdout


def test_the_declared_range_is_the_tested_one() -> None:
    pyproject = (ROOT / "sdk" / "pyproject.toml").read_text()
    floor, newest = otel_matrix.RELEASES["floor"], otel_matrix.RELEASES["newest"]
    major, minor, _ = newest.split(".")
    for dist in otel_matrix.OTEL:
        assert f'"{dist}>={floor},<{major}.{int(minor) + 1}"' in pyproject
