"""The console scripts a release installs: ``kukulkan-ui`` and ``kukulkan-api``, one per unit.

Each serves its part of the app under uvicorn on ``127.0.0.1:$KUKULKAN_PORT``
(``KUKULKAN_HOST`` to change the address) and stops gracefully on SIGTERM,
flushing its telemetry.
"""

from __future__ import annotations

import os
import sys

import uvicorn


def _serve(factory: str) -> int:
    port = os.environ.get("KUKULKAN_PORT", "")
    if not port.isdigit():
        print(f"KUKULKAN_PORT must be a port number, not {port!r}", file=sys.stderr)
        return 2
    uvicorn.run(factory, factory=True, host=os.environ.get("KUKULKAN_HOST", "127.0.0.1"), port=int(port),
                ws="websockets-sansio", access_log=False, timeout_graceful_shutdown=5, log_level="info")
    return 0


def ui() -> int:
    """The pages, sign-in, the live socket and uploads."""
    return _serve("kukulkan.app:create_app")


def api() -> int:
    """The JSON API."""
    return _serve("kukulkan.app:create_api")
