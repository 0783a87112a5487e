"""A configured process exits quietly: liveobs shuts down what it built, once, and OpenTelemetry says nothing.

liveobs owns the shutdown of its tracer, meter and logger providers (its exit
hook, ``shutdown()``, the next ``configure()``), so it builds them without the
SDK's own exit hook; with that hook the SDK shut them down a second time at
exit and printed "shutdown can only be called once". Each script below ends
configured or shut down in a different way; stderr holds at most liveobs's own
lines, and what was recorded last is still exported at exit.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import io, sys
import liveobs.sdk
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

def configure(name):
    reader = PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stdout), export_interval_millis=3_600_000)
    return liveobs.sdk.configure(name, span_exporter=ConsoleSpanExporter(out=sys.stdout), metric_readers=[reader],
                                 log_file=io.StringIO())

def record(tag):
    metrics.get_meter("exit-test").create_counter("exit." + tag).add(1)
    with trace.get_tracer("exit-test").start_as_current_span("exit.span." + tag):
        pass

for step in sys.argv[1].split(","):
    if step == "configure":
        configure("exit-app")
    elif step == "shutdown":
        liveobs.sdk.shutdown()
    else:
        record(step)
"""

SCENARIOS = {
    "configured": ("configure,last", True),
    "configured twice": ("configure,first,configure,last", True),
    "shut down": ("configure,first,shutdown", False),
    "shut down then configured": ("configure,first,shutdown,configure,last", True),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_configured_script_exits_with_nothing_on_stderr_but_liveobs_lines(scenario: str) -> None:
    steps, ends_configured = SCENARIOS[scenario]
    done = subprocess.run([sys.executable, "-c", SCRIPT, steps], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    foreign = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("liveobs")]
    assert foreign == []
    if "first" in steps:  # recorded before a shutdown or a second configure(): exported then
        assert '"exit.first"' in done.stdout
        assert '"exit.span.first"' in done.stdout
    if ends_configured:  # recorded last: exported by liveobs's exit hook, the only shutdown the providers get
        assert '"exit.last"' in done.stdout
        assert '"exit.span.last"' in done.stdout
