"""The plugin contract (pluggy project "ilertd"): the hooks a plugin implements, each with an example.

A plugin is any module registered under the `ilertd.plugins` entry-point group::

    # pyproject.toml of a third-party distribution
    [project.entry-points."ilertd.plugins"]
    mytool = "ilertd_mytool"

    # ilertd_mytool.py
    from ilertd import hookimpl
    from ilertd.hookspecs import Integration, IntegrationRequest
    from ilertd.domain.events import Event

    def parse(request: IntegrationRequest) -> list[Event]:
        body = request.json()
        return [Event(event_type="ALERT", alert_key=body["id"], summary=body["title"])]

    @hookimpl
    def register_integrations() -> list[Integration]:
        return [Integration(name="mytool", integration_type="MYTOOL", parse=parse)]

The tool then posts to `/api/v1/events/mytool/{integrationKey}`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pluggy

from ilertd.domain import json_input
from ilertd.domain.events import Event
from ilertd.errors import ApiError

hookspec = pluggy.HookspecMarker("ilertd")


@dataclass(frozen=True)
class IntegrationRequest:
    """What an integration sees of the HTTP request: no sockets, so parsing stays pure."""

    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str]
    source_name: str = ""

    def json(self) -> Any:
        """The body as JSON, or 400 INVALID_PAYLOAD saying why it is not (also for nesting deeper
        than 64 levels, a lone surrogate, NaN or a number out of range)."""
        try:
            return json_input.loads(self.body)
        except json_input.JsonInputError as error:
            raise ApiError(400, "INVALID_PAYLOAD", f"the body is not valid JSON: {error}") from None

    def form(self) -> dict[str, str]:
        """A form-encoded body (`application/x-www-form-urlencoded`) as its fields; the last
        value of a repeated field wins. 400 INVALID_PAYLOAD if it is not UTF-8."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ApiError(400, "INVALID_PAYLOAD", f"the form is not UTF-8: {error.reason}") from None
        return dict(parse_qsl(text, keep_blank_values=True))


@dataclass(frozen=True)
class Integration:
    """One way in for a tool: `name` is the URL segment of `/api/v1/events/{name}/{key}`."""

    name: str
    integration_type: str
    parse: Callable[[IntegrationRequest], list[Event]]
    aliases: tuple[str, ...] = ()
    description: str = ""
    # Whether any alert source type may use it (the native Event API) or only its own type.
    accepts_any_source: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


@hookspec
def register_integrations() -> list[Integration]:  # type: ignore[empty-body]
    """Declare the integrations this plugin provides: tool payload in, ilertd events out."""
