"""``liveobs drive URL --scenario FILE``: generate the evidence a release decision needs.

Runs the scenario's sessions against a running app over its live protocol (no
browser needed), its uploads (the EICAR canary among them), scope and capability
attempts, and foreign Origin and Host handshakes on the session-gated socket;
optionally a headless Chromium pass for page timing. The app's SDK records it all,
marked ``driven``; the outcomes only the driver can judge (what a correct app
answers to each attempt) are recorded as outside observations beside the probe's.

Exit codes: 0 the scenario ran and every attempt got the answer a correct app
gives, 1 some did not (listed), 3 the scenario could not run.
"""

from __future__ import annotations

import json
from typing import Any

import click

from liveobs.cli._root import CliContext

_COULD_NOT_RUN = 3


class DriveFailed(click.ClickException):
    exit_code = _COULD_NOT_RUN


@click.command()
@click.argument("url")
@click.option("--scenario", "scenario_file", required=True, type=click.Path(dir_okay=False),
              help="The scenario (TOML): sign-in, users, sessions, uploads, attempts, sockets, browser.")
@click.option("--sessions", type=click.IntRange(0, 1000), help="Override the scenario's number of sessions.")
@click.option("--browser/--no-browser", default=False, show_default=True,
              help="Also load the scenario's [browser] pages in headless Chromium and report page timing.")
@click.option("--chromium", default="/usr/bin/chromium", show_default=True, help="The Chromium binary.")
@click.option("--service", metavar="NAME", help="service.name to record observations under (default: URL host).")
@click.option("--release", metavar="VERSION", help="service.version to record under (default: the page's meta).")
@click.option("--environment", metavar="NAME", help="deployment.environment.name to record under.")
@click.option("--record/--no-record", default=True, show_default=True,
              help="Record the outside observations in the store (or through its collector).")
@click.option("--spread/--no-spread", default=True, show_default=True,
              help="On a 127.x target, connect each session from its own loopback address.")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False),
              help="CA certificates (PEM) to trust for an https app, e.g. a staging CA; default: the system's.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds per request or reply.")
@click.option("--json", "as_json", is_flag=True, help="Print what the driver did and saw as JSON.")
@click.pass_obj
def drive(obj: CliContext, url: str, scenario_file: str, sessions: int | None, browser: bool, chromium: str,
          service: str | None, release: str | None, environment: str | None, record: bool, spread: bool,
          ca_file: str | None, timeout: float, as_json: bool) -> None:
    """Drive scripted live sessions, uploads and attempts against a running app, as evidence."""
    import dataclasses
    import ssl

    import httpx

    from liveobs.cli._driver import (
        DriveError,
        ScenarioError,
        load_scenario,
        page_timing,
        run_driver,
        session_cookies,
    )
    from liveobs.cli._probe import record_report

    if not url.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="URL")
    try:
        scenario = load_scenario(scenario_file)
    except ScenarioError as exc:
        raise DriveFailed(str(exc)) from None
    if sessions is not None:
        load = dataclasses.replace(scenario.load, sessions=sessions,
                                   reconnects=min(scenario.load.reconnects, sessions))
        scenario = dataclasses.replace(scenario, load=load)
    try:
        report = run_driver(url, scenario, timeout=timeout, spread=spread, ca_file=ca_file)
        if browser:
            if scenario.browser is None:
                raise DriveError("--browser needs a [browser] table in the scenario")
            visits = scenario.browser.loads * len(scenario.browser.pages)
            visitors = session_cookies(url, scenario, scenario.browser.user, visits, timeout=timeout,
                                       ca_file=ca_file) if scenario.browser.user else None
            report.browser = page_timing(url, scenario.browser.pages, scenario.browser.loads, chromium, timeout,
                                         visitors)
    except (DriveError, httpx.HTTPError, OSError, ssl.SSLError) as exc:
        raise DriveFailed(f"cannot drive {url}: {exc}") from None
    recorded: dict[str, Any] = {"spans": 0, "where": None}
    if record and report.steps:
        written, where = record_report(obj, report.probe_report(service, release, environment), timeout)
        recorded = {"spans": written, "where": where}
    if as_json:
        click.echo(json.dumps({**report.to_dict(), "recorded": recorded}, indent=2))
    else:
        _print(report.to_dict(), recorded)
    click.get_current_context().exit(1 if report.unexpected else 0)


def _print(data: dict[str, Any], recorded: dict[str, Any]) -> None:
    latency = data["action_latency_ms"]
    click.echo(f"sessions    {data['sessions']} signed in, {data['connects']} live connects "
               f"({data['reconnects']} reconnects), {data['page_loads']} page loads, {data['actions']} live actions"
               + (f" (p50 {latency['p50']:g} ms, p95 {latency['p95']:g} ms)" if latency else "")
               + (f", {data['failed_actions']} failed" if data["failed_actions"] else ""))
    if data["uploads"]:
        click.echo("uploads     " + ", ".join(f"{u['file']} {u['status']}" for u in data["uploads"]))
    for attempt in data["attempts"]:
        click.echo(f"attempt     {attempt['user']}: {attempt['name']} ({attempt['check']} {attempt['required']}) "
                   f"-> {attempt['answer']}")
    if data["sockets"]:
        click.echo("sockets     " + ", ".join(f"{s['attempt']} {s['status']}" for s in data["sockets"]))
    if data["rate_limit"]:
        r = data["rate_limit"]
        click.echo(f"rate limit  {r['count']} × {r['request']}: {r['limited']} answered 429")
    if data["browser"]:
        b = data["browser"]
        click.echo(f"browser     {b['loads']} loads: " + ", ".join(
            f"{name} p50 {v['p50']:g} ms p95 {v['p95']:g} ms" for name, v in b["timing_ms"].items()))
    for line in data["unexpected"]:
        click.echo(f"UNEXPECTED  {line}")
    where = f" in {recorded['where']}" if recorded["where"] else ""
    click.echo(f"driven in {data['seconds']:.1f} s (release {data['release'] or '?'}); "
               f"recorded {recorded['spans']} outside observations{where}")
