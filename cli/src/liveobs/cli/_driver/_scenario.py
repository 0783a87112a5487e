"""The driver's scenario: a small TOML file the app owner writes, read and checked here.

It names how a user signs in, the users (credentials come from the operator: the
environment, or the file for demo accounts), how many sessions to run and what each
does, the uploads to try (the EICAR canary among them), the scope and capability
attempts that must be refused, and the socket guard attempts. Every table and key
is checked: an unknown one is an error that names it, so a typo never silently
drops a part of the evidence.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

FOREIGN_ORIGIN: Final = "https://drive-foreign.invalid"
FOREIGN_HOST: Final = "drive-foreign.invalid"
_TOP: Final = frozenset({"app", "signin", "users", "load", "uploads", "attempts", "sockets", "rate_limit", "browser"})
_CHECKS: Final = frozenset({"scope", "capability"})


class ScenarioError(ValueError):
    """The scenario file cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class SignIn:
    page: str
    path: str
    landing: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class Action:
    event: str
    payload: dict[str, Any]
    user: str | None = None  # only this user's sessions send it


@dataclass(frozen=True, slots=True)
class Load:
    sessions: int = 0
    concurrency: int = 8
    users: tuple[str, ...] = ()
    pages: tuple[str, ...] = ()
    page_loads: int = 1
    reconnects: int = 0
    hold_ms: int = 0
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True, slots=True)
class Upload:
    user: str
    path: str
    field: str
    form: dict[str, str]
    clean: int
    eicar: bool


@dataclass(frozen=True, slots=True)
class Attempt:
    """One thing a user without the grant tries; a correct app refuses it."""

    name: str
    user: str
    check: str  # "scope" | "capability": what the refusal proves
    required: str  # the scope or capability the attempt needs
    event: str | None = None  # a live event ...
    payload: dict[str, Any] = field(default_factory=dict)
    method: str | None = None  # ... or an HTTP request
    path: str | None = None
    refused_status: tuple[int, ...] = (401, 403)


@dataclass(frozen=True, slots=True)
class Sockets:
    user: str
    foreign_origin: str = FOREIGN_ORIGIN
    foreign_host: str = FOREIGN_HOST


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A burst of one request; a correct app answers some of them 429."""

    method: str
    path: str
    form: dict[str, str]
    count: int
    page: str | None = None  # opened first, as a browser opens the form before posting it


@dataclass(frozen=True, slots=True)
class Browser:
    pages: tuple[str, ...] = ()
    loads: int = 3
    user: str | None = None  # signed in first (its cookies handed to the browser); none: anonymous


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole scenario, checked; ``passwords`` holds the resolved credentials by user."""

    live_path: str
    report_path: str
    denied_key: str
    allowed_key: str
    signin: SignIn | None
    passwords: dict[str, str]
    load: Load
    uploads: tuple[Upload, ...]
    attempts: tuple[Attempt, ...]
    sockets: Sockets | None
    rate_limit: RateLimit | None
    browser: Browser | None


class _Table:
    """One TOML table being read: every key taken is remembered, the rest are errors."""

    def __init__(self, where: str, data: object) -> None:
        if not isinstance(data, dict):
            raise ScenarioError(f"{where} must be a table")
        self.where = where
        self.data = data
        self.taken: set[str] = set()

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, *, required: bool = False) -> Any:
        self.taken.add(key)
        if key not in self.data:
            if required:
                raise ScenarioError(f"{self.where}.{key} is required")
            return default
        value = self.data[key]
        if (isinstance(value, bool) and kind is int) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise ScenarioError(f"{self.where}.{key} must be a {names}, not {value!r}")
        return value

    def count(self, key: str, default: int, low: int = 0, high: int = 10_000) -> int:
        value: int = self.get(key, int, default)
        if not low <= value <= high:
            raise ScenarioError(f"{self.where}.{key} must be between {low} and {high}, not {value}")
        return value

    def path(self, key: str, default: str | None = None, *, required: bool = False) -> Any:
        value = self.get(key, str, default, required=required)
        if value is not None and not value.startswith("/"):
            raise ScenarioError(f"{self.where}.{key} must be a path starting with /, not {value!r}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.get(key, list, [])
        if not all(isinstance(v, str) for v in values):
            raise ScenarioError(f"{self.where}.{key} must be a list of strings")
        return tuple(values)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.taken)
        if unknown:
            raise ScenarioError(f"unknown key{'s' if len(unknown) > 1 else ''} in {self.where}: "
                                + ", ".join(unknown))


