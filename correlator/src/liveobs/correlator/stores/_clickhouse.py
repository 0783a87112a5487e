"""ClickHouse behind the :class:`Store` interface: a server over HTTP(S), or chdb embedded.

Both go through clickhouse-connect's one client API (``interface="chdb"`` for the
embedded engine), so every statement takes the same path. clickhouse-connect and
chdb are the optional ``liveobs-correlator[clickhouse]`` extra, imported only here
and only when a ClickHouse URL is opened. chdb runs one data folder per process.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from liveobs.correlator.stores._base import Params, Rows, Store, StoreOpenError, StoreQueryError
from liveobs.correlator.stores._layout import Layout, build_layout
from liveobs.correlator.stores._url import StoreURL

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

EXTRA_HINT: Final = "ClickHouse stores need the extra: pip install 'liveobs-correlator[clickhouse]'"
CONNECT_TIMEOUT_S: Final = 10
QUERY_TIMEOUT_S: Final = 300

# shape: (table, engine, sorting key)
_TABLES: Final = "SELECT name, engine, sorting_key FROM system.tables WHERE database = {database:String}"
# shape: (table, column, type) in column order; Nested columns appear flattened (Events.Name …)
_COLUMNS: Final = """
SELECT table, name, type FROM system.columns WHERE database = {database:String} ORDER BY table, position
"""
_HAS_DATABASE: Final = "SELECT count() FROM system.databases WHERE name = {database:String}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class ClickHouseStore(Store):
    """A ClickHouse database; ``client`` is the clickhouse-connect client (for bulk inserts)."""

    engine = "clickhouse"

    def __init__(self, client: Client, url: StoreURL) -> None:
        super().__init__()
        self.client = client
        self.url = url

    def query(self, sql: str, params: Params = None) -> Rows:
        from clickhouse_connect.driver.exceptions import ClickHouseError

        try:
            result = self.client.query(sql, parameters=_mapping(params))
        except ClickHouseError as exc:
            raise StoreQueryError(_first_line(exc)) from exc
        return Rows(result.column_names, (tuple(row) for row in result.result_rows))

    def execute(self, sql: str, params: Params = None) -> None:
        from clickhouse_connect.driver.exceptions import ClickHouseError

        try:
            self.client.command(sql, parameters=_mapping(params))
        except ClickHouseError as exc:
            raise StoreQueryError(_first_line(exc)) from exc

    def insert(self, table: str, rows: list[list[Any]], columns: list[str]) -> None:
        """Insert rows column-named into ``table`` of this database (the Collector's way: one batch)."""
        from clickhouse_connect.driver.exceptions import ClickHouseError

        try:
            self.client.insert(table, rows, column_names=columns, database=self.url.database)
        except ClickHouseError as exc:
            raise StoreQueryError(_first_line(exc)) from exc

    def close(self) -> None:
        self.client.close()

    def _inspect(self) -> Layout:
        params = {"database": self.url.database}
        tables = [(str(a), str(b), str(c)) for a, b, c in self.client.query(_TABLES, parameters=params).result_rows]
        columns = [(str(a), str(b), str(c)) for a, b, c in self.client.query(_COLUMNS, parameters=params).result_rows]
        return build_layout("clickhouse", self.url.database, tables, columns)


def _mapping(params: Params) -> dict[str, Any] | None:
    if params is None:
        return None
    if isinstance(params, dict):
        return params
    if hasattr(params, "items"):
        return dict(params)
    raise StoreQueryError("ClickHouse statements take named parameters ({name:Type}) given as a mapping")


def _get_client(**options: Any) -> Client:
    try:
        from clickhouse_connect import get_client
    except ImportError as exc:
        raise StoreOpenError(EXTRA_HINT) from exc
    return get_client(**options)


def _open_chdb(url: StoreURL, create: bool) -> Client:
    from clickhouse_connect.driver.exceptions import ClickHouseError

    folder = Path(url.path)
    if not create and not folder.is_dir():
        raise StoreOpenError(f"no chdb data folder at {folder}", missing=True)
    if create:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        client = _get_client(interface="chdb", path=str(folder))
    except ImportError as exc:
        raise StoreOpenError(EXTRA_HINT) from exc
    except ClickHouseError as exc:
        raise StoreOpenError(f"cannot open the chdb folder {folder}: {_first_line(exc)} (chdb opens one data "
                             "folder per process; another one may be open here, or another process holds it)") from exc
    try:
        _ensure_database(client, url, create)
    except BaseException:
        client.close()
        raise
    client.database = url.database
    return client


def _open_server(url: StoreURL) -> Client:
    options: dict[str, Any] = {}
    if url.secure:
        options["verify"] = url.verify
        if url.ca_cert:
            options["ca_cert"] = url.ca_cert
    from clickhouse_connect.driver.exceptions import ClickHouseError

    try:
        client = _get_client(
            host=url.host, port=url.port, username=url.user or None, password=url.password,
            secure=url.secure, interface="https" if url.secure else "http",
            connect_timeout=CONNECT_TIMEOUT_S, send_receive_timeout=QUERY_TIMEOUT_S, **options,
        )
    except ClickHouseError as exc:
        raise StoreOpenError(f"cannot reach ClickHouse at {url.redacted()}: {_first_line(exc)}") from exc
    try:
        _ensure_database(client, url, create=False)
    except BaseException:
        client.close()
        raise
    client.database = url.database
    return client


def _ensure_database(client: Client, url: StoreURL, create: bool) -> None:
    from clickhouse_connect.driver.exceptions import ClickHouseError

    try:
        if create and url.kind == "chdb":
            client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(url.database)}")
        found = client.query(_HAS_DATABASE, parameters={"database": url.database}).result_rows[0][0]
    except ClickHouseError as exc:
        raise StoreOpenError(f"cannot read {url.redacted()}: {_first_line(exc)}") from exc
    if not found:
        raise StoreOpenError(
            f"no database {url.database!r} at {url.redacted()} (the Collector's exporter creates it; "
            "name another with the URL's path or ?database=)", missing=True,
        )


def quote_identifier(name: str) -> str:
    """A ClickHouse identifier in backquotes (the one way this package splices a name into SQL)."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def open_clickhouse(url: StoreURL, *, create: bool = False) -> ClickHouseStore:
    """Open a chdb folder (``create`` makes the folder and database) or a server's database."""
    client = _open_chdb(url, create) if url.kind == "chdb" else _open_server(url)
    return ClickHouseStore(client, url)
