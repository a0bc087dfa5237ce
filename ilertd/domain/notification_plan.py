"""Who is paged how and when: user rules + priority + the moment a level is reached → pages.

Each user reached by an escalation level gets a notification cycle: every alert rule of the
incident's priority fires `delayMin` minutes after the level was reached, on the rule's
contact. A user with no usable rule for that priority (none, its contact gone, its number
replied STOP, or no channel for its method on this daemon) gets e-mail to their account address
at once.
A muted user (mutedUntil in the future) is not reachable. Throttling keeps one contact from
being flooded: SMS and VOICE at most one message per 60 s, EMAIL and PUSH per 10 s; pages
falling inside the window are sent as one summary when it ends. A page the provider refused
is tried again with exponential back-off, and given up after MAX_ATTEMPTS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from ilertd.domain.events import Priority
from ilertd.domain.timeutil import format_instant

# A contact method is a registered channel plugin's name for it: the built-ins' are below, in the
# order a user's pages due at one moment go out; a plugin's come after them.
Method = str
METHODS: tuple[Method, ...] = ("EMAIL", "SMS", "VOICE", "PUSH")
RuleType = Literal["HIGH_PRIORITY", "LOW_PRIORITY"]
UpdateType = Literal["ALERT_ACCEPTED", "ALERT_RESOLVED", "ALERT_ESCALATED"]
# An alert page, or a status update saying what someone else did.
PageKind = Literal["ALERT", "ALERT_ACCEPTED", "ALERT_RESOLVED", "ALERT_ESCALATED"]


class _Windows(dict[str, timedelta]):
    """Throttle windows by method; a plugin's method gets the shorter one."""

    def __missing__(self, method: str) -> timedelta:
        return timedelta(seconds=10)


THROTTLE_WINDOW: dict[str, timedelta] = _Windows({
    "SMS": timedelta(seconds=60),
    "VOICE": timedelta(seconds=60),
    "EMAIL": timedelta(seconds=10),
    "PUSH": timedelta(seconds=10),
})


# The method a number's STOP reply turns off (texts); calls to the number still go.
STOPPABLE_METHOD: Method = "SMS"


@dataclass(frozen=True)
class Contact:
    id: int
    method: Method
    target: str
    # An SMS contact whose number replied STOP (and not START since): nothing is planned to it.
    stopped: bool = False

    @property
    def takes_pages(self) -> bool:
        """False for SMS to a number that replied STOP: calls and other methods still go."""
        return not (self.method == STOPPABLE_METHOD and self.stopped)


@dataclass(frozen=True)
class AlertRule:
    method: Method
    contact_id: int
    delay_min: int
    type: RuleType


@dataclass(frozen=True)
class UpdateRule:
    method: Method
    contact_id: int
    type: UpdateType


@dataclass(frozen=True)
class Person:
    """A user as paging sees them: how to reach them and whether they may be reached now."""

    user_id: int
    username: str
    email: str
    muted_until: datetime | None
    contacts: tuple[Contact, ...] = ()
    alert_rules: tuple[AlertRule, ...] = ()
    update_rules: tuple[UpdateRule, ...] = ()
    # IANA name: the times in their pages are shown in it.
    timezone: str = "UTC"

    def muted_at(self, at: datetime) -> bool:
        return self.muted_until is not None and self.muted_until > at

    def has_contact(self, method: str, target: str) -> bool:
        """Whether one of their contacts is this method and target."""
        return any(c.method == method and c.target == target for c in self.contacts)


@dataclass(frozen=True)
class PlannedPage:
    user_id: int
    method: Method
    target: str
    due_at: datetime
    # Set when the user had no rule for the priority and falls back to their account e-mail.
    fallback: bool = False
    kind: PageKind = "ALERT"
    level: int | None = None


def rule_type(priority: Priority) -> RuleType:
    return "HIGH_PRIORITY" if priority == "HIGH" else "LOW_PRIORITY"


# The methods a daemon has a channel for (its channel plugins enabled); None: every method.
Channels = frozenset[Method] | None


def has_channel(method: Method, channels: Channels) -> bool:
    return channels is None or method in channels


def pages_for(person: Person, priority: Priority, level_reached_at: datetime, channels: Channels = None
              ) -> tuple[PlannedPage, ...]:
    """The notification cycle of one user for one level; empty when they cannot be reached."""
    if person.muted_at(level_reached_at):
        return ()
    pages = []
    for rule, contact in _rules_of(person, priority):
        # A page for a method with no channel would wait unsent for good: such a rule is no way
        # to reach them now.
        if not contact.takes_pages or not has_channel(contact.method, channels):
            continue
        due = level_reached_at + timedelta(minutes=rule.delay_min)
        pages.append(PlannedPage(person.user_id, contact.method, contact.target, due))
    # No usable rule (none for this priority, its contact gone, its number replied STOP, or its
    # channel not enabled): never page nobody.
    if not pages and person.email and has_channel("EMAIL", channels):
        return (PlannedPage(person.user_id, "EMAIL", person.email, level_reached_at, fallback=True),)
    return tuple(sorted(pages, key=lambda p: (p.due_at, _rank(p.method), p.method)))


