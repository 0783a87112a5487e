"""Traffic evidence of the test releases: spans as the SDK exports them, with the release attributes on the resource."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from gate_seed import Evidence, _map

from liveobs.conventions import evidence as ev
from liveobs.conventions import keys

START = datetime(2026, 5, 1, 12, 0, 0)


def process_attributes(root: Path, version: str, unit: str = "relapp-api") -> dict[str, str]:
    """What the SDK reports for a process started from ``root/releases/version``."""
    release = root / "releases" / version
    wheel = next((release / "artifacts").glob("*.whl"))
    return {keys.RELEASE_DIGEST: "sha256:" + hashlib.sha256(wheel.read_bytes()).hexdigest(),
            keys.RELEASE_DIR: str(release.resolve()), keys.RELEASE_SOURCE: keys.RELEASE_SOURCE_RELEASE,
            keys.RELEASE_UNIT: unit}


@dataclass
class ReleaseEvidence(Evidence):
    """Evidence whose spans carry each release's process attributes on the resource."""

    process: dict[str, dict[str, str]] = field(default_factory=dict)

    def resource(self, release: str | None, environment: str | None = None) -> list[tuple[str, str]]:
        return super().resource(release, environment) + _map(self.process.get(release or "", {}))


def serve(e: Evidence, version: str, start: datetime, minutes: int = 70, requests: int = 120,
          routes: tuple[str, ...] = ("/board",), events: tuple[str, ...] = ("move",)) -> None:
    """Signed-in traffic: GET of each route and each live event, spread over ``minutes``."""
    step = timedelta(minutes=minutes) / requests
    for i in range(requests):
        at = start + step * i
        for route in routes:
            e.span(version, at, {keys.HTTP_REQUEST_METHOD: "GET", keys.HTTP_ROUTE: route, keys.SESSION_ID: "s-1",
                                 keys.REQUEST_ID: f"r-{version}-{route}-{i}", keys.HTTP_RESPONSE_STATUS_CODE: 200},
                   name=f"GET {route}")
        if i % 10 == 0:
            for name in events:
                e.span(version, at, {keys.EVENT_NAME: name, keys.EVENT_ID: f"e-{version}-{name}-{i}",
                                     keys.SESSION_ID: "s-1", keys.CONNECTION_ID: "c-1"}, name=f"live {name}")


def anonymous(e: Evidence, version: str, at: datetime, route: str, status: int) -> None:
    e.span(version, at, {keys.HTTP_REQUEST_METHOD: "GET", keys.HTTP_ROUTE: route, keys.REQUEST_ID: f"anon-{route}",
                         keys.HTTP_RESPONSE_STATUS_CODE: status}, name=f"GET {route}")


def denial(e: Evidence, version: str, at: datetime, *, scope: str | None = None, capability: str | None = None) -> None:
    if scope is not None:
        e.security(version, at, ev.CHECK_SCOPE, ev.OUTCOME_DENIED, **{ev.SCOPE_REQUIRED: scope,
                                                                     ev.SCOPE_GRANTED: "board:read"})
    if capability is not None:
        e.security(version, at, ev.CHECK_CAPABILITY, ev.OUTCOME_DENIED, **{ev.CAPABILITY_NAME: capability})


def write(db: Path, e: Evidence) -> None:
    from liveobs.correlator._db import connect

    con = connect(db)
    try:
        e.write(con)
    finally:
        con.close()


def query(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
