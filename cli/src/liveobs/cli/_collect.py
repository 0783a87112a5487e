"""``liveobs collect``: the OTLP/HTTP receiver that owns the store."""

from __future__ import annotations

import os
import re

import click

from liveobs.cli._root import CliContext

# The defaults of liveobs.correlator._connections, repeated so that --help does not import uvicorn.
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 30.0
DEFAULT_IDLE_TIMEOUT_S = 5.0
DEFAULT_MAX_CONNECTIONS = 1024


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=4318, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 picks a free one (printed).")
@click.option("--token-file", type=click.Path(dir_okay=False), default=None,
              help="File holding the bearer token (else env LIVEOBS_TOKEN or LIVEOBS_TOKEN_FILE).")
@click.option("--max-body-bytes", default=16 * 1024 * 1024, show_default=True, type=click.IntRange(1024),
              help="Largest request body, compressed and decompressed.")
@click.option("--max-buffered-bytes", default=128 * 1024 * 1024, show_default=True, type=click.IntRange(1024),
              help="Bytes held by requests in flight before new ones get 429.")
@click.option("--memory-limit", default="1GB", show_default=True,
              help="DuckDB memory limit for the store's cache and queries (e.g. 512MB, 2GB).")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 256),
              help="DuckDB threads: one leaves the other core to decoding (fastest ingest on two cores); "
                   "more speed up heavy reads served while collecting.")
@click.option("--spool/--no-spool", default=True, show_default=True,
              help="Acknowledge a request once it is in the fsynced spool and commit in large batches "
                   "(replayed after a crash); --no-spool acknowledges after each commit.")
@click.option("--spool-dir", type=click.Path(file_okay=False), default=None,
              help="Directory of the spool's segment files.  [default: <db path>.spool]")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="A host name to accept in the Host header besides localhost and IP addresses "
                   "(checked without a token; repeatable; '*' accepts any).")
@click.option("--insecure-no-token", is_flag=True,
              help="Listen on a non-loopback address without a token (refused otherwise).")
@click.option("--header-timeout", default=DEFAULT_HEADER_TIMEOUT_S, show_default=True, type=click.FloatRange(0.1),
              help="Seconds a client has to send a request's headers.")
@click.option("--body-timeout", default=DEFAULT_BODY_TIMEOUT_S, show_default=True, type=click.FloatRange(0.1),
              help="Seconds a client has to send a request's body once its headers are in, "
                   "and may leave an answer unread.")
@click.option("--idle-timeout", default=DEFAULT_IDLE_TIMEOUT_S, show_default=True, type=click.FloatRange(0.1),
              help="Seconds an idle keep-alive connection stays open.")
@click.option("--max-connections", default=DEFAULT_MAX_CONNECTIONS, show_default=True, type=click.IntRange(2),
              help="Open connections; past it the one waiting longest on its client is closed.")
@click.option("--retention", default="7d", show_default=True,
              help="Delete spans, log records and metric points older than this (e.g. 12h, 30d, or off); "
                   "error occurrences (incidents), gate runs, release facts and regression baselines are kept.")
@click.option("--max-size", default="20GB", show_default=True,
              help="Keep the store file under this size (e.g. 500MB, 20GB, or off): the oldest spans, log records "
                   "and metric points are deleted once the data fills half of it (the file also holds the free "
                   "blocks DuckDB reuses).")
@click.option("--retention-interval", default=60.0, show_default=True, type=click.FloatRange(0.05), hidden=True,
              help="Seconds between retention passes.")
@click.pass_obj
def collect(
    obj: CliContext, host: str, port: int, token_file: str | None, max_body_bytes: int, max_buffered_bytes: int,
    memory_limit: str, threads: int, spool: bool, spool_dir: str | None, allowed_hosts: tuple[str, ...],
    insecure_no_token: bool, header_timeout: float, body_timeout: float, idle_timeout: float, max_connections: int,
    retention: str, max_size: str, retention_interval: float,
) -> None:
    """Receive OTLP/HTTP (traces, logs, metrics) and write it to the store.

    While it runs, this process owns the store and answers the other commands'
    reads over its local API. SIGTERM or Ctrl+C drains and exits 0. Files it
    creates (store, spool, discovery file) are readable by their owner only.
    """
    import duckdb

    from liveobs.correlator._auth import InsecureBindError, TokenError, check_bind, load_token
    from liveobs.correlator._collector import Collector
    from liveobs.correlator._connections import ConnectionLimits
    from liveobs.correlator._db import StoreBusyError
    from liveobs.correlator._retention import parse_duration, parse_size
    from liveobs.correlator._spool import SpoolError

    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*([KMGT]i?B|B)\s*", memory_limit, re.IGNORECASE):
        raise click.BadParameter(f"{memory_limit!r} is not a size such as 512MB or 2GB", param_hint="--memory-limit")
    for value, parse, hint in ((retention, parse_duration, "--retention"), (max_size, parse_size, "--max-size")):
        try:
            parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=hint) from None
    try:
        token = load_token(token_file)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        warning = check_bind(host, token, insecure_no_token=insecure_no_token)
    except InsecureBindError as exc:
        raise click.UsageError(str(exc)) from None
    if warning:
        click.echo(f"liveobs collect: {warning}", err=True)
    limits = ConnectionLimits(
        header_timeout=header_timeout, body_timeout=body_timeout, idle_timeout=idle_timeout,
        max_connections=max_connections,
    )
    collector = Collector(
        db=obj.db, host=host, port=port, token=token,
        max_body_bytes=max_body_bytes, max_buffered_bytes=max_buffered_bytes, memory_limit=memory_limit,
        threads=threads, spool=spool, spool_dir=spool_dir, allowed_hosts=allowed_hosts, limits=limits,
        insecure_no_token=insecure_no_token, retention=retention, max_size=max_size,
        retention_interval=retention_interval,
    )

    def ready(url: str) -> None:
        auth = "bearer token required" if token else "no token"
        click.echo(f"liveobs collect: listening on {url} ({auth}); store {os.path.abspath(obj.db)}")
        click.echo(f"liveobs collect: send OTLP/HTTP to {url}/v1/traces, /v1/logs, /v1/metrics", err=True)

    # The store, its write-ahead log (re-created after each checkpoint), the spool and the discovery
    # file hold the telemetry: owner only, for as long as the collector runs.
    umask = os.umask(0o077)
    try:
        collector.run(on_ready=ready)
    except StoreBusyError as exc:
        raise click.ClickException(f"the store is busy: {exc}") from None
    except SpoolError as exc:
        raise click.ClickException(str(exc)) from None
    except duckdb.Error as exc:
        raise click.ClickException(f"cannot open the store {obj.db}: {str(exc).splitlines()[0]}") from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        os.umask(umask)
