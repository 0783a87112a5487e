"""The discovery file through which a running collector announces that it owns a store.

``liveobs collect`` writes ``<db path>.collector.json`` =
``{"url": "http://127.0.0.1:PORT", "pid": PID, "db": "<abs path>"}`` next to the
store (mode 0600) while it owns the file and removes it on a clean shutdown. Kept apart
from the collector so the CLI's read path finds it without loading the server.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Final

DISCOVERY_SUFFIX: Final = ".collector.json"


def discovery_path(db: str | os.PathLike[str]) -> Path:
    """Where a collector that owns ``db`` announces itself."""
    return Path(os.path.abspath(db) + DISCOVERY_SUFFIX)


def read_discovery(db: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The discovery record of ``db``'s collector, if the file exists and parses."""
    try:
        record = json.loads(discovery_path(db).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_discovery(path: Path, record: dict[str, Any]) -> None:
    """Write the record atomically, so a reader never sees half a file."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    # Owner only: the CLI trusts this file with its token only when no one else can write it.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(json.dumps(record))
    os.replace(tmp, path)


def remove_discovery(path: Path) -> None:
    """Remove the file if this process wrote it (a newer collector may own it now)."""
    record = None
    with contextlib.suppress(OSError, ValueError):
        record = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(record, dict) and record.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            path.unlink()
