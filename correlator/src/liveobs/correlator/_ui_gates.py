"""The web view's gate pages: the latest recorded run per release and gate, one run, and the
security-gate answer on a security-affecting incident's page (:mod:`gates._runlog` holds the rule).

Every check row names its SQL check id (``gates/checks/<gate>/<name>.sql``), its evidence
count, and links to the evidence behind it: the run's incidents of that release, filtered
by service and environment.
"""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime
from html import escape
from typing import Final

import duckdb

from liveobs.correlator._incidents import Incident
from liveobs.correlator._visible import h
from liveobs.correlator.gates._runlog import GateRun, latest_runs, run, security_affecting, security_runs

_CSS: Final = {"pass": "ok", "fail": "failed", "unknown": "failed"}


def _a(href: str, text: str, css: str = "") -> str:
    klass = f" class='{css}'" if css else ""
    return f"<a{klass} href='{escape(href, quote=True)}'>{text}</a>"


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else "-"


def run_url(run_id: str) -> str:
    return f"/gates/{urllib.parse.quote(run_id, safe='')}"


def _evidence_url(r: GateRun) -> str:
    query = {k: v for k, v in (("release", r.release), ("service", r.service), ("environment", r.environment)) if v}
    return "/incidents?" + urllib.parse.urlencode(query) if query else "/incidents"


def _status(status: str) -> str:
    return f"<span class='{_CSS.get(status, '')}'>{h(status, 40)}</span>"


def _subject(r: GateRun) -> str:
    parts = [("service", r.service), ("release", r.release), ("baseline", r.baseline),
             ("environment", r.environment)]
    text = ", ".join(f"{k} {h(v, 200)}" for k, v in parts if v)
    if r.window_start or r.window_end:
        text += f"; window {_when(r.window_start)} to {_when(r.window_end)}"
    return text or "-"


def _checks(r: GateRun) -> str:
    rows = "".join(
        f"<tr><td><code class='id'>{h(c.check_id, 100)}</code></td><td>{_status(c.status)}</td>"
        f"<td>{'required' if c.required else 'advisory'}</td><td>{h(c.reason, 600)}</td>"
        f"<td>{h('' if c.observed is None else f'{c.observed:g}', 40)}</td><td>{h(c.threshold, 100)}</td>"
        f"<td>{c.evidence}</td>"
        f"<td>{_a(_evidence_url(r), 'evidence') if c.status in ('fail', 'unknown', 'warn') else ''}</td></tr>"
        for c in r.results
    ) or "<tr><td colspan='8'>no checks recorded</td></tr>"
    head = ("<tr><th>check</th><th>status</th><th></th><th>reason</th><th>observed</th><th>threshold</th>"
            "<th>evidence</th><th></th></tr>")
    return f"<table class='list'>{head}{rows}</table>"


def _run_block(r: GateRun, heading: str = "h2") -> str:
    title = f"{h(r.selection, 100)} — {_status(r.status)} (exit {r.exit_code})"
    return (
        f"<{heading}>{_a(run_url(r.run_id), title)}</{heading}>"
        f"<p>{_subject(r)}</p><p class='muted'>ran at {_when(r.ran_at)} by {h(r.generator, 200)}; "
        f"run <code class='id'>{h(r.run_id, 64)}</code></p>{_checks(r)}"
    )


def gates_page(con: duckdb.DuckDBPyConnection) -> tuple[int, str]:
    from liveobs.correlator._ui_pages import layout

    runs = latest_runs(con)
    if not runs:
        return 200, layout("gates", "<h1>gates</h1><p>no gate runs recorded in this store "
                                    "(<code>liveobs check</code> records each run)</p>")
    body = "<h1>gates</h1><p class='muted'>the latest run per release and gate</p>" + "".join(
        _run_block(r) for r in runs
    )
    return 200, layout("gates", body)


def gate_run_page(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[int, str]:
    from liveobs.correlator._ui_pages import layout

    found = run(con, run_id)
    if found is None:
        return 404, layout("gate run", f"<h1>no gate run <code>{h(run_id, 100)}</code></h1>")
    return 200, layout(f"gate run {found.selection}", _run_block(found, "h1"))


def security_section(con: duckdb.DuckDBPyConnection, incident: Incident) -> str:
    """For a security-affecting incident: per release, whether the security gate passed after its last
    occurrence. Empty for other incidents."""
    last_seen = datetime.fromtimestamp(incident.last_seen_unix_nano / 1e9, UTC).replace(tzinfo=None)
    if not security_affecting(con, incident.fingerprint, incident.error_class, incident.routes):
        return ""
    lines = []
    for release in incident.releases or ("",):
        runs = security_runs(con, release, last_seen) if release else []
        passed = next((r for r in runs if r.security_passed), None)
        label = f"release {h(release, 200)}" if release else "no release recorded"
        if passed is not None:
            lines.append(f"<li>{label}: <span class='ok'>security gate passed at {_when(passed.ran_at)}</span> "
                         f"({_a(run_url(passed.run_id), 'run')})</li>")
        elif runs:
            lines.append(f"<li>{label}: <span class='failed'>security gate run since this incident did not pass"
                         f"</span> ({_a(run_url(runs[0].run_id), 'latest run')})</li>")
        else:
            lines.append(f"<li>{label}: <span class='failed'>security gate not run since this incident</span></li>")
    return ("<h2>security gate</h2><p class='muted'>this incident is security-affecting (a security decision in "
            f"its traces, or a security marker in its error class or route)</p><ul>{''.join(lines)}</ul>")
