"""``liveobs ui``: a read-only web view of a store file on 127.0.0.1.

Pages: ``/incidents`` (filter by service, release, environment and time),
``/incidents/<fingerprint>``, ``/traces/<trace_id>``, ``/sessions/<session_id>``
and ``/gates``. The printed URL carries a secret key once; the browser keeps it
in a cookie. Stops on Ctrl-C. Exit codes: 2 no store or a bad option, 3 the
store is held by a running collector.
"""

from __future__ import annotations

import click

from liveobs.cli._root import CliContext, StoreMissing, StoreUnreachable


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="A loopback address to serve on.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="The port (default: a free one).")
@click.option("--open", "open_browser", is_flag=True, help="Open the incidents page in the default browser.")
@click.pass_obj
def ui(obj: CliContext, host: str, port: int, open_browser: bool) -> None:
    """Serve a read-only web view of the store: incidents, stack traces, traces, sessions, gates."""
    import duckdb

    from liveobs.correlator import StoreNotFoundError
    from liveobs.correlator._db import StoreBusyError
    from liveobs.correlator._store import open_local
    from liveobs.correlator._ui_server import UIServer

    try:
        store = open_local(obj.db)
    except StoreNotFoundError as exc:
        raise StoreMissing(str(exc)) from None
    except (StoreBusyError, duckdb.Error) as exc:
        raise StoreUnreachable(f"cannot open the store {obj.db}: {str(exc).splitlines()[0]}") from None
    try:
        server = UIServer(store.connection, host=host, port=port, db=obj.db)
    except (ValueError, OSError) as exc:
        store.close()
        raise click.UsageError(str(exc)) from None
    click.echo(f"liveobs ui: {server.start_url}")
    click.echo("read-only; Ctrl-C stops it", err=True)
    if open_browser:
        click.launch(server.start_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        store.close()
