"""An example ilertd integration: a ticket tool's webhook `{"id", "title", "state": "open"|"closed"}`.

Installed beside ilertd, it is found through the `ilertd.plugins` entry point in this
distribution's pyproject.toml; the tool then posts to `/api/v1/events/ticket/{integrationKey}`
of an alert source of type TICKET.
"""

from __future__ import annotations

from ilertd import hookimpl
from ilertd.domain.events import Event
from ilertd.errors import ApiError
from ilertd.hookspecs import Integration, IntegrationRequest

STATES = ("open", "closed")
EXPECTED = '{"id": "...", "state": "open"|"closed", "title": "..."}'


def parse(request: IntegrationRequest) -> list[Event]:
    body = request.json()
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or body.get("state") not in STATES:
        raise ApiError(400, "INVALID_PAYLOAD", f"expected {EXPECTED}")
    kind = "ALERT" if body["state"] == "open" else "RESOLVE"
    return [Event(event_type=kind, alert_key=body["id"], summary=body.get("title"))]


@hookimpl
def register_integrations() -> list[Integration]:
    return [Integration(name="ticket", integration_type="TICKET", parse=parse,
                        description="example: a ticket tool's webhook")]
