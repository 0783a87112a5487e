"""The root command group: selects the store and hands it to the subcommands."""

from __future__ import annotations

import click

DEFAULT_DB = "./liveobs.duckdb"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="liveobs-cli", prog_name="liveobs")
@click.option(
    "--db",
    envvar="LIVEOBS_DB",
    default=DEFAULT_DB,
    show_default=True,
    help="The store: a DuckDB file path (env LIVEOBS_DB).",
)
@click.pass_context
def main(ctx: click.Context, db: str) -> None:
    """liveobs: evidence and incident answers for live web apps."""
    ctx.ensure_object(dict)
    ctx.obj["db"] = db
