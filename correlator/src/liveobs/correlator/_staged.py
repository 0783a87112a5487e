"""Converted spans and log records handed to the committer as a Parquet file instead of Arrow data.

DuckDB checks every map it reads from Arrow for NULL and repeated keys, a hash
set per row: for spans as apps send them (eight attributes) that check was about
3 µs of the 8 µs it took to insert a span, in the collector's one committing
thread. Read from Parquet, the same rows skip it (the maps here are already
unique by key, see ``_maps``) and cost about 5 µs, while writing the file costs
the conversion process about 1.5 µs on the other core. Log records carry three
maps a row.

So the conversion process (see ``_spoolconvert``) writes each batch's span and
log rows to one uncompressed file per table in the staging folder, with the column
:data:`PART` holding each row's request (its index in the batch), and the
reply names the file. Each request then holds :class:`StagedRows`, and the
transaction inserts them through a view over ``read_parquet`` (see
:func:`staged_select`), filtering on :data:`PART` when only some of a file's
requests are inserted (a retried request alone, a duplicate left out).

A file is deleted once no request holds rows of it any more (committed, or
dropped): its :class:`StagedFile` is then collected. The staging folder is
emptied when the collector starts and removed when it stops; the spool, not
these files, is what survives a crash. A request whose file went missing is
converted again from the spool (see ``_spoolwriter``).
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq

# The tables handed over as files (the others are small, or have no maps to check).
STAGED_TABLES: Final = frozenset({"otel_traces", "otel_logs"})
# Each row's request: its index in the conversion batch.
PART: Final = "_liveobs_part"
SUFFIX: Final = ".parquet"
# Plain values, no statistics: written once and read once, on the same machine.
_WRITE_OPTIONS: Final = {"compression": "none", "use_dictionary": False, "write_statistics": False}


class StagedFile:
    """One batch's staged file; deleted when collected (no :class:`StagedRows` refers to it)."""

    __slots__ = ("__weakref__", "parts", "path", "size")

    def __init__(self, path: Path, parts: int, size: int) -> None:
        self.path = path
        self.parts = parts
        self.size = size
        weakref.finalize(self, _remove, path)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


@dataclass(slots=True)
class StagedRows:
    """A request's rows of one staged table: the rows of ``file`` whose :data:`PART` is ``part``."""

    file: StagedFile
    part: int
    num_rows: int

    def readable(self) -> bool:
        return os.access(self.file.path, os.R_OK)

    @property
    def nbytes(self) -> int:
        """Its share of the file."""
        return self.file.size // max(self.file.parts, 1)


def prepare_folder(folder: Path) -> None:
    """The staging folder, created owner-only and emptied of files an earlier run left."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in folder.glob(f"*{SUFFIX}"):
        _remove(path)


def remove_folder(folder: Path) -> None:
    """The staging folder and whatever is left in it (the collector stops)."""
    for path in folder.glob(f"*{SUFFIX}"):
        _remove(path)
    with contextlib.suppress(OSError):
        folder.rmdir()


def write_staged(path: Path, parts: Sequence[pa.Table | None]) -> int:
    """Write the requests' tables (None: a request without rows) as one file; its size in bytes.

    Dictionary columns are written decoded (Parquet cannot hold a dictionary of maps).
    """
    tables = []
    for number, table in enumerate(parts):
        if table is None or not table.num_rows:
            continue
        tables.append(table.append_column(PART, pa.array([number] * table.num_rows, pa.int32())))
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    for index, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            decoded = pa.chunked_array([chunk.dictionary_decode() for chunk in table.column(index).chunks],
                                       field.type.value_type)
            table = table.set_column(index, field.name, decoded)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))  # owner only, as the spool
        pq.write_table(table, path, **_WRITE_OPTIONS)
        return os.stat(path).st_size
    except BaseException:
        _remove(path)
        raise


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def staged_select(rows: Sequence[StagedRows]) -> str:
    """A query of the given requests' rows (without :data:`PART`), in file and part order."""
    by_file: dict[StagedFile, list[int]] = {}
    for row in rows:
        by_file.setdefault(row.file, []).append(row.part)
    whole = [f for f, parts in by_file.items() if len(set(parts)) == f.parts]
    selects = []
    if whole:
        files = ", ".join(_literal(f.path) for f in whole)
        selects.append(f"SELECT * EXCLUDE ({PART}) FROM read_parquet([{files}])")
    for file, parts in by_file.items():
        if file.parts != len(set(parts)):
            numbers = ", ".join(str(int(p)) for p in sorted(set(parts)))
            selects.append(f"SELECT * EXCLUDE ({PART}) FROM read_parquet({_literal(file.path)})"
                           f" WHERE {PART} IN ({numbers})")
    return "\nUNION ALL BY NAME\n".join(selects)
