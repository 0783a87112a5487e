"""The compatibility layer: nothing probed at import, everything at configure(), the right answers per release."""

from __future__ import annotations

import io
import subprocess
import sys
from importlib.metadata import version

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

import liveobs.sdk
from liveobs.sdk import _compat, _span

# The internals each tested OpenTelemetry release lacks (any other release: all must be found, or this fails
# until the entry is added, which is the point: a silent fallback on a new release shows here).
MISSING_BY_RELEASE = {
    "1.39": {"tracer_enabled", "tracer_metrics", "on_ending", "logger_enabled", "provider_limits"},
    "1.40": {"logger_enabled", "provider_limits"},
    "1.41": {"provider_limits"},
    "1.42": {"provider_limits"},
    "1.43": {"provider_limits"},
    "1.44": {"provider_limits"},
}


def test_importing_the_sdk_probes_nothing_and_starts_nothing() -> None:
    code = (
        "import threading, liveobs.sdk\n"
        "from liveobs.sdk import _compat, _histogram\n"
        "assert _compat._detected is None, 'probed at import'\n"
        "assert not _histogram._fork_hook, 'fork hook registered at import'\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_configure_detects_the_internals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_compat, "_detected", None)
    liveobs.sdk.configure("compat-app", log_file=io.StringIO(), set_global=False)
    try:
        assert _compat._detected is not None
    finally:
        liveobs.sdk.shutdown()


def test_the_internals_found_are_the_ones_this_release_has() -> None:
    found = _compat.detect(again=True)
    release = ".".join(version("opentelemetry-sdk").split(".")[:2])
    missing = {name for name in found.__slots__ if not getattr(found, name)}
    assert missing == MISSING_BY_RELEASE.get(release, set())


def test_the_span_key_is_the_one_opentelemetry_uses() -> None:
    span = trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
    assert dict(trace.set_span_in_context(span, Context())) == {_compat.SPAN_KEY: span}


def test_attribute_values_are_cleaned_with_the_public_api_as_the_sdk_cleans_them() -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("x")
    assert _span.lean_tracer(tracer)
    lean = _span.start_span(tracer, "s", context=None, kind=SpanKind.INTERNAL, attributes={})
    sdk = tracer.start_span("s")
    for key, value in (("list", [1, 2]), ("bytes", b"ab"), ("mixed", [1, "a"]), ("dict", {"a": 1})):
        lean.set_attribute(key, value)  # type: ignore[arg-type]
        sdk.set_attribute(key, value)  # type: ignore[arg-type]
    assert dict(lean.attributes) == dict(sdk.attributes)  # type: ignore[attr-defined]
