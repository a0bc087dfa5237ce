"""The settings as loaded: one frozen dataclass a `[section]`, with its defaults, and the whole `Config`."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


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

    @property
    def public_path(self) -> str:
        """The path of `public_url` without its last "/" ("" for none): a proxy serving ilertd under
        a sub-path. Links and redirects begin with it; a request may come with it or without it."""
        return urlsplit(self.effective_public_url).path.rstrip("/")


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
    # argon2id's cost for each password hash made from now on (and each login checked): memory in
    # KiB, passes, lanes. The defaults are argon2's RFC 9106 low-memory choice.
    password_memory_kib: int = 65536
    password_time_cost: int = 3
    password_parallelism: int = 4


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


def is_loopback(host: str) -> bool:
    """Whether `host` (a name, an address, an IPv6 address in brackets) is this machine's alone."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# Twilio places calls only from an E.164 number (error 21212 otherwise).
NOT_E164 = ("{number!r} is not an E.164 number such as +15550001111: Twilio places no call from it, and "
            "every voice page would fail")


def twilio_cannot_call_back(config: Config) -> str | None:
    """Why Twilio cannot reach ilertd at `server.public_url`, when replies and calls depend on it
    (`twilio.auth_token` set) and it is real Twilio (a stand-in at `api_base_url`, such as a test's
    loopback server or a proxy, is trusted to reach it); None when it can. Twilio fetches each
    call's TwiML and signs each request it sends by that URL: unreachable, every call says "an
    application error has occurred" and every reply is refused 403."""
    twilio = config.twilio
    if not twilio.auth_token.strip() or twilio.api_base_url.rstrip("/") != TwilioConfig.api_base_url:
        return None
    url = config.server.public_url.strip()
    host = (urlsplit(url).hostname or "") if url else ""
    if url and not is_loopback(host):
        return None
    where = (f"not set (so {config.public_url} is used)" if not url
             else f"{url!r}, a loopback address")
    return (f"twilio.auth_token is set, so Twilio calls ilertd back at server.public_url, which is {where}: "
            "Twilio cannot reach it (every call would say \"an application error has occurred\", every "
            "reply be refused 403); set it to the URL Twilio reaches ilertd at")


@dataclass(frozen=True)
class SmtpInConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 2525
    domain: str = ""

    @property
    def own_domain(self) -> str:
        """The domain whose mail ilertd's listener takes, all of it: empty while it is off."""
        return self.domain.strip() if self.enabled else ""


@dataclass(frozen=True)
class LimitsConfig:
    events_per_minute_per_key: int = 0


@dataclass(frozen=True)
class ActorsConfig:
    max_live_incidents: int = 1000
    idle_seconds: int = 30


@dataclass(frozen=True)
class RetentionConfig:
    # Days a RESOLVED incident is kept (with its events, log and pages) before it is deleted;
    # 0 keeps every incident.
    resolved_incident_days: int = 0


@dataclass(frozen=True)
class LogConfig:
    # "text" or "json" (one JSON object a line).
    format: str = "text"
    # The lowest level logged: DEBUG, INFO, WARNING, ERROR or CRITICAL.
    level: str = "INFO"


@dataclass(frozen=True)
class MetricsConfig:
    # Empty: `GET /metrics` needs no token. A credential: kept out of repr, as the other secrets.
    token: str = field(default="", repr=False)


@dataclass(frozen=True)
class PluginSections:
    """The `[plugins.NAME]` tables as written, and the ILERTD_PLUGINS_* variables, unchecked:
    only a loaded plugin knows its keys (`check_plugin_section` checks one section)."""

    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    # Where each table and key was written: (name,) or (name, key) -> line.
    lines: Mapping[tuple[str, ...], int | None] = field(default_factory=dict, compare=False)
    file: str = field(default="", compare=False)

    def names(self) -> list[str]:
        """The plugin names with a section in the file."""
        return list(self.tables)


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
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    # [plugins.NAME]: each plugin's own section, checked against its declared keys when it loads.
    plugins: PluginSections = field(default_factory=PluginSections)

    @property
    def public_url(self) -> str:
        return self.server.effective_public_url
