"""The checks shipped as package data, and the parameters their SQL may bind.

A check is ``checks/<gate>/<name>.sql`` (id ``<gate>.<name>``); its first comment
line says what it measures. Attribute keys and evidence names reach the SQL only as
bound parameters named after their constants (``$SESSION_ID``, ``$CHECK_CSP``), so
``liveobs.conventions`` stays the one place that spells them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from liveobs.conventions import evidence, keys
from liveobs.correlator.gates._model import GATES, GateError

_PACKAGE: Final = "liveobs.correlator.gates"
_PARAM: Final = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_COMMENT: Final = re.compile(r"--[^\n]*")


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    gate: str
    sql: str
    about: str

    @property
    def body(self) -> str:
        """The SQL without its leading description (two checks may share a query)."""
        return self.sql.split("\n", 1)[1] if self.sql.startswith("--") else self.sql


def _sql_text(*parts: str) -> str:
    return resources.files(_PACKAGE).joinpath(*parts).read_text(encoding="utf-8")


@functools.cache
def load_checks() -> tuple[Check, ...]:
    """Every packaged check, gate by gate, each gate's checks by name."""
    checks: list[Check] = []
    root = resources.files(_PACKAGE).joinpath("checks")
    for gate in GATES:
        names = sorted(p.name for p in root.joinpath(gate).iterdir() if p.name.endswith(".sql"))
        for name in names:
            sql = _sql_text("checks", gate, name)
            about = sql.split("\n", 1)[0].removeprefix("--").strip() if sql.startswith("--") else ""
            checks.append(Check(f"{gate}.{name.removesuffix('.sql')}", gate, sql, about))
    return tuple(checks)


def check_ids() -> list[str]:
    return [c.id for c in load_checks()]


@functools.cache
def scope_statements(name: str) -> tuple[str, ...]:
    """The statements of a packaged scope script (``scope.sql``, ``baseline.sql``)."""
    text = _COMMENT.sub("", _sql_text(name))
    return tuple(s.strip() for s in text.split(";") if s.strip())


@functools.cache
def convention_params() -> dict[str, str]:
    """Every string constant of ``liveobs.conventions.keys`` and ``.evidence``, by name."""
    params: dict[str, str] = {}
    for module in (keys, evidence):
        for name, value in vars(module).items():
            if name.isupper() and isinstance(value, str):
                params[name] = value
    return params


def referenced(sql: str) -> list[str]:
    """The ``$name`` parameters a statement uses, in order of first use."""
    return list(dict.fromkeys(_PARAM.findall(_COMMENT.sub("", sql))))


def bind(sql: str, params: dict[str, Any], what: str) -> dict[str, Any]:
    """The subset of ``params`` that ``sql`` uses; DuckDB refuses unused ones."""
    names = referenced(sql)
    missing = [n for n in names if n not in params]
    if missing:
        raise GateError(f"{what} needs parameters that nothing provides: {', '.join('$' + n for n in missing)}")
    return {n: params[n] for n in names}
