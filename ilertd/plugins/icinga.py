"""Icinga 2 notifications as a built-in plugin: the `icinga` integration (alias `icinga2`).

The body is the one the Nagios script builds (`integrations/nagios/ilertd-notify.py`, run by the
NotificationCommand of `integrations/icinga2/ilertd.conf`), so the mapping is Nagios's:
ilertd.plugins.nagios.notification_events.
"""

from __future__ import annotations

from functools import partial

from ilertd import hookimpl
from ilertd.hookspecs import Integration
from ilertd.plugins.nagios import notification_events
from ilertd.plugins.payloads import json_parser

NAME = "icinga"
INTEGRATION = Integration(
    name=NAME, integration_type="ICINGA", aliases=("icinga2",),
    parse=json_parser(partial(notification_events, tool=NAME), NAME),
    description="Icinga 2 notifications sent by the NotificationCommand of integrations/icinga2/")


@hookimpl
def register_integrations() -> list[Integration]:
    return [INTEGRATION]
