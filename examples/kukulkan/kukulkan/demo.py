"""``make demo``: Kukulkan deployed as an operator would, a failing click, the rollback, the fix, and the gates.

Builds the wheels of Kukulkan 1.3.2, 1.4.0 and 1.4.1 from source and lays them out
as release directories (cached by the digest of their sources), starts ``liveobs
collect`` and runs a release's life under a small supervisor: 1.3.2 serves; 1.4.0
is recorded, dry-run and deployed (``current`` re-pointed, the same units
restarted), probed and driven, and a scripted user's click fails; it is rolled back
to 1.3.2. The fix, 1.4.1, is recorded, dry-run, deployed, probed and driven, and
the performance evidence comes in load slices alternating between it and its
rollback target 1.3.2, so both see the same machine load. Then it prints
``liveobs trace --event-id <reference>`` of the failing click, 1.4.0's gates (the
deploy gate fails and says why), 1.4.1's changed surface and its four gates.
``--weaken`` serves the new releases with guards deliberately weakened.
Everything it starts is stopped on the way out, also on failure or Ctrl+C.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Final

from kukulkan_release.build import TREE, BuildError
from kukulkan_release.deploy import DeployError, Deployment, prepare

from kukulkan.demo_steps import (
    BUDGETS,
    DRIVE_SCENARIO,
    ENVIRONMENT,
    EXAMPLE,
    REPO,
    DemoError,
    changed_lines,
    drive,
    drive_lines,
    gate_lines,
    liveobs,
    load_line,
    load_slice,
    probe_line,
    release_lines,
    releases_line,
    shown,
    tool,
    undecided_checks,
    units_line,
)
from kukulkan.scenario import SessionReport, run_baseline, run_session, warm_up

DEFAULT_STATE: Final = REPO / "var" / "kukulkan"
MANIFEST_PATH: Final = EXAMPLE / "release-manifest.toml"  # 1.4.0, rolling back to 1.3.2
FIX_MANIFEST_PATH: Final = EXAMPLE / "release-manifest-1.4.1.toml"  # 1.4.1, rolling back to 1.3.2
SLICE_SESSIONS: Final = 60  # sessions per load slice (drive-load.toml: 2 page loads, 30 live events each)
DRIVE_SESSIONS: Final = 0  # the full scenario's uploads, attempts and sockets; the load is the slices'
CHROMIUM: Final = Path("/usr/bin/chromium")
START_TIMEOUT: Final = 20.0
COLLECTOR_NICE: Final = 10
# A p95 test's sample size follows the shape of the baseline's tail, which swings between runs on a
# busy machine: while a performance check of the fix is unknown, one more slice of each release (at most this many).
MORE_EVIDENCE_ROUNDS: Final = 2

class Processes:
    """The child processes the demo started, stopped in reverse order whatever happens."""

    def __init__(self) -> None:
        self._children: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []
        self._cleanups: list[Callable[[], None]] = []

    def on_stop(self, cleanup: Callable[[], None]) -> None:
        """Also run ``cleanup`` when everything stops (before the processes started here, in reverse order)."""
        self._cleanups.append(cleanup)

    def start(self, name: str, argv: Sequence[str], log: Path, *, env: dict[str, str] | None = None,
              pass_fds: Sequence[int] = ()) -> subprocess.Popen[bytes]:
        out = log.open("wb")
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, pass_fds=tuple(pass_fds), cwd=REPO)
        self._children.append((name, proc, out))
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
        """SIGTERM (a graceful stop that flushes telemetry), then SIGKILL after ``timeout``."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for entry in self._children:
            if entry[1] is proc:
                entry[2].close()
        return proc.returncode

    def stop_all(self) -> None:
        while self._cleanups:
            self._cleanups.pop()()
        for _, proc, _ in reversed(self._children):
            self.stop(proc)
        self._children.clear()


@contextmanager
def processes() -> Iterator[Processes]:
    procs = Processes()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield procs
    finally:
        procs.stop_all()
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _wait_for(what: str, check: object, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"{what} exited with {proc.returncode}; see {log}")
        if callable(check) and check():
            return
        time.sleep(0.05)
    raise DemoError(f"{what} did not start within {timeout:.0f} s; see {log}")


