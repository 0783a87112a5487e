"""``liveobs incidents``: error occurrences grouped by fingerprint, newest first.

Exit codes: 0 (also when there are none), 2 usage error or no store, 3 the
store is held by a collector that does not answer.
"""

from __future__ import annotations

import json

import click

from liveobs.cli._root import CliContext, StoreUnreachable


@click.command()
@click.option("--since", metavar="WHEN", help="Only errors since then: 90m, 24h, 7d or an ISO 8601 time.")
@click.option("--release", metavar="VERSION", help="Only errors of this release (service.version).")
@click.option("--service", metavar="NAME", help="Only errors of this service (service.name).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="At most this many incidents.")
@click.option("--json", "as_json", is_flag=True, help="Print the incidents as JSON.")
@click.pass_obj
def incidents(
    obj: CliContext, since: str | None, release: str | None, service: str | None, limit: int, as_json: bool,
) -> None:
    """Error occurrences grouped by fingerprint: count, first and last seen, releases, routes, sessions.

    The message is the exception's own (scrubbed of secrets); one failing action
    counts once, whether a span, a log line or a browser report saw it.
    """
    from liveobs.correlator._incidents import parse_since
    from liveobs.correlator._readapi import ReadRequestError
    from liveobs.correlator._store import StoreUnavailableError

    try:
        start = parse_since(since)
    except ReadRequestError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    store = obj.store()
    try:
        found = store.incidents(since=start, release=release, service=service, limit=limit)
    except ReadRequestError as exc:
        raise click.UsageError(str(exc)) from None
    except StoreUnavailableError as exc:
        raise StoreUnreachable(str(exc)) from None
    if as_json:
        click.echo(json.dumps([incident.to_dict() for incident in found], indent=2))
        return
    from liveobs.cli._render_text import render_incidents
    from liveobs.correlator._ui_server import ui_address

    click.echo(render_incidents(found, ui=ui_address(obj.db)))
