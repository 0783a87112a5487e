"""Where the CLI sends its token, and who can read what the collector writes.

A capture server on 127.0.0.1 stands in for an attacker who wrote a discovery file next to the store:
the token reaches it only when the user names its URL. The store, its log, the spool and the
discovery file of a real ``liveobs collect`` are readable by their owner only.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from test_collector_http import otlp_json_spans

from liveobs.cli import main
from liveobs.correlator._discovery import discovery_path
from liveobs.correlator._remote import listens_on

TOKEN = "the-real-operator-token-0123456789"
# What the capture server answers (empty: 200 with a body of the wrong shape).
ANSWER: list[tuple[int, bytes]] = []


class _Capture(BaseHTTPRequestHandler):
    seen: list[dict[str, str]]
    answer: list[tuple[int, bytes]]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append({"path": self.path, "auth": self.headers.get("Authorization") or ""})
        status, body = self.answer[0] if self.answer else (200, b'{"not": "a trace"}')
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def capture() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    handler = type("Capture", (_Capture,), {"seen": seen, "answer": ANSWER})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def other_process() -> Iterator[int]:
    """A live process of this user that listens on nothing."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


def _forge(db: Path, url: str, pid: int) -> Path:
    db.write_bytes(b"x")
    path = discovery_path(db)
    path.write_text(json.dumps({"url": url, "pid": pid, "db": str(db)}), encoding="utf-8")
    return path


def _trace(db: Path, *extra: str) -> Any:
    return CliRunner().invoke(main, ["--db", str(db), *extra, "trace", "--event-id", "abc"],
                              env={"LIVEOBS_TOKEN": TOKEN, "LIVEOBS_TOKEN_FILE": "", "LIVEOBS_URL": ""})


def test_a_discovery_file_naming_another_process_port_gets_no_token(tmp_path: Path, capture, other_process) -> None:
    url, seen = capture
    _forge(tmp_path / "store.duckdb", url, other_process)
    result = _trace(tmp_path / "store.duckdb")
    # Not the collector: the file itself is opened, and it is no store.
    assert result.exit_code == 3
    assert "not a valid DuckDB database file" in result.stderr
    assert seen == []


def test_a_discovery_file_naming_a_non_loopback_url_is_refused_clearly(tmp_path: Path, other_process) -> None:
    _forge(tmp_path / "store.duckdb", "http://192.0.2.7:4318", other_process)
    result = _trace(tmp_path / "store.duckdb")
    assert result.exit_code == 3
    assert "not a loopback address" in result.stderr
    assert "--url" in result.stderr


def test_a_discovery_file_of_another_user_or_writable_by_others_is_refused(tmp_path: Path, capture) -> None:
    url, seen = capture
    path = _forge(tmp_path / "store.duckdb", url, os.getpid())  # the capture server runs in this process
    os.chmod(path, 0o666)
    result = _trace(tmp_path / "store.duckdb")
    assert result.exit_code == 3
    assert "writable by others" in result.stderr
    if os.getuid() == 0:
        os.chmod(path, 0o600)
        os.chown(path, 65534, 65534)
        result = _trace(tmp_path / "store.duckdb")
        assert result.exit_code == 3
        assert "belongs to another user" in result.stderr
    assert seen == []


def test_the_token_goes_to_a_url_the_user_names_and_a_bad_answer_is_a_clean_error(tmp_path: Path, capture) -> None:
    url, seen = capture
    result = _trace(tmp_path / "store.duckdb", "--url", url)
    assert seen == [{"path": "/api/v1/read/trace", "auth": f"Bearer {TOKEN}"}]
    assert result.exit_code == 3
    assert "answer of the wrong shape" in result.stderr
    assert "Traceback" not in result.output


def test_the_real_collector_is_found_and_listens_where_it_says(collector_factory) -> None:
    running = collector_factory(token=TOKEN)
    record = json.loads(discovery_path(running.db).read_text(encoding="utf-8"))
    assert listens_on(record["pid"], int(record["url"].rsplit(":", 1)[1])) is True
    assert listens_on(record["pid"], 1) is False
    result = CliRunner().invoke(main, ["--db", str(running.db), "incidents", "--json"],
                                env={"LIVEOBS_TOKEN": TOKEN, "LIVEOBS_TOKEN_FILE": "", "LIVEOBS_URL": ""})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_spool_and_discovery_files_are_owner_only(collector_factory, tmp_path: Path) -> None:
    db = tmp_path / "private" / "store.duckdb"
    running = collector_factory(db=db, token=TOKEN)
    for n in range(3):
        response = httpx.post(f"{running.url}/v1/traces", json=otlp_json_spans([f"abcd{n:012x}"]), headers=running.headers)
        assert response.status_code == 200
    spooled = list(Path(f"{db}.spool").rglob("*"))
    files = [db, discovery_path(db), *(path for path in spooled if path.is_file())]
    wal = Path(f"{db}.wal")
    if wal.exists():
        files.append(wal)
    modes = {path.name: oct(_mode(path)) for path in files}
    assert set(modes.values()) == {"0o600"}, modes
    folders = [Path(f"{db}.spool"), *(path for path in spooled if path.is_dir())]
    assert {oct(_mode(path)) for path in folders} == {"0o700"}
    assert oct(_mode(db.parent)) == "0o700"
    assert running.stop() == 0
    assert oct(_mode(db)) == "0o600"


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://127.0.0.1:port", "http://127.0.0.1", "ftp://127.0.0.1:1"])
def test_a_malformed_discovery_url_is_ignored(tmp_path: Path, other_process, url: str) -> None:
    from liveobs.correlator._remote import discover

    _forge(tmp_path / "store.duckdb", url, other_process)
    assert discover(tmp_path / "store.duckdb") is None


def test_an_error_answer_is_printed_with_its_control_characters_escaped(tmp_path: Path, capture) -> None:
    url, _ = capture
    ANSWER.append((503, b'{"message": "down \\u001b]0;PWNED\\u0007\\r\\nforged \\u202eline"}'))
    try:
        result = _trace(tmp_path / "store.duckdb", "--url", url)
    finally:
        ANSWER.clear()
    assert result.exit_code == 3
    assert "down \\x1b]0;PWNED\\x07\\r\\nforged \\u202eline" in result.stderr
    for char in ("\x1b", "\x07", "\r", "\u202e"):
        assert char not in result.stderr
