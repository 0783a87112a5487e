"""A gate report as a terminal table, JSON, or JUnit XML for CI."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from liveobs.correlator.gates._model import GateReport, Status

_MARK = {Status.PASS: "PASS", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.UNKNOWN: "UNKNOWN",
         Status.NOT_APPLICABLE: "N/A"}


def _observed(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def render_text(report: GateReport, width: int = 110) -> str:
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
        status = _MARK[r.status] + ("" if r.required else " (advisory)")
        rows.append((status, r.id, _observed(r.observed), r.threshold, str(r.evidence)))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = head
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i:
            reason = report.results[i - 1].reason
            lines.append("    " + (reason if len(reason) <= width else reason[: width - 1] + "…"))
    counts = {st: sum(1 for r in report.results if r.status is st) for st in Status}
    lines.append(
        f"{report.status.value.upper()}: "
        + ", ".join(f"{n} {st.value}" for st, n in counts.items() if n)
        + f" in {report.seconds:.2f}s (exit {int(report.exit_code)})"
    )
    lines.extend(f"note: {n}" for n in report.notes)
    return "\n".join(lines) + "\n"


def render_json(report: GateReport) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


def render_junit(report: GateReport) -> str:
    """JUnit XML: a testsuite per gate; fail is a failure, unknown an error, warn passes with output."""
    suites = ET.Element("testsuites", name="liveobs gates", time=f"{report.seconds:.3f}")
    for gate in dict.fromkeys(r.gate for r in report.results):
        results = [r for r in report.results if r.gate == gate]
        suite = ET.SubElement(
            suites, "testsuite", name=gate, tests=str(len(results)),
            failures=str(sum(r.status is Status.FAIL for r in results)),
            errors=str(sum(r.status is Status.UNKNOWN for r in results)),
            skipped="0", time=f"{sum(r.seconds for r in results):.3f}",
        )
        for r in results:
            case = ET.SubElement(suite, "testcase", classname=f"liveobs.{gate}", name=r.id, time=f"{r.seconds:.3f}")
            message = f"{r.status.value}: {r.reason}"
            if r.status is Status.FAIL and r.required:
                ET.SubElement(case, "failure", message=message, type="fail").text = message
            elif r.status is Status.UNKNOWN and r.required:
                ET.SubElement(case, "error", message=message, type="unknown").text = message
            else:
                ET.SubElement(case, "system-out").text = message
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "junit": render_junit}
