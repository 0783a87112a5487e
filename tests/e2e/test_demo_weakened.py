"""`make demo`'s runner against a deliberately weakened Kukulkan: the gates say which checks fail and why.

The new releases (1.4.0 and the fix 1.4.1) are served with
``KUKULKAN_WEAKEN=csp,sockets,scanner``: a CSP that allows any script, inline and
eval'd; no Origin or Host check on the live socket; an upload "scanner" that passes
everything. The driver's signed-in handshakes and EICAR canary, and the SDK's record
of every page's CSP, must turn exactly those security checks of the fix to fail, each
with its reason; the fix's other gates are judged as without the weakening.
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
@pytest.mark.timeout(400)
def test_demo_against_a_weakened_kukulkan_names_the_failing_checks_and_why(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(REPO / "examples" / "kukulkan")}
    result = subprocess.run([sys.executable, "-m", "kukulkan.demo", "--state", str(state), "--refreshes", "5",
                             "--weaken", "csp,sockets,scanner"],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=370, check=False)
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    assert out.count("deliberately weakened: KUKULKAN_WEAKEN=csp,sockets,scanner") == 2, out
    assert out.count("UNEXPECTED: the EICAR canary was accepted (200)") == 2, out
    fixed = out.split("(release 1.4.1, the fix; --manifest examples/kukulkan/release-manifest-1.4.1.toml)")[1]
    assert re.search(r"^  security\s+fail\s+exit 1", fixed, re.MULTILINE), out
    assert re.search(r"^  observability\s+pass\s+exit 0", fixed, re.MULTILINE), out
    # Each failing check of the fix is printed with its reason.
    shown = dict(re.findall(r"^      (security\.\w+): (.+)$", fixed, re.MULTILINE))
    assert set(shown) == WEAKENED, out
    assert "'unsafe-eval'" in shown["security.csp"]
    assert "1 infected accepted" in shown["security.upload_scan"]
    assert "accepted: https://drive-foreign.invalid" in shown["security.ws_origin"]
    assert "accepted: drive-foreign.invalid" in shown["security.ws_host"]

    # The store it left agrees, read as JSON: only the weakened guards of the fix fail.
    gate = subprocess.run([LIVEOBS, "--db", str(state / "liveobs.duckdb"), "check", "security", "--manifest",
                           str(REPO / "examples" / "kukulkan" / "release-manifest-1.4.1.toml"), "--format", "json"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert gate.returncode == 1, gate.stderr
    statuses = {c["id"]: c["status"] for c in json.loads(gate.stdout)["checks"]}
    assert {i for i, s in statuses.items() if s == "fail"} == WEAKENED
    assert statuses["security.scope"] == statuses["security.capability"] == "pass"
