"""What the HTTP handlers reach: the store, the supervisor, the clock, plugins and settings."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import peewee
import pykka

from ilertd.actors.base import send
from ilertd.actors.clock import Clock, ManualClock
from ilertd.actors.messages import Outcome
from ilertd.actors.tracker import WorkTracker
from ilertd.config import Config
from ilertd.errors import ApiError
from ilertd.plugins.manager import PluginManager
from ilertd.store.incidents import PolicyCache
from ilertd.store.people import PersonCache
from ilertd.store.schedules import ScheduleDirectory
from ilertd.web.sources_cache import SourceCache

if TYPE_CHECKING:
    from ilertd.actors.schedule import ScheduleActors

REPLY_TIMEOUT = 30.0
TIMED_OUT = ApiError(503, "TIMEOUT", "the change was not confirmed in time; retry")


@dataclass
class Services:
    config: Config
    db: peewee.Database
    clock: Clock
    tracker: WorkTracker
    supervisor: pykka.ActorRef[Any]
    plugins: PluginManager
    public_url: str
    policies: PolicyCache
    # Paging's view of users, contacts and rules: every write to them invalidates it.
    people: PersonCache
    sources: SourceCache = field(default_factory=SourceCache)
    schedules: ScheduleDirectory = field(default_factory=ScheduleDirectory)
    schedule_actors: ScheduleActors | None = None

    def user_changed(self, user_id: int, duties: bool = False) -> None:
        """After the COMMIT of a write to a user, their contacts or rules: paging reads them
        afresh, and with `duties` (shift reminders may depend on it) every schedule plans again."""
        self.people.invalidate(user_id)
        if duties and self.schedule_actors is not None:
            self.schedule_actors.duties_changed()

    @property
    def manual_clock(self) -> ManualClock | None:
        return self.clock if isinstance(self.clock, ManualClock) else None

    async def ask_async(self, build: Any) -> Outcome:
        """Send the message `build(reply)` to the supervisor; await its committed outcome."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()

        def reply(outcome: Outcome) -> None:
            loop.call_soon_threadsafe(_settle, future, outcome)

        send(self.supervisor, build(reply), self.tracker)
        try:
            # asyncio.timeout, unlike wait_for, does not wrap the wait in a new task.
            async with asyncio.timeout(REPLY_TIMEOUT):
                return await future
        except TimeoutError:
            return Outcome(error=TIMED_OUT)

    def ask_blocking(self, build: Any) -> Outcome:
        """The same from a worker thread (plain handlers run in starlette's thread pool)."""
        done = threading.Event()
        box: list[Outcome] = []

        def reply(outcome: Outcome) -> None:
            box.append(outcome)
            done.set()

        send(self.supervisor, build(reply), self.tracker)
        if not done.wait(REPLY_TIMEOUT):
            return Outcome(error=TIMED_OUT)
        return box[0]


def _settle(future: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not future.done():
        future.set_result(outcome)
