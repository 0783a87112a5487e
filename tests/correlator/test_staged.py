"""Spans handed from the conversion process to the committer as Parquet files: stored exactly as the same
rows from Arrow, only the requests asked for, each file deleted once its rows are stored, and sent as
Arrow when a file cannot be written."""

from __future__ import annotations

import gc
import logging
import time
from pathlib import Path

import pyarrow as pa
import pytest

from liveobs.correlator._correlation import Converted
from liveobs.correlator._db import connect
from liveobs.correlator._dedup import RecentRequests
from liveobs.correlator._logrecords import logs_tables
from liveobs.correlator._otlp import LOGS, PROTOBUF, TRACES, BodyError
from liveobs.correlator._rawspans import AttributeInterner, raw_trace_request
from liveobs.correlator._samples import sample_spans_request
from liveobs.correlator._scrub import IngestScrubber
from liveobs.correlator._spans import spans_tables
from liveobs.correlator._spool import Spool
from liveobs.correlator._spoolconvert import _stage, decode_reply, encode_reply
from liveobs.correlator._spoolwriter import STAGING_FOLDER, SpoolWriter
from liveobs.correlator._staged import StagedFile, StagedRows, staged_select, write_staged
from liveobs.correlator._storegate import StoreGate
from liveobs.correlator._transaction import OpenTransaction
from liveobs.correlator._writer import WriteResult, WriterStats, _Item

from .test_spool_convert import _TABLES, _log_request, _varied_request


def _converted(count: int) -> list[Converted]:
    """``count`` varied requests (events, links, errors, repeated keys, a secret) converted in one pass."""
    scrubber = IngestScrubber()
    return spans_tables([raw_trace_request(_varied_request(seed)) for seed in range(count)],
                        scrubber, AttributeInterner(scrubber))


def _item(converted: Converted) -> _Item:
    item = _Item(TRACES, b"", PROTOBUF, lambda result: None)
    item.converted, item.accepted = converted, converted.accepted
    return item


_LOG_TABLES = {
    "otel_logs": "SELECT * FROM otel_logs ORDER BY SpanId, Body",
    "liveobs_correlation": "SELECT * FROM liveobs_correlation ORDER BY SpanId, EventId",
    "liveobs_errors": "SELECT * FROM liveobs_errors ORDER BY SpanId, EventId",
}


def _store(path: Path, converted: list[Converted], tables: dict[str, str] = _TABLES) -> dict[str, list[tuple]]:
    """Every table a batch writes, after one transaction of these requests."""
    con = connect(path)
    transaction = OpenTransaction(con, StoreGate(), RecentRequests(), WriterStats())
    transaction.add([_item(c) for c in converted])
    transaction.commit()
    rows = {table: con.execute(sql).fetchall() for table, sql in tables.items()}
    con.close()
    return rows


def _staged(folder: Path, converted: list[Converted], name: str = "otel_traces") -> list[Converted]:
    """The same requests with their rows of ``name`` in one staged file, as the collector reads them back."""
    tables = [c.tables[name] for c in converted]
    size = write_staged(folder / "batch.parquet", tables)
    file = StagedFile(folder / "batch.parquet", len(tables), size)
    out = []
    for part, c in enumerate(converted):
        staged = Converted(dict(c.tables), c.rejected, c.span_error_candidates, c.log_error_candidates)
        staged.tables[name] = StagedRows(file, part, tables[part].num_rows)
        out.append(staged)
    return out


def test_staged_spans_are_stored_exactly_as_the_same_spans_from_arrow(tmp_path: Path) -> None:
    converted = _converted(4)
    from_arrow = _store(tmp_path / "arrow.duckdb", converted)
    from_files = _store(tmp_path / "staged.duckdb", _staged(tmp_path, converted))
    assert len(from_arrow["otel_traces"]) == 4 * 39
    assert len(from_arrow["liveobs_errors"]) > 4
    assert from_files == from_arrow


def test_staged_log_records_are_stored_exactly_as_the_same_records_from_arrow(tmp_path: Path) -> None:
    converted = logs_tables([_log_request(n, records=30) for n in range(3)], IngestScrubber())
    from_arrow = _store(tmp_path / "arrow.duckdb", converted, _LOG_TABLES)
    from_files = _store(tmp_path / "staged.duckdb", _staged(tmp_path, converted, "otel_logs"), _LOG_TABLES)
    assert len(from_arrow["otel_logs"]) == sum(c.accepted for c in converted) > 60
    assert from_arrow["liveobs_errors"]
    assert from_files == from_arrow


def test_only_the_requests_asked_for_are_read_from_a_staged_file(tmp_path: Path) -> None:
    converted = _converted(3)
    staged = _staged(tmp_path, converted)
    chosen = [converted[0], converted[2]]
    assert _store(tmp_path / "some.duckdb", [staged[0], staged[2]]) == _store(tmp_path / "arrow.duckdb", chosen)
    rows = [c.tables["otel_traces"] for c in staged]
    assert all(isinstance(r, StagedRows) for r in rows)
    staged_rows = [r for r in rows if isinstance(r, StagedRows)]
    assert "WHERE _liveobs_part IN (0, 2)" in staged_select([staged_rows[0], staged_rows[2]])
    assert "WHERE" not in staged_select(staged_rows)