def start_collector(procs: Processes, db: Path, state: Path, *, nice: int = 0) -> tuple[subprocess.Popen[bytes], str]:
    """``liveobs collect --port 0`` (``nice``: at that lower priority); its URL comes from the discovery file it writes."""
    discovery = db.with_name(db.name + ".collector.json")
    log = state / "collector.log"
    niced = ["nice", "-n", str(nice)] if nice else []
    proc = procs.start("collector", [*niced, tool("liveobs"), "--db", str(db), "collect", "--port", "0"], log)
    found: dict[str, object] = {}

    def ready() -> bool:
        try:
            data = json.loads(discovery.read_text())
        except (OSError, ValueError):
            return False
        if data.get("pid") != proc.pid:
            return False
        found.update(data)
        return True

    _wait_for("liveobs collect", ready, proc, log, START_TIMEOUT)
    return proc, str(found["url"])


def new_session_keys() -> str:
    """``KUKULKAN_SESSION_KEYS`` for one demo run: both releases share it, as a deploy would."""
    return "k1:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def unit_environment(collector_url: str) -> dict[str, dict[str, str]]:
    """What each unit's file sets beside its port and name: where telemetry goes, how often metrics export.

    Metrics export as deltas, so counts over exports add up. A process's CPU clock
    ticks in 10 ms: over 100 ms a unit at a fifth of a core reads 0, 1, 2 or 3 ticks,
    and one window in seven reads zero, noise that the CPU regression's power rule
    (the spread of log CPU) charges as hundreds of extra samples. The UI unit serves
    the traffic: its metrics export every 300 ms, where a busy window holds several
    ticks. The API unit serves no traffic in the demo: every 5 s, so its idle windows
    are few. (Not less often: a unit that never exports before it stops is measured
    only over the moment between its two exports at shutdown, which reads as cores
    busy flushing.)
    """
    common = {"KUKULKAN_OTLP_ENDPOINT": collector_url, "KUKULKAN_ENVIRONMENT": "production",
              "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta"}
    return {"kukulkan-api": {**common, "OTEL_METRIC_EXPORT_INTERVAL": "5000"},
            "kukulkan-ui": {**common, "OTEL_METRIC_EXPORT_INTERVAL": "300"}}


def start_deployed(procs: Processes, collector_url: str, state: Path,
                   version: str | None = None) -> tuple[Deployment, str]:
    """Kukulkan laid out under ``state`` and its units started at ``version`` (default: the source tree's, 1.4.0).

    The units stop with ``procs``; ``Deployment.stop()`` stops them sooner (flushing their telemetry).
    Returns the deployment and the UI unit's URL.
    """
    prepare(state / "deploy", state / "build")
    deployment = Deployment(state / "deploy", unit_environment(collector_url), new_session_keys())
    procs.on_stop(deployment.stop)
    deployment.start(version or TREE)
    return deployment, deployment.url("kukulkan-ui")


def _clean_store(db: Path) -> None:
    for path in (db, db.with_name(db.name + ".wal"), db.with_name(db.name + ".collector.json")):
        path.unlink(missing_ok=True)


def _manifest(path: Path) -> tuple[str, str]:
    """The release a manifest ships and its rollback target."""
    with path.open("rb") as fh:
        release = tomllib.load(fh)["release"]
    return str(release["current"]), str(release["rollback"])


