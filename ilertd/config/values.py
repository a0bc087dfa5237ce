"""Checking one value: its type, whether written in TOML or as an ILERTD_* string, and its key's rule."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from ilertd.config.schema import KeyPath


@dataclass(frozen=True)
class Setting:
    """A value that passed its type check, and where it came from."""

    value: Any
    file: str
    line: int | None
    env_var: str | None = None


def describe(value: Any) -> str:
    """How a problem names a value: `the integer 3`, `a table`."""
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


def type_error(typ: type, value: Any) -> str | None:
    """Why `value`, as TOML parsed it, is not of type `typ`; None when it is."""
    if typ is bool:
        ok = isinstance(value, bool)
        expected = "must be true or false"
    elif typ is int:
        # bool is an int subclass in Python, but `port = true` is surely a mistake.
        ok = isinstance(value, int) and not isinstance(value, bool)
        expected = "must be an integer"
    elif typ is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        expected = "must be a number"
    else:
        ok = isinstance(value, str)
        expected = "must be a string"
    return None if ok else f"{expected}, got {describe(value)}"


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def value_from_env(typ: type, raw: str) -> tuple[Any, str | None]:
    """An ILERTD_* string read as `typ`: (the value, None), or (None, why it cannot be)."""
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
    if typ is float:
        try:
            return float(raw.strip()), None
        except ValueError:
            return None, f"must be a number, got {raw!r}"
    return raw, None


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else f"must be between 1 and 65535, got {value}"


def _positive(value: int) -> str | None:
    return None if value > 0 else f"must be greater than 0, got {value}"


def _at_least_one(value: int) -> str | None:
    return None if value >= 1 else f"must be at least 1, got {value}"


def _non_negative(value: int) -> str | None:
    return None if value >= 0 else f"must be 0 (off) or greater, got {value}"


def _within(low: int, high: int, why: str) -> Callable[[int], str | None]:
    """A count between `low` and `high`; above `high` it is no setting anyone means (`why`), and
    past what dates and timers can hold it failed later, each time it was used (an action link's
    expiry: no page sent at all)."""
    def rule(value: int) -> str | None:
        if value < low:
            return f"must be {'0 (off) or greater' if low == 0 else f'at least {low}'}, got {value}"
        if value > high:
            return f"must be at most {high:,} ({why}), got {value:,}"
        return None
    return rule


def _non_empty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


_HTTP_URL = re.compile(r"https?://[^\s/?#]+\S*", re.IGNORECASE)


def _http_url(value: str) -> str | None:
    if _HTTP_URL.fullmatch(value):
        return None
    return f"must be an http:// or https:// URL, got {value!r}"


# The first path segments of ilertd's own routes: under a public_url whose path began with one, a
# request for that path could not be told from one for ilertd's route.
OWN_PATH_SEGMENTS = ("api", "ui", "r", "v2", "healthz", "metrics")
# A path written the same in a request's bytes as decoded: nothing to percent-encode.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9._~/-]*")


def _public_url(value: str) -> str | None:
    """An http(s) URL; with a path, ilertd is reached under it (a proxy's sub-path)."""
    if not value:
        return None
    if problem := _http_url(value):
        return problem
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        return f"must have no query or fragment, got {value!r}"
    if not _PLAIN_PATH.fullmatch(parts.path):
        return f"its path may hold only letters, digits and - . _ ~ /, got {value!r}"
    first = parts.path.strip("/").split("/", 1)[0]
    if first in OWN_PATH_SEGMENTS:
        return f"its path must not begin with /{first}, a path of ilertd's own, got {value!r}"
    return None


DATABASE_FORMS = "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB"


# `?name=value` (and more `&name=value`) ending a SQLite URL: parameters, not part of a file's name.
_URL_PARAMETERS = re.compile(r"\?[A-Za-z_][A-Za-z0-9_]*=[^/]*$")


def _database_url(value: str) -> str | None:
    """What the store can open, checked before it is tried: another scheme, a SQLite URL with two
    slashes, or a PostgreSQL one without its database made `serve` end in a traceback. A message
    never shows a PostgreSQL URL: it may hold the password."""
    if not value:
        return None
    scheme, separator, rest = value.partition("://")
    if not separator:
        return f"must be {DATABASE_FORMS} (the value is not shown: it may hold a password)"
    if scheme == "sqlite":
        if not rest.startswith("/") or not rest.strip("/"):
            return (f"must be sqlite:///PATH: three slashes, then the file (sqlite:////var/lib/x.db),"
                    f" got {value!r}")
        if _URL_PARAMETERS.search(rest):
            # Read by older releases as parameters (peewee's), the file's name ends before them;
            # now it is the whole path: the same setting would open another, empty store.
            return ("takes no parameters: ilertd sets SQLite's own; name the file alone"
                    f" (sqlite:///PATH), got {value!r}")
        if rest[1:] == ":memory:":
            # Gone with each connection: serve printed a first-run token for a store that then
            # had no tables, and failed in tracebacks.
            return "must name a file: an in-memory SQLite store keeps nothing (sqlite:///PATH)"
        return None
    if scheme not in ("postgresql", "postgres"):
        return f"must be {DATABASE_FORMS}: the scheme {scheme[:20]!r} is not one ilertd opens"
    parts = urlsplit(value)
    try:
        _port = parts.port
    except ValueError:
        return "a postgresql:// URL's port must be a number from 1 to 65535"
    if not parts.path.strip("/"):
        return f"a postgresql:// URL must name its database: {DATABASE_FORMS.split(' or ')[1]}"
    return None


def _optional_apprise_url(value: str) -> str | None:
    if not value:
        return None
    if "://" not in value:
        return (
            f"must be an apprise URL of the form scheme://... "
            f"(e.g. mailto://host?to={{contact}}), got {value!r}"
        )
    if "{contact}" not in value:
        # Without it every contact of the method would be sent to the same place.
        return ("must contain {contact} where each contact's target goes "
                "(e.g. mailto://host?to={contact}, twilio://SID:TOKEN@+15550001111/{contact})")
    return None


# A contact of each channel that apprise reads as one, put where `{contact}` stands, to see whether
# apprise can read the URL at all (the channel actors warm their plugins with the same).
STAND_IN_CONTACTS = {"email": "warm-up@example.invalid", "sms": "+15550000000", "push": "ilertd-warm-up"}


@contextmanager
def _quiet_apprise() -> Iterator[Any]:
    """apprise (imported here: nothing else of the configuration needs it), its log silenced: its
    "Unparseable URL" line would show part of the URL, which may hold a credential."""
    import apprise

    log = logging.getLogger("apprise")
    level = log.level
    log.setLevel(logging.CRITICAL + 1)
    try:
        yield apprise
    finally:
        log.setLevel(level)


def _apprise_reads(url: str) -> bool:
    with _quiet_apprise() as apprise:
        return apprise.Apprise.instantiate(url, suppress_exceptions=True) is not None


def unreadable_channel_url(channel: str, value: str) -> str | None:
    """Why apprise cannot read a channel's URL (with a contact in place of `{contact}`), or None.
    Checked by `ilertd check-config`, not when the daemon starts: one channel's bad URL must not
    keep the others from paging (the daemon logs it instead). Before, such a URL passed, and every
    page of the channel failed 25 times, then for good."""
    if not value or _optional_apprise_url(value) is not None:
        return None
    if _apprise_reads(value.replace("{contact}", quote(STAND_IN_CONTACTS[channel], safe=""))):
        return None
    return ("apprise cannot read this URL (with a contact in place of {contact}): its scheme, or a part"
            " its service requires (an account id, a key), is wrong; the value is not shown, it may"
            " hold a credential")


CHANNEL_URL_KEYS = tuple(("channels", channel, "url") for channel in STAND_IN_CONTACTS)

# A second contact of each channel, told apart from the first by any URL that carries it.
OTHER_STAND_IN_CONTACTS = {"email": "warm-up-2@example.invalid", "sms": "+15550000001",
                           "push": "ilertd-warm-up-2"}


def _parsed(url: str) -> str | None:
    """The URL as apprise reads it back (every part it keeps), or None when it cannot."""
    with _quiet_apprise() as apprise:
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        try:
            return plugin.url(privacy=False) if plugin is not None else None
        except Exception:  # a plugin's own code: whatever it raises, the URL cannot be compared
            return None


def _carries_contact(channel: str) -> Callable[[str], str | None]:
    """A channel URL's rule: besides the form of `_optional_apprise_url`, the contact must reach
    the provider. json://, form:// and xml:// drop a plain query parameter (`?to={contact}`): every
    page went to the gateway without its number, and counted as sent. Two contacts put in its
    place must make two different URLs as apprise reads them; a URL apprise cannot read at all is
    named by `ilertd check-config` (unreadable_channel_url)."""
    def rule(value: str) -> str | None:
        if problem := _optional_apprise_url(value):
            return problem
        if not value:
            return None
        first, second = (_parsed(value.replace("{contact}", quote(contacts[channel], safe="")))
                         for contacts in (STAND_IN_CONTACTS, OTHER_STAND_IN_CONTACTS))
        if first is None or first != second:
            return None
        scheme = value.split("://", 1)[0].lower()
        hint = (" json://, form:// and xml:// ignore a plain query parameter such as ?to={contact}:"
                " put it in the path (json://gateway.example.com/sms/{contact}) or in the body"
                " (?:to={contact});" if scheme.rstrip("s") in ("json", "form", "xml") else
                " put {contact} where this service takes its recipient (apprise's page of the"
                " service names it);")
        return ("apprise drops the contact from this URL: it reads the same whatever {contact} is, so"
                f" every page would reach the provider without its recipient.{hint} the value is not"
                " shown, it may hold a credential")
    return rule


LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str | None]:
    """A rule: the value is one of `choices`, written as they are (a case slip is named)."""
    def rule(value: str) -> str | None:
        if value in choices:
            return None
        close = next((c for c in choices if c.lower() == value.strip().lower()), None)
        hint = f" (did you mean {close!r}?)" if close else ""
        return f"must be one of {', '.join(choices)}, got {value!r}{hint}"
    return rule


