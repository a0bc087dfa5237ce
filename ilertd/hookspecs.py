"""The plugin contract (pluggy project "ilertd"): the hooks a plugin implements and what they declare.

A plugin is a module (or object) registered under the `ilertd.plugins` entry-point group; the
built-ins (Event API, PagerDuty, e-mail, SMS, voice, push) are registered the same way in
ilertd's own pyproject.toml. docs/plugins.md documents every hook with an example::

    # pyproject.toml of a third-party distribution
    [project.entry-points."ilertd.plugins"]
    mytool = "ilertd_mytool"

    # ilertd_mytool.py
    from ilertd import hookimpl
    from ilertd.hookspecs import Event, Integration, IntegrationRequest

    def parse(request: IntegrationRequest) -> list[Event]:
        body = request.json()
        return [Event(event_type="ALERT", alert_key=body["id"], summary=body["title"])]

    @hookimpl
    def register_integrations() -> list[Integration]:
        return [Integration(name="mytool", integration_type="MYTOOL", parse=parse)]

The tool then posts to `/api/v1/events/mytool/{integrationKey}`. A hook implementation may take
fewer arguments than its spec (pluggy passes only those it names). ilertd calls each plugin's
hooks on their own, so a plugin that raises is reported (`ilertd plugins`) and skipped.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pluggy
from starlette.requests import Request
from starlette.routing import BaseRoute

from ilertd.actors.messages import Outcome, SourceInfo
from ilertd.app.replies import Replies
from ilertd.channels.base import DeliveryError, Message, MessageAction, Sender
from ilertd.config import Config, ConfigOption
from ilertd.domain import json_input
from ilertd.domain.events import Event
from ilertd.domain.text_input import form_fields
from ilertd.domain.wording import quoted
from ilertd.errors import ApiError
from ilertd.web.http import read_body
from ilertd.web.plugin_routes import BodyHandler, BodyReply, BodyRoute, QueuedReply, takes_events

__all__ = [
    "ApiError",
    "BodyHandler",
    "BodyReply",
    "BodyRoute",
    "Channel",
    "ConfigOption",
    "DeliveryError",
    "Event",
    "Integration",
    "IntegrationRequest",
    "Message",
    "MessageAction",
    "Outcome",
    "PluginContext",
    "QueuedReply",
    "Sender",
    "SourceInfo",
    "hookspec",
    "takes_events",
]

hookspec = pluggy.HookspecMarker("ilertd")

LAYOUTS = ("text", "email", "push", "sms", "voice")
# A contact method is stored in a column of 8 characters.
_METHOD = re.compile(r"[A-Z][A-Z0-9_]{0,7}")
# An integration's name is a URL segment, and (in upper case) the channel of its log entries: both
# are stored in columns of 32 characters, as is an alert source's type. PostgreSQL refuses longer
# text where SQLite keeps it, so a longer name would make every event of the integration fail there.
_INTEGRATION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_INTEGRATION_TYPE = re.compile(r"[A-Z][A-Z0-9_]{0,31}")


# --- what an integration sees and declares ------------------------------------------------------


_UNPARSED = object()


@dataclass(frozen=True)
class IntegrationRequest:
    """What an integration sees of the HTTP request: no sockets, so parsing stays pure."""

    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str]
    source_name: str = ""
    # The alert source the URL's key names: its `signing_secret` for a signature check, its
    # `field_mapping` for the generic webhook.
    source: SourceInfo | None = None

    def json(self) -> Any:
        """The body as JSON, or 400 INVALID_PAYLOAD saying why it is not (also for nesting deeper
        than 64 levels, a lone surrogate, NaN or a number out of range). Parsed once: every call
        returns the same value (read it, do not change it: it is what is stored with the event)."""
        parsed = self.__dict__.get("_json", _UNPARSED)
        if parsed is _UNPARSED:
            try:
                parsed = json_input.loads(self.body)
            except json_input.JsonInputError as error:
                parsed = ApiError(400, "INVALID_PAYLOAD", f"the body is not valid JSON: {error}")
            # A frozen dataclass: the cache goes in beside the fields, not through __setattr__.
            self.__dict__["_json"] = parsed
        if isinstance(parsed, ApiError):
            raise parsed
        return parsed

    def stored_payload(self) -> Any:
        """What is stored of the request with its one event: the body as a JSON value when it is
        JSON (the plugin may have read it otherwise: a form, a text), else as its text."""
        if self.body.strip():
            try:
                return self.json()
            except ApiError:
                pass
        return self.body.decode("utf-8", errors="replace")

    def form(self) -> dict[str, str]:
        """A form-encoded body (`application/x-www-form-urlencoded`) as its fields; the last
        value of a repeated field wins; U+0000 becomes U+FFFD (ilertd.domain.text_input). 400
        INVALID_PAYLOAD if it is not UTF-8."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ApiError(400, "INVALID_PAYLOAD", f"the form is not UTF-8: {error.reason}") from None
        return dict(form_fields(text))


