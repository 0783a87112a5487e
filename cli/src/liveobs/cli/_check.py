"""``liveobs check``: run the release gates and answer with an exit code CI can act on.

Exit codes: 0 pass (warnings included), 1 a required check failed, 2 a required
check is unknown (missing or too little evidence), 3 the gate could not run.

Every run that judged is recorded in the store (``liveobs_gate_runs``,
``liveobs_gate_results``); a run that could not be recorded (read-only file, store
held by another process) says so on stderr and keeps its exit code.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from liveobs.cli._root import CliContext

if TYPE_CHECKING:
    from liveobs.correlator.gates import GateReport

_GATE_COULD_NOT_RUN = 3
# The selection that runs the gates the release's changed surface selects (``liveobs release`` records it).
CHANGED = "changed"


class GateNotRun(click.ClickException):
    """The gate could not run: one line on stderr, exit code 3."""

    exit_code = _GATE_COULD_NOT_RUN


@click.command()
@click.argument("selection", metavar="{observability|security|performance|deploy|all|changed|PROFILE}")
@click.option("--release", metavar="VERSION", help="The release to judge (service.version); default: the newest seen.")
@click.option("--baseline", metavar="VERSION", help="Release to compare performance with; default: the one before.")
@click.option("--service", metavar="NAME", help="Only this service's evidence (service.name).")
@click.option("--environment", metavar="NAME", help="Only this environment (deployment.environment.name).")
@click.option("--since", metavar="WHEN", help="Evidence since then: 90m, 24h, 7d or an ISO 8601 time.")
@click.option("--until", metavar="WHEN", help="Evidence before then (same forms as --since).")
@click.option("--budgets", "budgets_file", type=click.Path(dir_okay=False), help="TOML budgets over the defaults.")
@click.option("--manifest", "manifest_file", type=click.Path(dir_okay=False),
              help="Release manifest (TOML or JSON) naming the current release and the rollback target.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit"]), default="text", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the report in --format here and print the text table.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.pass_obj
def check(
    obj: CliContext,
    selection: str,
    release: str | None,
    baseline: str | None,
    service: str | None,
    environment: str | None,
    since: str | None,
    until: str | None,
    budgets_file: str | None,
    manifest_file: str | None,
    fmt: str,
    output: str | None,
    as_json: bool,
) -> None:
    """Run a gate (or every gate, or a profile of checks) over the evidence of one release.

    ``changed`` runs the gates that the release's changed surface against its rollback
    target selects (needs --service and --release, both recorded with liveobs release
    record), and says why each was selected.

    A check is pass, warn, fail or unknown; missing or too little evidence is
    unknown, never pass. Exit 0 pass, 1 a required check failed, 2 a required
    check unknown, 3 the gate could not run.
    """
    from liveobs.correlator.gates import (
        RENDERERS,
        Budgets,
        GateError,
        RunContext,
        Subject,
        budget_bounds,
        check_ids,
        read_budgets_file,
        read_manifest,
        render_error,
        select_checks,
    )

    fmt = "json" if as_json else fmt
    context = RunContext(selection, budgets_file=budgets_file, manifest_file=manifest_file)
    why: list[str] = []
    try:
        try:
            subject = Subject(service, release, environment, _moment(since, "--since"), _moment(until, "--until"),
                              baseline)
            if selection == CHANGED:
                selection, why = _changed(obj, service, release)
            chosen = select_checks(selection, check_ids())
            override = read_budgets_file(budgets_file) if budgets_file else None
            budgets = Budgets.load(override)
            manifest = read_manifest(manifest_file) if manifest_file else None
            report, not_recorded = _run(obj, selection, subject, override, manifest.to_dict() if manifest else None)
            report = dataclasses.replace(report, notes=(*why, *report.notes))
        except GateError as exc:
            raise GateNotRun(str(exc)) from None
    except GateNotRun as exc:
        # A run that cannot start replaces the report an earlier run left, so CI never reads a stale one.
        if output and fmt != "text":
            _write(output, render_error(fmt, exc.message, context))
        raise
    judged = report.subject.service
    context = RunContext(selection, context.generated_at, budgets_file, manifest_file,
                         {c: budget_bounds(budgets, c, judged) for c in chosen},
                         manifest.to_dict() if manifest else None)
    rendered = RENDERERS[fmt](report, context)
    if output:
        _write(output, rendered)
        click.echo(RENDERERS["text"](report, context), nl=False)
    else:
        click.echo(rendered, nl=False)
    if not_recorded:
        click.echo(f"liveobs check: {not_recorded}", err=True)
    click.get_current_context().exit(int(report.exit_code))


def _changed(obj: CliContext, service: str | None, release: str | None) -> tuple[str, list[str]]:
    """The check selection of ``changed`` and why each gate is in it."""
    from liveobs.cli._root import StoreMissing, StoreUnreachable
    from liveobs.correlator import LocalStore, ReadRequestError, RemoteStore, StoreUnavailableError
    from liveobs.correlator._readapi import read_handlers
    from liveobs.correlator._urlstore import UrlStore

    if service is None or release is None:
        raise GateNotRun("check changed needs --service and --release (the recorded release to compare with its "
                         "rollback target)")
    params = {"service": service, "release": release}
    try:
        store = obj.store()
        if isinstance(store, RemoteStore):
            picked = store.read("release_changed", params)
        elif isinstance(store, LocalStore | UrlStore):
            # On ClickHouse the handler's queries go through the cursor both engines share.
            picked = read_handlers()["release_changed"](store.connection, params)  # type: ignore[arg-type]
        else:
            raise GateNotRun(f"cannot select gates on a {type(store).__name__}")
    except (StoreMissing, StoreUnreachable) as exc:
        raise GateNotRun(exc.message) from None
    except (ReadRequestError, StoreUnavailableError) as exc:
        raise GateNotRun(str(exc)) from None
    patterns = list(dict.fromkeys(p for s in picked for p in s["checks"]))
    return ",".join(patterns), [f"selected {s['gate']} ({', '.join(s['checks'])}): {s['why'].rstrip('; ')}"
                                for s in picked]


def _write(output: str, text: str) -> None:
    try:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GateNotRun(f"cannot write {output}: {exc}") from None


def _moment(value: str | None, option: str) -> Any:
    from liveobs.correlator._incidents import parse_since
    from liveobs.correlator._readapi import ReadRequestError

    try:
        return parse_since(value)
    except ReadRequestError as exc:  # exit 3 like every run that cannot start, never 2 (unknown)
        raise GateNotRun(f"{option}: {exc}") from None


def _run(
    obj: CliContext,
    selection: str,
    subject: Any,
    budgets: dict[str, Any] | None,
    manifest: dict[str, Any] | None,
) -> tuple[GateReport, str | None]:
    """Run the gates where the store is: in this process, or in the collector that owns it.

    Returns the report and, when the run could not be recorded in the store, why.
    """
    from liveobs.cli._root import StoreMissing, StoreUnreachable
    from liveobs.correlator import LocalStore, ReadRequestError, RemoteStore, StoreUnavailableError
    from liveobs.correlator.gates import (
        Budgets,
        GateError,
        GateReport,
        GateRunner,
        Manifest,
        check_services,
        stored_services,
    )

    try:
        store = obj.store()
    except (StoreMissing, StoreUnreachable) as exc:
        raise GateNotRun(exc.message) from None
    from liveobs.correlator._urlstore import UrlStore

    if isinstance(store, LocalStore | UrlStore):
        named = {subject.service, (manifest or {}).get("service")}
        check_services(budgets, stored_services(store.connection) | {n for n in named if isinstance(n, str) and n})
        runner = GateRunner(store.connection, Budgets.load(budgets), Manifest.from_dict(manifest) if manifest else None)
        report = runner.run(selection, subject)
        return report, _record_local(obj, store, report, selection)
    if not isinstance(store, RemoteStore):
        raise GateError(f"cannot run gates on a {type(store).__name__}")
    params = {"selection": selection, "subject": subject.to_dict(), "budgets": budgets, "manifest": manifest}
    try:
        answer = store.read("check", params)
        return GateReport.from_dict(answer), answer.get("not_recorded")
    except (ReadRequestError, StoreUnavailableError) as exc:
        raise GateError(str(exc)) from None


def _record_local(obj: CliContext, store: Any, report: GateReport, selection: str) -> str | None:
    """Record the run in the store file; the file was opened read-only for the run, so reopen it
    for writing when needed. Returns why it could not be recorded, or None."""
    import duckdb

    from liveobs.correlator._db import StoreBusyError, connect
    from liveobs.correlator.gates._runlog import RunNotRecorded, record_run

    program = "liveobs check"
    try:
        record_run(store.connection, report, selection, program)
        return None
    except RunNotRecorded as exc:
        if "read-only" not in str(exc).lower():
            return str(exc)
    location = store.location
    obj.close()
    try:
        con = connect(location)
    except (StoreBusyError, duckdb.Error, OSError) as exc:
        return f"the gate run was not recorded in the store: {str(exc).splitlines()[0]}"
    try:
        record_run(con, report, selection, program)
    except RunNotRecorded as exc:
        return str(exc)
    finally:
        con.close()
    return None
