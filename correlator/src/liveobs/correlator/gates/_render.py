"""A gate report as a terminal table, JSON, or JUnit XML for CI.

The machine formats say what was judged and against what: JSON carries a schema
version, the time of the run, the subject, and each check's numeric bounds and
unit; JUnit carries the subject as properties, and shows warnings and advisory
results as skipped test cases with their reason (visible in CI, never failing
the build). A run that could not start has its own JSON and JUnit document, so
an older report never stands in for it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any, Final
from xml.etree import ElementTree as ET

from liveobs.correlator.gates._model import CheckResult, GateReport, Status

SCHEMA: Final = "liveobs.gates/2"


@dataclass(frozen=True, slots=True)
class RunContext:
    """What the report alone does not say: the run's time and inputs, and each check's numeric budget."""

    selection: str = ""
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    budgets_file: str | None = None
    manifest_file: str | None = None
    bounds: dict[str, dict[str, Any]] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None

    def timestamp(self) -> str:
        return self.generated_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _generator() -> str:
    try:
        return f"liveobs-correlator {metadata.version('liveobs-correlator')}"
    except metadata.PackageNotFoundError:
        return "liveobs-correlator"


def _observed(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _mark(result: CheckResult) -> str:
    return result.status.value.upper() + ("" if result.required else " (advisory)")


def render_text(report: GateReport, context: RunContext | None = None, width: int = 110) -> str:
    """One line per check (status, id, observed vs threshold, evidence) and its reason."""
    s = report.subject
    head = [
        f"release {s.release or '?'}"
        + (f" of {s.service}" if s.service else "")
        + (f" in {s.environment}" if s.environment else "")
        + (f", baseline {s.baseline}" if s.baseline else ""),
    ]
    rows = [("STATUS", "CHECK", "OBSERVED", "THRESHOLD", "EVIDENCE")]
    for r in report.results:
        rows.append((_mark(r), r.id, _observed(r.observed), r.threshold, str(r.evidence)))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = head
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i:
            reason = report.results[i - 1].reason
            lines.append("    " + (reason if len(reason) <= width else reason[: width - 1] + "…"))
    counts: dict[str, int] = {}
    for r in report.results:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    lines.append(
        f"{report.status.value.upper()}: "
        + ", ".join(f"{n} {name}" for name, n in counts.items())
        + f" in {report.seconds:.2f}s (exit {int(report.exit_code)})"
    )
    lines.extend(f"note: {n}" for n in report.notes)
    return "\n".join(lines) + "\n"


def _subject(report: GateReport) -> dict[str, Any]:
    return report.subject.to_dict()


def render_json(report: GateReport, context: RunContext | None = None) -> str:
    """The report with a schema version, the run's time and inputs, and each check's bounds and unit."""
    context = context or RunContext()
    data = report.to_dict()
    for check in data["checks"]:
        bounds = context.bounds.get(check["id"], {})
        check["unit"] = bounds.get("unit")
        check["bounds"] = {k: v for k, v in bounds.items() if k not in ("unit", "required")}
    doc = {"schema": SCHEMA, "generator": _generator(), "generated_at": context.timestamp(),
           "selection": context.selection or None, "budgets_file": context.budgets_file,
           "manifest_file": context.manifest_file, "manifest": context.manifest, **data}
    return json.dumps(doc, indent=2) + "\n"


def _properties(parent: ET.Element, values: dict[str, Any]) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in values.items():
        if value not in (None, ""):
            ET.SubElement(props, "property", name=name, value=str(value))


def _visible(r: CheckResult) -> tuple[str, str] | None:
    """(element, type) for a check whose result must show in CI: failure, error, or skipped with a reason."""
    if r.status is Status.FAIL:
        return ("failure", "fail") if r.required else ("skipped", "advisory-fail")
    if r.status is Status.UNKNOWN:
        return ("error", "unknown") if r.required else ("skipped", "advisory-unknown")
    if r.status is Status.PASS:
        return None
    return "skipped", r.status.value  # warn, and any status without a verdict of its own (e.g. not applicable)


def render_junit(report: GateReport, context: RunContext | None = None) -> str:
    """JUnit XML: a testsuite per gate with the subject as properties.

    fail is a failure, unknown an error; warnings and advisory results are skipped
    test cases whose message says why, so CI shows them without failing the build.
    """
    context = context or RunContext()
    subject = {f"liveobs.{k}": v for k, v in _subject(report).items()}
    run = {**subject, "liveobs.selection": context.selection, "liveobs.status": report.status.value,
           "liveobs.exit_code": int(report.exit_code), "liveobs.budgets_file": context.budgets_file,
           "liveobs.manifest_file": context.manifest_file, "liveobs.schema": SCHEMA,
           "liveobs.generator": _generator(),
           **{f"liveobs.manifest.{k}": v for k, v in (context.manifest or {}).items()}}
    suites = ET.Element("testsuites", name="liveobs gates", time=f"{report.seconds:.3f}")
    for gate in dict.fromkeys(r.gate for r in report.results):
        results = [r for r in report.results if r.gate == gate]
        shown = [_visible(r) for r in results]
        suite = ET.SubElement(
            suites, "testsuite", name=gate, tests=str(len(results)),
            failures=str(sum(v is not None and v[0] == "failure" for v in shown)),
            errors=str(sum(v is not None and v[0] == "error" for v in shown)),
            skipped=str(sum(v is not None and v[0] == "skipped" for v in shown)),
            time=f"{sum(r.seconds for r in results):.3f}", timestamp=context.timestamp(),
            hostname=socket.gethostname(),
        )
        _properties(suite, run)
        for r, visible in zip(results, shown, strict=True):
            case = ET.SubElement(suite, "testcase", classname=f"liveobs.{gate}", name=r.id, time=f"{r.seconds:.3f}")
            bounds = context.bounds.get(r.id, {})
            _properties(case, {"status": r.status.value, "required": str(r.required).lower(),
                               "observed": r.observed, "threshold": r.threshold, "unit": bounds.get("unit"),
                               "evidence": r.evidence})
            message = f"{r.status.value}{'' if r.required else ' (advisory)'}: {r.reason}"
            if visible is not None:
                ET.SubElement(case, visible[0], message=message, type=visible[1]).text = message
            ET.SubElement(case, "system-out").text = message
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def render_error(fmt: str, message: str, context: RunContext | None = None) -> str:
    """The JSON or JUnit document of a run that could not start (exit 3), replacing any older report."""
    context = context or RunContext()
    if fmt == "json":
        doc: dict[str, Any] = {"schema": SCHEMA, "generated_at": context.timestamp(), "selection": context.selection or None,
               "budgets_file": context.budgets_file, "manifest_file": context.manifest_file, "status": "error",
               "exit_code": 3, "error": message, "checks": []}
        return json.dumps(doc, indent=2) + "\n"
    suites = ET.Element("testsuites", name="liveobs gates", time="0.000")
    suite = ET.SubElement(suites, "testsuite", name=context.selection or "liveobs", tests="1", failures="0",
                          errors="1", skipped="0", time="0.000", timestamp=context.timestamp(),
                          hostname=socket.gethostname())
    _properties(suite, {"liveobs.selection": context.selection, "liveobs.status": "error", "liveobs.exit_code": 3,
                        "liveobs.budgets_file": context.budgets_file, "liveobs.manifest_file": context.manifest_file,
                        "liveobs.schema": SCHEMA})
    case = ET.SubElement(suite, "testcase", classname="liveobs", name="the gate run")
    ET.SubElement(case, "error", message=message, type="could-not-run").text = message
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


Renderer = Callable[[GateReport, RunContext | None], str]
RENDERERS: Final[dict[str, Renderer]] = {"text": render_text, "json": render_json, "junit": render_junit}
