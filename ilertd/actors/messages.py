"""The frozen messages actors exchange, and the reply a caller waits on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ilertd.domain.events import Event, Priority
from ilertd.domain.incidents import Actor
from ilertd.errors import ApiError


@dataclass(frozen=True)
class Outcome:
    """What a caller learns once the change it asked for is committed, or why it was refused."""

    incident_id: int | None = None
    alert_key: str | None = None
    response_code: str | None = None
    error: ApiError | None = None


Reply = Callable[[Outcome], None]


def ignore_reply(outcome: Outcome) -> None:
    """For work nobody waits on (timers, sweeps)."""


@dataclass(frozen=True)
class SourceInfo:
    id: int
    name: str
    integration_type: str
    priority: Priority
    escalation_policy_id: int | None


@dataclass(frozen=True)
class IngestEvent:
    source: SourceInfo
    event: Event
    integration: str
    payload: Any
    reply: Reply
    received_at: datetime | None = None


@dataclass(frozen=True)
class OpenIncident:
    incident_id: int
    alert_key: str
    ingest: IngestEvent


@dataclass(frozen=True)
class EventForIncident:
    incident_id: int
    alert_key: str
    ingest: IngestEvent


@dataclass(frozen=True)
class Reroute:
    """An incident actor got an event for a key it no longer holds open: route it afresh."""

    incident_id: int
    ingest: IngestEvent


@dataclass(frozen=True)
class IncidentCommand:
    incident_id: int
    action: Literal["accept", "resolve", "comment", "escalate"]
    actor: Actor
    reply: Reply
    content: str = ""
    # For "escalate": the level to go to; None means the next one.
    level: int | None = None


@dataclass(frozen=True)
class TimerDue:
    incident_id: int
    kind: Literal["escalation"]
    due_at: datetime


@dataclass(frozen=True)
class EscalationsDue:
    """The escalation timers of one shard's incidents that fired close together, as one batch."""

    timers: tuple[TimerDue, ...]


@dataclass(frozen=True)
class IncidentClosed:
    incident_id: int
    alert_source_id: int
    key_identity: str


@dataclass(frozen=True)
class Reload:
    """A write for this incident failed: memory may be ahead of the store, so read it again."""

    incident_id: int


@dataclass(frozen=True)
class EvictIdle:
    """A shard forgets the incidents it has not worked on for a while (the store has them)."""


@dataclass(frozen=True)
class HeldCount:
    """Ask a shard how many incidents it holds in memory."""


@dataclass(frozen=True)
class Sweep:
    """The periodic safety net: fire overdue deadlines without a timer, passivate idle actors."""


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class Deliver:
    """A page is due: its channel actor sends it (or its summary) unless it is no longer pending."""

    notification_id: int
    incident_id: int
    method: str
    target: str


@dataclass(frozen=True)
class ScheduleChanged:
    """A schedule's definition, overrides or its users' duty rules changed: look again from now on."""


@dataclass(frozen=True)
class ScheduleTick:
    """A schedule actor's timer: a hand-off may have happened, and reminders are planned further.

    `when` is the instant the timer was set for: the plan goes on from exactly there, however
    late the timer fires, so no shift start falls between two plans.
    """

    when: datetime


@dataclass(frozen=True)
class ReminderDue:
    """A shift-start reminder's moment: store it (once) and hand it to its channel."""

    reminder: Any  # a domain.shift_reminders.PlannedReminder


@dataclass(frozen=True)
class DeliverReminder:
    """A stored shift-start reminder is due on its channel."""

    reminder_id: int
    method: str
    target: str
class DueBox:
    """Pages due for one channel actor, collected between its turns: it takes them all at once."""

    def __init__(self) -> None:
        self._pages: list[Deliver] = []
        self._lock = threading.Lock()

    def put(self, page: Deliver) -> bool:
        """Add a page; True when the box was empty, so the actor must be told to look."""
        with self._lock:
            self._pages.append(page)
            return len(self._pages) == 1

    def take(self) -> list[Deliver]:
        with self._lock:
            pages, self._pages = self._pages, []
        return pages


@dataclass(frozen=True)
class PagesDue:
    """Look into the box: pages wait there (those put in until the actor looks, included)."""

    box: DueBox
