"""The daemon's settings: TOML file plus ILERTD_* environment overrides, validated and frozen."""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ENV_PREFIX",
    "ActorsConfig",
    "ChannelConfig",
    "ChannelsConfig",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "DatabaseConfig",
    "LimitsConfig",
    "SecurityConfig",
    "ServerConfig",
    "SmtpInConfig",
    "TwilioConfig",
    "check_config",
    "env_var_name",
    "load_config",
    "setting_keys",
    "with_credentials",
]

ENV_PREFIX = "ILERTD_"
ENV_SOURCE = "environment"


# --- the settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8020
    public_url: str = ""
    max_body_bytes: int = 524288
    max_connections: int = 1000
    header_timeout: int = 10
    body_timeout: int = 60
    keepalive_timeout: int = 5

    @property
    def effective_public_url(self) -> str:
        """The base URL put into reply links: `public_url` if set, else derived from host:port."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        # A bare IPv6 literal is ambiguous next to the port separator unless bracketed.
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = ""

    def effective_url(self, data_dir: Path) -> str:
        """The configured URL, or the SQLite file inside `data_dir` when none is set."""
        return self.url or f"sqlite:///{data_dir / 'ilertd.db'}"


@dataclass(frozen=True)
class SecurityConfig:
    # Kept out of repr so that logging the config does not leak it.
    secret_key: str = field(default="", repr=False)
    link_ttl: int = 86400


@dataclass(frozen=True)
class ChannelConfig:
    url: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.url)


@dataclass(frozen=True)
class ChannelsConfig:
    email: ChannelConfig = field(default_factory=ChannelConfig)
    sms: ChannelConfig = field(default_factory=ChannelConfig)
    push: ChannelConfig = field(default_factory=ChannelConfig)


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str = ""
    auth_token: str = field(default="", repr=False)
    from_number: str = ""
    api_base_url: str = "https://api.twilio.com"


@dataclass(frozen=True)
class SmtpInConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 2525
    domain: str = ""


@dataclass(frozen=True)
class LimitsConfig:
    events_per_minute_per_key: int = 0


@dataclass(frozen=True)
class ActorsConfig:
    max_live_incidents: int = 1000
    idle_seconds: int = 30


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    channels: ChannelsConfig = field(default_factory=ChannelsConfig)
    twilio: TwilioConfig = field(default_factory=TwilioConfig)
    smtp_in: SmtpInConfig = field(default_factory=SmtpInConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    actors: ActorsConfig = field(default_factory=ActorsConfig)

    @property
    def public_url(self) -> str:
        return self.server.effective_public_url


# --- problems -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the settings, located as precisely as the source allows."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        # File-level problems (unreadable file, TOML syntax) belong to no key.
        if not self.key:
            return f"{where}: {self.message}"
        return f"{where}: {self.key}: {self.message}"


class ConfigError(Exception):
    """Raised by `load_config` when the settings are invalid; carries every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# --- schema -------------------------------------------------------------------------------------

_KeyPath = tuple[str, ...]

_HINTS_CACHE: dict[type, dict[str, Any]] = {}


def _fields(cls: type) -> dict[str, Any]:
    """Field name -> resolved type, in declaration order (annotations are strings here)."""
    hints = _HINTS_CACHE.get(cls)
    if hints is None:
        resolved = typing.get_type_hints(cls)
        hints = {f.name: resolved[f.name] for f in dataclasses.fields(cls)}
        _HINTS_CACHE[cls] = hints
    return hints


def _is_table(typ: Any) -> bool:
    return isinstance(typ, type) and dataclasses.is_dataclass(typ)


def _scalars(cls: type = Config, prefix: _KeyPath = ()) -> Iterator[tuple[_KeyPath, type]]:
    for name, typ in _fields(cls).items():
        if _is_table(typ):
            yield from _scalars(typ, (*prefix, name))
        else:
            yield (*prefix, name), typ


def setting_keys() -> list[str]:
    """Every dotted key there is, e.g. `server.port`, `channels.email.url`."""
    return [".".join(path) for path, _ in _scalars()]