def _string_map(where: str, data: object) -> dict[str, str]:
    if not isinstance(data, dict) or not all(isinstance(v, str | int | float) for v in data.values()):
        raise ScenarioError(f"{where} must be a table of strings")
    return {str(k): str(v) for k, v in data.items()}


def _user(where: str, name: str, users: dict[str, str]) -> str:
    if name not in users:
        known = ", ".join(sorted(users)) or "none"
        raise ScenarioError(f"{where} names user {name!r}, which [users] does not define (defined: {known})")
    return name


def _passwords(data: object, environ: dict[str, str]) -> dict[str, str]:
    users = _Table("users", data)
    out: dict[str, str] = {}
    for name in list(users.data):
        entry = _Table(f"users.{name}", users.get(name, dict))
        env_name = entry.get("password_env", str)
        password = entry.get("password", str)
        entry.done()
        if env_name is not None and env_name in environ:
            out[name] = environ[env_name]
        elif password is not None:
            out[name] = password
        else:
            hint = f"set {env_name}" if env_name else "give password_env (or password, for demo accounts)"
            raise ScenarioError(f"users.{name}: no password: {hint}")
    users.done()
    return out


def _load(data: object, users: dict[str, str]) -> Load:
    t = _Table("load", data)
    actions = []
    for i, raw in enumerate(t.get("actions", list, [])):
        if not isinstance(raw, dict) or not isinstance(raw.get("event"), str):
            raise ScenarioError(f"load.actions[{i}] must be a table with an event name")
        user = raw.get("user")
        if user is not None:
            _user(f"load.actions[{i}].user", user, users)
        actions.append(Action(raw["event"], {k: v for k, v in raw.items() if k not in ("event", "user")}, user))
    load = Load(
        sessions=t.count("sessions", 0, 0, 1000), concurrency=t.count("concurrency", 8, 1, 100),
        users=tuple(_user(f"load.users[{i}]", u, users) for i, u in enumerate(t.strings("users"))),
        pages=t.strings("pages"), page_loads=t.count("page_loads", 1, 0, 100),
        reconnects=t.count("reconnects", 0, 0, 1000), hold_ms=t.count("hold_ms", 0, 0, 60_000),
        actions=tuple(actions),
    )
    t.done()
    if load.reconnects > load.sessions:
        raise ScenarioError(f"load.reconnects ({load.reconnects}) cannot exceed load.sessions ({load.sessions})")
    return load


def _upload(i: int, data: object, users: dict[str, str]) -> Upload:
    t = _Table(f"uploads[{i}]", data)
    upload = Upload(
        user=_user(f"uploads[{i}].user", t.get("user", str, required=True), users),
        path=t.path("path", required=True), field=t.get("field", str, "file"),
        form=_string_map(f"uploads[{i}].form", t.get("form", dict, {})),
        clean=t.count("clean", 1, 0, 1000), eicar=t.get("eicar", bool, True),
    )
    t.done()
    return upload


def _request(where: str, request: str) -> tuple[str, str]:
    method, _, path = request.partition(" ")
    if not method.isalpha() or not path.startswith("/"):
        raise ScenarioError(f"{where} must read like \"POST /path\", not {request!r}")
    return method.upper(), path


def _rate_limit(data: object) -> RateLimit:
    t = _Table("rate_limit", data)
    method, path = _request("rate_limit.request", t.get("request", str, required=True))
    limit = RateLimit(method, path, _string_map("rate_limit.form", t.get("form", dict, {})),
                      t.count("count", 20, 1, 1000), t.path("page"))
    t.done()
    return limit