@dataclass(frozen=True)
class Integration:
    """One way in for a tool: `name` (and each alias) is the `{type}` of `/api/v1/events/{type}/{key}`.

    `parse` maps the request to events; a ValueError, KeyError or TypeError it raises is answered
    400 INVALID_PAYLOAD, an ApiError as itself. `verify`, if given, runs first and raises an
    ApiError (e.g. 401) when the request's signature is wrong.
    """

    name: str
    integration_type: str
    parse: Callable[[IntegrationRequest], list[Event]]
    aliases: tuple[str, ...] = ()
    description: str = ""
    # Whether any alert source type may use it (the native Event API) or only its own type.
    accepts_any_source: bool = False
    verify: Callable[[IntegrationRequest], None] | None = None
    # True when `verify` may block (it fetches, as SNS's certificate check does): it then runs in a
    # worker thread, off the event loop; a plain header or HMAC check runs in place, saving the
    # hand-over to a thread and back on every request.
    verify_blocks: bool = False
    # True when every request of its tool is signed and `verify` checks it with nothing of the
    # source's (SNS's certificates): the key alone of a source of its type is refused where a
    # request names its source by the key alone (see `PluginContext.keyed_source`).
    signed: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for segment in (self.name, *self.aliases):
            if not isinstance(segment, str) or not _INTEGRATION_NAME.fullmatch(segment):
                raise ValueError(f"integration name {segment!r} must be 1 to 32 letters, digits, '_', '.'"
                                 " or '-' (a URL segment), starting with a letter or digit")
        kind = self.integration_type
        if not isinstance(kind, str) or not _INTEGRATION_TYPE.fullmatch(kind):
            raise ValueError(f"integration {self.name}: integration_type {kind!r} must be"
                             " 1 to 32 upper-case letters, digits or '_', starting with a letter")


# --- what a channel declares --------------------------------------------------------------------


@dataclass(frozen=True)
class Channel:
    """One contact method (EMAIL, SMS, ...) and how its pages leave: an apprise URL template in
    which `{contact}` stands for the contact's target, or a sender object of the plugin's own
    (`name`, `send(target, message)` raising DeliveryError; called from two channel actors'
    threads). With neither, the method's pages go to the log and are marked sent."""

    method: str
    url: str = ""
    sender: Sender | None = None
    # Send the short text (summary and link, meant for 160 characters) instead of the full one.
    short_messages: bool = False
    # Whether shift-start reminders may use it: a phone call for one would be a false page.
    reminders: bool = True
    description: str = ""
    # How its pages are laid out and answered: "email" (text and HTML parts, action links, a
    # reply), "push" (a brief text, action buttons), "sms" (one segment with a reply code),
    # "voice" (read aloud, keys), "text" (the plain text with its links).
    layout: str = "text"

    def __post_init__(self) -> None:
        if not _METHOD.fullmatch(self.method):
            raise ValueError(f"channel method {self.method!r} must be 1 to 8 upper-case letters, "
                             "digits or _, starting with a letter")
        if self.layout not in LAYOUTS:
            raise ValueError(f"channel {self.method}: layout must be one of {', '.join(LAYOUTS)}")
        if self.url and self.sender is not None:
            raise ValueError(f"channel {self.method}: give a url or a sender, not both")
        if self.sender is not None and not (callable(getattr(self.sender, "send", None))
                                            and isinstance(getattr(self.sender, "name", None), str)):
            raise ValueError(f"channel {self.method}: a sender needs a `name` and send(target, message)")

    @property
    def how(self) -> str:
        """How its pages leave, without the URL (it often holds a password)."""
        if self.sender is not None:
            return f"its own sender ({self.sender.name})"
        if self.url:
            return f"apprise {self.url.partition('://')[0]}://"
        return "the log (not configured)"


# --- what a plugin is given ---------------------------------------------------------------------


class Intake(Protocol):
    """How events get in: ilertd's ingestion (ilertd.web.events.Ingestion)."""

    async def source(self, integration_key: str) -> SourceInfo: ...

    async def ingest(self, source: str | SourceInfo, events: Sequence[Event], integration: str,
                     payload: Any, payloads: Sequence[Any] | None = None) -> list[Outcome]: ...

    def refused(self, integration: str, code: str) -> None: ...


def signed_by_its_tool(source: SourceInfo, host: PluginHost) -> bool:
    """Whether every request of `source`'s tool is signed (see `PluginContext.signs`)."""
    kind = source.integration_type
    signed, verifying = host.signing_types()
    return kind in signed or (bool(source.signing_secret) and kind in verifying)


def unsigned_refused(source: SourceInfo) -> ApiError:
    """The refusal of a request naming `source`, which has a `signingSecret`, by its key alone."""
    return ApiError(401, "INVALID_SIGNATURE", f"alert source {quoted(source.name)} takes only its tool's"
                    f" signed requests, on /api/v1/events/{source.integration_type.lower()}/...")


class PluginHost(Protocol):
    """The plugin manager as a context sees it."""

    def integration(self, name: str) -> Integration | None: ...

    def signing_types(self) -> tuple[frozenset[str], frozenset[str]]: ...

    def intake(self) -> Intake: ...

    def replies(self) -> Replies: ...


