"""clickhouse:// and clickhouses:// through clickhouse-connect's HTTP client to a ClickHouse HTTP endpoint.

The endpoint is ClickHouse's engine (chdb) behind its HTTP interface (see ch_http): the
password must arrive as the server's authentication and nowhere else, TLS must be used and
verified for clickhouses://, and the store must inspect and create tables over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ch_http import ClickHouseHTTP, self_signed
from click.testing import CliRunner

from liveobs.cli import main
from liveobs.correlator.stores import PASSWORD_ENV, PASSWORD_FILE_ENV, StoreOpenError, open_store
from liveobs.correlator.stores._exporter import exporter_ddl

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ClickHouseHTTP]:
    endpoint = ClickHouseHTTP(tmp_path / "data", "reader", PASSWORD)
    endpoint.sql("CREATE DATABASE otel")
    yield endpoint
    endpoint.close()


@pytest.fixture
def password_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ch-password"
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    monkeypatch.setenv(PASSWORD_FILE_ENV, str(path))
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    return path


def test_password_from_a_file_reaches_the_server_only_as_its_authentication(
    server: ClickHouseHTTP, password_file: Path
) -> None:
    with open_store(f"clickhouse://reader@127.0.0.1:{server.port}/otel") as store:
        assert store.engine == "clickhouse"
        assert store.query("SELECT {n:String} AS name, currentDatabase() AS db", {"n": "it's"}) == [("it's", "otel")]
        assert store.layout.tables == {}
        assert "reader@127.0.0.1" in store.location
    assert server.requests
    for seen in server.requests:
        assert PASSWORD not in seen.path
        assert PASSWORD.encode() not in seen.body
        assert seen.headers["Authorization"].startswith("Basic ")


def test_exporter_tables_created_over_http_are_inspected(server: ClickHouseHTTP, password_file: Path) -> None:
    for statement in exporter_ddl("otel", layout="legacy"):
        server.sql(statement)
    with open_store(f"clickhouse://reader@127.0.0.1:{server.port}/otel") as store:
        assert store.layout.logs == "timestamp_time"
        assert store.layout.missing_exporter_tables == ()


def test_clickhouse_init_runs_over_http(server: ClickHouseHTTP, password_file: Path) -> None:
    for statement in exporter_ddl("otel"):
        server.sql(statement)
    url = f"clickhouse://reader@127.0.0.1:{server.port}/otel"
    result = CliRunner().invoke(main, ["--db", url, "clickhouse", "init", "--json"])
    assert result.exit_code == 0, result.output
    with open_store(url) as store:
        assert {"liveobs_correlation", "liveobs_errors", "liveobs_releases"} <= store.layout.liveobs_objects
        assert store.layout.liveobs_views == {
            "liveobs_correlation_spans_mv", "liveobs_correlation_logs_mv", "liveobs_errors_spans_mv",
            "liveobs_errors_logs_mv", "liveobs_releases_mv", "liveobs_release_changes"}
    assert PASSWORD not in result.output


def test_a_wrong_password_is_one_clear_line(server: ClickHouseHTTP, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    monkeypatch.delenv(PASSWORD_FILE_ENV, raising=False)
    with pytest.raises(StoreOpenError, match="Authentication failed") as caught:
        open_store(f"clickhouse://reader@127.0.0.1:{server.port}/otel")
    assert "not-the-password" not in str(caught.value)
    assert not caught.value.missing


def test_a_missing_database_is_a_missing_store(server: ClickHouseHTTP, password_file: Path) -> None:
    with pytest.raises(StoreOpenError, match="no database 'elsewhere'") as caught:
        open_store(f"clickhouse://reader@127.0.0.1:{server.port}/elsewhere")
    assert caught.value.missing


def test_clickhouses_speaks_tls_and_verifies_the_certificate(tmp_path: Path, password_file: Path) -> None:
    cert, key = self_signed(tmp_path)
    endpoint = ClickHouseHTTP(tmp_path / "tls-data", "reader", PASSWORD, certificate=(cert, key))
    try:
        endpoint.sql("CREATE DATABASE otel")
        with pytest.raises(StoreOpenError, match=r"(?i)certificate"):
            open_store(f"clickhouses://reader@127.0.0.1:{endpoint.port}/otel")
        with open_store(f"clickhouses://reader@127.0.0.1:{endpoint.port}/otel?ca_cert={cert}") as store:
            assert store.query("SELECT 1 AS one") == [(1,)]
        with pytest.raises(StoreOpenError):
            open_store(f"clickhouse://reader@127.0.0.1:{endpoint.port}/otel")  # plain HTTP to a TLS port
    finally:
        endpoint.close()
