"""What the tests of the incident state machine share: instants, actors, policies, people to page,
incidents opened with them, and reading a transition's log and pages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from ilertd.domain.escalation import EscalationPolicy, EscalationRule
from ilertd.domain.events import Event, Priority
from ilertd.domain.incidents import Actor, Incident, LogEntry, Paging, Transition, open_incident
from ilertd.domain.notification_plan import AlertRule, Contact, Person, PlannedPage

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FOREVER = T0 + timedelta(days=365)
USER = Actor(user_id=7, name="alice", channel="API")
OTHER_USER = Actor(user_id=9, name="bob", channel="SMS")
INTEGRATION = Actor(name="prometheus", channel="PROMETHEUS")


def make_policy(*timeouts: int, repeating: bool = False, frequency: int = 0) -> EscalationPolicy:
    rules = tuple(EscalationRule(t, user_ids=(i + 1,)) for i, t in enumerate(timeouts))
    return EscalationPolicy(3, "ops", rules, repeating=repeating, frequency=frequency)


TWO_LEVELS = make_policy(5, 10)


# --- people ---------------------------------------------------------------------------------------


def sms_number(user_id: int) -> str:
    return f"+4915100000{user_id:03d}"


def email_of(user_id: int) -> str:
    return f"user{user_id}@example.com"


def reachable(user_id: int, muted_until: datetime | None = None) -> Person:
    """A user with an SMS contact and one SMS rule at once for each priority."""
    contact = Contact(100 + user_id, "SMS", sms_number(user_id))
    rules = (
        AlertRule("SMS", contact.id, 0, "HIGH_PRIORITY"),
        AlertRule("SMS", contact.id, 0, "LOW_PRIORITY"),
    )
    return Person(user_id, f"user{user_id}", email_of(user_id), muted_until, (contact,), rules)


def sms_page(user_id: int, due_at: datetime, level: int) -> PlannedPage:
    """The page `reachable(user_id)` gets when a level reaches them at `due_at`."""
    return PlannedPage(user_id, "SMS", sms_number(user_id), due_at, level=level)


def bare(user_id: int, muted_until: datetime | None = None, email: str | None = None) -> Person:
    """A user with no contact and no rule: reachable only through their account e-mail."""
    return Person(user_id, f"user{user_id}", email_of(user_id) if email is None else email, muted_until)


def paging(*people: Person, on_call: Mapping[int, int] | None = None) -> Paging:
    """A Paging that knows exactly `people`, with `on_call` mapping schedule id → user on call."""
    by_id = {p.user_id: p for p in people}
    schedules = dict(on_call or {})
    return Paging(person=by_id.get, on_call=lambda schedule_id, _at: schedules.get(schedule_id))


# Everyone is reachable: each user id gets an SMS rule at once for both priorities.
EVERYONE = Paging(person=reachable)


def muting(*muted: int, until: datetime = FOREVER) -> Paging:
    """Everyone reachable except the `muted` user ids."""
    return Paging(person=lambda user_id: reachable(user_id, until if user_id in muted else None))


def alert(summary: str = "disk full", **fields: object) -> Event:
    return Event("ALERT", alert_key="db1", summary=summary, **fields)  # type: ignore[arg-type]


def open_with(
    policy: EscalationPolicy | None = TWO_LEVELS,
    priority: Priority | None = None,
    people: Paging = EVERYONE,
    now: datetime = T0,
) -> Transition:
    return open_incident(1, 2, "db1", "HIGH", alert(priority=priority), policy, "prom", now, paging=people)


def opened(
    policy: EscalationPolicy | None = TWO_LEVELS,
    priority: Priority | None = None,
    default_priority: Priority = "HIGH",
    now: datetime = T0,
    people: Paging = EVERYONE,
) -> Incident:
    event = alert(priority=priority)
    return open_incident(1, 2, "db1", default_priority, event, policy, "prom", now, paging=people).incident


def types(transition: Transition) -> list[str]:
    return [entry.log_entry_type for entry in transition.log]


def only_entry(transition: Transition, log_type: str) -> LogEntry:
    found = [entry for entry in transition.log if entry.log_entry_type == log_type]
    assert len(found) == 1, transition.log
    return found[0]


def same_pages(actual: Iterable[PlannedPage], expected: Iterable[PlannedPage]) -> bool:
    """The same pages, whatever their order across users."""
    return Counter(actual) == Counter(expected)
