"""``liveobs ui``: a read-only web view of a store (a DuckDB file, or ClickHouse by URL) on 127.0.0.1.

Pages: ``/incidents`` (filter by service, release, environment and time),
``/incidents/<fingerprint>``, ``/traces/<trace_id>``, ``/sessions/<session_id>``
and ``/gates``. The printed URL carries a secret key once; the browser keeps it
in a cookie. Stops on Ctrl-C or SIGTERM, removing its discovery file, even
where it was started with SIGINT ignored (a background job of a script). Exit
codes: 2 no store or a bad option, 3 the store is held by a running collector.
"""

from __future__ import annotations

from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

import click

from liveobs.cli._root import CliContext, StoreMissing, StoreUnreachable

if TYPE_CHECKING:
    from liveobs.correlator._ui_server import UIServer


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

    if "://" in obj.db:
        _serve_url(obj.db, host, port, open_browser)
        return
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
    _run(server, open_browser, store.close)


def _run(server: UIServer, open_browser: bool, close: Callable[[], None]) -> None:
    from liveobs.correlator._signals import stop_signals

    # Both stop the server the same way (SIGTERM would otherwise end it without removing the discovery
    # file); set before the URL is printed, so that a signal sent once it is stops the server.
    try:
        with stop_signals(_interrupt):
            click.echo(f"liveobs ui: {server.start_url}")
            click.echo("read-only; Ctrl-C stops it", err=True)
            if open_browser:
                click.launch(server.start_url)
            server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _serve_url(db: str, host: str, port: int, open_browser: bool) -> None:
    """The same pages over a ClickHouse store (``chdb://`` or ``clickhouse(s)://``), its queries rewritten."""
    from liveobs.correlator._ui_server import UIServer
    from liveobs.correlator._urlstore import open_url
    from liveobs.correlator.stores import StoreOpenError, StoreURLError

    try:
        store = open_url(db)
    except StoreURLError as exc:
        raise click.UsageError(str(exc)) from None
    except StoreOpenError as exc:
        if exc.missing:
            raise StoreMissing(str(exc)) from None
        raise StoreUnreachable(str(exc)) from None
    try:
        # The pages use the cursor shape both engines share (see liveobs.correlator._sqlcursor); no
        # discovery file, which names a store file's web view.
        server = UIServer(store.connection, host=host, port=port)  # type: ignore[arg-type]
    except (ValueError, OSError) as exc:
        store.close()
        raise click.UsageError(str(exc)) from None
    _run(server, open_browser, store.close)
