"""``liveobs clickhouse init``: liveobs's tables and views on a ClickHouse the Collector fills.

Exit codes: 0 done (also when everything already existed), 2 usage error (not a
ClickHouse URL, no exporter tables, a password in the URL), 3 the store could not be
reached or refused a statement.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from liveobs.cli._root import CliContext, StoreMissing, StoreUnreachable

if TYPE_CHECKING:
    from liveobs.correlator.stores import Store


@click.group()
def clickhouse() -> None:
    """Use a ClickHouse filled by the OpenTelemetry Collector's ClickHouse exporter as the store."""


@clickhouse.command()
@click.option("--dry-run", is_flag=True, help="Print the DDL (and what would be backfilled); change nothing.")
@click.option("--cluster", metavar="NAME", help="Create every table and view ON CLUSTER NAME.")
@click.option("--replicated", is_flag=True, help="Replicated* engines ({shard} and {replica} macros).")
@click.option("--distributed", is_flag=True,
              help="Keep the indexes in <name>_local tables on each shard behind Distributed tables (needs --cluster).")
@click.option("--ttl-days", type=click.IntRange(0, 36_500), default=None, metavar="N",
              help="Expire liveobs's index rows after N days (0: never). Default: the exporter's otel_traces TTL.")
@click.option("--batch-rows", type=click.IntRange(1_000, 100_000_000), default=1_000_000, show_default=True,
              help="Backfill at most about this many exporter rows per INSERT (whole hours).")
@click.option("--json", "as_json", is_flag=True, help="Print what was created and backfilled as JSON.")
@click.pass_obj
def init(
    obj: CliContext, dry_run: bool, cluster: str | None, replicated: bool, distributed: bool, ttl_days: int | None,
    batch_rows: int, as_json: bool,
) -> None:
    """Create the correlation index, error occurrences, releases and gate-run tables, with materialized
    views from otel_traces and otel_logs so Collector inserts are indexed as they arrive; then backfill
    what the exporter's tables already hold. Safe to run again: it adds only what is missing.
    """
    from liveobs.correlator.stores import (
        StoreOpenError,
        StoreQueryError,
        StoreURLError,
        is_store_url,
        open_store,
    )
    from liveobs.correlator.stores._chinit import init_plan, run_init

    if distributed and not cluster:
        raise click.UsageError("--distributed needs --cluster NAME")
    if not is_store_url(obj.db):
        raise click.UsageError(
            f"{obj.db} is a DuckDB file; give the ClickHouse store with --db (clickhouse://user@host:8123/otel, "
            "clickhouses://…, or chdb:///folder) or LIVEOBS_DB"
        )
    try:
        store = open_store(obj.db)
    except StoreURLError as exc:
        raise click.UsageError(str(exc)) from None
    except StoreOpenError as exc:
        raise (StoreMissing if exc.missing else StoreUnreachable)(str(exc)) from None
    with store:
        try:
            built = init_plan(store, cluster=cluster, replicated=replicated, distributed=distributed,
                              ttl_days=ttl_days)
        except StoreOpenError as exc:
            raise (StoreMissing if exc.missing else StoreUnreachable)(str(exc)) from None
        except StoreQueryError as exc:
            raise StoreUnreachable(str(exc)) from None
        if dry_run:
            _print_plan(store, [s.sql for s in built.statements], as_json)
            return
        progress = None if as_json else _progress
        try:
            report = run_init(store, built, batch_rows=batch_rows, progress=progress)
        except StoreQueryError as exc:
            raise StoreUnreachable(f"{store.location}: {exc}") from None
    if as_json:
        click.echo(json.dumps({
            "store": store.location,
            "created": report.created,
            "backfill": [{"view": f.feed, "rows": f.rows, "batches": f.batches, "already_done": f.already_done}
                         for f in report.feeds],
        }, indent=2))
        return
    click.echo(f"{store.location}: created {len(report.created)} tables and views" +
               (f" ({', '.join(report.created)})" if report.created else " (all existed)"))
    for feed in report.feeds:
        state = "already backfilled" if feed.already_done else f"backfilled {feed.rows} rows in {feed.batches} batches"
        click.echo(f"  {feed.feed}: {state}")


def _progress(view: str, done: int, total: int) -> None:
    click.echo(f"  {view}: {done}/{total} exporter rows", err=True)
    sys.stderr.flush()


def _print_plan(store: Store, statements: list[str], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"store": store.location, "statements": statements}, indent=2))
        return
    click.echo(f"-- liveobs clickhouse init for {store.location} (dry run: nothing was changed)")
    for sql in statements:
        click.echo(sql.rstrip() + ";\n")
