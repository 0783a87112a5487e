"""Store URLs: a DuckDB path, chdb:///folder, clickhouse(s)://user@host/db; never a password on the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from liveobs.correlator.stores import (
    PASSWORD_ENV,
    PASSWORD_FILE_ENV,
    USER_ENV,
    StoreURLError,
    is_store_url,
    parse_store_url,
)


def test_a_plain_path_is_a_duckdb_file() -> None:
    url = parse_store_url("var/kukulkan/liveobs.duckdb", environ={})
    assert (url.kind, url.engine, url.path) == ("duckdb", "duckdb", "var/kukulkan/liveobs.duckdb")
    assert not is_store_url("var/kukulkan/liveobs.duckdb")


def test_chdb_folder_with_and_without_database() -> None:
    url = parse_store_url("chdb:///var/lib/liveobs/ch?database=telemetry", environ={})
    assert (url.kind, url.engine, url.path, url.database) == ("chdb", "clickhouse", "/var/lib/liveobs/ch", "telemetry")
    assert parse_store_url("chdb:///srv/ch", environ={}).database == "otel"


def test_server_url_database_is_the_path_and_defaults_to_otel() -> None:
    url = parse_store_url("clickhouse://reader@ch.internal:8123/observability", environ={})
    assert (url.kind, url.host, url.port, url.user, url.database, url.secure) == (
        "clickhouse", "ch.internal", 8123, "reader", "observability", False)
    assert parse_store_url("clickhouse://ch.internal", environ={}).database == "otel"
    assert parse_store_url("clickhouse://ch.internal", environ={}).port == 8123


def test_clickhouses_is_tls_on_8443_with_verification_by_default() -> None:
    url = parse_store_url("clickhouses://reader@ch.example.com/otel?ca_cert=/etc/ssl/ca.pem", environ={})
    assert (url.secure, url.port, url.verify, url.ca_cert) == (True, 8443, True, "/etc/ssl/ca.pem")
    assert parse_store_url("clickhouses://h/otel?verify=false", environ={}).verify is False
    assert url.redacted() == "clickhouses://reader@ch.example.com:8443/otel"


@pytest.mark.parametrize(
    "text",
    [
        "clickhouse://reader:hunter2@ch.internal:8123/otel",
        "clickhouses://reader:@ch.internal/otel",
        "clickhouse://ch.internal/otel?password=hunter2",
    ],
)
def test_a_url_carrying_a_password_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(StoreURLError, match=PASSWORD_FILE_ENV) as caught:
        parse_store_url(text, environ={})
    assert "hunter2" not in str(caught.value)
    assert "must not carry a password" in str(caught.value)


def test_password_comes_from_a_file_or_the_environment(tmp_path: Path) -> None:
    secret = tmp_path / "ch-password"
    secret.write_text("s3cret-from-file\n", encoding="utf-8")
    url = parse_store_url("clickhouse://reader@h/otel", environ={PASSWORD_FILE_ENV: str(secret), PASSWORD_ENV: "other"})
    assert url.password == "s3cret-from-file"
    assert "s3cret" not in repr(url)
    assert "s3cret" not in url.redacted()
    assert parse_store_url("clickhouse://reader@h/otel", environ={PASSWORD_ENV: "from-env"}).password == "from-env"
    assert parse_store_url("clickhouse://h/otel", environ={USER_ENV: "svc"}).user == "svc"


def test_an_unreadable_password_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreURLError, match="cannot read the password file"):
        parse_store_url("clickhouse://h/otel", environ={PASSWORD_FILE_ENV: str(tmp_path / "absent")})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chdb://relative/folder", "three slashes"),
        ("chdb://", "three slashes|name the data folder"),
        ("clickhouse:///otel", "name the server"),
        ("clickhouse://h:99999/otel", "port"),
        ("clickhouse://h/otel/extra", "database name alone"),
        ("clickhouse://h/otel?ca_cert=/x", "use clickhouses://"),
        ("clickhouse://h/otel?compress=lz4", "unknown option 'compress'"),
        ("clickhouse://h/ot;el", "letters, digits"),
        ("postgres://h/otel", "unknown store scheme"),
    ],
)
def test_bad_urls_get_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(StoreURLError, match=message):
        parse_store_url(text, environ={})
