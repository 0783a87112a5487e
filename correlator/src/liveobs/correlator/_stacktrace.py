"""An exception's stack trace, parsed: the app's own frames apart from library frames.

The SDK stores Python's formatted traceback as ``exception.stacktrace`` on the
span's ``exception`` event (or on an error log record). This module parses that
text into frames and tells the app's frames (the code of the service) from
library frames (``site-packages``, ``dist-packages``, the standard library,
frozen modules), so that views show the app's failing frame first and fold the
rest. Text that is not a Python traceback keeps its lines and has no frames.

The stored text comes from whoever could send to the collector: it is bounded
(:data:`MAX_CHARS`, :data:`MAX_FRAMES`) before parsing, and views escape it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

from liveobs.conventions import keys

if TYPE_CHECKING:
    from liveobs.correlator._traceresult import TraceResult

MAX_CHARS: Final = 65_536
MAX_FRAMES: Final = 200
_FRAME: Final = re.compile(r'^\s*File "(?P<path>[^"]*)", line (?P<line>\d+)(?:, in (?P<function>.*))?$')
_MARKERS: Final = re.compile(r"^\s*[~^\s]+$")
_CHAIN: Final = re.compile(
    r"^(During handling of the above exception, another exception occurred:"
    r"|The above exception was the direct cause of the following exception:)$"
)
_LIBRARY_DIR: Final = re.compile(r"[/\\](?:site-packages|dist-packages)[/\\](?P<package>[^/\\]+)")
_STDLIB_DIR: Final = re.compile(r"[/\\](?:lib[/\\]python3(?:\.\d+)?|Lib)[/\\]")


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: where, in which function, the source line, and whose code it is."""

    path: str
    line: int
    function: str
    code: str
    app: bool
    package: str  # the library's top-level package, "stdlib", or "" for an app frame

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line} in {self.function}"


@dataclass(frozen=True, slots=True)
class StackTrace:
    """The failing exception's stack (innermost frame last, as Python prints it)."""

    error_class: str
    message: str
    frames: tuple[Frame, ...]
    release: str | None
    service: str | None
    span_id: str
    chained: int  # how many earlier exceptions the stored text also holds
    truncated: bool
    text: str  # the stored text (bounded), for a stack that is not a Python traceback

    @property
    def app_frames(self) -> tuple[Frame, ...]:
        """The app's own frames, innermost (the failing one) first."""
        return tuple(reversed([f for f in self.frames if f.app]))

    @property
    def library_frames(self) -> tuple[Frame, ...]:
        return tuple(f for f in self.frames if not f.app)

    @property
    def failing_frame(self) -> Frame | None:
        """The innermost app frame: where the app's own code failed (else the innermost frame)."""
        app = self.app_frames
        if app:
            return app[0]
        return self.frames[-1] if self.frames else None

    def library_packages(self) -> list[tuple[str, int]]:
        """The folded library frames as ``(package, frames)``, most frames first."""
        counts: dict[str, int] = {}
        for frame in self.library_frames:
            counts[frame.package] = counts.get(frame.package, 0) + 1
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    def to_dict(self) -> dict[str, Any]:
        failing = self.failing_frame
        return {
            "error_class": self.error_class,
            "message": self.message,
            "release": self.release,
            "service": self.service,
            "span_id": self.span_id,
            "failing_frame": asdict(failing) if failing else None,
            "app_frames": [asdict(f) for f in self.app_frames],
            "library_frames": [asdict(f) for f in self.library_frames],
            "folded": [{"package": p, "frames": n} for p, n in self.library_packages()],
            "chained": self.chained,
            "truncated": self.truncated,
        }


def classify(path: str, own: str | None = None) -> tuple[bool, str]:
    """``(app, package)`` of a frame's file path; ``own``: the service's own package, app code when installed."""
    found = _LIBRARY_DIR.search(path)
    if found:
        package = found.group("package").split(".")[0].removesuffix(".py")
        if own is not None and package == own:
            return True, ""  # the app installed from its release artifact (a wheel) into site-packages
        return False, package
    if path.startswith("<frozen") or _STDLIB_DIR.search(path):
        return False, "stdlib"
    return True, ""  # the app's own code (also <string>, <stdin>: code made at run time)


def own_package(service: str | None) -> str | None:
    """The import name a service's own package has when it is installed (``my-app`` -> ``my_app``)."""
    return service.strip().lower().replace("-", "_").replace(".", "_") if service and service.strip() else None


def parse_frames(text: str, service: str | None = None) -> tuple[tuple[Frame, ...], int, bool]:
    """The frames of the last exception in a formatted traceback, how many were chained, and truncation.

    Frames of the service's own package count as the app's even when it runs installed (from
    ``site-packages`` of a release's virtual environment), as a deployed app does.
    """
    own = own_package(service)
    truncated = len(text) > MAX_CHARS
    lines = text[:MAX_CHARS].splitlines()
    starts = [i for i, line in enumerate(lines) if _CHAIN.match(line.strip())]
    chained = len(starts)
    if starts:
        lines = lines[starts[-1] + 1:]
    frames: list[Frame] = []
    i = 0
    while i < len(lines):
        found = _FRAME.match(lines[i])
        i += 1
        if not found:
            continue
        code = ""
        if i < len(lines) and not _FRAME.match(lines[i]) and lines[i].startswith("    "):
            code = lines[i].strip()
            i += 1
            while i < len(lines) and _MARKERS.match(lines[i]) and lines[i].strip():
                i += 1
        path = found.group("path")
        app, package = classify(path, own)
        frames.append(Frame(path, int(found.group("line")), found.group("function") or "?", code, app, package))
    if len(frames) > MAX_FRAMES:
        frames = frames[:10] + frames[-(MAX_FRAMES - 10):]
        truncated = True
    return tuple(frames), chained, truncated


def build(
    text: str, *, error_class: str, message: str, release: str | None, service: str | None, span_id: str = ""
) -> StackTrace:
    frames, chained, truncated = parse_frames(text, service)
    return StackTrace(
        error_class=error_class, message=message, frames=frames, release=release, service=service,
        span_id=span_id, chained=chained, truncated=truncated, text=text[:MAX_CHARS],
    )


def from_trace(result: TraceResult) -> StackTrace | None:
    """The stack of the trace's failing exception: the ``exception`` event nearest the root span."""
    for span in sorted(result.spans, key=lambda s: s.depth):
        for event in span.events:
            text = event.attributes.get(keys.EXCEPTION_STACKTRACE)
            if event.name == keys.EXCEPTION_EVENT and text:
                error_class = event.attributes.get(keys.EXCEPTION_TYPE) or span.attributes.get(keys.ERROR_TYPE) or ""
                message = event.attributes.get(keys.EXCEPTION_MESSAGE) or ""
                return build(text, error_class=error_class, message=message, release=result.release,
                             service=span.service or result.service, span_id=span.span_id)
    for line in result.logs:
        text = line.attributes.get(keys.EXCEPTION_STACKTRACE)
        if text:
            error_class = line.attributes.get(keys.EXCEPTION_TYPE) or line.attributes.get(keys.ERROR_TYPE) or ""
            message = line.attributes.get(keys.EXCEPTION_MESSAGE) or line.body
            return build(text, error_class=error_class, message=message, release=result.release,
                         service=result.service, span_id=line.span_id)
    return None