class Run:
    """One demo run: its store, its deployment, where it prints, and how many slices each release had."""

    def __init__(self, state: Path, deployment: Deployment, out: IO[str], refreshes: int, weaken: str) -> None:
        self.db = state / "liveobs.duckdb"
        self.where = str(shown(state / "deploy"))  # the commands run in the repository: the root as shown
        self.deployment = deployment
        self.ui = deployment.url("kukulkan-ui")
        self.out = out
        self.refreshes = refreshes
        self.weaken = {"KUKULKAN_WEAKEN": weaken} if weaken else {}
        self.slices: dict[str, int] = {}

    def say(self, *lines: str) -> None:
        for line in lines or ("",):
            print(line, file=self.out, flush=True)

    def release(self, *args: str) -> None:
        self.say(*release_lines(self.db, *args))

    def env(self, version: str, rollback_target: str) -> dict[str, str]:
        return {} if version == rollback_target else self.weaken

    def slice(self, version: str, rollback_target: str, *, switch: bool = True) -> None:
        """One load slice of ``version``; with ``switch``, ``current`` re-pointed and the units restarted first."""
        if switch and self.deployment.current != version:
            self.deployment.switch(version, self.env(version, rollback_target))
            asyncio.run(warm_up(self.ui))
            how = "  (current re-pointed, units restarted)"
        else:
            how = ""
        n = self.slices[version] = self.slices.get(version, 0) + 1
        self.say(f"driven slice     {version} {n}: " + load_line(load_slice(self.ui, SLICE_SESSIONS)) + how)

    def deploy(self, version: str, rollback_target: str) -> None:
        """Deploy ``version`` (re-point ``current``, restart the units) and probe it."""
        pids = self.deployment.switch(version, self.env(version, rollback_target))
        self.say(units_line(self.deployment, version, pids, "deployed"))
        asyncio.run(warm_up(self.ui))
        if self.weaken:
            self.say(f"kukulkan {version:<7} deliberately weakened: KUKULKAN_WEAKEN={self.weaken['KUKULKAN_WEAKEN']}")
        self.say(probe_line(self.db, self.ui, ENVIRONMENT))

    def until_decided(self, version: str, rollback_target: str) -> None:
        """While a performance check of ``version`` is unknown, one more load slice of each release, stopped after.

        Whether to drive more depends on how many samples a check needs, never on how the releases compare.
        """
        for n in range(1, MORE_EVIDENCE_ROUNDS + 1):
            unknown = undecided_checks(self.db, FIX_MANIFEST_PATH)
            if not unknown:
                return
            self.say(f"more evidence    {', '.join(unknown)} unknown on {version}'s evidence so far: one more slice "
                     f"of each release ({n} of at most {MORE_EVIDENCE_ROUNDS})")
            try:
                self.deployment.start(rollback_target, self.env(rollback_target, rollback_target))
                asyncio.run(warm_up(self.ui))
                self.slice(rollback_target, rollback_target, switch=False)
                self.slice(version, rollback_target)
            finally:
                self.deployment.stop()

    def exercise(self, version: str, role: str, *, browser: bool) -> SessionReport:
        """The scripted user on the running ``version``, then the full drive (uploads, attempts, foreign handshakes)."""
        report = asyncio.run(run_session(self.ui, refreshes=self.refreshes))
        ok = sum(o.ok for o in report.outcomes)
        self.say(f"kukulkan {version:<7} {self.ui}  {role}: {len(report.outcomes)} live events ({ok} ok), uploads "
                 + ", ".join(f"{name} → {status}" for name, status in report.uploads.items()))
        self.say("refused          " + ", ".join(
            f"{what} → {'/'.join(str(c) for c in sorted(set(codes)))}" for what, codes in report.refused.items()))
        self.say(*drive_lines(drive(self.db, self.ui, DRIVE_SCENARIO, browser=browser, sessions=DRIVE_SESSIONS)))
        return report


