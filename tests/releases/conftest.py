"""Fixtures of the release tests: the app's wheels (built once), and a good deploy root per test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from release_specs import NEW, OLD, ROUTES_NEW, ROUTES_OLD, make_root


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from layouts import build_wheel

    out = tmp_path_factory.mktemp("wheels")
    return {OLD: build_wheel(out / OLD, OLD, ROUTES_OLD), NEW: build_wheel(out / NEW, NEW, ROUTES_NEW)}


@pytest.fixture
def good_root(tmp_path: Path, wheels: dict[str, Path]) -> Path:
    return make_root(tmp_path / "deploy", wheels)
