"""The changed surface of a release against its rollback target, and the gates it selects (``liveobs check changed``).

Two sources: the recorded facts (``liveobs_release_changes``: routes, live events,
scopes, capabilities and migrations added, removed or changed; the schema version),
and the traffic evidence (routes and live events the release served that its
rollback target never did, declared or not). Each selected gate comes with the
reason it was selected; the deploy checks of the release are always selected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import duckdb

from liveobs.conventions import keys
from liveobs.correlator._readapi import ReadRequestError, read_handler

ALWAYS: Final = ("deploy.*",)
_CHANGES: Final = """
SELECT Kind, Name, Method, Change, Auth, RollbackAuth, Scope, RollbackScope, RollbackVersion, RollbackRecorded,
       Capability, RollbackCapability
FROM liveobs_release_changes WHERE ServiceName = ? AND Version = ? ORDER BY Kind, Name, Method
"""
_SCHEMA: Final = """
SELECT m.RollbackVersion, m.SchemaVersion, r.SchemaVersion FROM liveobs_release_manifests m
LEFT JOIN liveobs_release_manifests r ON r.ServiceName = m.ServiceName AND r.Version = m.RollbackVersion
WHERE m.ServiceName = ? AND m.Version = ?
"""
# What each release served: (version, kind, name) for HTTP routes ("GET /board") and live events.
_SERVED: Final = """
SELECT DISTINCT ResourceAttributes[?] AS version,
       CASE WHEN SpanAttributes[?] IS NOT NULL THEN 'live event' ELSE 'route' END AS kind,
       coalesce(SpanAttributes[?], SpanAttributes[?] || ' ' || SpanAttributes[?]) AS name
FROM otel_traces
WHERE ServiceName = ? AND ResourceAttributes[?] IN (?, ?)
  AND (SpanAttributes[?] IS NOT NULL OR (SpanKind = 'Server' AND SpanAttributes[?] IS NOT NULL))
"""


@dataclass(frozen=True, slots=True)
class Selected:
    """One gate the changed surface selects: a name, the check patterns it runs, why."""

    gate: str
    checks: tuple[str, ...]
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "checks": list(self.checks), "why": self.why}


def _label(kind: str, name: str, method: str | None) -> str:
    return {"route": f"{method} {name}", "live_event": f"live event {name}"}.get(kind, f"{kind} {name}")


def select_changed(con: duckdb.DuckDBPyConnection, service: str, release: str) -> list[Selected]:
    """The gates the changed surface of ``service`` ``release`` selects, each with its reason."""
    schema = con.execute(_SCHEMA, [service, release]).fetchone()
    if schema is None:
        raise ReadRequestError(f"release {release} of {service} is not recorded: run liveobs release record ROOT "
                               f"--version {release}")
    rollback, version_now, version_before = schema
    rows = con.execute(_CHANGES, [service, release]).fetchall()
    if rows and not rows[0][9]:
        raise ReadRequestError(f"the rollback target {rollback} is not recorded: run liveobs release record ROOT "
                               f"--version {rollback}")
    endpoints = [f"{_label(k, n, m)} {c}" for k, n, m, c, *_ in rows if k in ("route", "live_event")]
    auth = [f"{m} {n} ({c}, auth {a})" for k, n, m, c, a, ra, *_ in rows
            if k == "route" and c != "removed" and a != "public" and (c == "added" or a != ra)]
    scoped = [f"{_label(k, n, m)} {c}" for k, n, m, c, *_ in rows if k in ("scope", "capability")]
    scoped += [f"live event {r[1]} scope {r[7]} -> {r[6]}" for r in rows
               if r[0] == "live_event" and r[3] == "changed" and r[6] != r[7]]
    scoped += [f"live event {r[1]} capability {r[11]} -> {r[10]}" for r in rows
               if r[0] == "live_event" and r[3] == "changed" and r[10] != r[11]]
    persistence = [f"migration {n} {c}" for k, n, m, c, *_ in rows if k == "migration"]
    if version_now != version_before:
        persistence.append(f"schema version {version_before} -> {version_now}")
    declared = {_label(k, n, m) for k, n, m, *_ in rows}
    unseen = [u for u in _served_only_now(con, service, release, rollback) if u not in declared]
    selected = [Selected("deploy", ALWAYS, "every release: layout, units, artifact, dry run, rollback, notes, "
                                           "security incidents")]
    if endpoints or unseen:
        selected.append(Selected("endpoint", ("deploy.surface_endpoint",),
                                 _why(endpoints, "declared") + _why(unseen, "served only by this release, not declared")))
    if auth:
        selected.append(Selected("auth", ("deploy.surface_auth",), _why(auth, "new or changed auth")))
    if scoped:
        selected.append(Selected("scope", ("deploy.surface_scope", "security.scope", "security.capability"),
                                 _why(scoped, "scopes and capabilities")))
    if auth or scoped or unseen or any("added" in e for e in endpoints):
        selected.append(Selected("security", ("security.*",),
                                 _why([e for e in endpoints if e.endswith(" added")] + unseen
                                      + [a for a in auth if "(added" not in a] + scoped, "new attack surface")))
    if endpoints or unseen or persistence:
        selected.append(Selected("performance", ("performance.*",),
                                 _why(endpoints + unseen + persistence, "new or changed work per request")))
    if persistence:
        selected.append(Selected("persistence", ("deploy.surface_persistence",), _why(persistence, "persistence")))
    return selected


def _why(items: list[str], what: str) -> str:
    return f"{what}: {', '.join(items)}; " if items else ""


def _served_only_now(con: duckdb.DuckDBPyConnection, service: str, release: str, rollback: str) -> list[str]:
    rows = con.execute(_SERVED, [keys.SERVICE_VERSION, keys.EVENT_NAME, keys.EVENT_NAME, keys.HTTP_REQUEST_METHOD,
                                 keys.HTTP_ROUTE, service, keys.SERVICE_VERSION, release, rollback, keys.EVENT_NAME,
                                 keys.HTTP_ROUTE]).fetchall()
    before = {(k, n) for v, k, n in rows if v == rollback}
    return sorted(f"{k} {n}" if k == "live event" else str(n) for v, k, n in rows
                  if v == release and (k, n) not in before)


@read_handler("release_changed")
def changed_handler(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> list[dict[str, Any]]:
    """``{"service", "release"}`` -> the selected gates with their checks and reasons."""
    service, release = params.get("service"), params.get("release")
    if not isinstance(service, str) or not isinstance(release, str):
        raise ReadRequestError("release_changed needs service and release (strings)")
    return [s.to_dict() for s in select_changed(con, service, release)]