def with_credentials(environ: Mapping[str, str], credentials_dir: Path | None) -> dict[str, str]:
    """The environment plus secrets from systemd's `LoadCredential=` (a file per dotted key).

    A credential named like a key (`security.secret_key`, `twilio.auth_token`,
    `database.url`, ...) sets it unless the environment already does; either wins over the file.
    """
    merged = dict(environ)
    if credentials_dir is None:
        return merged
    for key in setting_keys():
        path = credentials_dir / key
        name = env_var_name(key)
        if name not in merged and path.is_file():
            merged[name] = path.read_text().strip()
    return merged


def env_var_name(key: str) -> str:
    """The environment variable overriding a dotted key: `server.port` -> `ILERTD_SERVER_PORT`."""
    return ENV_PREFIX + key.replace(".", "_").upper()


# --- locating keys in the file text -------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_LOCATION = re.compile(r"\(at line (\d+), column \d+\)")


def _parse_key(text: str, i: int) -> tuple[list[str], int] | None:
    """Read a possibly dotted, possibly quoted TOML key at text[i:]; None if there is none."""
    parts: list[str] = []
    n = len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return None
        ch = text[i]
        if ch == '"':
            j = i + 1
            buf: list[str] = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                return None
            parts.append("".join(buf))
            i = j + 1
        elif ch == "'":
            j = text.find("'", i + 1)
            if j < 0:
                return None
            parts.append(text[i + 1 : j])
            i = j + 1
        else:
            m = _BARE_KEY.match(text, i)
            if not m:
                return None
            parts.append(m.group())
            i = m.end()
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == ".":
            i += 1
            continue
        return parts, i


class _Locator:
    """Maps key paths to the line defining them, since tomllib reports no positions for values."""

    def __init__(self, text: str) -> None:
        self._lines: dict[_KeyPath, int] = {}
        # Lines inside multi-line strings and arrays can look like headers or keys; track them.
        self._open_string: str | None = None
        self._depth = 0
        table: _KeyPath = ()
        for lineno, line in enumerate(text.splitlines(), start=1):
            if self._open_string is not None or self._depth > 0:
                self._scan_value(line, 0)
                continue
            stripped = line.lstrip()
            start = len(line) - len(stripped)
            if stripped.startswith("["):
                opener = 2 if stripped.startswith("[[") else 1
                parsed = _parse_key(line, start + opener)
                if parsed is not None and line.startswith("]", parsed[1]):
                    table = tuple(parsed[0])
                    self._record(table, lineno)
                continue
            if not stripped or stripped.startswith("#"):
                continue
            parsed = _parse_key(line, start)
            if parsed is not None and line.startswith("=", parsed[1]):
                self._record((*table, *parsed[0]), lineno)
                self._scan_value(line, parsed[1] + 1)

    def _record(self, path: _KeyPath, lineno: int) -> None:
        # Prefixes too, so an implicitly created table is located at its first mention.
        for n in range(1, len(path) + 1):
            self._lines.setdefault(path[:n], lineno)

    def _scan_value(self, line: str, i: int) -> None:
        n = len(line)
        while i < n:
            if self._open_string is not None:
                delim = self._open_string
                while i < n:
                    if delim == '"""' and line[i] == "\\":
                        i += 2
                        continue
                    if line.startswith(delim, i):
                        self._open_string = None
                        i += 3
                        break
                    i += 1
                continue
            ch = line[i]
            if ch == "#":
                return
            if ch in "\"'":
                if line.startswith(ch * 3, i):
                    self._open_string = ch * 3
                    i += 3
                    continue
                j = i + 1
                while j < n and line[j] != ch:
                    j += 2 if ch == '"' and line[j] == "\\" else 1
                i = j + 1
                continue
            if ch in "[{":
                self._depth += 1
            elif ch in "]}":
                self._depth = max(0, self._depth - 1)
            i += 1

    def line_of(self, path: _KeyPath) -> int | None:
        """The line of `path`, else of its nearest enclosing table or key, else None."""
        for n in range(len(path), 0, -1):
            lineno = self._lines.get(path[:n])
            if lineno is not None:
                return lineno
        return None