@dataclass(frozen=True)
class PluginContext:
    """What a plugin may use, given to its hooks: its own settings, the public URL, and ingestion.

    `config` is its `[plugins.NAME]` section, checked against what `plugin_config` declared, with
    defaults filled in (and `enabled`); `settings` is the daemon's whole, read-only configuration
    (the built-in channels read `[channels.email]`, `[twilio]`, ...).
    """

    name: str
    config: Mapping[str, Any]
    settings: Config
    host: PluginHost = field(repr=False, compare=False)

    @property
    def public_url(self) -> str:
        """The base URL people and providers reach ilertd at (`server.public_url`, else host:port)."""
        return self.settings.public_url

    async def ingest(self, source: str | SourceInfo, events: Sequence[Event], integration: str,
                     payload: Any, payloads: Sequence[Any] | None = None) -> list[Outcome]:
        """Commit `events` for the alert source (its integration key, or a SourceInfo from `source`)
        in their order, as the Event API does, and return one Outcome per event (each event is
        taken even when one before it was refused; several go to the actors as one batch, and the
        events of one alert key reach its incident in order). `integration` names the
        way in (the incident log shows it); `payload`, a JSON value (None: `{}`), is stored with
        each event, or with `payloads` each event its own (one per event: a batch of a hundred
        alerts need not store its whole body a hundred times). Raises ApiError
        404 UNKNOWN_INTEGRATION_KEY, 429 RATE_LIMITED, or 503 NOT_READY outside startup..shutdown.
        From a thread of the plugin's own: `asyncio.run(context.ingest(...))`."""
        intake = self.host.intake()
        if payloads is None:
            return await intake.ingest(source, events, integration, payload)
        return await intake.ingest(source, events, integration, payload, payloads=payloads)

    @property
    def replies(self) -> Replies:
        """The application layer's answers to pages (an SMS reply, a phone key, a signed link, an
        e-mailed reply): blocking calls, to run in a worker thread. ApiError 503 NOT_READY outside
        startup..shutdown."""
        return self.host.replies()

    def refused(self, integration: str, error: ApiError) -> None:
        """Count a request the plugin refused before `ingest` (its metrics count what `ingest`
        takes or refuses itself)."""
        # Outside startup..shutdown there is nothing to count.
        with contextlib.suppress(ApiError):
            self.host.intake().refused(integration, error.code)

    async def source(self, integration_key: str) -> SourceInfo:
        """The alert source with this integration key; ApiError 404 UNKNOWN_INTEGRATION_KEY if none."""
        return await self.host.intake().source(integration_key)

    async def keyed_source(self, integration_key: str, integration: str) -> SourceInfo:
        """`source` for a request that names its source by the key alone, with no signature of its
        tool (the Event API, PagerDuty's shim), counted as `integration`'s when refused. A source
        whose tool signs (`signs`) is 401 INVALID_SIGNATURE: the signature guards its tool's
        route, and the key alone opened and resolved its incidents here."""
        try:
            found = await self.source(integration_key)
        except ApiError as error:
            self.refused(integration, error)
            raise
        if self.signs(found):
            error = unsigned_refused(found)
            self.refused(integration, error)
            raise error
        return found

    def signs(self, source: SourceInfo) -> bool:
        """Whether every request of `source`'s tool is signed: its type's integration is `signed`,
        or checks a signature (`verify`) and the source has a `signingSecret`. (A secret on a
        source no integration checks, an API one, guards nothing: refused, its key was refused
        everywhere.)"""
        return signed_by_its_tool(source, self.host)

    def integration(self, name: str) -> Integration | None:
        """The registered integration with this name or alias (case-insensitive), if any."""
        return self.host.integration(name)

    async def read_body(self, request: Request, limit: int | None = None) -> bytes:
        """A route's request body within `limit` bytes, by default `server.max_body_bytes` (else
        ApiError 413 BODY_TOO_LARGE)."""
        return await read_body(request, limit)


# --- the hooks ----------------------------------------------------------------------------------


@hookspec
def plugin_config() -> list[ConfigOption]:  # type: ignore[empty-body]
    """Declare the keys of this plugin's `[plugins.NAME]` section: type, default, description."""


@hookspec
def register_integrations(context: PluginContext) -> list[Integration]:  # type: ignore[empty-body]
    """Declare the integrations this plugin provides: tool payload in, ilertd events out."""


@hookspec
def register_channels(context: PluginContext) -> list[Channel]:  # type: ignore[empty-body]
    """Declare the contact methods this plugin pages through, and how each one sends."""


@hookspec
def register_routes(context: PluginContext) -> list[BaseRoute]:  # type: ignore[empty-body]
    """Declare the HTTP routes this plugin serves (Starlette routes), e.g. a provider's webhook;
    those that take events in are marked so (`takes_events`; a BodyRoute is unless it says not)."""


@hookspec
def startup(context: PluginContext) -> None:
    """Start what the plugin runs beside the daemon (threads, connections); ingestion works now."""


@hookspec
def shutdown(context: PluginContext) -> None:
    """Stop what `startup` started; called once, after HTTP stops and before the actors do."""
