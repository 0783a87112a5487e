"""A plain script (no server): 300 live events with a log line each, then an exit, a SIGTERM or a SIGINT."""

import os
import sys
import time

import structlog

import liveobs.sdk

liveobs.sdk.configure("plain-script", endpoint=sys.argv[1], log_file=open(os.devnull, "w"))  # noqa: SIM115
log = structlog.get_logger()
for i in range(300):
    with liveobs.sdk.live_event("tick", seq=i):
        log.info("handled", n=i)
print("ready", flush=True)
if sys.argv[2] == "wait":
    time.sleep(60)
