"""Opening chdb stores for the tests, with the exporter's tables in either layout."""

from __future__ import annotations

from pathlib import Path

from liveobs.correlator.stores import Store
from liveobs.correlator.stores._exporter import ExporterLayout, MetricTime, exporter_ddl


def chdb_url(folder: Path, database: str = "otel") -> str:
    return f"chdb://{folder}?database={database}"


def create_exporter_tables(
    store: Store, *, layout: ExporterLayout = "current", metric_time: MetricTime = "DateTime64(9)"
) -> None:
    for statement in exporter_ddl(store.database, layout=layout, metric_time=metric_time):
        store.execute(statement)
    store.refresh_layout()
