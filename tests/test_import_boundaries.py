"""Dependencies point one way: the contract and the SDK stay light."""

from __future__ import annotations

import json
import subprocess
import sys


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return {name.split(".")[0] for name in json.loads(out)}


def test_conventions_import_only_the_standard_library() -> None:
    baseline = _modules_after("")
    extra = _modules_after("import liveobs.conventions, liveobs.redaction, liveobs.evidence") - baseline
    outside = {m for m in extra if m not in sys.stdlib_module_names and m != "liveobs"}
    assert outside == set()


def test_sdk_never_imports_duckdb_or_click() -> None:
    loaded = _modules_after("import liveobs.sdk")
    assert "duckdb" not in loaded
    assert "click" not in loaded
