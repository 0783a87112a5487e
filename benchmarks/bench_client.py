"""liveobs.js: its size (raw, gzipped) and its cost per live event in headless Chromium.

Serves the instrumented board app on 127.0.0.1 (a free port), opens it in
Debian's chromium, and times N cycles of ``beginEvent`` + ``handleReply`` (what
every click costs the page: an id, the envelope, a timer, latency, a report)
against a bare loop that builds the same message and reply without liveobs.
Prints medians of several rounds, in microseconds per event.
"""

from __future__ import annotations

import asyncio
import gzip
import importlib.util
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

import liveobs.sdk
from liveobs.sdk._assets import client_asset

ROUNDS = 7
EVENTS = 10_000

_MEASURE = """(n) => {
  const timed = (fn) => { const t0 = performance.now(); fn(); return (performance.now() - t0) * 1000 / n; };
  const bare = timed(() => {
    for (let i = 0; i < n; i++) {
      const message = { action: "add", event: "add_card" };
      const reply = { lo: { event_id: "e" + i, ok: true, patch_bytes: 120 } };
      if (!message || !reply.lo.ok) throw new Error();
    }
  });
  const bareJson = timed(() => {
    for (let i = 0; i < n; i++) {
      const text = JSON.stringify({ action: "add", event: "add_card" });
      const reply = JSON.parse('{"lo":{"event_id":"e' + i + '","ok":true}}');
      if (!JSON.parse(text).action || !reply.lo.ok) throw new Error();
    }
  });
  const liveobsCycle = timed(() => {
    for (let i = 0; i < n; i++) {
      const lo = liveobs.beginEvent("add_card");
      liveobs.handleReply({ lo: { event_id: lo.event_id, ok: true, patch_bytes: 120,
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736", span_id: "00f067aa0ba902b7" } });
    }
  });
  const wrapped = timed(() => {
    for (let i = 0; i < n; i++) {
      const text = JSON.stringify(liveobs.wrap({ action: "add" }, "add_card"));
      const lo = JSON.parse(text).lo;
      liveobs.handleReply({ lo: { event_id: lo.event_id, ok: true } });
    }
  });
  return { bare, bare_json: bareJson, liveobs: liveobsCycle, wrap_json: wrapped };
}"""


def _helpers() -> Any:
    path = Path(__file__).resolve().parent.parent / "tests" / "sdk" / "browser_helpers.py"
    spec = importlib.util.spec_from_file_location("liveobs_bench_browser_helpers", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, thread, sock


def main() -> None:
    asset = client_asset()
    print(f"liveobs.js: {len(asset.body)} bytes raw, {len(asset.gzipped)} bytes gzip -9, "
          f"{len(gzip.compress(asset.body, 6))} bytes gzip -6")
    helpers = _helpers()
    liveobs.sdk.configure("bench-client", configure_structlog=False, set_global=False)
    server, thread, sock = _serve(helpers.board_app())
    try:
        with helpers.launch() as browser:
            context, page = helpers.open_board(browser, f"http://127.0.0.1:{sock.getsockname()[1]}")
            page.evaluate(_MEASURE, 1000)  # warm up the JIT
            rounds = [page.evaluate(_MEASURE, EVENTS) for _ in range(ROUNDS)]
            context.close()
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        liveobs.sdk.shutdown()
    for key, label in (("bare", "bare loop (message + reply objects)"),
                       ("bare_json", "bare JSON round trip (no liveobs)"),
                       ("liveobs", "beginEvent + handleReply"),
                       ("wrap_json", "wrap + JSON round trip + handleReply")):
        values = [r[key] for r in rounds]
        print(f"{label:40s} median {statistics.median(values):7.2f} us/event  "
              f"(min {min(values):.2f}, max {max(values):.2f}, {ROUNDS} rounds of {EVENTS})")
    overhead = statistics.median(r["liveobs"] - r["bare"] for r in rounds)
    on_send = statistics.median(r["wrap_json"] - r["bare_json"] for r in rounds)
    print(f"liveobs.js cost per event over the bare loop: {overhead:.2f} us; "
          f"over a bare JSON round trip: {on_send:.2f} us")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