# A host name: labels of letters (any script: IDNA), digits and hyphens, joined by dots.
_DOMAIN = re.compile(r"(?:[^\W_](?:[\w-]*[^\W_])?\.)*[^\W_](?:[\w-]*[^\W_])?\.?")


def _mail_domain(value: str) -> str | None:
    # Mail comes to <integration key>@<domain>: an address or a URL given here matched no mail,
    # and every one was refused "no such mailbox".
    if not value.strip():
        return None  # empty is named with smtp_in.enabled (check_together)
    if "_" in value or not _DOMAIN.fullmatch(value.strip()):
        return (f"must be a domain name such as alerts.example.com (mail comes to <key>@<domain>),"
                f" got {value!r}")
    return None


# The link-signing key: every action link, e-mail reply key, web session and calendar feed token
# is an HMAC under it, so whoever guesses it can accept or resolve any incident from a link.
MIN_SECRET_KEY = 32


def _secret_key(value: str) -> str | None:
    if value and len(value) < MIN_SECRET_KEY:
        return (f"must be at least {MIN_SECRET_KEY} characters (it signs action links, reply keys and"
                f" web sessions: a short one can be guessed from one link), got {len(value)};"
                " `openssl rand -hex 32` makes one, or leave it empty for a generated one")
    return None


