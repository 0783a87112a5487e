"""Budgets (thresholds per check), check profiles and the release manifest.

The packaged ``budgets.toml`` holds sensible defaults. A budgets file given by the
operator is merged over them, check by check and key by key, and its
``[service.<name>.checks."<id>"]`` tables apply only when that service is judged,
so one file can carry several apps' budgets.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from liveobs.correlator.gates._model import GATES, GateError, Threshold

_PACKAGE: Final = "liveobs.correlator.gates"
# Budget keys the engine judges with; every other key is bound as a SQL parameter.
JUDGING_KEYS: Final = frozenset(
    {"min", "max", "warn_min", "warn_max", "percentile", "min_evidence", "required",
     "alpha", "min_effect", "min_samples"}
)
# Keys that describe a budget without changing the judgement.
DESCRIBING_KEYS: Final = frozenset({"unit"})
_NUMBER_KEYS: Final = frozenset({"min", "max", "warn_min", "warn_max", "percentile", "alpha", "min_effect"})
_COUNT_KEYS: Final = frozenset({"min_evidence", "min_samples"})
_TOP_TABLES: Final = frozenset({"defaults", "checks", "service"})


def _packaged_toml(name: str) -> dict[str, Any]:
    return tomllib.loads(resources.files(_PACKAGE).joinpath(name).read_text(encoding="utf-8"))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@dataclass(frozen=True, slots=True)
class Budget:
    """One check's budget: threshold, evidence floor, whether it gates, and SQL parameters."""

    threshold: Threshold
    min_evidence: int
    required: bool
    settings: dict[str, Any]

    def setting(self, name: str, default: Any = None) -> Any:
        return self.settings.get(name, default)


class Budgets:
    """All checks' budgets: packaged defaults, then overrides, then the service's own."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    def load(cls, override: dict[str, Any] | None = None) -> Budgets:
        """The packaged budgets with ``override`` merged over them; a typo in the override is a :class:`GateError`."""
        data = _packaged_toml("budgets.toml")
        if not override:
            return cls(data)
        problems = budget_problems(override)
        if problems:
            raise GateError("budgets: " + "; ".join(problems))
        return cls(_merge(data, override))

    def budget(self, check_id: str, service: str | None = None) -> Budget:
        entry = _merge(self.data.get("defaults", {}), self.data.get("checks", {}).get(check_id, {}))
        if service:
            own = self.data.get("service", {}).get(service, {}).get("checks", {}).get(check_id, {})
            entry = _merge(entry, own)
        try:
            threshold = Threshold(
                min=_number(entry.get("min")),
                max=_number(entry.get("max")),
                warn_min=_number(entry.get("warn_min")),
                warn_max=_number(entry.get("warn_max")),
                percentile=_number(entry.get("percentile")),
            )
            return Budget(threshold, int(entry.get("min_evidence", 1)), bool(entry.get("required", True)), entry)
        except (TypeError, ValueError) as exc:
            raise GateError(f"budget for {check_id} is malformed: {exc}") from exc


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def read_budgets_file(path: str | Path) -> dict[str, Any]:
    """A budgets override file (TOML), as a plain mapping; a typo in it is an error naming the typo."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GateError(f"cannot read budgets file {path}: {exc}") from exc
    problems = budget_problems(data)
    if problems:
        raise GateError(f"budgets file {path}: " + "; ".join(problems))
    return data


def _known_keys() -> dict[str, frozenset[str]]:
    """Check id -> the budget keys it understands: judging keys, its packaged keys and its SQL's parameters."""
    from liveobs.correlator.gates._catalogue import load_checks, referenced

    packaged = _packaged_toml("budgets.toml")
    common = JUDGING_KEYS | DESCRIBING_KEYS | frozenset(packaged.get("defaults", {}))
    return {c.id: common | frozenset(packaged.get("checks", {}).get(c.id, {}))
            | frozenset(n for n in referenced(c.sql) if n.islower()) for c in load_checks()}


