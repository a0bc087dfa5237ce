"""The native Event API (iLert's body) as a built-in integration plugin."""

from __future__ import annotations

from ilertd import hookimpl
from ilertd.domain.events import Event, parse_native_event
from ilertd.hookspecs import Integration, IntegrationRequest

NAME = "api"


def parse(request: IntegrationRequest) -> list[Event]:
    """The body names its own integration key; the web layer has already matched it."""
    _key, event = parse_native_event(request.json())
    return [event]


@hookimpl
def register_integrations() -> list[Integration]:
    return [
        Integration(
            name=NAME,
            integration_type="API",
            parse=parse,
            description="ilertd's Event API: POST /api/events with iLert's event body",
            accepts_any_source=True,
        )
    ]