# --- checking values ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Setting:
    """A value that passed its type check, and where it came from."""

    value: Any
    file: str
    line: int | None
    env_var: str | None = None


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the float {value}"
    if isinstance(value, str):
        return f'the string "{value}"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return "a date/time"


def _type_error(typ: type, value: Any) -> str | None:
    if typ is bool:
        ok = isinstance(value, bool)
        expected = "must be true or false"
    elif typ is int:
        # bool is an int subclass in Python, but `port = true` is surely a mistake.
        ok = isinstance(value, int) and not isinstance(value, bool)
        expected = "must be an integer"
    else:
        ok = isinstance(value, str)
        expected = "must be a string"
    return None if ok else f"{expected}, got {_describe(value)}"


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _from_env(typ: type, raw: str) -> tuple[Any, str | None]:
    if typ is bool:
        word = raw.strip().lower()
        if word in _TRUE:
            return True, None
        if word in _FALSE:
            return False, None
        return None, f"must be one of true/false/1/0/yes/no, got {raw!r}"
    if typ is int:
        try:
            return int(raw.strip(), 10), None
        except ValueError:
            return None, f"must be an integer, got {raw!r}"
    return raw, None


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else f"must be between 1 and 65535, got {value}"


def _positive(value: int) -> str | None:
    return None if value > 0 else f"must be greater than 0, got {value}"


def _at_least_one(value: int) -> str | None:
    return None if value >= 1 else f"must be at least 1, got {value}"


def _non_negative(value: int) -> str | None:
    return None if value >= 0 else f"must be 0 (off) or greater, got {value}"


def _non_empty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


_HTTP_URL = re.compile(r"https?://[^\s/?#]+\S*", re.IGNORECASE)


def _http_url(value: str) -> str | None:
    if _HTTP_URL.fullmatch(value):
        return None
    return f"must be an http:// or https:// URL, got {value!r}"


def _optional_http_url(value: str) -> str | None:
    return None if not value else _http_url(value)


def _optional_url(value: str) -> str | None:
    if not value or "://" in value:
        return None
    return f"must be a URL of the form scheme://..., got {value!r}"


def _optional_apprise_url(value: str) -> str | None:
    if not value or "://" in value:
        return None
    return (
        f"must be an apprise URL of the form scheme://... "
        f"(e.g. mailto://host?to={{contact}}), got {value!r}"
    )


_RULES: dict[_KeyPath, Callable[[Any], str | None]] = {
    ("server", "host"): _non_empty,
    ("server", "port"): _port,
    ("server", "public_url"): _optional_http_url,
    ("server", "max_body_bytes"): _positive,
    ("server", "max_connections"): _positive,
    ("server", "header_timeout"): _positive,
    ("server", "body_timeout"): _positive,
    ("server", "keepalive_timeout"): _positive,
    ("database", "url"): _optional_url,
    ("security", "link_ttl"): _positive,
    ("channels", "email", "url"): _optional_apprise_url,
    ("channels", "sms", "url"): _optional_apprise_url,
    ("channels", "push", "url"): _optional_apprise_url,
    ("twilio", "api_base_url"): _http_url,
    ("smtp_in", "host"): _non_empty,
    ("smtp_in", "port"): _port,
    ("limits", "events_per_minute_per_key"): _non_negative,
    ("actors", "max_live_incidents"): _at_least_one,
    ("actors", "idle_seconds"): _at_least_one,
}


def _unknown_message(name: str, value: Any, cls: type, prefix: _KeyPath) -> str:
    kind = "section" if isinstance(value, dict) else "key"
    names = list(_fields(cls))
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"unknown {kind}; did you mean '{close[0]}'?"
    if not prefix and kind == "key":
        # A key written above every [section] header: point at the section that owns it.
        owners = [".".join(p) for p, _ in _scalars() if p[-1] == name]
        if owners:
            return f"unknown key; did you mean '{owners[0]}'? (keys belong under a [section])"
    return f"unknown {kind}; expected one of: {', '.join(names)}"


