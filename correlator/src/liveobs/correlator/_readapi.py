"""The read side that a running collector serves to the CLI.

DuckDB lets one process open a store file, so while ``liveobs collect`` runs it
answers the CLI's read requests (trace, incidents, gates) over its local HTTP API:
``POST /api/v1/read/<name>`` with a JSON object of parameters, answered with the
handler's JSON result. Handlers are registered here by name and run against a
read connection of the owning process; the same handler serves the local path,
so both paths give the same result.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Final

import duckdb

ReadHandler = Callable[[duckdb.DuckDBPyConnection, dict[str, Any]], Any]

READ_PATH_PREFIX: Final = "/api/v1/read/"
# A collector commits its acknowledged backlog before it answers a read, for at most FLUSH_TIMEOUT_S
# (then it answers 503). A client waits READ_TIMEOUT_S, so the collector's answer always arrives.
FLUSH_TIMEOUT_S: Final = 60.0
READ_TIMEOUT_S: Final = FLUSH_TIMEOUT_S + 30.0
# The modules whose import registers read handlers; imported on first use so that
# this registry stays light. Add a module here when it defines handlers.
HANDLER_MODULES: Final[tuple[str, ...]] = (
    "liveobs.correlator._trace",
    "liveobs.correlator._incidents",
    "liveobs.correlator.gates._handler",
    "liveobs.correlator.releases",
)
_HANDLERS: dict[str, ReadHandler] = {}


class ReadRequestError(ValueError):
    """A read request with bad parameters: answered 400 with this message."""


class NotFoundError(LookupError):
    """Nothing matched a read request: answered 404 with this message."""


def read_handler(name: str) -> Callable[[ReadHandler], ReadHandler]:
    """Register ``fn`` as the read handler called ``name``."""

    def register(fn: ReadHandler) -> ReadHandler:
        _HANDLERS[name] = fn
        return fn

    return register


def read_handlers() -> dict[str, ReadHandler]:
    """Every registered handler, by name (imports the modules that register them)."""
    for module in HANDLER_MODULES:
        importlib.import_module(module)
    return dict(_HANDLERS)