def _near(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _entry_problems(where: str, entry: object, known: frozenset[str]) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{where} must be a table"]
    problems = []
    for key, value in entry.items():
        if key not in known:
            problems.append(f"unknown key {key} in {where}{_near(key, known)}")
        elif key in _NUMBER_KEYS and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(f"{where}.{key} must be a number, not {value!r}")
        elif key in _COUNT_KEYS and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            problems.append(f"{where}.{key} must be a whole number >= 0, not {value!r}")
        elif key == "required" and not isinstance(value, bool):
            problems.append(f"{where}.required must be true or false, not {value!r}")
        elif key == "unit" and not isinstance(value, str):
            problems.append(f"{where}.unit must be a string, not {value!r}")
    return problems


def _checks_problems(where: str, checks: object, known: dict[str, frozenset[str]]) -> list[str]:
    if not isinstance(checks, dict):
        return [f"{where} must be a table of check ids"]
    problems = []
    for check_id, entry in checks.items():
        if check_id not in known:
            problems.append(f"unknown check id {check_id} in {where}{_near(check_id, known)}")
        else:
            problems += _entry_problems(f'{where}."{check_id}"', entry, known[check_id])
    return problems


def budget_problems(data: dict[str, Any], services: Iterable[str] | None = None) -> list[str]:
    """Everything wrong with a budgets override: unknown tables, check ids, keys, values and services.

    ``services`` (when given) are the services a ``[service.<name>]`` table may name.
    """
    known = _known_keys()
    packaged = _packaged_toml("budgets.toml")
    tables = _TOP_TABLES | frozenset(packaged)
    problems = [f"unknown table [{name}]{_near(name, tables)}" for name in data if name not in tables]
    if "defaults" in data:
        defaults = JUDGING_KEYS | DESCRIBING_KEYS | frozenset(packaged.get("defaults", {}))
        problems += _entry_problems("[defaults]", data["defaults"], defaults)
    if "checks" in data:
        problems += _checks_problems("[checks]", data["checks"], known)
    per_service = data.get("service", {})
    if not isinstance(per_service, dict):
        return [*problems, "[service] must hold [service.<name>.checks] tables"]
    for name, table in per_service.items():
        if not isinstance(table, dict) or set(table) - {"checks"}:
            problems.append(f"[service.{name}] may hold only a checks table")
            continue
        problems += _checks_problems(f"[service.{name}.checks]", table.get("checks", {}), known)
    if services is not None:
        allowed = set(services)
        problems += [f"unknown service {name} in [service.{name}]{_near(name, allowed)}: services in the evidence "
                     f"are {', '.join(sorted(allowed)) or 'none'}" for name in per_service if name not in allowed]
    return problems


def check_services(data: dict[str, Any] | None, services: Iterable[str]) -> None:
    """Raise :class:`GateError` when a ``[service.<name>]`` table names none of ``services``."""
    if data and data.get("service"):
        problems = budget_problems({"service": data["service"]}, services)
        if problems:
            raise GateError("budgets: " + "; ".join(problems))


# The unit of each check's observed value and bounds (a budget's own ``unit`` key wins); first match.
_UNITS: Final = (
    ("performance.regression_*", "ratio"),  # the relative shift of the median
    ("performance.render", "ms"), ("performance.connect", "ms"), ("performance.event_*", "ms"),
    ("performance.uploads", "ms"), ("performance.patch_size", "By"), ("performance.streams", "By/item"),
    ("performance.memory", "MiB"), ("performance.cpu", "cores"), ("performance.concurrent_sessions", "sessions"),
    ("performance.*", "ratio"),
    ("security.session_key_age", "days"), ("security.*", "count"),
    ("observability.error_replies", "count"), ("observability.secret_scan", "count"), ("observability.*", "ratio"),
    ("deploy.service_version", "ratio"), ("deploy.*", "count"),
)
_BOUND_KEYS: Final = ("min", "max", "warn_min", "warn_max", "percentile", "min_evidence", "alpha", "min_effect",
                      "min_samples")


def budget_bounds(budgets: Budgets, check_id: str, service: str | None = None) -> dict[str, Any]:
    """A check's numeric budget (bounds, percentile, evidence floor, regression settings) and its unit."""
    budget = budgets.budget(check_id, service)
    bounds: dict[str, Any] = {k: budget.settings[k] for k in _BOUND_KEYS if isinstance(budget.settings.get(k), int | float)
                              and not isinstance(budget.settings.get(k), bool)}
    unit = budget.setting("unit") or next((u for pattern, u in _UNITS if fnmatch.fnmatchcase(check_id, pattern)), None)
    return {**bounds, "unit": unit, "required": budget.required}


def stored_services(con: Any) -> set[str]:
    """The services that have evidence in the store (a DuckDB connection)."""
    return {row[0] for row in con.execute(STORED_SERVICES).fetchall()}


STORED_SERVICES: Final = """
SELECT ServiceName FROM otel_traces WHERE nullif(ServiceName, '') IS NOT NULL
UNION SELECT ServiceName FROM otel_logs WHERE nullif(ServiceName, '') IS NOT NULL
"""


def profiles() -> dict[str, list[str]]:
    """Profile name -> check-id patterns, from the packaged ``profiles.toml``."""
    data = _packaged_toml("profiles.toml")
    return {name: list(entry["checks"]) for name, entry in data.get("profiles", {}).items()}


def select_checks(selection: str, available: list[str]) -> list[str]:
    """The check ids a gate name, ``all``, a profile name or a check id selects, in order."""
    if selection == "all":
        patterns = ["*"]
    elif selection in GATES:
        patterns = [f"{selection}.*"]
    elif selection in available:
        patterns = [selection]
    elif "," in selection or "*" in selection:  # ids and patterns, comma-separated (``liveobs check changed``)
        patterns = [p.strip() for p in selection.split(",") if p.strip()]
    else:
        known = profiles()
        if selection not in known:
            names = ", ".join([*GATES, "all", *sorted(known)])
            raise GateError(f"unknown gate or profile {selection!r} (one of: {names})")
        patterns = known[selection]
    chosen = [c for c in available if any(fnmatch.fnmatchcase(c, p) for p in patterns)]
    missing = [p for p in patterns if not any(fnmatch.fnmatchcase(c, p) for c in available)]
    if missing:
        raise GateError(f"profile {selection!r} names checks that do not exist: {', '.join(missing)}")
    return chosen


@dataclass(frozen=True, slots=True)
class Manifest:
    """A release manifest: the release being shipped and the one to roll back to."""

    current: str
    rollback: str
    service: str | None = None
    environment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"current": self.current, "rollback": self.rollback, "service": self.service,
                "environment": self.environment}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        release = data.get("release", data)
        if not isinstance(release, dict):
            raise GateError("release manifest: [release] must be a table")
        current, rollback = release.get("current"), release.get("rollback")
        if not isinstance(current, str) or not current or not isinstance(rollback, str) or not rollback:
            raise GateError("release manifest must name [release] current and rollback as non-empty strings")
        service, environment = release.get("service"), release.get("environment")
        return cls(current, rollback, service if isinstance(service, str) else None,
                   environment if isinstance(environment, str) else None)


def read_manifest(path: str | Path) -> Manifest:
    """Parse a release manifest, TOML or (by ``.json`` suffix) JSON."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text) if str(path).endswith(".json") else tomllib.loads(text)
    except (OSError, ValueError) as exc:
        raise GateError(f"cannot read release manifest {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise GateError(f"release manifest {path} is not a table")
    return Manifest.from_dict(data)
