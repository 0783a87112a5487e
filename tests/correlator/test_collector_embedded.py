"""A collector run from an application's own main thread (the Python API) gives the application its signal
handlers back once it stops: Ctrl-C and SIGTERM then reach the application again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_APP = """
import os, signal, sys, threading, time
from liveobs.correlator._collector import Collector

seen = []
signal.signal(signal.SIGINT, signal.default_int_handler)  # the application's own, whatever it inherited
signal.signal(signal.SIGTERM, lambda sig, frame: seen.append(sig))
collector = Collector(db=sys.argv[1], port=0)
collector.run(on_ready=lambda url: threading.Timer(0.5, collector.stop).start())
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(0.2)  # a handler runs between two bytecodes of the main thread
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(2)
    print("not interrupted")
except KeyboardInterrupt:
    print("interrupted")
print("the application's SIGTERM handler ran" if seen == [signal.SIGTERM] else f"SIGTERM handler calls: {seen}")
"""


def test_the_applications_signal_handlers_are_back_once_the_collector_stops(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", _APP, str(tmp_path / "app.duckdb")],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["interrupted", "the application's SIGTERM handler ran"], result.stdout
