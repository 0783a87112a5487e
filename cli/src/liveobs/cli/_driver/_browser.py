"""The optional headless-browser pass: page timing from Chromium's own Navigation Timing.

Chromium runs headless with a private profile and is driven over its DevTools
protocol (a WebSocket, spoken here with ``websockets``): each page is loaded
``loads`` times, every request carrying ``X-Liveobs-Evidence: driven``, and the
page's ``PerformanceNavigationTiming`` gives time to first byte, DOM content
loaded and load. The browser runs the page's scripts, ``liveobs.js`` included.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any, Final

from websockets.sync.client import ClientConnection, connect

from liveobs.cli._driver._client import DRIVEN_HEADERS, DriveError

CHROMIUM_ARGS: Final = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--remote-debugging-port=0",
)
_TIMING: Final = ("responseStart", "domContentLoadedEventEnd", "loadEventEnd")
_NAMES: Final = {"responseStart": "ttfb", "domContentLoadedEventEnd": "dom_content_loaded", "loadEventEnd": "load"}
_NAVIGATION: Final = ("(() => { const n = performance.getEntriesByType('navigation')[0];"
                      " return n && n.loadEventEnd > 0 ? JSON.stringify(n.toJSON()) : null; })()")


class _DevTools:
    """A minimal DevTools protocol client: one page target, commands answered in order."""

    def __init__(self, socket: ClientConnection, timeout: float) -> None:
        self.socket = socket
        self.timeout = timeout
        self.next_id = 0
        self.session: str | None = None

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        self.socket.send(json.dumps(message))
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DriveError(f"Chromium did not answer {method} within {self.timeout:g} s")
            answer = json.loads(self.socket.recv(timeout=remaining))
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise DriveError(f"Chromium refused {method}: {answer['error'].get('message')}")
                result: dict[str, Any] = answer.get("result", {})
                return result


def _devtools_url(profile: Path, proc: subprocess.Popen[bytes], timeout: float) -> str:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DriveError(f"Chromium exited with {proc.returncode} before it listened")
        lines = marker.read_text().split() if marker.exists() else []
        if len(lines) >= 2:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        time.sleep(0.05)
    raise DriveError(f"Chromium did not listen within {timeout:g} s")


def _load(tools: _DevTools, url: str, timeout: float) -> dict[str, float]:
    tools.call("Page.navigate", url=url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = tools.call("Runtime.evaluate", expression=_NAVIGATION, returnByValue=True)["result"].get("value")
        if value:
            entry = json.loads(value)
            return {_NAMES[k]: float(entry[k]) for k in _TIMING}
        time.sleep(0.02)
    raise DriveError(f"{url} did not finish loading within {timeout:g} s")


def page_timing(base_url: str, pages: tuple[str, ...] | list[str], loads: int, chromium: str,
                timeout: float = 10.0, sessions: list[list[tuple[str, str]]] | None = None) -> dict[str, Any]:
    """Load each page ``loads`` times in headless Chromium; p50 and p95 of each timing, in ms.

    ``sessions`` are cookie sets (name, value), one per page load in turn: each load is then a
    visit of its own signed-in user, never a second tab or a reconnect of the one before.
    """
    if shutil.which(chromium) is None:
        raise DriveError(f"no Chromium at {chromium} (apt-get install chromium)")
    profile = Path(tempfile.mkdtemp(prefix="liveobs-drive-"))
    proc = subprocess.Popen([chromium, *CHROMIUM_ARGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    samples: dict[str, list[float]] = {name: [] for name in _NAMES.values()}
    try:
        with connect(_devtools_url(profile, proc, timeout), max_size=None) as socket:
            tools = _DevTools(socket, timeout)
            target = tools.call("Target.createTarget", url="about:blank")["targetId"]
            tools.session = tools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            tools.call("Page.enable")
            tools.call("Network.enable")
            tools.call("Network.setExtraHTTPHeaders", headers={k: v for k, v in DRIVEN_HEADERS.items()
                                                                 if k != "User-Agent"})
            visit = 0
            for page in pages:
                for _ in range(loads):
                    for cookie, content in sessions[visit % len(sessions)] if sessions else ():
                        tools.call("Network.setCookie", name=cookie, value=content, url=base_url)
                    visit += 1
                    for name, value in _load(tools, urllib.parse.urljoin(base_url, page), timeout).items():
                        samples[name].append(value)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    count = len(samples["load"])
    timing = {}
    for name, values in samples.items():
        ordered = sorted(values)
        timing[name] = {"p50": round(ordered[count // 2], 1), "p95": round(ordered[min(count - 1, int(0.95 * count))], 1)}
    return {"pages": list(pages), "loads": count, "timing_ms": timing}
