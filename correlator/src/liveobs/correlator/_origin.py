"""Which requests may reach the collector from a browser: Host, Origin and Sec-Fetch-Site checks.

A web page can make a browser send requests to 127.0.0.1: "simple" cross-site
POSTs (CSRF), and, after DNS rebinding (the page's own name now resolves to
127.0.0.1), requests whose answers it can read. The browser then names the
page's host in ``Host`` and its origin in ``Origin``; neither can be forged by
the page. So:

- without a token, a ``Host`` must be ``localhost``, an IP address (loopback,
  the bind address, or any when bound to every interface: a rebinding page
  always sends a name), or a name given with ``--allowed-host``;
- any request that carries an ``Origin`` other than the collector's own, or
  ``Sec-Fetch-Site: cross-site``/``same-site``, is refused (exporters and the
  CLI send neither);
- the read API takes only ``application/json``, which a page cannot send
  cross-site without a CORS preflight that the collector never grants.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

LOOPBACK_NAMES: Final = frozenset({"localhost"})
_CROSS_SITE: Final = frozenset({"cross-site", "same-site"})
ANY_HOST: Final = "*"


def host_name(host: str) -> str:
    """The name or address of a ``Host`` value (``[::1]:4318`` → ``::1``), lower-cased."""
    value = host.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """Whether a bind address or host name is loopback-only (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    name = host_name(host) if host.startswith("[") else host.strip().lower()
    if name in LOOPBACK_NAMES:
        return True
    address = _ip(name)
    return address is not None and address.is_loopback


@dataclass(frozen=True)
class OriginPolicy:
    """Decides whether a request's ``Host``, ``Origin`` and ``Sec-Fetch-Site`` are acceptable."""

    check_host: bool = True
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(cls, *, token: str | None, allowed_hosts: Iterable[str] = ()) -> OriginPolicy:
        """The Host check applies without a token (with one, a rebinding page cannot authenticate)."""
        names = frozenset(host_name(h) for h in allowed_hosts if h.strip())
        return cls(check_host=token is None and ANY_HOST not in names, allowed_hosts=names)

    def host_allowed(self, host: str, server_address: str | None) -> bool:
        """Whether ``host`` (the ``Host`` header) names this collector."""
        if not self.check_host or not host:
            return True
        name = host_name(host)
        if name in LOOPBACK_NAMES or name in self.allowed_hosts:
            return True
        address = _ip(name)
        if address is None:
            return False
        if address.is_loopback:
            return True
        bound = _ip(server_address or "")
        return bound is not None and (bound.is_unspecified or bound == address)

    def refusal(self, host: str, origin: str, fetch_site: str, server_address: str | None) -> str | None:
        """Why the request is refused (answered 403), or None."""
        if not self.host_allowed(host, server_address):
            return (
                f"Host {host_name(host)!r} is not this collector's; "
                "start it with --allowed-host NAME to accept that name"
            )
        if fetch_site.strip().lower() in _CROSS_SITE:
            return "cross-site requests are refused"
        if origin and not _same_origin(origin, host):
            return f"requests from the origin {origin[:100]!r} are refused"
        return None


def _same_origin(origin: str, host: str) -> bool:
    """Whether an ``Origin`` header names the host (and port) the request was sent to."""
    parts = urllib.parse.urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False  # "null" (sandboxed frames, file: pages) and anything odd
    return parts.netloc.lower() == host.strip().lower()
