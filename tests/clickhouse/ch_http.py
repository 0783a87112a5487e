"""A ClickHouse HTTP endpoint on 127.0.0.1 for tests: ClickHouse's own engine (chdb) behind its HTTP interface.

There is no ClickHouse server on this machine, and chdb has no server mode; this puts the
embedded engine behind the parts of the HTTP interface that clickhouse-connect uses: the
query in the body (and ``query``), ``param_*`` bound parameters, ``database``,
``default_format``, Basic authentication, errors with ``X-ClickHouse-Exception-Code``,
and TLS when given a certificate. Every request is recorded for the tests to inspect.
"""

from __future__ import annotations

import base64
import ssl
import subprocess
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import chdb.session


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ClickHouseHTTP:
    folder: Path
    user: str
    password: str
    certificate: tuple[Path, Path] | None = None  # (cert, key) for TLS
    requests: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.session = chdb.session.Session(str(self.folder))
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        if self.certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.certificate[0]), str(self.certificate[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def sql(self, statement: str) -> None:
        with self.lock:
            self.session.query(statement)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        self.session.close()

    def answer(self, seen: Seen) -> tuple[int, dict[str, str], bytes]:
        self.requests.append(seen)
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if seen.headers.get("Authorization") != expected:
            text = f"Code: 516. DB::Exception: {self.user}: Authentication failed. (AUTHENTICATION_FAILED)"
            return 403, {"X-ClickHouse-Exception-Code": "516"}, text.encode()
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(seen.path).query, keep_blank_values=True))
        sql = "\n".join(part for part in (query.get("query", ""), seen.body.decode()) if part)
        params = {k.removeprefix("param_"): v for k, v in query.items() if k.startswith("param_")}
        try:
            with self.lock:
                if query.get("database"):
                    self.session.query(f"USE `{query['database']}`")
                result = self.session.query(sql, query.get("default_format", "TabSeparated"), params=params or None)
            return 200, {"X-ClickHouse-Timezone": "UTC"}, result.bytes()
        except Exception as exc:  # the engine's error, as a server reports it
            return 500, {"X-ClickHouse-Exception-Code": "1"}, str(exc).encode()


def _handler(endpoint: ClickHouseHTTP) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self._reply(b"")

        def do_POST(self) -> None:
            self._reply(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        def _reply(self, body: bytes) -> None:
            status, headers, data = endpoint.answer(Seen(self.path, dict(self.headers), body))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with the openssl command."""
    cert, key = folder / "server.pem", folder / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key
