"""Budgets (thresholds per check), check profiles and the release manifest.

The packaged ``budgets.toml`` holds sensible defaults. A budgets file given by the
operator is merged over them, check by check and key by key, and its
``[service.<name>.checks."<id>"]`` tables apply only when that service is judged,
so one file can carry several apps' budgets.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
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
        data = _packaged_toml("budgets.toml")
        return cls(_merge(data, override) if override else data)

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
    """A budgets override file (TOML), as a plain mapping."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GateError(f"cannot read budgets file {path}: {exc}") from exc


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
