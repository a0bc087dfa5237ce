"""What an incident is and what a change to it says: the incident, who acts, its log entries, the
transition the state machine (incidents.py) returns, and what paging may learn about people."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ilertd.domain.escalation import OnCall, nobody_on_call
from ilertd.domain.events import Priority, alert_key_identity
from ilertd.domain.notification_plan import Channels, Person, PlannedPage

Status = Literal["PENDING", "ACCEPTED", "RESOLVED"]
ResponseCode = Literal[
    "NEW_INCIDENT_CREATED",
    "EVENT_ADDED_TO_INCIDENT",
    "INCIDENT_ACCEPTED",
    "INCIDENT_RESOLVED",
    "INCIDENT_ALREADY_ACCEPTED",
    "COMMENT_ADDED",
]


@dataclass(frozen=True)
class Actor:
    """Who or what caused a change: a user (by id), an integration, or the system itself."""

    user_id: int | None = None
    name: str = "system"
    channel: str | None = None


SYSTEM = Actor()


@dataclass(frozen=True)
class Paging:
    """What a transition may learn about people: given as functions, so it stays pure."""

    person: Callable[[int], Person | None] = field(default=lambda _user_id: None)
    on_call: OnCall = nobody_on_call
    # How the log names a schedule that put someone on a level.
    schedule_name: Callable[[int], str] = field(default=lambda schedule_id: f"schedule {schedule_id}")
    # The first instant after the given one at which who is on call in the schedule changes
    # (someone comes on, or hands over), if that is within a week; else None.
    on_call_changes: Callable[[int, datetime], datetime | None] = field(
        default=lambda _schedule_id, _at: None)
    # The methods this daemon has a channel for (None: every method): a rule of another pages nobody.
    channels: Channels = None
    # Where the messages sent so far end in the order ilertd handed them out (the last `sent_seq`;
    # None: none yet): a level reached now comes after each of them, whatever the wall clock says.
    messages_sent: Callable[[], int | None] = field(default=lambda: None)


NO_PAGING = Paging()
# The escalation level of an incident held by quiet times: level 0 comes when the hold ends.
HELD = -1
# The escalation level of an incident nobody in its policy could be paged for: level 0 is tried
# again at `next_escalation_at` (see levels.next_look), until someone is reached.
WAITING = -2


@dataclass(frozen=True)
class LogEntry:
    log_entry_type: str
    text: str
    user_id: int | None = None
    channel: str | None = None


@dataclass(frozen=True)
class Incident:
    id: int
    alert_source_id: int
    alert_key: str
    summary: str
    status: Status
    priority: Priority
    report_time: datetime
    details: str = ""
    escalation_policy_id: int | None = None
    escalation_level: int = 0
    escalation_pass: int = 0
    next_escalation_at: datetime | None = None
    # When a level last paged someone: an escalation asked for by a reply to a page sent before
    # it is out of date (the incident has moved on since), so it moves nothing.
    escalated_at: datetime | None = None
    # The same in the order messages left ilertd (Paging.messages_sent when it did): what a reply's
    # page is compared with, since a wall clock stepped back stamps an escalation before the page
    # it came after. None: not since the incident opened, before any page of it.
    escalated_seq: int | None = None
    accepted_at: datetime | None = None
    accepted_by: int | None = None
    resolved_at: datetime | None = None
    resolved_by: int | None = None
    images: tuple[Mapping[str, str], ...] = ()
    links: tuple[Mapping[str, str], ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    custom_details: Mapping[str, Any] = field(default_factory=dict)
    event_count: int = 1

    @property
    def key_identity(self) -> str:
        return alert_key_identity(self.alert_key)

    @property
    def is_open(self) -> bool:
        return self.status != "RESOLVED"


@dataclass(frozen=True)
class Transition:
    incident: Incident
    log: tuple[LogEntry, ...] = ()
    response_code: ResponseCode | None = None
    # Pages to schedule (the outbox rows written with this change).
    pages: tuple[PlannedPage, ...] = ()
    # Accept and resolve cancel every page not yet sent.
    cancel_pages: bool = False
    # The methods of pages not planned because their user is muted (counted by the metrics).
    muted: tuple[str, ...] = ()
    # The incident's next deadline moved with nothing to log (a waiting incident that still finds
    # nobody looks again later): a change to store all the same.
    rearmed: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.log) or self.rearmed