def _rules_of(person: Person, priority: Priority) -> list[tuple[AlertRule, Contact]]:
    """The person's alert rules for `priority` whose contact still exists, with it."""
    contacts = {c.id: c for c in person.contacts}
    wanted = rule_type(priority)
    return [(rule, contacts[rule.contact_id]) for rule in person.alert_rules
            if rule.type == wanted and rule.contact_id in contacts]


def no_rule_reason(person: Person, priority: Priority, channels: Channels = None) -> str:
    """Why no alert rule of `person` pages them for `priority` (so their account e-mail is used, or
    nobody): none for it, or each one to a number that replied STOP or of a method with no channel."""
    rules = _rules_of(person, priority)
    without_channel = sorted({c.method for _, c in rules if not has_channel(c.method, channels)})
    stopped = sorted({c.target for _, c in rules if not c.takes_pages and has_channel(c.method, channels)})
    buts = []
    if stopped:
        buts.append(f"SMS to {', '.join(stopped)} (which replied STOP)")
    if without_channel:
        buts.append(f"{', '.join(without_channel)} (whose channel is not enabled)")
    if buts:
        return f"no alert rule for {priority} priority but {' and '.join(buts)}"
    return f"no alert rule for {priority} priority"


def unreachable_reason(person: Person, priority: Priority, at: datetime, channels: Channels = None) -> str:
    """Why `pages_for` planned nothing for `person` at `at`."""
    if person.muted_until is not None and person.muted_at(at):
        return f"muted until {format_instant(person.muted_until)}"
    if person.email and not has_channel("EMAIL", channels):
        return f"{no_rule_reason(person, priority, channels)} and no EMAIL channel for their account e-mail"
    return f"{no_rule_reason(person, priority, channels)} and no e-mail address"


def _rank(method: Method) -> int:
    return METHODS.index(method) if method in METHODS else len(METHODS)


def throttle_until(method: str, last_sent_at: datetime | None, now: datetime) -> datetime | None:
    """None when a page to a contact may go now; else when its throttle window ends.

    A last send stamped later than `now` was made before the wall clock stepped back: it counts
    as sent now, so the contact waits one window, not the step as well (an hour's step held a
    new incident's first page for an hour, its escalation passing the contact by)."""
    if last_sent_at is None:
        return None
    window_end = min(last_sent_at, now) + THROTTLE_WINDOW[method]
    return window_end if now < window_end else None


def update_pages(
    update: UpdateType, actor_user_id: int | None, people: list[Person], now: datetime,
    channels: Channels = None,
) -> tuple[PlannedPage, ...]:
    """Status updates for the people paged for an incident, when someone else changed it (none
    of a method with no channel)."""
    pages = []
    for person in people:
        if person.user_id == actor_user_id or person.muted_at(now):
            continue
        contacts = {c.id: c for c in person.contacts}
        for rule in person.update_rules:
            contact = contacts.get(rule.contact_id)
            if (rule.type == update and contact is not None and contact.takes_pages
                    and has_channel(contact.method, channels)):
                pages.append(PlannedPage(person.user_id, contact.method, contact.target, now, kind=update))
    return tuple(pages)


# A page the provider refused is tried again with back-off, pages and shift reminders alike.
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(minutes=15)
MAX_ATTEMPTS = 25  # about five hours of retrying at the longest interval


# A provider's Retry-After is followed up to this: asked to wait longer, a page still goes then.
LONGEST_PROVIDER_WAIT = LONGEST_RETRY


def provider_wait(retry_after: str | None, now: datetime) -> timedelta | None:
    """A provider's `Retry-After` (seconds, or an HTTP date) as a wait from `now`; None when it
    gave none or none that can be read."""
    if retry_after is None:
        return None
    text = retry_after.strip()
    if text.isdigit():
        return timedelta(seconds=int(text[:7]))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(when - now, timedelta(0))


def retry_delay(attempts: int, asked: timedelta | None = None) -> timedelta:
    """Exponential back-off after the n-th failed attempt: 30 s, 1 min, 2 min, ... at most 15 min;
    longer when the provider `asked` for it (its Retry-After), up to LONGEST_PROVIDER_WAIT."""
    backoff = min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)
    return backoff if asked is None else max(backoff, min(asked, LONGEST_PROVIDER_WAIT))


def after_failure(attempts: int, error: str, now: datetime, retry_after: str | None = None) -> dict[str, Any]:
    """An outbox row's changes after its `attempts`-th failed attempt: a retry time (`due_at`),
    or ERROR after the last; pages and shift reminders alike. `retry_after`: the provider's
    `Retry-After` (a 429 or 503): retried sooner, the page is refused again."""
    # The provider answered: the row is no longer in flight.
    if attempts >= MAX_ATTEMPTS:
        return {"status": "ERROR", "attempts": attempts, "error_message": error, "sending_since": None}
    delay = retry_delay(attempts, provider_wait(retry_after, now))
    return {"attempts": attempts, "error_message": error, "due_at": now + delay, "sending_since": None}