def _token(value: str) -> str | None:
    # A bearer token travels in a header: a space or a control character would never match.
    if not value:
        return None
    if value != value.strip() or any(c.isspace() or not c.isprintable() for c in value):
        return "must not contain spaces or control characters"
    return None


VALUE_RULES: dict[KeyPath, Callable[[Any], str | None]] = {
    ("server", "host"): _non_empty,
    ("server", "port"): _port,
    ("server", "public_url"): _public_url,
    ("server", "max_body_bytes"): _positive,
    ("server", "max_connections"): _positive,
    ("server", "header_timeout"): _within(1, 3600, "an hour"),
    ("server", "body_timeout"): _within(1, 3600, "an hour"),
    ("server", "keepalive_timeout"): _within(1, 3600, "an hour"),
    ("database", "url"): _database_url,
    ("security", "secret_key"): _secret_key,
    ("security", "link_ttl"): _within(1, 315_360_000, "ten years"),
    ("security", "password_memory_kib"): _within(1, 4_194_304, "4 GiB"),
    ("security", "password_time_cost"): _within(1, 100, "a login taking minutes"),
    ("security", "password_parallelism"): _within(1, 64, "more lanes than a machine has cores"),
    ("channels", "email", "url"): _carries_contact("email"),
    ("channels", "sms", "url"): _carries_contact("sms"),
    ("channels", "push", "url"): _carries_contact("push"),
    ("twilio", "api_base_url"): _http_url,
    ("smtp_in", "host"): _non_empty,
    ("smtp_in", "port"): _port,
    ("smtp_in", "domain"): _mail_domain,
    ("limits", "events_per_minute_per_key"): _non_negative,
    ("actors", "max_live_incidents"): _at_least_one,
    ("actors", "idle_seconds"): _within(1, 31_536_000, "a year"),
    ("retention", "resolved_incident_days"): _within(0, 36_500, "a century"),
    ("log", "format"): _one_of(LOG_FORMATS),
    ("log", "level"): _one_of(LOG_LEVELS),
    ("metrics", "token"): _token,
}
