"""Fixtures shared by every test directory."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Test helper modules (gate_seed, browser_helpers, kukulkan_helpers, redaction_corpus) and the example app
# import by name from every test directory.
for _path in (ROOT / "tests" / "correlator", ROOT / "tests" / "sdk", ROOT / "tests" / "e2e", ROOT / "tests" / "redaction",
              ROOT / "examples" / "kukulkan"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


@pytest.fixture(scope="session")
def store_generator() -> ModuleType:
    """``benchmarks/gen_store.py``: ``generate(path, rows, seed)`` writes a store of realistic shape."""
    name = "liveobs_bench_gen_store"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "gen_store.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium driven by Playwright: Debian's binary, never a downloaded one."""
    from browser_helpers import launch

    with launch() as launched:
        yield launched
