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


def test_sdk_and_duckdb_stores_never_import_clickhouse_clients() -> None:
    loaded = _modules_after(
        "import liveobs.sdk, liveobs.correlator, liveobs.correlator.stores, liveobs.cli, liveobs.correlator._trace\n"
        "import liveobs.correlator._incidents, liveobs.correlator.gates._engine\n"
        "from liveobs.correlator.stores import open_store\n"
        "import tempfile, os\n"
        "open_store(os.path.join(tempfile.mkdtemp(), 's.duckdb'), create=True).close()"
    )
    assert "duckdb" in loaded  # the DuckDB store really was opened
    assert not loaded & {"clickhouse_connect", "chdb", "chdb_core", "sqlglot"}


def test_clickhouse_clients_are_an_extra_of_the_correlator_only() -> None:
    from importlib.metadata import requires

    def hard(dist: str) -> set[str]:
        return {r.split(">")[0].split("=")[0].split("[")[0].strip() for r in requires(dist) or [] if "extra ==" not in r}

    for dist in ("liveobs", "liveobs-sdk", "liveobs-correlator", "liveobs-cli"):
        assert not hard(dist) & {"clickhouse-connect", "chdb", "sqlglot"}, dist
    extras = [r for r in requires("liveobs-correlator") or [] if r.partition(";")[2].replace('"', "'").strip()
              == "extra == 'clickhouse'"]
    assert {r.split(">")[0].strip() for r in extras} == {"clickhouse-connect", "chdb", "sqlglot"}
