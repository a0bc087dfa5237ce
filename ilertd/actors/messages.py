"""The frozen messages actors exchange, and the reply a caller waits on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from ilertd.domain.events import Event
from ilertd.domain.incidents import Actor
from ilertd.domain.policy_edits import PolicyEdit
from ilertd.errors import ApiError
from ilertd.store.sources import SourceInfo

T = TypeVar("T")


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
class IngestEvent:
    source: SourceInfo
    event: Event
    integration: str
    payload: Any
    reply: Reply
    received_at: datetime | None = None


@dataclass(frozen=True)
class IngestBatch:
    """Events routed in their order as one message: those of the requests the HTTP thread
    handled in one turn of its loop (a tool's payload brings many)."""

    events: tuple[IngestEvent, ...]


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
class HostBatch:
    """One host's share of a routed batch (OpenIncident and EventForIncident messages, in their
    order) or of IncidentCommands: handled in one turn, its writes queued together and its timers
    armed together."""

    messages: tuple[OpenIncident | EventForIncident | IncidentCommand, ...]


@dataclass(frozen=True)
class Reroute:
    """An incident actor got an event for a key it no longer holds open: route it afresh."""

    incident_id: int
    ingest: IngestEvent


@dataclass(frozen=True)
class IncidentCommand:
    incident_id: int
    action: Literal["accept", "resolve", "comment", "escalate", "hold", "acceptor_deleted", "policy_edited",
                    "reply_received"]
    actor: Actor
    reply: Reply
    # For "comment": the comment; for "reply_received", its log entry's text; for "hold", why.
    content: str = ""
    # For "escalate": the level to go to; None means the next one.
    level: int | None = None
    # For "hold": when the hold now ends, and `content` says why (see quiet_times.move_hold).
    as_of: datetime | None = None
    # For a reply's "escalate": where the page it answers stands in the order messages left
    # ilertd (see domain.escalate).
    page_seq: int | None = None
    # For "policy_edited": the edit of the incident's policy, as recorded (see domain.policy_edits).
    edit: PolicyEdit | None = None


@dataclass(frozen=True)
class IncidentCommands:
    """Commands for many incidents at once (the holds a maintenance window's change moves): each
    host's share is one HostBatch, so what they release escalates together, as at a window's end."""

    commands: tuple[IncidentCommand, ...]


@dataclass(frozen=True)
class EscalationDue:
    """An incident's escalation deadline came (its timer fired, or the sweep found it overdue).
    `due_at` is when the clock fired it; the host hands each incident actor its batch's instant
    instead, which the actor decides and writes at."""

    incident_id: int
    due_at: datetime


@dataclass(frozen=True)
class EscalationsDue:
    """Look into the box: the escalation timers of one host's incidents that fired since it last
    looked wait there, and are taken as one batch."""

    box: DueBox[EscalationDue]


@dataclass(frozen=True)
class HostFailed:
    """An incident host died of an unexpected error: the supervisor starts another in its place
    and hands it the messages the dead one had not handled."""

    index: int
    pending: tuple[Any, ...]


@dataclass(frozen=True)
class IncidentClosed:
    incident_id: int
    alert_source_id: int
    key_identity: str


@dataclass(frozen=True)
class Reload:
    """A write for this incident failed: memory may be ahead of the store, so read it again.
    `soon`: the store failed (not the statement), so look at the incident again in WRITE_RETRY."""

    incident_id: int
    soon: bool = False


@dataclass(frozen=True)
class MakeOwedPolicyMoves:
    """Another process (`ilertd user delete`) recorded moves its incidents owe (policy_moves): the
    supervisor has them made now, not at the next start."""


@dataclass(frozen=True)
class SomeoneMayBeReachable:
    """A policy, schedule, user, contact or alert rule was written: the incidents waiting for
    someone look again now. `queued` is set while this message waits in the supervisor's box, so a
    burst of writes (a provisioning run) makes one look, not one per write."""

    queued: threading.Event


@dataclass(frozen=True)
class LookAgain:
    """An incident waiting for someone tries level 0 now (`SomeoneMayBeReachable`)."""

    incident_id: int


@dataclass(frozen=True)
class EvictIdle:
    """A host passivates the incident actors idle for a while (their state is in the store)."""


@dataclass(frozen=True)
class HeldCount:
    """Ask a host how many incident actors it holds active."""


@dataclass(frozen=True)
class Sweep:
    """The periodic safety net: fire overdue deadlines without a timer, passivate idle actors."""


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class Deliver:
    """An outbox row is due: its channel actor sends it (or its summary) unless it is no longer
    pending. A shift reminder has no incident."""

    notification_id: int
    incident_id: int | None
    method: str
    target: str


@dataclass(frozen=True)
class ScheduleChanged:
    """A schedule's definition or overrides changed (or it was created or deleted): look again
    from now on. Without an id: a user's duty rules changed, and every schedule looks again."""

    schedule_id: int | None = None


@dataclass(frozen=True)
class ScheduleTick:
    """A schedule actor's timer: a hand-off may have happened, and reminders are planned further.

    `when` is the instant the timer was set for: the plan goes on from exactly there, however
    late the timer fires, so no shift start falls between two plans.
    """

    schedule_id: int
    when: datetime


@dataclass(frozen=True)
class ReminderDue:
    """A shift-start reminder's moment: store it (once) and hand it to its channel."""

    schedule_id: int
    reminder: Any  # a domain.shift_reminders.PlannedReminder


class DueBox(Generic[T]):
    """Messages due for one actor, collected between its turns: it takes them all at once."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._lock = threading.Lock()

    def put(self, item: T) -> bool:
        """Add an item; True when the box was empty, so the actor must be told to look."""
        with self._lock:
            self._items.append(item)
            return len(self._items) == 1

    def take(self) -> list[T]:
        with self._lock:
            items, self._items = self._items, []
        return items


@dataclass(frozen=True)
class PagesDue:
    """Look into the box: pages wait there (those put in until the actor looks, included)."""

    box: DueBox[Deliver]
