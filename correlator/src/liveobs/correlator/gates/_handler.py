"""The gates as a read handler, so the CLI can run them through a collector that owns the store.

The one read handler that writes: the run is recorded in the store (``_runlog``) and the
answer carries its ``run_id``, or ``not_recorded`` with the reason when it could not be.
"""

from __future__ import annotations

from typing import Any

from liveobs.correlator._readapi import ReadRequestError, read_handler
from liveobs.correlator._sqlcursor import Cursor
from liveobs.correlator.gates._budgets import Budgets, Manifest, check_services, stored_services
from liveobs.correlator.gates._engine import GateRunner
from liveobs.correlator.gates._model import GateError, Subject
from liveobs.correlator.gates._runlog import RunNotRecorded, record_run


@read_handler("check")
def check_handler(con: Cursor, params: dict[str, Any]) -> dict[str, Any]:
    """``{"selection", "subject", "budgets"?, "manifest"?}`` -> the report as JSON."""
    try:
        selection = params["selection"]
        if not isinstance(selection, str):
            raise ReadRequestError("selection must be a string")
        subject = Subject.from_dict(params.get("subject") or {})
        budgets = Budgets.load(params.get("budgets") or None)
        manifest = Manifest.from_dict(params["manifest"]) if params.get("manifest") else None
        named = {subject.service, manifest.service if manifest else None}
        check_services(params.get("budgets"), stored_services(con) | {n for n in named if n})
        report = GateRunner(con, budgets, manifest).run(selection, subject)
    except (KeyError, TypeError, ValueError) as exc:
        raise ReadRequestError(f"bad check request: {exc}") from exc
    except GateError as exc:
        raise ReadRequestError(str(exc)) from exc
    answer = report.to_dict()
    try:
        answer["run_id"] = record_run(con, report, selection, "liveobs check via liveobs collect")
    except RunNotRecorded as exc:
        answer["not_recorded"] = str(exc)
    return answer
