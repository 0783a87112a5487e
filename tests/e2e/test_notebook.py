"""examples/triage.ipynb runs top to bottom on a real kernel against a generated store."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

import liveobs.correlator

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "triage.ipynb"




def outputs(cell: Any) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        for mime, value in output.get("data", {}).items():
            if mime.startswith("text/"):
                parts.append(value)
    return "\n".join(parts)


@pytest.mark.slow
def test_the_triage_notebook_traces_the_newest_failing_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_generator: ModuleType
) -> None:
    summary = store_generator.generate(tmp_path / "store.duckdb", rows=20_000, seed=21)
    monkeypatch.setenv("LIVEOBS_DB", summary.path)
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    monkeypatch.delenv("LIVEOBS_SINCE", raising=False)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [o for cell in code for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    text = "\n".join(outputs(cell) for cell in code)
    assert f"{summary.path} (file)" in text
    assert summary.sample_failing_event_id in text
    assert summary.sample_failing_trace_id in text
    assert summary.sample_failing_session_id in text
    with liveobs.correlator.open(summary.path) as store:
        newest = store.incidents()[0]
    assert newest.fingerprint in text
    assert newest.sample_event_ids[0] == summary.sample_failing_event_id
    images = [o for cell in code for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1
    html = [o["data"]["text/html"] for cell in code for o in cell.get("outputs", []) if "text/html" in o.get("data", {})]
    assert any("<svg" in page and summary.sample_failing_trace_id in page for page in html)
