"""Run one release gate for make and keep the gate's own exit code and status beside its report.

make turns every failing command into its own exit 2, so fail (1), unknown (2) and
could not run (3) would look alike to CI. This runs the ``liveobs check`` command
given after ``--``, reads the verdict from the JUnit report it wrote (a report the
command did not write, or one that disagrees with its exit code, means the gate
did not run properly: 3, and the report is replaced by one saying so, so a stale
report never stands in for the run), writes ``<report without .xml>.exit`` as one
line ``<code> <status> <report>``, prints it, and exits with the gate's code.

    python scripts/run_gate.py var/gates/security.xml -- liveobs check security --format junit --output …
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree as ET

STATUS = {0: "pass", 1: "fail", 2: "unknown", 3: "error"}


def _error_report(report: Path, message: str) -> None:
    suites = ET.Element("testsuites", name="liveobs gates", time="0.000")
    suite = ET.SubElement(suites, "testsuite", name=report.stem, tests="1", failures="0", errors="1", skipped="0")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="liveobs.status", value="error")
    ET.SubElement(props, "property", name="liveobs.exit_code", value="3")
    case = ET.SubElement(suite, "testcase", classname="liveobs", name="the gate run")
    ET.SubElement(case, "error", message=message, type="could-not-run").text = message
    ET.indent(suites)
    report.write_text(ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n", encoding="utf-8")


def _reported(report: Path, started: float) -> int | None:
    """The exit code the report itself records, if the command wrote it during this run."""
    try:
        if report.stat().st_mtime < started:
            return None
        root = ET.parse(report).getroot()
    except (OSError, ET.ParseError):
        return None
    for prop in root.iter("property"):
        if prop.get("name") == "liveobs.exit_code":
            value = prop.get("value", "")
            return int(value) if value.isdigit() else None
    return None


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: run_gate.py REPORT.xml -- COMMAND...", file=sys.stderr)
        return 3
    report, command = Path(argv[0]), argv[2:]
    report.parent.mkdir(parents=True, exist_ok=True)
    started = time.time() - 1  # file times may be a little coarse
    try:
        code = subprocess.run(command, check=False).returncode
    except OSError as exc:
        print(f"cannot run {command[0]}: {exc}", file=sys.stderr)
        code = 3
    recorded = _reported(report, started)
    if recorded != code:
        # A crash (a Python traceback exits 1) or a usage error (click exits 2) is not a verdict.
        why = "wrote no report" if recorded is None else f"reported exit {recorded}"
        message = f"the gate exited {code} but {why}: treated as could not run"
        print(message, file=sys.stderr)
        _error_report(report, message)
        code = 3
    status = STATUS.get(code, "error")
    line = f"{code} {status} {report}"
    report.with_suffix(".exit").write_text(line + "\n", encoding="utf-8")
    print(f"gate {report.stem}: {status} (exit {code}); report {report}, exit code in {report.with_suffix('.exit')}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
