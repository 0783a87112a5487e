"""The root command group: selects the store and hands it to the subcommands.

Subcommands live in their own modules and are imported only when run, so
``liveobs --help`` stays fast and never loads duckdb.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import click

if TYPE_CHECKING:
    from liveobs.correlator import Store

DEFAULT_DB: Final = "./liveobs.duckdb"

# name -> (module under liveobs.cli, attribute, one-line help for the listing)
COMMANDS: Final[dict[str, tuple[str, str, str]]] = {
    "collect": ("_collect", "collect", "Receive OTLP/HTTP and write it to the store."),
    "ingest": ("_ingest", "ingest", "Load JSON-lines logs and OTLP-JSON files into the store."),
    "trace": ("_trace", "trace", "Map one browser action, request, trace or session to its ids and timeline."),
    "incidents": ("_incidents", "incidents", "Error occurrences grouped by fingerprint."),
    "check": ("_check", "check", "Run the release gates over the evidence."),
    "probe": ("_probe", "probe", "Probe a running app and record what it saw as evidence."),
    "drive": ("_drive", "drive", "Drive scripted live sessions, uploads and attempts against a running app."),
    "release": ("_release", "release", "Record a release's facts, dry-run it on side ports, roll back."),
    "ui": ("_ui", "ui", "Serve a read-only web view of the store on 127.0.0.1."),
}


class StoreMissing(click.ClickException):
    """No store at the chosen path: a usage error."""

    exit_code = 2


class StoreUnreachable(click.ClickException):
    """The store is held by another process and no collector answers for it."""

    exit_code = 3


@dataclass
class CliContext:
    """What the root group hands every subcommand on ``ctx.obj``."""

    db: str
    url: str | None = None
    _store: Store | None = field(default=None, repr=False)

    def store(self) -> Store:
        """The store, opened on first use: the collector named by ``--url``, else a running
        collector's (found by its discovery file, loopback only), else the file itself.

        Closed when the command ends. Failures become one line on stderr.
        """
        if self._store is None:
            import duckdb

            from liveobs.correlator import StoreNotFoundError, StoreUnavailableError, open
            from liveobs.correlator._db import StoreBusyError
            from liveobs.correlator._remote import RemoteStore

            try:
                self._store = RemoteStore(self.url, db=self.db) if self.url else open(self.db)
            except StoreNotFoundError as exc:
                raise StoreMissing(str(exc)) from None
            except (StoreBusyError, StoreUnavailableError) as exc:
                raise StoreUnreachable(str(exc)) from None
            except duckdb.Error as exc:
                raise StoreUnreachable(f"cannot open the store {self.db}: {str(exc).splitlines()[0]}") from None
            click.get_current_context().call_on_close(self.close)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class LazyGroup(click.Group):
    """A group whose subcommands are imported when invoked, not when listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        present = [
            name for name, (module, _, _) in COMMANDS.items()
            if importlib.util.find_spec(f"liveobs.cli.{module}") is not None
        ]
        return sorted(set(present) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = COMMANDS.get(cmd_name)
        if entry is None or importlib.util.find_spec(f"liveobs.cli.{entry[0]}") is None:
            return None
        command = getattr(importlib.import_module(f"liveobs.cli.{entry[0]}"), entry[1])
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx) if name in COMMANDS]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="liveobs-cli", prog_name="liveobs")
@click.option(
    "--db",
    envvar="LIVEOBS_DB",
    default=DEFAULT_DB,
    show_default=True,
    help="The store: a DuckDB file path (env LIVEOBS_DB).",
)
@click.option(
    "--url",
    envvar="LIVEOBS_URL",
    default=None,
    metavar="URL",
    help="Read through the collector at this URL (env LIVEOBS_URL). Without it, only a collector on a "
         "loopback address found next to the store is sent the token.",
)
@click.pass_context
def main(ctx: click.Context, db: str, url: str | None) -> None:
    """liveobs: evidence and incident answers for live web apps."""
    if url is not None and not url.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="--url")
    ctx.obj = CliContext(db=db, url=url or None)


def run(args: list[str] | None = None, **extra: Any) -> None:
    """Entry point for ``python -m liveobs.cli``."""
    main.main(args=args, prog_name="liveobs", **extra)
