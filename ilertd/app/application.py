"""The application layer's entry point: one object per daemon (or CLI command) over one context."""

from __future__ import annotations

from ilertd.app.context import Context
from ilertd.app.heartbeats import Heartbeats
from ilertd.app.incidents import Incidents
from ilertd.app.passwords import Passwords
from ilertd.app.people import People
from ilertd.app.preferences import Preferences
from ilertd.app.quiet_times import MaintenanceWindows
from ilertd.app.replies import Replies
from ilertd.app.schedules import Schedules
from ilertd.app.sources import Sources


class Application:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.people = People(ctx)
        self.sources = Sources(ctx)
        self.schedules = Schedules(ctx)
        self.incidents = Incidents(ctx)
        self.preferences = Preferences(ctx)
        self.heartbeats = Heartbeats(ctx)
        self.maintenance = MaintenanceWindows(ctx)
        self.replies = Replies(ctx)
        self.passwords = Passwords(ctx)
