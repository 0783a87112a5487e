"""The store's schema: numbered migrations, recorded in the store itself.

Tables mirror the OpenTelemetry Collector's ClickHouse exporter (same table and
PascalCase column names) with ClickHouse types mapped to DuckDB's: ``Map`` →
``MAP(VARCHAR, VARCHAR)``, ``Nested`` → a struct of lists (so ``Events.Name``
reads the same on both), ``DateTime64(9)`` → ``TIMESTAMP_NS``. The ``liveobs_*``
tables hold what the exporter schema lacks.

A migration is applied once, in its own transaction, and recorded in
``liveobs_migrations``; re-applying is a no-op. Append new migrations to
:data:`MIGRATIONS` with the next number; never edit one that has shipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import duckdb

_MAP: Final = "MAP(VARCHAR, VARCHAR)"

_METRIC_COMMON: Final = f"""
    ResourceAttributes {_MAP},
    ResourceSchemaUrl VARCHAR,
    ScopeName VARCHAR,
    ScopeVersion VARCHAR,
    ScopeAttributes {_MAP},
    ScopeDroppedAttrCount UINTEGER,
    ScopeSchemaUrl VARCHAR,
    ServiceName VARCHAR,
    MetricName VARCHAR,
    MetricDescription VARCHAR,
    MetricUnit VARCHAR,
    Attributes {_MAP},
    StartTimeUnix TIMESTAMP_NS,
    TimeUnix TIMESTAMP_NS,
    Flags UINTEGER,
    Exemplars STRUCT(
        FilteredAttributes {_MAP}[],
        TimeUnix TIMESTAMP_NS[],
        "Value" DOUBLE[],
        SpanId VARCHAR[],
        TraceId VARCHAR[]
    )"""

_V1_EXPORTER_TABLES: Final = f"""
CREATE TABLE otel_traces (
    "Timestamp" TIMESTAMP_NS NOT NULL,
    TraceId VARCHAR NOT NULL,
    SpanId VARCHAR NOT NULL,
    ParentSpanId VARCHAR NOT NULL,
    TraceState VARCHAR,
    SpanName VARCHAR,
    SpanKind VARCHAR,
    ServiceName VARCHAR,
    ResourceAttributes {_MAP},
    ScopeName VARCHAR,
    ScopeVersion VARCHAR,
    SpanAttributes {_MAP},
    Duration UBIGINT,
    StatusCode VARCHAR,
    StatusMessage VARCHAR,
    Events STRUCT("Timestamp" TIMESTAMP_NS[], "Name" VARCHAR[], Attributes {_MAP}[]),
    Links STRUCT(TraceId VARCHAR[], SpanId VARCHAR[], TraceState VARCHAR[], Attributes {_MAP}[])
);
CREATE TABLE otel_traces_trace_id_ts (
    TraceId VARCHAR PRIMARY KEY,
    "Start" TIMESTAMP_NS NOT NULL,
    "End" TIMESTAMP_NS NOT NULL
);
CREATE TABLE otel_logs (
    "Timestamp" TIMESTAMP_NS NOT NULL,
    TraceId VARCHAR,
    SpanId VARCHAR,
    TraceFlags UTINYINT,
    SeverityText VARCHAR,
    SeverityNumber UTINYINT,
    ServiceName VARCHAR,
    Body VARCHAR,
    ResourceSchemaUrl VARCHAR,
    ResourceAttributes {_MAP},
    ScopeSchemaUrl VARCHAR,
    ScopeName VARCHAR,
    ScopeVersion VARCHAR,
    ScopeAttributes {_MAP},
    LogAttributes {_MAP},
    EventName VARCHAR
);
CREATE TABLE otel_metrics_gauge ({_METRIC_COMMON},
    "Value" DOUBLE
);
CREATE TABLE otel_metrics_sum ({_METRIC_COMMON},
    "Value" DOUBLE,
    AggregationTemporality INTEGER,
    IsMonotonic BOOLEAN
);
CREATE TABLE otel_metrics_histogram ({_METRIC_COMMON},
    "Count" UBIGINT,
    "Sum" DOUBLE,
    BucketCounts UBIGINT[],
    ExplicitBounds DOUBLE[],
    "Min" DOUBLE,
    "Max" DOUBLE,
    AggregationTemporality INTEGER
);
CREATE TABLE otel_metrics_exp_histogram ({_METRIC_COMMON},
    "Count" UBIGINT,
    "Sum" DOUBLE,
    Scale INTEGER,
    ZeroCount UBIGINT,
    PositiveOffset INTEGER,
    PositiveBucketCounts UBIGINT[],
    NegativeOffset INTEGER,
    NegativeBucketCounts UBIGINT[],
    "Min" DOUBLE,
    "Max" DOUBLE,
    AggregationTemporality INTEGER
);
CREATE TABLE otel_metrics_summary ({_METRIC_COMMON},
    "Count" UBIGINT,
    "Sum" DOUBLE,
    ValueAtQuantiles STRUCT(Quantile DOUBLE[], "Value" DOUBLE[])
);
"""

# One row per span or log record that carries at least one liveobs id, so that a
# lookup by id never scans attribute maps. Signal is 'span' or 'log'.
_V1_LIVEOBS_TABLES: Final = """
CREATE TABLE liveobs_correlation (
    "Timestamp" TIMESTAMP_NS NOT NULL,
    Signal VARCHAR NOT NULL,
    ServiceName VARCHAR,
    ServiceVersion VARCHAR,
    TraceId VARCHAR,
    SpanId VARCHAR,
    EventId VARCHAR,
    SessionId VARCHAR,
    RequestId VARCHAR,
    RouteId VARCHAR,
    ConnectionId VARCHAR,
    EventName VARCHAR,
    ErrorType VARCHAR
);
CREATE TABLE liveobs_errors (
    "Timestamp" TIMESTAMP_NS NOT NULL,
    Source VARCHAR NOT NULL,
    ServiceName VARCHAR,
    ServiceVersion VARCHAR,
    Environment VARCHAR,
    ErrorType VARCHAR NOT NULL,
    Fingerprint VARCHAR NOT NULL,
    Message VARCHAR,
    TraceId VARCHAR,
    SpanId VARCHAR,
    EventId VARCHAR,
    SessionId VARCHAR,
    RequestId VARCHAR,
    RouteId VARCHAR
);
"""


# Idempotent ingest: one row per ingested chunk of a source (a file's content
# hash and chunk number), written in the same transaction as the chunk's rows.
_V2_INGEST_LEDGER: Final = """
CREATE TABLE liveobs_ingest_ledger (
    SourceKey VARCHAR PRIMARY KEY,
    Source VARCHAR,
    "Rows" BIGINT NOT NULL,
    IngestedAt TIMESTAMP NOT NULL DEFAULT current_timestamp
);
"""


# ART indexes for the two ids an operator pastes. Measured at 1M correlation rows:
# lookup by EventId 19 ms scanning the column, 0.5 ms with the index, for an
# insert cost of about 0.45 µs per row per index.
_V3_ID_INDEXES: Final = """
CREATE INDEX liveobs_correlation_event_id ON liveobs_correlation (EventId);
CREATE INDEX liveobs_correlation_request_id ON liveobs_correlation (RequestId);
"""


# Each ART index also costs about 48 bytes per span of store (133 → 182 bytes per
# span with one); the request id is looked up less often than the event id, so
# its lookups scan the column.
_V4_DROP_REQUEST_ID_INDEX: Final = """
DROP INDEX liveobs_correlation_request_id;
"""

# How far into the collector's spool (see _spool) the store has committed: one
# row, updated in the same transaction as the rows it covers.
_V5_SPOOL_POSITION: Final = """
CREATE TABLE liveobs_spool (
    Id INTEGER PRIMARY KEY,
    Segment BIGINT NOT NULL,
    "Offset" BIGINT NOT NULL
);
INSERT INTO liveobs_spool VALUES (1, 0, 0);
"""


# Idempotent OTLP ingest (see _dedup): the digest of each request stored recently, written in the
# same transaction as its rows and expired after a window.
_V6_REQUEST_DIGESTS: Final = """
CREATE TABLE liveobs_request_digests (
    Digest BLOB NOT NULL,
    ReceivedAt DOUBLE NOT NULL  -- epoch seconds
);
"""


# Gate runs as evidence (see gates/_runlog): one row per ``liveobs check`` run and one per
# check it judged. Retention never trims them: they are the release's audit trail.
_V7_GATE_RUNS: Final = """
CREATE TABLE liveobs_gate_runs (
    RunId VARCHAR PRIMARY KEY,
    RanAt TIMESTAMP NOT NULL,  -- UTC
    Selection VARCHAR NOT NULL,
    Status VARCHAR NOT NULL,
    ExitCode INTEGER NOT NULL,
    ServiceName VARCHAR,
    Environment VARCHAR,
    Release VARCHAR,
    Baseline VARCHAR,
    WindowStart TIMESTAMP,
    WindowEnd TIMESTAMP,
    Generator VARCHAR NOT NULL,
    Seconds DOUBLE
);
CREATE TABLE liveobs_gate_results (
    RunId VARCHAR NOT NULL,
    Position INTEGER NOT NULL,
    CheckId VARCHAR NOT NULL,
    Gate VARCHAR NOT NULL,
    Status VARCHAR NOT NULL,
    Required BOOLEAN NOT NULL,
    Reason VARCHAR,
    Observed DOUBLE,
    Threshold VARCHAR,
    Evidence BIGINT NOT NULL
);
"""


# Releases as evidence (see releases/): the facts ``liveobs release record`` reads from a deploy
# root, and what ``liveobs release dry-run`` heard from the release's units on side ports.
_V8_RELEASES: Final = f"""
CREATE TABLE liveobs_release_manifests (
    ServiceName VARCHAR NOT NULL,
    Version VARCHAR NOT NULL,
    Environment VARCHAR NOT NULL,
    RollbackVersion VARCHAR NOT NULL,
    Reversible BOOLEAN NOT NULL,
    Digest VARCHAR,  -- sha256:<hex> of the first artifact, computed
    Directory VARCHAR NOT NULL,
    DeployRoot VARCHAR NOT NULL,
    CurrentVersion VARCHAR,  -- where `current` pointed when recorded
    SchemaVersion INTEGER,
    NotesEntry VARCHAR,
    RollbackDirectory VARCHAR,  -- NULL: the rollback target had no release directory
    RollbackDigest VARCHAR,
    Problems VARCHAR[] NOT NULL,
    SecurityErrorClasses VARCHAR[] NOT NULL,
    SecurityRoutes VARCHAR[] NOT NULL,
    RecordedAt TIMESTAMP NOT NULL,  -- UTC
    PRIMARY KEY (ServiceName, Version)
);
CREATE TABLE liveobs_release_artifacts (
    ServiceName VARCHAR NOT NULL,
    Version VARCHAR NOT NULL,
    Position INTEGER NOT NULL,
    Path VARCHAR NOT NULL,
    DeclaredSha256 VARCHAR NOT NULL,
    Sha256 VARCHAR  -- NULL: the file is missing
);
CREATE TABLE liveobs_release_units (
    ServiceName VARCHAR NOT NULL,
    Version VARCHAR NOT NULL,
    Unit VARCHAR NOT NULL,
    File VARCHAR NOT NULL,
    ExecStart VARCHAR NOT NULL,
    Program VARCHAR NOT NULL,
    Environment {_MAP},
    Readiness VARCHAR[] NOT NULL,
    PortEnv VARCHAR NOT NULL,
    Problems VARCHAR[] NOT NULL
);
CREATE TABLE liveobs_release_surface (
    ServiceName VARCHAR NOT NULL,
    Version VARCHAR NOT NULL,
    Kind VARCHAR NOT NULL,  -- route | live_event | scope | capability | migration
    Name VARCHAR NOT NULL,  -- the route's path, the event's, scope's, capability's name, the migration's path
    Method VARCHAR,
    Route VARCHAR,
    Auth VARCHAR,
    Scope VARCHAR,
    Capability VARCHAR,  -- a live event's capability
    Doc VARCHAR
);
CREATE TABLE liveobs_release_docs (
    ServiceName VARCHAR NOT NULL,
    Version VARCHAR NOT NULL,
    Path VARCHAR NOT NULL,
    Sha256 VARCHAR NOT NULL
);
CREATE TABLE liveobs_release_dryruns (
    RunId VARCHAR NOT NULL,
    RanAt TIMESTAMP NOT NULL,  -- UTC
    ServiceName VARCHAR NOT NULL,
    Version VARCHAR NOT NULL,
    Kind VARCHAR NOT NULL,  -- readiness | persistence
    Unit VARCHAR NOT NULL,
    Path VARCHAR NOT NULL,
    Port INTEGER,
    HttpStatus INTEGER,
    HealthStatus VARCHAR,
    ReportedVersion VARCHAR,
    ReportedDigest VARCHAR,
    ReportedSource VARCHAR,
    ReportedDirectory VARCHAR,
    Problem VARCHAR  -- NULL: the probe answered as it should
);
-- What changed between each recorded release and its rollback target: one row per route, live event,
-- scope, capability or migration added, removed or changed (method, auth, scope or route).
-- RollbackRecorded is false when the target's facts are not in the store (then every item reads as added).
CREATE VIEW liveobs_release_changes AS
WITH pairs AS (
    SELECT m.ServiceName, m.Version, m.RollbackVersion,
           EXISTS (SELECT 1 FROM liveobs_release_manifests r
                   WHERE r.ServiceName = m.ServiceName AND r.Version = m.RollbackVersion) AS RollbackRecorded
    FROM liveobs_release_manifests m
), cur AS (
    SELECT p.ServiceName, p.Version, s.Kind, s.Name, s.Method, s.Route, s.Auth, s.Scope, s.Capability, s.Doc
    FROM pairs p JOIN liveobs_release_surface s ON s.ServiceName = p.ServiceName AND s.Version = p.Version
), old AS (
    SELECT p.ServiceName, p.Version, s.Kind, s.Name, s.Method, s.Route, s.Auth, s.Scope, s.Capability, s.Doc
    FROM pairs p JOIN liveobs_release_surface s ON s.ServiceName = p.ServiceName AND s.Version = p.RollbackVersion
), joined AS (
    SELECT coalesce(c.ServiceName, o.ServiceName) AS ServiceName, coalesce(c.Version, o.Version) AS Version,
           coalesce(c.Kind, o.Kind) AS Kind, coalesce(c.Name, o.Name) AS Name, coalesce(c.Method, o.Method) AS Method,
           CASE WHEN o.Name IS NULL THEN 'added' WHEN c.Name IS NULL THEN 'removed' ELSE 'changed' END AS Change,
           coalesce(c.Route, o.Route) AS Route, coalesce(c.Auth, o.Auth) AS Auth, coalesce(c.Scope, o.Scope) AS Scope,
           coalesce(c.Capability, o.Capability) AS Capability, c.Doc AS Doc, o.Auth AS RollbackAuth,
           o.Scope AS RollbackScope, o.Capability AS RollbackCapability, o.Route AS RollbackRoute
    FROM cur c FULL JOIN old o
      ON c.ServiceName = o.ServiceName AND c.Version = o.Version AND c.Kind = o.Kind AND c.Name = o.Name
     AND c.Method IS NOT DISTINCT FROM o.Method
    WHERE o.Name IS NULL OR c.Name IS NULL
       OR c.Auth IS DISTINCT FROM o.Auth OR c.Scope IS DISTINCT FROM o.Scope OR c.Route IS DISTINCT FROM o.Route
       OR c.Capability IS DISTINCT FROM o.Capability
)
SELECT j.*, p.RollbackVersion, p.RollbackRecorded
FROM joined j JOIN pairs p ON p.ServiceName = j.ServiceName AND p.Version = j.Version;
"""


# What outlives retention (see _rollups): per release, its first and last span and the requests it served;
# the baseline samples of the regression checks (the spans, browser actions and memory points with the
# smallest key hash, as those checks sample them; the connect and patch histograms merged); the stack
# trace of each incident's newest failing span.
_V9_KEPT_EVIDENCE: Final = f"""
CREATE TABLE liveobs_releases (
    ServiceName VARCHAR,
    Environment VARCHAR,
    Release VARCHAR NOT NULL,
    FirstSeen TIMESTAMP_NS NOT NULL,
    LastSeen TIMESTAMP_NS NOT NULL,
    Spans BIGINT NOT NULL,
    Requests BIGINT NOT NULL,  -- server spans, not probe or driven traffic
    FirstRequest TIMESTAMP_NS,
    LastRequest TIMESTAMP_NS
);
CREATE TABLE liveobs_kept_spans (
    ServiceName VARCHAR,
    Environment VARCHAR,
    Release VARCHAR NOT NULL,
    "Timestamp" TIMESTAMP_NS NOT NULL,
    SpanId VARCHAR NOT NULL,
    Duration UBIGINT,
    LiveEventName VARCHAR,
    HttpMethod VARCHAR,
    Html BOOLEAN NOT NULL
);
CREATE TABLE liveobs_kept_actions (
    ServiceName VARCHAR,
    Environment VARCHAR,
    Release VARCHAR NOT NULL,
    "Timestamp" TIMESTAMP_NS NOT NULL,
    EventId VARCHAR,
    EventName VARCHAR,
    BrowserLatencyMs DOUBLE
);
CREATE TABLE liveobs_kept_histograms (
    ServiceName VARCHAR,
    Environment VARCHAR,
    Release VARCHAR NOT NULL,
    MetricName VARCHAR NOT NULL,
    Attributes {_MAP},
    StartTimeUnix TIMESTAMP_NS,
    TimeUnix TIMESTAMP_NS NOT NULL,
    "Count" UBIGINT,
    BucketCounts UBIGINT[],
    ExplicitBounds DOUBLE[],
    "Max" DOUBLE,
    AggregationTemporality INTEGER
);
CREATE TABLE liveobs_kept_process (
    ServiceName VARCHAR,
    Environment VARCHAR,
    Release VARCHAR NOT NULL,
    MetricName VARCHAR NOT NULL,
    ResourceAttributes {_MAP},
    Attributes {_MAP},
    StartTimeUnix TIMESTAMP_NS,
    TimeUnix TIMESTAMP_NS NOT NULL,
    "Value" DOUBLE,
    AggregationTemporality INTEGER
);
CREATE TABLE liveobs_kept_stacks (
    TraceId VARCHAR NOT NULL,
    SpanId VARCHAR NOT NULL,
    "Timestamp" TIMESTAMP_NS NOT NULL,
    StackTrace VARCHAR NOT NULL
);
"""


# The gates' secret scan, kept per scope (service, release, environment as the gate binds them) so a
# repeat run scans only the rows added since (see gates/_secretcache): the candidates found in the rows
# below each table's mark, and the mark with the row count it was taken at, which shows the marks still
# hold (retention forgets both when it deletes rows). Rules is a digest of the scan's rules and SQL.
_V10_SECRET_SCANS: Final = """
CREATE TABLE liveobs_secret_scans (
    ServiceName VARCHAR,
    Release VARCHAR NOT NULL,
    Environment VARCHAR,
    Rules VARCHAR NOT NULL,
    SpanMark BIGINT NOT NULL,
    SpanCount BIGINT NOT NULL,
    LogMark BIGINT NOT NULL,
    LogCount BIGINT NOT NULL,
    ScannedAt TIMESTAMP NOT NULL
);
CREATE TABLE liveobs_secret_candidates (
    ServiceName VARCHAR,
    Release VARCHAR NOT NULL,
    Environment VARCHAR,
    Place VARCHAR NOT NULL,
    "Key" VARCHAR,
    "Value" VARCHAR,
    N BIGINT NOT NULL,
    Origin VARCHAR
);
"""


# Trace bounds kept as the exporter keeps them: a row per trace per insert, merged when read (the earliest
# Start, the latest End), found through an ART index instead of a primary key. The key's upsert cost
# grows with the store: 1.8 µs a span at 0.4M traces and 4.3 at 9.8M, against 1.1 and 1.5 µs for an
# insert into the index, and the lookup takes the same 0.7-0.8 ms.
_V11_TRACE_BOUNDS_ROWS: Final = """
CREATE TABLE liveobs_trace_bounds_v11 (
    TraceId VARCHAR NOT NULL,
    "Start" TIMESTAMP_NS NOT NULL,
    "End" TIMESTAMP_NS NOT NULL
);
INSERT INTO liveobs_trace_bounds_v11 SELECT TraceId, "Start", "End" FROM otel_traces_trace_id_ts;
DROP TABLE otel_traces_trace_id_ts;
ALTER TABLE liveobs_trace_bounds_v11 RENAME TO otel_traces_trace_id_ts;
CREATE INDEX otel_traces_trace_id_ts_trace_id ON otel_traces_trace_id_ts (TraceId);
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(1, "exporter tables, correlation index, error occurrences", _V1_EXPORTER_TABLES + _V1_LIVEOBS_TABLES),
    Migration(2, "ingest ledger for idempotent file ingest", _V2_INGEST_LEDGER),
    Migration(3, "indexes on the event and request ids of the correlation index", _V3_ID_INDEXES),
    Migration(4, "keep only the event id index", _V4_DROP_REQUEST_ID_INDEX),
    Migration(5, "the committed position of the collector's spool", _V5_SPOOL_POSITION),
    Migration(6, "digests of recent requests for idempotent OTLP ingest", _V6_REQUEST_DIGESTS),
    Migration(7, "gate runs and their check results", _V7_GATE_RUNS),
    Migration(8, "releases: manifests, artifacts, units, surface, docs and dry runs", _V8_RELEASES),
    Migration(9, "release facts, baseline samples and incident stacks kept past retention", _V9_KEPT_EVIDENCE),
    Migration(10, "the gates' secret scan kept per scope, with the marks it reached", _V10_SECRET_SCANS),
    Migration(11, "trace bounds: a row per trace per insert, merged when read, with an index", _V11_TRACE_BOUNDS_ROWS),
)

_LEDGER: Final = """
CREATE TABLE IF NOT EXISTS liveobs_migrations (
    Version INTEGER PRIMARY KEY,
    Name VARCHAR NOT NULL,
    AppliedAt TIMESTAMP NOT NULL DEFAULT current_timestamp
)
"""


def applied_versions(con: duckdb.DuckDBPyConnection) -> list[int]:
    """The migration versions recorded in the store, ascending."""
    con.execute(_LEDGER)
    return [row[0] for row in con.execute("SELECT Version FROM liveobs_migrations ORDER BY Version").fetchall()]


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every migration the store lacks; returns the versions applied now."""
    done = set(applied_versions(con))
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO liveobs_migrations (Version, Name) VALUES (?, ?)",
                [migration.version, migration.name],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied


def latest_version() -> int:
    return MIGRATIONS[-1].version
