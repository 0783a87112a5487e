"""``liveobs trace``: one browser action, request, trace or session to its ids and timeline.

Exit codes: 0 found, 1 not found (or the id names several traces), 2 usage
error or no store, 3 the store is held by a collector that does not answer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from liveobs.cli._root import CliContext, StoreUnreachable

_KINDS = {
    "event_id": "--event-id",
    "request_id": "--request-id",
    "trace_id": "--trace-id",
    "session_id": "--session-id",
}


class NotFound(click.ClickException):
    exit_code = 1


@click.command()
@click.option("--event-id", "event_id", metavar="ID", help="An event id, minted in the browser or on the server.")
@click.option("--request-id", "request_id", metavar="ID", help="A request id (X-Request-ID).")
@click.option("--trace-id", "trace_id", metavar="ID", help="A W3C trace id (32 hex digits).")
@click.option("--session-id", "session_id", metavar="ID", help="A session id: lists its events, failures first.")
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json", "html"]), default="text", show_default=True,
    help="text: timeline with waterfall bars; json: the data; html: one self-contained page.",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write to this file instead of standard output.")
@click.option("--context", type=click.IntRange(0, 500), default=5, show_default=True,
              help="Session events shown before and after.")
@click.option("--open", "open_page", is_flag=True,
              help="Print (and on a terminal, open) the trace's page in the running `liveobs ui`.")
@click.pass_obj
def trace(
    obj: CliContext,
    event_id: str | None,
    request_id: str | None,
    trace_id: str | None,
    session_id: str | None,
    output_format: str,
    as_json: bool,
    output: Path | None,
    context: int,
    open_page: bool = False,
) -> None:
    """Map one id to every other id, the error class and the timeline in milliseconds.

    Give exactly one of --event-id, --request-id, --trace-id, --session-id.
    """
    given = {k: v for k, v in {"event_id": event_id, "request_id": request_id, "trace_id": trace_id,
                                "session_id": session_id}.items() if v is not None}
    if len(given) != 1:
        raise click.UsageError(f"give exactly one of {', '.join(_KINDS.values())}")
    if as_json:
        output_format = "json"
    from liveobs.correlator._readapi import NotFoundError, ReadRequestError
    from liveobs.correlator._store import StoreUnavailableError

    store = obj.store()
    try:
        result = store.trace(**given, context=context)
    except NotFoundError as exc:
        raise NotFound(str(exc)) from None
    except ReadRequestError as exc:
        raise click.UsageError(str(exc)) from None
    except StoreUnavailableError as exc:
        raise StoreUnreachable(str(exc)) from None
    if output_format == "json":
        text = json.dumps(result.to_dict(), indent=2)
    elif output_format == "html":
        from liveobs.correlator._render_html import render_html

        text = render_html(result)
    else:
        from liveobs.cli._render_text import render_trace

        text = render_trace(result)
    if output is not None:
        plain = click.unstyle(text)
        output.write_text(plain if plain.endswith("\n") else plain + "\n", encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text)
    if open_page:
        _open_page(obj, result.trace_id)


def _open_page(obj: CliContext, trace_id: str) -> None:
    """Print the trace's page URL in the store's running web view, and open it on a terminal."""
    from liveobs.cli._render_text import shell_command
    from liveobs.correlator._ui_pages import url as page_path
    from liveobs.correlator._ui_server import page_url, ui_address

    found = ui_address(obj.db)
    if found is None or not trace_id:
        hint = shell_command("liveobs", "--db", obj.db, "ui")
        click.echo(f"no web view runs for this store; start one with: {hint}", err=True)
        return
    address = page_url(found["url"], found["key"], page_path("traces", trace_id))
    click.echo(f"page: {address}", err=True)
    if sys.stdout.isatty():
        click.launch(address)
