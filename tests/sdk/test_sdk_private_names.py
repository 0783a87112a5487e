"""Nothing in the SDK but ``_compat`` touches a private name of OpenTelemetry, structlog or protobuf.

The scan reads every module of ``liveobs.sdk`` (adapters included) as source
and fails on: an import of an underscore-prefixed module or name of those
packages, a string naming such a module (an ``importlib`` path), and an
underscore-prefixed attribute (``._batch_processor``, ``getattr(x, "_queue")``)
that no module of liveobs defines, which can only belong to a dependency.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import liveobs.redaction
import liveobs.sdk
from liveobs.sdk import _compat

SDK = Path(liveobs.sdk.__file__).parent
LIVEOBS = Path(liveobs.redaction.__file__).parent.parent  # the contract package: its own names are not a dependency's
DEPENDENCIES = ("opentelemetry", "structlog", "google.protobuf")
MODULE_NAME = re.compile(r"(opentelemetry|structlog|google\.protobuf)(\.\w+)+")
ATTRIBUTE_CALLS = {"getattr", "hasattr", "setattr", "delattr"}


def _of_dependency(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in DEPENDENCIES)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_path(module: str) -> bool:
    return any(_private(part) for part in module.split("."))


def _sources() -> dict[Path, ast.Module]:
    files = sorted({*SDK.rglob("*.py"), *LIVEOBS.rglob("*.py")})
    return {path: ast.parse(path.read_text(encoding="utf-8"), str(path)) for path in files}


def _own_names(trees: dict[Path, ast.Module]) -> set[str]:
    """Every name liveobs itself defines: functions, classes, assigned attributes and variables, slots."""
    own: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                own.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                own.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
            elif isinstance(node, ast.arg):
                own.add(node.arg)
            elif isinstance(node, ast.alias) and not _of_dependency(node.name):
                own.add((node.asname or node.name).split(".")[0])
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets
            ):
                own.update(c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant) and isinstance(c.value, str))
    return own


def _violations(path: Path, tree: ast.Module, own: set[str]) -> list[str]:
    found: list[str] = []
    for node in ast.walk(tree):
        found += [f"{path.relative_to(SDK)}:{getattr(node, 'lineno', 0)}: {what}" for what in _private_use(node, own)]
    return found


def _private_use(node: ast.AST, own: set[str]) -> list[str]:
    """What private name of a dependency this one node uses (empty: none)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if _of_dependency(a.name) and _private_path(a.name)]
    if isinstance(node, ast.ImportFrom) and node.module and _of_dependency(node.module):
        found = [f"from {node.module}"] if _private_path(node.module) else []
        return found + [f"{node.module}.{a.name}" for a in node.names if _private(a.name)]
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_NAME.fullmatch(node.value):
        return [repr(node.value)] if _private_path(node.value) else []
    if isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
        return [f"{ast.unparse(node.value)}.{node.attr}"]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ATTRIBUTE_CALLS:
        named = node.args[1] if len(node.args) > 1 else None
        if isinstance(named, ast.Constant) and isinstance(named.value, str) and _private(named.value) \
                and named.value not in own:
            return [f"{node.func.id}(..., {named.value!r})"]
    return []


def test_no_module_but_compat_touches_a_private_name_of_a_dependency() -> None:
    trees = _sources()
    own = _own_names(trees)
    compat = Path(_compat.__file__)
    offenders = [
        line for path, tree in trees.items() if path.is_relative_to(SDK) and path != compat
        for line in _violations(path, tree, own)
    ]
    assert offenders == []


def test_the_scan_finds_what_it_is_meant_to_find() -> None:
    """The same scan, run on compat itself and on samples of each kind, does find them."""
    trees = _sources()
    own = _own_names(trees)
    compat = Path(_compat.__file__)
    in_compat = " ".join(_violations(compat, trees[compat], own))
    for expected in ("opentelemetry.sdk._logs", "'_batch_processor'", "'_worker_awaken'", "_CONTEXT_VARS", "_log_exporter",
                     "'opentelemetry.metrics._internal'"):
        assert expected in in_compat, expected
    sample = ast.parse(
        "import opentelemetry.sdk._logs\n"
        "from opentelemetry import _logs\n"
        "from structlog.contextvars import _CONTEXT_VARS\n"
        "from google.protobuf.json_format import _Printer\n"
        "import importlib; importlib.import_module('opentelemetry._logs._internal')\n"
        "provider.span_processor._span_processors\n"
    )
    assert len(_violations(compat, sample, own)) == 6
