"""``liveobs release``: record a release's facts, dry-run it on side ports, roll back (docs/releases.md).

Exit codes: 0 done and nothing wrong, 1 done but the release has problems (recorded, so
the deploy gate fails with them), 3 could not run (malformed manifest or unit file, no
release directory, no store).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path
from typing import Any

import click

from liveobs.cli._root import CliContext

_PROBLEMS = 1
_COULD_NOT_RUN = 3


class ReleaseNotDone(click.ClickException):
    """The command could not run: one line on stderr, exit code 3."""

    exit_code = _COULD_NOT_RUN


@click.group()
def release() -> None:
    """Releases as evidence: their facts, dry runs on side ports, and rollback."""


def _call(obj: CliContext, name: str, params: dict[str, Any]) -> Any:
    """Run the store-writing handler ``name``: through the collector that owns the store, or on the file."""
    import duckdb

    from liveobs.correlator import ReadRequestError, RemoteStore, StoreUnavailableError
    from liveobs.correlator._db import StoreBusyError, connect
    from liveobs.correlator._readapi import read_handlers
    from liveobs.correlator._remote import discover

    if "://" in obj.db:
        return _call_url(obj, name, params)
    try:
        found = None if obj.url else discover(Path(obj.db))
        url = obj.url or (found.url if found is not None else None)
        if url is not None:
            with RemoteStore(url, db=obj.db) as remote:
                return remote.read(name, params)
        con = connect(obj.db)
        try:
            return read_handlers()[name](con, params)
        finally:
            con.close()
    except (ReadRequestError, StoreUnavailableError, StoreBusyError) as exc:
        raise ReleaseNotDone(str(exc)) from None
    except duckdb.Error as exc:
        raise ReleaseNotDone(f"cannot write the store {obj.db}: {str(exc).splitlines()[0]}") from None


def _call_url(obj: CliContext, name: str, params: dict[str, Any]) -> Any:
    """Run the handler ``name`` on a ClickHouse store (its release tables are made by ``liveobs clickhouse init``)."""
    from liveobs.correlator import ReadRequestError
    from liveobs.correlator._readapi import read_handlers
    from liveobs.correlator._sqlcursor import QUERY_ERRORS
    from liveobs.correlator._urlstore import UrlStore

    store = obj.store()
    if not isinstance(store, UrlStore):
        raise ReleaseNotDone(f"release facts cannot be recorded in {obj.db}")
    if not store.backend.layout.has("liveobs_release_manifests"):
        raise ReleaseNotDone(f"{store.location} has no release tables: run liveobs --db URL clickhouse init first")
    try:
        # The handlers use only the cursor shape both engines share (see liveobs.correlator._sqlcursor).
        return read_handlers()[name](store.connection, params)  # type: ignore[arg-type]
    except ReadRequestError as exc:
        raise ReleaseNotDone(str(exc)) from None
    except QUERY_ERRORS as exc:
        raise ReleaseNotDone(f"cannot write the store {store.location}: {str(exc).splitlines()[0]}") from None


@release.command()
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.option("--version", "version", metavar="V", help="The release to record; default: the one `current` names.")
@click.option("--json", "as_json", is_flag=True, help="Print what was recorded as JSON.")
@click.pass_obj
def record(obj: CliContext, root: Path, version: str | None, as_json: bool) -> None:
    """Record release V of the deploy ROOT in the store: digests, units, surface, docs, notes, rollback target."""
    summary = _call(obj, "release_record", {"root": str(root.absolute()), "version": version})
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(f"recorded {summary['service']} {summary['version']} ({summary['digest'] or 'no digest'})")
        click.echo(f"  current -> {summary['current'] or 'nothing'}; rollback target {summary['rollback']} "
                   f"({summary['rollback_digest'] or 'no release directory'})")
        for unit in summary["units"]:
            click.echo(f"  unit {unit['name']}: {unit['exec_start']}")
        click.echo(f"  {summary['routes']} routes, {summary['live_events']} live events, "
                   f"{len(summary['scopes'])} scopes, {len(summary['migrations'])} migrations, "
                   f"{summary['docs']} docs; release notes entry: {'yes' if summary['notes_entry'] else 'no'}")
    if not summary.get("rollback_recorded"):
        click.echo(f"note: rollback target {summary['rollback']} is not recorded: record it too "
                   f"(--version {summary['rollback']}) to compare the changed surface", err=True)
    problems = [*summary["problems"], *(f"unit {u['name']}: {p}" for u in summary["units"] for p in u["problems"])]
    for problem in problems:
        click.echo(f"problem: {problem}", err=True)
    click.get_current_context().exit(_PROBLEMS if problems else 0)


@release.command("dry-run")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.option("--version", "version", required=True, metavar="V", help="The release to start on side ports.")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for every unit to be ready.")
@click.option("--data", type=click.Path(dir_okay=False, path_type=Path),
              help="The rollback target's SQLite data: also apply V's new migrations to a copy and start the "
                   "rollback target on it (the persistence dry run).")
@click.pass_obj
def dry_run(obj: CliContext, root: Path, version: str, timeout: float, data: Path | None) -> None:
    """Start each unit of release V from its release directory on a side port, probe its readiness paths,
    record the answers as dry-run evidence, and stop the units."""
    from liveobs.correlator.releases import ReleaseError, persistence_dry_run, read_release
    from liveobs.correlator.releases import dry_run as run

    target = None
    try:
        found = read_release(root.absolute(), version)
        probes = run(found, timeout)
        if data is not None:
            target = read_release(root.absolute(), found.manifest.rollback)
            probes += persistence_dry_run(found, target, data, timeout)
    except ReleaseError as exc:
        raise ReleaseNotDone(str(exc)) from None
    params = {"run_id": uuid.uuid4().hex, "service": found.manifest.service, "version": version,
              "probes": [dataclasses.asdict(p) for p in probes]}
    _call(obj, "release_dry_run", params)
    failed = 0
    for p in probes:
        wanted = (found.digest, version) if p.kind == "readiness" or target is None else (target.digest, target.version)
        if p.unit == "migrations":
            wrong = p.problem
            click.echo(f"persistence: migration {p.path} on a copy of {data}: " + (f"PROBLEM: {wrong}" if wrong else "ok"))
            failed += bool(wrong)
            continue
        wrong = p.problem or _mismatch(p.reported_digest, wanted[0], p.reported_version, wanted[1])
        failed += bool(wrong)
        label = p.unit if p.kind == "readiness" else f"persistence: {wanted[1]} {p.unit}"
        click.echo(f"{label} :{p.port}{p.path}  {p.http_status or '-'} {p.health_status or '-'}  "
                   f"version {p.reported_version or '-'}  {p.reported_digest or 'no digest'}"
                   + (f"  PROBLEM: {wrong}" if wrong else "  ok"))
    click.echo(f"dry run of {found.manifest.service} {version}: {len(probes) - failed} of {len(probes)} probes "
               "answered as they should; every unit stopped")
    click.get_current_context().exit(_PROBLEMS if failed else 0)


def _mismatch(digest: str | None, expected: str | None, version: str | None, wanted: str) -> str | None:
    if digest != expected:
        return f"reports digest {digest or 'none'}, the release's is {expected or 'unknown'}"
    if version is not None and version != wanted:
        return f"reports version {version}"
    return None


@release.command()
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.option("--plan", is_flag=True, help="Say what a rollback would do without moving `current`.")
def rollback(root: Path, plan: bool) -> None:
    """Point ROOT/current at the current release's rollback target (atomically) and name the units to restart."""
    from liveobs.correlator.releases import ReleaseError, plan_rollback
    from liveobs.correlator.releases import rollback as roll

    try:
        done = plan_rollback(root) if plan else roll(root)
    except ReleaseError as exc:
        raise ReleaseNotDone(str(exc)) from None
    verb = "would point" if plan else "pointed"
    click.echo(f"{done.service}: {verb} current at releases/{done.to_version} (was {done.from_version})")
    click.echo(f"restart units: {', '.join(done.units)} ({', '.join(done.unit_files)})")