def run(state: Path = DEFAULT_STATE, *, refreshes: int = 30, weaken: str = "", out: IO[str] = sys.stdout) -> int:
    started = time.monotonic()
    state.mkdir(parents=True, exist_ok=True)
    db = state / "liveobs.duckdb"
    root = state / "deploy"
    _clean_store(db)
    faulty, target = _manifest(MANIFEST_PATH)
    fix, fix_target = _manifest(FIX_MANIFEST_PATH)
    if fix_target != target:
        raise DemoError(f"the fix {fix} rolls back to {fix_target}, not to {target}")

    laid = prepare(root, state / "build")
    print(releases_line(laid, root), file=out, flush=True)
    with processes() as procs:
        # The collector stands in for another machine: on this one it yields the CPU to the app it measures, whose
        # live events take a fraction of a millisecond (a telemetry commit preempting one shows up as its latency).
        collector, collector_url = start_collector(procs, db, state, nice=COLLECTOR_NICE)
        print(f"liveobs collect  {collector_url}  store {shown(db)}", file=out, flush=True)
        deployment = Deployment(root, unit_environment(collector_url), new_session_keys())
        demo = Run(state, deployment, out, refreshes, weaken)
        say, ui = demo.say, demo.ui
        try:
            deployment.point(target)
            for version in (target, faulty):
                demo.release("record", demo.where, "--version", version)
            # The dry run comes first: once the units of the rollback target start, they serve without a pause.
            demo.release("dry-run", demo.where, "--version", faulty)
            say(units_line(deployment, target, deployment.start(target), "units started"))
            asyncio.run(warm_up(ui))
            baseline = asyncio.run(run_baseline(ui, refreshes=refreshes))
            say(f"kukulkan {target:<7} {ui}  the rollback target: {len(baseline.outcomes)} live events "
                f"({sum(o.ok for o in baseline.outcomes)} ok)")
            demo.deploy(faulty, target)
            failure = demo.exercise(faulty, "the new release", browser=False).failure
            say(f"failing click    {failure.name}: the page shows "
                f"\"Something went wrong — reference {failure.event_id}\"")
            # The rollback: the link back to the target, the same units restarted (they flush their telemetry
            # first); production traffic goes on.
            demo.release("rollback", demo.where)
            say(units_line(deployment, target, deployment.switch(target, {}), "rolled back"))
            asyncio.run(warm_up(ui))
            demo.slice(target, target, switch=False)
            # The fix: recorded, dry-run, deployed; load alternating with the rollback target, ending on the fix, each
            # slice after a restart and a warm-up visit; then the scripted user and the full drive, whose browser and
            # burst of telemetry then slow no slice of one release only.
            say(f"the fix          {fix}: sort_by_due puts cards without a due date last; it rolls back to "
                f"{fix_target}, not to the rolled-back {faulty}")
            demo.release("record", demo.where, "--version", fix)
            demo.release("dry-run", demo.where, "--version", fix)
            demo.deploy(fix, target)
            for version in (fix, target, fix, target, fix):
                demo.slice(version, target)
            demo.exercise(fix, "the fix", browser=CHROMIUM.exists())
        finally:
            deployment.stop()  # a graceful stop flushes the units' last spans, logs and metrics
        demo.until_decided(fix, target)
        say()
        say(f"$ liveobs trace --event-id {failure.event_id}")
        trace = liveobs(db, "trace", "--event-id", failure.event_id)
        say(trace.stdout.rstrip() or trace.stderr.rstrip())
        say()
        say(f"in a browser     {collector_url}/incidents  (while the collector runs; afterwards: "
            f"liveobs --db {shown(db)} ui)")
        say()
        # The runbook: after an incident that touches security (the failing click's trace carries scope
        # decisions), the security gate runs before a redeploy; the deploy gate reads its recorded run.
        security = liveobs(db, "check", "security", "--manifest", str(MANIFEST_PATH), "--budgets", str(BUDGETS),
                           "--format", "json")
        say(f"$ liveobs check security   (release {faulty}; first: the failing click's trace carries security "
            f"decisions) → exit {security.returncode}")
        say()
        say(f"$ liveobs check <gate>   (release {faulty}, rolled back; --manifest {shown(MANIFEST_PATH)})")
        say(*gate_lines(db, MANIFEST_PATH, ("observability", "security", "deploy")))
        say(f"  performance    not judged: {faulty} was rolled back before it carried the load slices its rollback "
            f"target did, and a few scripted clicks are no like-for-like comparison")
        say()
        say(*changed_lines(db, fix, FIX_MANIFEST_PATH))
        say()
        say(f"$ liveobs check <gate>   (release {fix}, the fix; --manifest {shown(FIX_MANIFEST_PATH)})")
        say(*gate_lines(db, FIX_MANIFEST_PATH))
        procs.stop(collector)
    say()
    say(f"demo finished in {time.monotonic() - started:.1f} s; everything it started is stopped; "
        f"the evidence stays in {shown(db)}")
    return 0 if trace.returncode == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help="where the store and logs go")
    parser.add_argument("--refreshes", type=int, default=30, help="ordinary events for the latency figures")
    parser.add_argument("--weaken", default="", metavar="csp,sockets,scanner",
                        help="serve the new releases with these guards weakened, to see the gates catch it")
    args = parser.parse_args(argv)
    try:
        return run(args.state, refreshes=args.refreshes, weaken=args.weaken)
    except (DemoError, DeployError, BuildError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo interrupted; everything it started is stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