def _attempt(i: int, data: object, users: dict[str, str]) -> Attempt:
    t = _Table(f"attempts[{i}]", data)
    check = t.get("check", str, required=True)
    if check not in _CHECKS:
        raise ScenarioError(f"attempts[{i}].check must be one of {', '.join(sorted(_CHECKS))}, not {check!r}")
    event, request = t.get("event", str), t.get("request", str)
    if (event is None) == (request is None):
        raise ScenarioError(f"attempts[{i}] needs exactly one of event (a live event) or request (\"POST /path\")")
    method, path = _request(f"attempts[{i}].request", request) if request is not None else (None, None)
    statuses = t.get("refused_status", list, [401, 403])
    if not statuses or not all(isinstance(s, int) and 400 <= s < 600 for s in statuses):
        raise ScenarioError(f"attempts[{i}].refused_status must list HTTP error codes")
    attempt = Attempt(
        name=t.get("name", str, event or request), user=_user(f"attempts[{i}].user", t.get("user", str, required=True),
                                                                users),
        check=check, required=t.get("required", str, required=True), event=event,
        payload=dict(t.get("payload", dict, {})), method=method, path=path,
        refused_status=tuple(statuses),
    )
    t.done()
    return attempt


def parse(data: dict[str, Any], where: str = "scenario", environ: dict[str, str] | None = None) -> Scenario:
    """A checked :class:`Scenario` from a parsed TOML document."""
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise ScenarioError(f"{where}: unknown table{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(_TOP))})")
    passwords = _passwords(data.get("users", {}), dict(os.environ if environ is None else environ))
    app = _Table("app", data.get("app", {}))
    live_path, report_path = app.path("live_path", "/live"), app.path("report_path", "/_liveobs/report")
    denied_key = app.get("denied_key", str, "denied")
    allowed_key = app.get("allowed_key", str, "patch")
    app.done()
    signin = None
    if "signin" in data:
        s = _Table("signin", data["signin"])
        signin = SignIn(page=s.path("page", "/signin"), path=s.path("path", "/signin"),
                        landing=s.path("landing", "/"), fields=_string_map("signin.fields", s.get("fields", dict, {})))
        s.done()
    if passwords and signin is None:
        raise ScenarioError(f"{where}: [users] needs a [signin] table saying how they sign in")
    sockets = None
    if "sockets" in data:
        k = _Table("sockets", data["sockets"])
        sockets = Sockets(_user("sockets.user", k.get("user", str, required=True), passwords),
                          k.get("foreign_origin", str, FOREIGN_ORIGIN), k.get("foreign_host", str, FOREIGN_HOST))
        k.done()
    browser = None
    if "browser" in data:
        b = _Table("browser", data["browser"])
        user = b.get("user", str)
        browser = Browser(b.strings("pages"), b.count("loads", 3, 1, 100),
                          _user("browser.user", user, passwords) if user is not None else None)
        b.done()
    return Scenario(
        live_path=live_path, report_path=report_path, denied_key=denied_key, allowed_key=allowed_key, signin=signin,
        passwords=passwords,
        load=_load(data.get("load", {}), passwords),
        uploads=tuple(_upload(i, u, passwords) for i, u in enumerate(_list(data, "uploads"))),
        attempts=tuple(_attempt(i, a, passwords) for i, a in enumerate(_list(data, "attempts"))),
        sockets=sockets, rate_limit=_rate_limit(data["rate_limit"]) if "rate_limit" in data else None,
        browser=browser,
    )


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ScenarioError(f"{key} must be an array of tables ([[{key}]])")
    return value


def load_scenario(path: str | Path, environ: dict[str, str] | None = None) -> Scenario:
    """Read and check a scenario file; any problem is a :class:`ScenarioError` naming it."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}") from None
    try:
        return parse(data, str(path), environ)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
