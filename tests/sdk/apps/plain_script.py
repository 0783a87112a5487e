"""A plain script (no server): 300 live events with a log line each, then an exit, a SIGTERM or a SIGINT.

Arguments: the OTLP endpoint, ``exit`` or ``wait``, and optionally the shutdown timeout in seconds.
"""

import os
import sys
import time

import structlog

import liveobs.sdk

timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
liveobs.sdk.configure("plain-script", endpoint=sys.argv[1], log_file=open(os.devnull, "w"),  # noqa: SIM115
                      shutdown_timeout=timeout)
log = structlog.get_logger()
for i in range(300):
    with liveobs.sdk.live_event("tick", seq=i):
        log.info("handled", n=i)
print("ready", flush=True)
if sys.argv[2] == "wait":
    time.sleep(60)