def test_a_staged_file_is_deleted_once_no_request_holds_rows_of_it(tmp_path: Path) -> None:
    staged = _staged(tmp_path, _converted(2))
    path = tmp_path / "batch.parquet"
    assert path.exists()
    del staged[0]
    gc.collect()
    assert path.exists()
    staged.clear()
    gc.collect()
    assert not path.exists()


def test_a_staged_file_name_is_quoted_for_sql(tmp_path: Path) -> None:
    folder = tmp_path / "it's here"
    folder.mkdir()
    converted = _converted(1)
    assert _store(tmp_path / "q.duckdb", _staged(folder, converted)) == _store(tmp_path / "a.duckdb", converted)


def test_rows_that_cannot_be_staged_are_sent_as_arrow(tmp_path: Path) -> None:
    results: list[Converted | BodyError] = list(_converted(2))
    expected = [r.tables["otel_traces"] for r in results if isinstance(r, Converted)]
    staged = _stage(results, tmp_path / "missing", 0)
    assert staged == ({}, [[], []])
    frame = bytearray(b"".join(bytes(memoryview(p)) for p in encode_reply(results, 0.0, staged)))
    back, _ = decode_reply(frame, tmp_path / "missing")
    for got, table in zip(back, expected, strict=True):
        assert isinstance(got, Converted)
        assert isinstance(got.tables["otel_traces"], pa.Table)
        assert got.tables["otel_traces"].equals(table)


def test_a_reply_names_only_files_in_the_staging_folder(tmp_path: Path) -> None:
    results: list[Converted | BodyError] = list(_converted(2))
    staged = _stage(results, tmp_path, 7)
    files, parts = staged
    assert list(files) == ["otel_traces"]
    name, held, size = files["otel_traces"]
    assert (tmp_path / name).stat().st_size == size
    assert held == 2
    assert parts == [[("otel_traces", 0, 39)], [("otel_traces", 1, 39)]]
    frame = bytearray(b"".join(bytes(memoryview(p)) for p in encode_reply(results, 0.0, staged)))
    back, _ = decode_reply(frame, tmp_path)
    rows = [c.tables["otel_traces"] for c in back if isinstance(c, Converted)]
    assert all(isinstance(r, StagedRows) and r.file.path == tmp_path / name for r in rows)
    assert [r.num_rows for r in rows] == [39, 39]
    with pytest.raises(ValueError, match="not asked for"):
        decode_reply(frame)  # no staging folder: a reply naming files is refused


def test_the_collector_stages_spans_and_leaves_no_file_behind(tmp_path: Path) -> None:
    con = connect(tmp_path / "s.duckdb")
    spool = Spool(tmp_path / "spool")
    writer = SpoolWriter(con, spool, convert_process=True).start()
    folder = tmp_path / "spool" / STAGING_FOLDER
    try:
        assert writer.worker_pid is not None
        assert folder.is_dir()
        results = [writer.write(TRACES, sample_spans_request(300).SerializeToString()) for _ in range(12)]
        assert results == [WriteResult(300, 0)] * 12
        logged = writer.write(LOGS, _log_request(1, records=70).SerializeToString()).accepted
        assert logged == 60
        assert writer.flush(timeout=60)
        assert writer.stats.staged_rows == 12 * 300 + logged
        gc.collect()
        assert list(folder.iterdir()) == []
    finally:
        writer.close()
    assert not folder.exists()
    assert con.execute("SELECT count(*), count(DISTINCT SpanId) FROM otel_traces").fetchone() == (3600, 3600)
    assert con.execute("SELECT count(*) FROM otel_logs").fetchone() == (logged,)
    con.close()


def test_a_request_whose_staged_file_is_gone_is_converted_again_from_the_spool(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    con = connect(tmp_path / "g.duckdb")
    writer = SpoolWriter(con, Spool(tmp_path / "spool"), convert_process=True, max_delay=60).start()
    folder = tmp_path / "spool" / STAGING_FOLDER
    requests = [sample_spans_request(50) for _ in range(4)]
    try:
        for request in requests:
            assert writer.write(TRACES, request.SerializeToString()) == WriteResult(50, 0)
        deadline = time.monotonic() + 30
        while writer.stats.staged_rows < 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert writer.stats.staged_rows == 200
        removed = list(folder.iterdir())
        assert removed
        for path in removed:
            path.unlink()
        with caplog.at_level(logging.ERROR, logger="liveobs.correlator.spool"):
            assert writer.flush(timeout=60)
        assert "the staged rows of 4 requests are gone" in caplog.text
    finally:
        writer.close()
    expected = {s.span_id.hex() for r in requests for s in r.resource_spans[0].scope_spans[0].spans}
    assert {s for (s,) in con.execute("SELECT SpanId FROM otel_traces").fetchall()} == expected
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (200,)
    assert writer.stats.dropped_rows == 0
    con.close()


def test_a_staging_folder_that_cannot_be_made_leaves_rows_coming_back_as_arrow(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / STAGING_FOLDER).write_text("a file where the folder goes")
    con = connect(tmp_path / "f.duckdb")
    with caplog.at_level(logging.WARNING, logger="liveobs.correlator.spool"):
        writer = SpoolWriter(con, Spool(tmp_path / "spool"), convert_process=True).start()
    try:
        assert "converted rows come back as Arrow data" in caplog.text
        assert writer.worker_pid is not None
        assert writer.write(TRACES, sample_spans_request(40).SerializeToString()) == WriteResult(40, 0)
        assert writer.flush(timeout=60)
        assert writer.stats.staged_rows == 0
    finally:
        writer.close()
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (40,)
    con.close()
