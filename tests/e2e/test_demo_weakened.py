"""`make demo`'s runner against a deliberately weakened Kukulkan: the gates say which checks fail and why.

The new release is served with ``KUKULKAN_WEAKEN=csp,sockets,scanner``: a CSP that
allows any script, inline and eval'd; no Origin or Host check on the live socket;
an upload "scanner" that passes everything. The driver's signed-in handshakes and
EICAR canary, and the SDK's record of every page's CSP, must turn exactly those
security checks to fail, each with its reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIVEOBS = str(Path(sys.executable).parent / "liveobs")
WEAKENED = {"security.csp", "security.ws_origin", "security.ws_host", "security.upload_scan"}


@pytest.mark.slow
@pytest.mark.timeout(330)
def test_demo_against_a_weakened_kukulkan_names_the_failing_checks_and_why(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(REPO / "examples" / "kukulkan")}
    result = subprocess.run([sys.executable, "-m", "kukulkan.demo", "--state", str(state), "--refreshes", "5",
                             "--weaken", "csp,sockets,scanner"],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False)
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    assert "deliberately weakened: KUKULKAN_WEAKEN=csp,sockets,scanner" in out
    assert "UNEXPECTED: the EICAR canary was accepted (200)" in out
    assert re.search(r"^  security\s+fail\s+exit 1", out, re.MULTILINE), out
    # Each failing check is printed with its reason.
    shown = dict(re.findall(r"^      (security\.\w+): (.+)$", out, re.MULTILINE))
    assert set(shown) == WEAKENED, out
    assert "'unsafe-eval'" in shown["security.csp"]
    assert "1 infected accepted" in shown["security.upload_scan"]
    assert "accepted: https://drive-foreign.invalid" in shown["security.ws_origin"]
    assert "accepted: drive-foreign.invalid" in shown["security.ws_host"]

    # The store it left agrees, read as JSON: only the weakened guards fail.
    gate = subprocess.run([LIVEOBS, "--db", str(state / "liveobs.duckdb"), "check", "security", "--manifest",
                           str(REPO / "examples" / "kukulkan" / "release-manifest.toml"), "--format", "json"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert gate.returncode == 1, gate.stderr
    statuses = {c["id"]: c["status"] for c in json.loads(gate.stdout)["checks"]}
    assert {i for i, s in statuses.items() if s == "fail"} == WEAKENED
    assert statuses["security.scope"] == statuses["security.capability"] == "pass"
