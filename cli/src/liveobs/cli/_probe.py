"""``liveobs probe URL``: probe a running app and record what it saw as evidence in the store.

When a running collector owns the store, the evidence goes to it as OTLP spans
(the collector's ``/v1/traces``, with the ingest token); otherwise it is written
to the store file directly.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from liveobs.cli._root import CliContext

if TYPE_CHECKING:
    from liveobs.correlator.gates._probe import ProbeReport


class ProbeFailed(click.ClickException):
    exit_code = 3


@click.command()
@click.argument("url")
@click.option("--service", metavar="NAME", help="service.name to record under (default: the URL's host).")
@click.option("--release", metavar="VERSION", help="service.version to record under (default: the page's meta).")
@click.option("--environment", metavar="NAME", help="deployment.environment.name to record under.")
@click.option("--ws-path", default="/live/websocket", show_default=True, help="The app's live WebSocket path.")
@click.option("--body-bytes", type=click.IntRange(1), default=2 * 1024 * 1024, show_default=True,
              help="Size of the over-limit body.")
@click.option("--burst", type=click.IntRange(0, 10_000), default=60, show_default=True,
              help="GET requests to URL sent back to back to see the rate limit act (0: skip, for an app "
                   "that limits other endpoints than URL).")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds per request.")
@click.option("--json", "as_json", is_flag=True, help="Print what the probe saw as JSON.")
@click.pass_obj
def probe(obj: CliContext, url: str, service: str | None, release: str | None, environment: str | None,
          ws_path: str, body_bytes: int, burst: int, timeout: float, as_json: bool) -> None:
    """Fetch the page (twice) and the scripts SRI must protect, the readiness endpoints (no redirects
    followed), try a foreign Origin and Host on the WebSocket, an over-limit body and a burst, and record
    what was observed (CSP text, integrity and digests, readiness bodies, handshake answers) for the gates."""
    import httpx

    from liveobs.correlator.gates._probe import Prober

    if not url.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="URL")
    try:
        report = Prober(url, ws_path=ws_path, body_bytes=body_bytes, burst=burst, timeout=timeout).run(
            service, release, environment)
    except httpx.HTTPError as exc:
        raise ProbeFailed(f"cannot probe {url}: {exc}") from None
    written, where = record_report(obj, report, timeout)
    if as_json:
        click.echo(json.dumps({**report.to_dict(), "recorded": written}, indent=2))
        return
    for step in report.steps:
        click.echo(f"{step.name:<11} {step.summary}")
    click.echo(f"recorded {written} probe spans for {report.service} {report.release or '(no release)'} in {where}")


def record_report(obj: CliContext, report: ProbeReport, timeout: float) -> tuple[int, str]:
    """Record what a probe (or the driver) saw: through the collector that owns the store, or into the file.

    Returns the number of spans written and where they went.
    """
    from liveobs.correlator._db import StoreBusyError, connect
    from liveobs.correlator._remote import discover, read_token
    from liveobs.correlator._store import StoreUnavailableError
    from liveobs.correlator.gates._probe import record
    from liveobs.correlator.gates._probe_export import ProbeExportError, send

    try:
        collector = discover(obj.db)
    except StoreUnavailableError as exc:
        raise ProbeFailed(f"cannot record what was seen: {exc}") from None
    if collector is not None:
        try:
            written = send(report, collector.url, read_token(), timeout=max(timeout, 10.0))
        except (ProbeExportError, StoreUnavailableError) as exc:
            raise ProbeFailed(f"cannot record what was seen: {exc}") from None
        return written, f"{obj.db} (via collector {collector.url})"
    try:
        con = connect(obj.db)
    except StoreBusyError as exc:
        raise ProbeFailed(f"{exc}; stop the collector or record into another store with --db") from None
    try:
        return record(con, report), obj.db
    finally:
        con.close()
