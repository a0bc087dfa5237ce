"""Icinga 2 notifications as a built-in plugin: the `icinga` integration (alias `icinga2`).

The body is the one the Nagios script builds (`integrations/nagios/ilertd-notify.py`, run by the
NotificationCommand of `integrations/icinga2/ilertd.conf`), so the mapping is Nagios's:
ilertd.plugins.nagios.notification_events.
"""

from __future__ import annotations

from ilertd import hookimpl
from ilertd.domain.events import Event
from ilertd.errors import ApiError
from ilertd.hookspecs import Integration, IntegrationRequest
from ilertd.plugins.nagios import notification_events

NAME = "icinga"
ALIASES = ("icinga2",)
INTEGRATION_TYPE = "ICINGA"


def parse(request: IntegrationRequest) -> list[Event]:
    try:
        return notification_events(request.json(), NAME)
    except (ValueError, TypeError) as error:
        raise ApiError(400, "INVALID_PAYLOAD", f"{NAME}: {error}") from None


@hookimpl
def register_integrations() -> list[Integration]:
    return [
        Integration(
            name=NAME,
            integration_type=INTEGRATION_TYPE,
            parse=parse,
            aliases=ALIASES,
            description="Icinga 2 notifications sent by the NotificationCommand of integrations/icinga2/",
        )
    ]
