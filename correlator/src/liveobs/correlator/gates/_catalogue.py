"""The checks shipped as package data, and the parameters their SQL may bind.

A check is ``checks/<gate>/<name>.sql`` (id ``<gate>.<name>``); its first comment
line says what it measures. Attribute keys and evidence names reach the SQL only as
bound parameters named after their constants (``$SESSION_ID``, ``$CHECK_CSP``), so
``liveobs.conventions`` stays the one place that spells them.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from liveobs.conventions import evidence, keys
from liveobs.correlator.gates._model import GATES, GateError

_PACKAGE: Final = "liveobs.correlator.gates"
_PARAM: Final = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_COMMENT: Final = re.compile(r"--[^\n]*")
_CREATES: Final = re.compile(r"CREATE\s+OR\s+REPLACE\s+TEMP\s+TABLE\s+(lo_\w+)", re.IGNORECASE)
_SCOPED_TABLE: Final = re.compile(r"\blo_\w+")


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


@dataclass(frozen=True, slots=True)
class ScopeStatement:
    """One statement of a scope script: the temporary table it creates and the ones it reads."""

    sql: str
    creates: str
    reads: frozenset[str]


@functools.cache
def scope_statements(name: str) -> tuple[ScopeStatement, ...]:
    """The statements of a packaged scope script (``scope.sql``, ``baseline.sql``)."""
    text = _COMMENT.sub("", _sql_text(name))
    statements: list[ScopeStatement] = []
    for sql in (s.strip() for s in text.split(";") if s.strip()):
        created = _CREATES.search(sql)
        if created is None:
            raise GateError(f"{name}: every statement must create a temporary lo_ table")
        statements.append(ScopeStatement(sql, created[1], frozenset(scoped_tables(sql)) - {created[1]}))
    return tuple(statements)


def scoped_tables(sql: str) -> set[str]:
    """The scoped temporary tables (``lo_*``) a statement reads."""
    return set(_SCOPED_TABLE.findall(_COMMENT.sub("", sql)))


def needed_statements(*checks: Check) -> list[ScopeStatement]:
    """The scope statements the checks need (with what those read), in script order."""
    everything = [s for script in ("scope.sql", "baseline.sql") for s in scope_statements(script)]
    needed = set().union(*(scoped_tables(c.body) for c in checks)) if checks else set()
    for statement in reversed(everything):
        if statement.creates in needed:
            needed |= statement.reads
    return [s for s in everything if s.creates in needed]


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


def not_applicable_passes(selection: str) -> bool:
    """Whether the profile ``selection`` lets a not-applicable check pass (``not_applicable = "pass"``, the default).

    A profile that must see every property exercised says ``not_applicable = "unknown"``.
    """
    data = tomllib.loads(_sql_text("profiles.toml"))
    entry = data.get("profiles", {}).get(selection, {})
    value = entry.get("not_applicable", "pass") if isinstance(entry, dict) else "pass"
    if value not in ("pass", "unknown"):
        raise GateError(f"profile {selection!r}: not_applicable must be 'pass' or 'unknown', not {value!r}")
    return value == "pass"
