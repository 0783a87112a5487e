"""Fixtures of the release tests: the app's wheels (built once), and a good deploy root per test."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from layouts import Spec, point_current, write_release, write_units

OLD, NEW = "1.3.2", "1.4.0"
ROUTES_OLD = ("/board",)
ROUTES_NEW = ("/board", "/board/sorted")

SPEC_OLD = Spec(
    version=OLD, rollback="1.3.1",
    routes=[{"method": "GET", "path": "/board", "auth": "session", "doc": "docs/board.md"}],
    live_events=[{"name": "move", "route": "/board", "scope": "board:write", "doc": "docs/board.md"}],
    scopes=["board:read", "board:write"], schema_version=1,
    migrations={"0001_init.sql": "CREATE TABLE cards (id INTEGER PRIMARY KEY, title TEXT NOT NULL);\n"},
    docs={"docs/board.md": "# The board\n\nMove cards between columns.\n"},
    notes="# Changelog\n\n## [1.3.2]\n- Cards move between columns.\n",
)
SPEC_NEW = Spec(
    version=NEW, rollback=OLD,
    routes=[{"method": "GET", "path": "/board", "auth": "session", "doc": "docs/board.md"},
            {"method": "GET", "path": "/board/sorted", "auth": "session", "doc": "docs/sort.md"}],
    live_events=[{"name": "move", "route": "/board", "scope": "board:write", "doc": "docs/board.md"},
                 {"name": "sort", "route": "/board", "scope": "board:sort", "doc": "docs/sort.md"}],
    scopes=["board:read", "board:write", "board:sort"], capabilities=["board.sort"], schema_version=2,
    migrations={"0001_init.sql": SPEC_OLD.migrations["0001_init.sql"],
                "0002_sort.sql": "ALTER TABLE cards ADD COLUMN position INTEGER;\n"},
    docs={"docs/board.md": "# The board\n\nMove cards between columns, or sort a column.\n",
          "docs/sort.md": "# Sorting\n\nThe sort live event (scope board:sort) and GET /board/sorted.\n"},
    notes="# Changelog\n\n## [1.4.0]\n- New: the `sort` live event (scope `board:sort`, capability `board.sort`) "
          "and GET /board/sorted.\n- Migration 0002_sort adds a card position.\n\n## [1.3.2]\n"
          "- Cards move between columns.\n",
)


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from layouts import build_wheel

    out = tmp_path_factory.mktemp("wheels")
    return {OLD: build_wheel(out / OLD, OLD, ROUTES_OLD), NEW: build_wheel(out / NEW, NEW, ROUTES_NEW)}


def make_root(root: Path, wheels: dict[str, Path], old: Spec | None = None, new: Spec | None = None,
              current: str = NEW) -> Path:
    """A deploy root with releases 1.3.2 and 1.4.0 (each from its own wheel), two units, `current`."""
    write_release(root, old or copy.deepcopy(SPEC_OLD), wheels[OLD])
    write_release(root, new or copy.deepcopy(SPEC_NEW), wheels[NEW])
    write_units(root)
    point_current(root, current)
    return root


@pytest.fixture
def good_root(tmp_path: Path, wheels: dict[str, Path]) -> Path:
    return make_root(tmp_path / "deploy", wheels)
