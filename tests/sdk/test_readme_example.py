"""sdk/README.md's first example runs in a fresh venv with exactly what the README says to install."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "sdk" / "README.md"
LOCAL = {"liveobs-sdk": REPO / "sdk"}


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```$", README.read_text(), flags=re.MULTILINE | re.DOTALL)


def _pip_line() -> list[str]:
    """The packages of the README's first ``pip install`` line."""
    for block in _blocks("sh"):
        for line in block.splitlines():
            if line.startswith("pip install "):
                return line.split()[2:]
    raise AssertionError("sdk/README.md has no `pip install` line")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.timeout(300)
def test_the_readme_example_serves_a_request_in_a_fresh_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    wanted: list[str] = ["-e", str(REPO / "liveobs")]
    for name in _pip_line():
        wanted += ["-e", str(LOCAL[name])] if name in LOCAL else [name]
    install = subprocess.run([python, "-m", "pip", "install", "-q", *wanted], capture_output=True, text=True,
                             timeout=240, check=False)
    assert install.returncode == 0, install.stderr[-2000:]
    (tmp_path / "app.py").write_text(_blocks("python")[0])
    port = _free_port()
    log = open(tmp_path / "app.log", "wb")  # noqa: SIM115  # closed below
    proc = subprocess.Popen([python, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={"PATH": str(venv / "bin"), "HOME": str(tmp_path),
                                 "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{_free_port()}"})
    try:
        response = None
        deadline = time.monotonic() + 60
        while response is None and proc.poll() is None and time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            except httpx.TransportError:
                time.sleep(0.2)
        assert response is not None, (tmp_path / "app.log").read_text()[-3000:]
        assert response.status_code == 200
        assert re.fullmatch(r"[0-9a-f-]{16,}", response.headers["x-request-id"])
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
        log.close()
