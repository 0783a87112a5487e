"""Small readers of an ASGI scope: headers, method, route template; the SDK's own routes."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

from liveobs.conventions import valid_route

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
_MAX_HEADER_SCAN: Final = 256
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


def header(scope: Mapping[str, Any], name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes), decoded as Latin-1; the first 256 headers are read."""
    for i, (key, value) in enumerate(scope.get("headers") or ()):
        if i >= _MAX_HEADER_SCAN:
            break
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def method_of(scope: Mapping[str, Any]) -> str:
    method = scope.get("method")
    return method if method in _METHODS else "_OTHER"


def route_template(scope: Mapping[str, Any]) -> str | None:
    """The matched route's template (Starlette/FastAPI set ``scope["route"]``), validated."""
    route = scope.get("route")
    if route is None:
        return None
    path = getattr(route, "path", None)
    return valid_route(path) if isinstance(path, str) else None


@dataclass(frozen=True, slots=True)
class SdkRoute:
    """A route the SDK serves itself, in the shape routers leave in ``scope["route"]`` (a ``path`` template)."""

    path: str


def mark_sdk_route(scope: Scope, template: str) -> None:
    """Name the route of a request the SDK answers itself, so its server span carries the template."""
    scope["route"] = SdkRoute(template)


def sdk_route(scope: Mapping[str, Any]) -> str | None:
    """The template of an SDK-served route, or ``None`` for the app's own routes."""
    route = scope.get("route")
    return route.path if isinstance(route, SdkRoute) else None
