"""``liveobs ingest``: JSON-lines logs and OTLP-JSON files into the store."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from liveobs.cli._root import CliContext

# Files smaller than this are ingested without a progress bar.
PROGRESS_MIN_BYTES = 4 * 1024 * 1024


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the per-file report as JSON.")
@click.pass_obj
def ingest(obj: CliContext, paths: tuple[str, ...], as_json: bool) -> None:
    """Load JSON-lines logs (structlog or OTel style) and OTLP-JSON files into the store.

    If a collector owns the store, the data goes through it. Ingesting a file
    again stores nothing twice. Bad lines are reported with their line numbers
    and the good ones are kept: the exit status is 0 when every file was read
    and stored (bad lines included), 1 when a file held no usable line, and
    2 when a file or the store could not be used.
    """
    from liveobs.correlator._auth import TokenError, load_token
    from liveobs.correlator._db import StoreBusyError
    from liveobs.correlator._ingest import FileReport, IngestError, ingest_files
    from liveobs.correlator._store import StoreUnavailableError

    try:
        token = load_token()
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    total = sum(os.path.getsize(p) for p in paths)
    show_bar = not as_json and sys.stderr.isatty() and total >= PROGRESS_MIN_BYTES

    def summary(report: FileReport) -> None:
        if as_json:
            return
        if report.already_ingested:
            click.echo(f"{report.path}: already ingested ({report.lines} lines), nothing stored")
            return
        click.echo(f"{report.path}: {report.lines} lines, {report.rows} rows stored, {report.bad_lines} bad lines")
        for number, reason in report.bad:
            click.echo(f"  line {number}: {reason}", err=True)
        if report.bad_lines > len(report.bad):
            click.echo(f"  … and {report.bad_lines - len(report.bad)} more bad lines", err=True)

    try:
        if show_bar:
            with click.progressbar(length=total, label="ingesting", file=sys.stderr) as bar:
                reports = ingest_files(list(paths), obj.db, token=token, progress=bar.update)
            for report in reports:
                summary(report)
        else:
            reports = ingest_files(list(paths), obj.db, token=token, on_file=summary)
    except StoreBusyError as exc:
        click.echo(f"Error: the store is busy and no collector answers for it: {exc}", err=True)
        sys.exit(2)
    except (IngestError, StoreUnavailableError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    if as_json:
        payload: dict[str, Any] = {"files": [r.as_dict() for r in reports]}
        click.echo(json.dumps(payload, indent=2))
    if any(r.lines and r.bad_lines == r.lines for r in reports):
        sys.exit(1)
