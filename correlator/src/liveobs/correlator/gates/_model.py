"""What a gate run is about (the subject) and what it answers (statuses, results, exit code)."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Final

# TIMESTAMP_NS ends in 2262; these bounds keep the window filters free of NULL tests.
WINDOW_START: Final = datetime(1970, 1, 1)
WINDOW_END: Final = datetime(2262, 1, 1)

GATES: Final[tuple[str, ...]] = ("observability", "security", "performance", "deploy")


class Status(enum.StrEnum):
    """A check's verdict. Missing or too little evidence is ``UNKNOWN``, never ``PASS``.

    ``NOT_APPLICABLE``: the subject has nothing the check judges (no errors, no
    uploads, no page with a cross-origin script). It counts as a pass unless the
    profile that ran says otherwise (``not_applicable = "unknown"``).
    """

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not_applicable"


class ExitCode(enum.IntEnum):
    """The gate's exit code, as CI reads it (OWASP ZAP's convention, shifted for unknown)."""

    PASS = 0
    FAILED = 1
    UNKNOWN = 2
    ERROR = 3


class GateError(RuntimeError):
    """The gate could not run at all (no store, bad budgets, bad manifest): exit code 3."""


@dataclass(frozen=True, slots=True)
class Subject:
    """Whose evidence is judged: a service's release in an environment and time window.

    ``release`` and ``baseline`` left empty are resolved from the evidence: the newest
    release, and the release that served traffic just before it.
    """

    service: str | None = None
    release: str | None = None
    environment: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    baseline: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("since", "until"):
            value = out[name]
            out[name] = value.isoformat() if value is not None else None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Subject:
        def text(name: str) -> str | None:
            value = data.get(name)
            return str(value) if value not in (None, "") else None

        def moment(name: str) -> datetime | None:
            value = text(name)
            return datetime.fromisoformat(value) if value else None

        return cls(text("service"), text("release"), text("environment"), moment("since"), moment("until"),
                   text("baseline"))


@dataclass(frozen=True, slots=True)
class Threshold:
    """How ``observed`` is judged: it must stay within ``min``/``max``; ``warn_*`` warn earlier."""

    min: float | None = None
    max: float | None = None
    warn_min: float | None = None
    warn_max: float | None = None
    percentile: float | None = None

    def describe(self) -> str:
        parts = []
        if self.percentile is not None:
            parts.append(f"p{self.percentile:g}")
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        return " ".join(parts) or "recorded"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's verdict with what it saw, ready for the table, JSON and JUnit."""

    id: str
    gate: str
    status: Status
    required: bool
    reason: str
    observed: float | None
    threshold: str
    evidence: int
    seconds: float = 0.0
    about: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status.value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(**{**data, "status": Status(data["status"])})


@dataclass(frozen=True, slots=True)
class GateReport:
    """The results of one run, in check order, and the subject they were judged for."""

    subject: Subject
    results: tuple[CheckResult, ...]
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())
    # Whether a required check that is not applicable passes (the profile's choice).
    not_applicable_passes: bool = True

    @property
    def exit_code(self) -> ExitCode:
        required = [r for r in self.results if r.required]
        if any(r.status is Status.FAIL for r in required):
            return ExitCode.FAILED
        if any(r.status is Status.UNKNOWN for r in required):
            return ExitCode.UNKNOWN
        if not self.not_applicable_passes and any(r.status is Status.NOT_APPLICABLE for r in required):
            return ExitCode.UNKNOWN
        return ExitCode.PASS

    @property
    def status(self) -> Status:
        return {
            ExitCode.PASS: Status.PASS,
            ExitCode.FAILED: Status.FAIL,
            ExitCode.UNKNOWN: Status.UNKNOWN,
            ExitCode.ERROR: Status.UNKNOWN,
        }[self.exit_code]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "exit_code": int(self.exit_code),
            "subject": self.subject.to_dict(),
            "seconds": round(self.seconds, 4),
            "notes": list(self.notes),
            "not_applicable_passes": self.not_applicable_passes,
            "checks": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateReport:
        return cls(
            subject=Subject.from_dict(data["subject"]),
            results=tuple(CheckResult.from_dict(c) for c in data["checks"]),
            seconds=float(data.get("seconds", 0.0)),
            notes=tuple(data.get("notes", ())),
            not_applicable_passes=bool(data.get("not_applicable_passes", True)),
        )
