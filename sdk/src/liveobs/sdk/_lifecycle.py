"""Process life: what is pending is exported when the process stops, and a fork starts clean.

* At a normal exit (``atexit``) and on ``SIGTERM`` the active configuration
  ends the spans of WebSocket connections still open and shuts down, which
  exports what is pending within its ``shutdown_timeout``. The ``SIGTERM``
  handler is installed only where the signal still has its default action (an
  app's or a server's own handler is left alone; uvicorn re-raises the signal
  to it after its graceful shutdown), and after the flush the signal takes its
  default course.
* ``SIGINT`` needs nothing: Python turns it into ``KeyboardInterrupt`` and the
  interpreter exits through ``atexit``.
* In a forked child (gunicorn ``--preload``, multiprocessing) the parent's open
  connections are forgotten; the batch processors start their export threads
  again (the OpenTelemetry SDK re-creates them). A multiprocessing child ends
  in ``os._exit()``, past ``atexit``: it flushes from multiprocessing's own
  exit hooks.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_open: dict[int, Callable[[], None]] = {}  # closers of the open connections' spans, by id of their owner
_installed = False
_stop: Callable[[], None] | None = None
_after_fork: Callable[[], None] | None = None


def track(owner: object, closer: Callable[[], None]) -> None:
    """Remember how to end ``owner``'s span if the process stops first."""
    with _lock:
        _open[id(owner)] = closer


def untrack(owner: object) -> None:
    with _lock:
        _open.pop(id(owner), None)


def end_open() -> int:
    """End the span of every connection still open (the process is stopping); how many there were."""
    with _lock:
        closers = list(_open.values())
        _open.clear()
    for close in closers:
        with contextlib.suppress(Exception):
            close()
    return len(closers)


def install(stop: Callable[[], None], after_fork: Callable[[], None]) -> None:
    """Run ``stop`` at exit and on ``SIGTERM``, ``after_fork`` in a forked child (hooks installed once)."""
    global _installed, _stop, _after_fork
    _stop = stop
    _after_fork = after_fork
    if _installed:
        return
    _installed = True
    atexit.register(_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):  # no signals here (an embedded interpreter)
            pass


def _at_exit() -> None:
    end_open()
    if _stop is not None:
        _stop()


def _on_sigterm(signum: int, frame: Any) -> None:
    try:
        _at_exit()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


class _Child:
    """What multiprocessing keeps a weak reference to while it runs its after-fork hooks."""


_CHILD = _Child()


def _flush_at_child_exit(_: object) -> None:
    # A multiprocessing child ends in os._exit(), past atexit: its own exit hooks run the flush.
    from multiprocessing import util

    util.Finalize(None, _at_exit, exitpriority=0)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    _open.clear()
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        mp_util.register_after_fork(_CHILD, _flush_at_child_exit)
    if _after_fork is not None:
        _after_fork()

