"""Health and readiness: ``/readyz`` by status code, ``/live/readiness.json`` as ``application/health+json``.

Apps register checks (``health.add_check("db:connections", fn)``); a check
returns ``True``/``False``, a status string (``pass``/``warn``/``fail``) or a
:class:`CheckResult`. Readiness turns ``fail`` while the app drains on
shutdown (:meth:`Health.drain`, also called on ASGI ``lifespan.shutdown``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from liveobs.conventions import keys
from liveobs.sdk._asgi_io import Send, send_response

PASS: Final = "pass"
WARN: Final = "warn"
FAIL: Final = "fail"
_RANK: Final = {PASS: 0, WARN: 1, FAIL: 2}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome, as an ``application/health+json`` check entry."""

    status: str
    observed_value: float | int | str | None = None
    observed_unit: str | None = None
    output: str | None = None


CheckFunction = Callable[[], "bool | str | CheckResult | Awaitable[bool | str | CheckResult]"]


@dataclass(frozen=True, slots=True)
class _Check:
    name: str
    fn: CheckFunction
    component_type: str
    timeout: float


class Health:
    """The app's readiness: registered checks plus the draining flag."""

    def __init__(self, version: str | None = None, release_id: str | None = None) -> None:
        self.version = version
        self.release_id = release_id
        self._checks: list[_Check] = []
        self.draining = False

    def add_check(
        self, name: str, fn: CheckFunction, *, component_type: str = "component", timeout: float = 2.0
    ) -> None:
        """Register a check named ``component:measurement`` (sync or async callable)."""
        self._checks.append(_Check(name, fn, component_type, timeout))

    def drain(self) -> None:
        """Report not ready from now on: the app is shutting down."""
        self.draining = True

    async def _run(self, check: _Check) -> CheckResult:
        try:
            result: Any = check.fn()
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(result, check.timeout)
        except Exception as exc:
            return CheckResult(FAIL, output=type(exc).__name__)
        if isinstance(result, CheckResult):
            return result if result.status in _RANK else CheckResult(FAIL, output="invalid status")
        if isinstance(result, bool):
            return CheckResult(PASS if result else FAIL)
        if result in _RANK:
            return CheckResult(str(result))
        return CheckResult(FAIL, output="invalid check result")

    async def report(self) -> dict[str, Any]:
        """The ``application/health+json`` document."""
        now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        checks: dict[str, list[dict[str, Any]]] = {}
        worst = PASS
        for check in self._checks:
            result = await self._run(check)
            entry: dict[str, Any] = {"componentType": check.component_type, "status": result.status, "time": now}
            if result.observed_value is not None:
                entry["observedValue"] = result.observed_value
            if result.observed_unit is not None:
                entry["observedUnit"] = result.observed_unit
            if result.output:
                entry["output"] = result.output
            checks.setdefault(check.name, []).append(entry)
            worst = max(worst, result.status, key=_RANK.__getitem__)
        checks["app:draining"] = [
            {"componentType": "system", "observedValue": self.draining, "status": FAIL if self.draining else PASS,
             "time": now}
        ]
        if self.draining:
            worst = FAIL
        doc: dict[str, Any] = {"status": worst}
        if self.version:
            doc["version"] = self.version
        if self.release_id:
            doc["releaseId"] = self.release_id
        if self.draining:
            doc["notes"] = ["draining"]
        doc["checks"] = checks
        return doc

    async def serve(self, path: str, send: Send, request_id: str) -> None:
        """Answer a readiness request at ``path`` (one of the two health paths)."""
        doc = await self.report()
        status = 503 if doc["status"] == FAIL else 200
        if path == keys.HEALTH_READYZ_PATH:
            body, content_type = (b"ok\n" if status == 200 else b"not ready\n"), b"text/plain; charset=utf-8"
        else:
            body, content_type = json.dumps(doc).encode(), keys.HEALTH_CONTENT_TYPE.encode()
        await send_response(send, status, body, headers=[
            (b"content-type", content_type), (b"cache-control", b"no-store"),
            (keys.HEADER_REQUEST_ID.lower().encode(), request_id.encode()),
        ])
