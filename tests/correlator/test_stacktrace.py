"""Parsing stored stack traces: real Python tracebacks (chained, deep, with library frames) and text that
is not a Python traceback."""

from __future__ import annotations

import json
import traceback

from liveobs.correlator._stacktrace import MAX_CHARS, MAX_FRAMES, build, classify, parse_frames


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def _chained() -> str:
    try:
        try:
            json.loads("{")
        except ValueError as inner:
            raise RuntimeError("could not read the board") from inner
    except RuntimeError as exc:
        return _format(exc)
    raise AssertionError("no exception")


def _deep(depth: int) -> None:
    """Calls through ``depth`` distinct functions (Python folds repeats of one frame), then raises."""
    source = "".join(f"def f{i}():\n    f{i + 1}()\n" for i in range(depth))
    source += f"def f{depth}():\n    raise OverflowError('deep')\n"
    namespace: dict[str, object] = {}
    exec(compile(source, "/srv/app/generated.py", "exec"), namespace)
    namespace["f0"]()  # type: ignore[operator]


def test_a_chained_traceback_keeps_the_raised_exceptions_frames() -> None:
    frames, chained, truncated = parse_frames(_chained())
    assert chained == 1
    assert not truncated
    assert [f.function for f in frames] == ["_chained"]  # the json frames belong to the earlier exception
    assert frames[0].app
    assert "raise RuntimeError" in frames[0].code


def test_library_frames_are_told_from_the_apps() -> None:
    text = ""
    try:
        json.loads("{")
    except ValueError as exc:
        text = _format(exc)
    frames, _, _ = parse_frames(text)
    assert frames[0].app
    assert frames[0].function == "test_library_frames_are_told_from_the_apps"
    assert [f.package for f in frames[1:]] == ["stdlib"] * (len(frames) - 1)
    assert classify("/srv/venv/lib/python3.12/site-packages/starlette/routing.py") == (False, "starlette")
    assert classify("/usr/lib/python3/dist-packages/jinja2/environment.py") == (False, "jinja2")
    assert classify("<frozen runpy>") == (False, "stdlib")
    assert classify("/srv/app/board.py") == (True, "")


def test_a_deep_stack_is_cut_and_says_so() -> None:
    text = ""
    try:
        _deep(MAX_FRAMES + 50)
    except OverflowError as exc:
        text = _format(exc)
    frames, _, truncated = parse_frames(text)
    assert truncated
    assert len(frames) == MAX_FRAMES
    stack = build(text, error_class="OverflowError", message="deep", release="1.0", service="svc")
    assert stack.failing_frame is not None
    assert stack.failing_frame.function == f"f{MAX_FRAMES + 50}"


def test_text_that_is_not_a_python_traceback_is_kept_without_frames() -> None:
    text = "TypeError: x is undefined\n    at render (app.js:10:5)\n" + "y" * (MAX_CHARS + 10)
    stack = build(text, error_class="TypeError", message="x is undefined", release=None, service=None)
    assert stack.frames == ()
    assert stack.failing_frame is None
    assert stack.truncated
    assert len(stack.text) == MAX_CHARS
    assert stack.to_dict()["app_frames"] == []
