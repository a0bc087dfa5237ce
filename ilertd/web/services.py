"""What the HTTP handlers reach: the store, the supervisor, the clock, plugins, settings and metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import peewee
import pykka

from ilertd.actors.ask import ask_blocking
from ilertd.actors.clock import Clock, ManualClock
from ilertd.actors.messages import Outcome, Reply
from ilertd.app.application import Application
from ilertd.config import Config
from ilertd.errors import NOT_LEADER
from ilertd.metrics import Metrics
from ilertd.plugins.manager import PluginManager
from ilertd.store.schedules import ScheduleDirectory
from ilertd.store.sources import SourceCache
from ilertd.tracker import WorkTracker


@dataclass
class Services:
    config: Config
    db: peewee.Database
    clock: Clock
    tracker: WorkTracker
    # None on a follower: what needs the actors is refused NOT_LEADER until this node leads.
    supervisor: pykka.ActorRef[Any] | None
    plugins: PluginManager
    public_url: str
    # Every write goes through here; its context holds the caches intake and paging read.
    app: Application
    metrics: Metrics = field(default_factory=Metrics)
    role: Callable[[], str] = field(default=lambda: "leader")
    # This node's name in the node table (`hostname:port`): whose forwarded requests are whose.
    node: str = ""
    # A manual clock on a shared store: a follower takes the stored time (None: nothing to follow).
    follow_clock: Callable[[], None] | None = None

    def leading_supervisor(self) -> pykka.ActorRef[Any]:
        """The supervisor, on the node that leads; NOT_LEADER on a follower."""
        if self.supervisor is None:
            raise NOT_LEADER
        return self.supervisor

    @property
    def sources(self) -> SourceCache:
        return self.app.ctx.sources

    @property
    def schedules(self) -> ScheduleDirectory:
        return self.app.ctx.schedules

    @property
    def manual_clock(self) -> ManualClock | None:
        return self.clock if isinstance(self.clock, ManualClock) else None

    def ask_blocking(self, build: Callable[[Reply], Any]) -> Outcome:
        """The same from a worker thread (plain handlers run in starlette's thread pool)."""
        return ask_blocking(self.leading_supervisor(), self.tracker, build)