class _Checker:
    def __init__(self) -> None:
        self.problems: list[ConfigProblem] = []
        self.values: dict[_KeyPath, _Setting] = {}

    def read_file(self, path: Path) -> None:
        name = str(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            self.problems.append(ConfigProblem(name, None, "", "file not found"))
            return
        except UnicodeDecodeError as exc:
            self.problems.append(ConfigProblem(name, None, "", f"not valid UTF-8: {exc}"))
            return
        except OSError as exc:
            self.problems.append(ConfigProblem(name, None, "", f"cannot read: {exc.strerror}"))
            return
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            found = _TOML_LOCATION.search(str(exc))
            lineno = int(found.group(1)) if found else None
            self.problems.append(ConfigProblem(name, lineno, "", f"invalid TOML: {exc}"))
            return
        self._walk(Config, document, (), name, _Locator(text))

    def _walk(
        self, cls: type, table: dict[str, Any], prefix: _KeyPath, name: str, locator: _Locator
    ) -> None:
        fields = _fields(cls)
        for key, value in table.items():
            path = (*prefix, key)
            dotted = ".".join(path)
            lineno = locator.line_of(path)
            typ = fields.get(key)
            if typ is None:
                message = _unknown_message(key, value, cls, prefix)
                self.problems.append(ConfigProblem(name, lineno, dotted, message))
            elif _is_table(typ):
                if isinstance(value, dict):
                    self._walk(typ, value, path, name, locator)
                else:
                    message = f"must be a table [{dotted}], got {_describe(value)}"
                    self.problems.append(ConfigProblem(name, lineno, dotted, message))
            elif (error := _type_error(typ, value)) is not None:
                self.problems.append(ConfigProblem(name, lineno, dotted, error))
            else:
                self.values[path] = _Setting(value, name, lineno)

    def read_environ(self, environ: Mapping[str, str]) -> None:
        for path, typ in _scalars():
            dotted = ".".join(path)
            var = env_var_name(dotted)
            raw = environ.get(var)
            if raw is None:
                continue
            value, error = _from_env(typ, raw)
            if error is not None:
                self.problems.append(ConfigProblem(ENV_SOURCE, None, dotted, f"{var}: {error}"))
            else:
                self.values[path] = _Setting(value, ENV_SOURCE, None, var)

    def check_values(self) -> None:
        for path, setting in self.values.items():
            rule = _RULES.get(path)
            error = rule(setting.value) if rule is not None else None
            if error is None:
                continue
            if setting.env_var is not None:
                error = f"{setting.env_var}: {error}"
            problem = ConfigProblem(setting.file, setting.line, ".".join(path), error)
            self.problems.append(problem)

    def build(self, cls: type = Config, prefix: _KeyPath = ()) -> Any:
        kwargs: dict[str, Any] = {}
        for name, typ in _fields(cls).items():
            path = (*prefix, name)
            if _is_table(typ):
                kwargs[name] = self.build(typ, path)
            elif path in self.values:
                kwargs[name] = self.values[path].value
        return cls(**kwargs)


def _evaluate(
    path: Path | None, environ: Mapping[str, str] | None
) -> tuple[Config, list[ConfigProblem]]:
    checker = _Checker()
    if path is not None:
        checker.read_file(Path(path))
    checker.read_environ(os.environ if environ is None else environ)
    checker.check_values()
    # File problems in file order, then the environment's; stable within each group.
    problems = sorted(
        checker.problems, key=lambda p: (p.file == ENV_SOURCE, p.line if p.line is not None else 0)
    )
    return checker.build(), problems


# --- public entry points ------------------------------------------------------------------------


def load_config(path: Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Read `path` (None: no file) plus ILERTD_* overrides from `environ` (None: os.environ).

    Raises ConfigError listing every problem if anything is invalid, including a missing file.
    """
    config, problems = _evaluate(path, environ)
    if problems:
        raise ConfigError(problems)
    return config


def check_config(path: Path, environ: Mapping[str, str] | None = None) -> list[ConfigProblem]:
    """Every problem with `path` and the ILERTD_* overrides in `environ`; empty when valid."""
    return _evaluate(path, environ)[1]
