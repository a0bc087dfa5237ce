"""Tests of the incident state machine (ilertd.domain.incidents) and the escalation walk it relies on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ilertd.domain.escalation import (
    EscalationPolicy,
    EscalationRule,
    LevelStep,
    level_deadline,
    level_user_ids,
    next_step,
)
from ilertd.domain.events import Comment, Event, Priority
from ilertd.domain.incidents import (
    NO_PAGING,
    SYSTEM,
    Actor,
    Incident,
    LogEntry,
    Paging,
    Transition,
    accept,
    apply_event,
    comment,
    escalate,
    escalation_due,
    escalation_user_ids,
    open_incident,
    resolve,
)
from ilertd.domain.notification_plan import AlertRule, Contact, Person, PlannedPage
from ilertd.errors import ApiError

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


# --- open_incident ------------------------------------------------------------------------------


def test_open_with_a_policy_reaches_level_0_with_its_deadline() -> None:
    event = alert(
        details="99% used",
        images=({"src": "https://img/1.png"},),
        links=({"href": "https://runbook"},),
        labels={"env": "prod"},
        custom_details={"used": 99},
    )
    transition = open_incident(11, 2, "db1", "HIGH", event, TWO_LEVELS, "prom", T0, paging=EVERYONE)
    incident = transition.incident
    assert transition.response_code == "NEW_INCIDENT_CREATED"
    # Opening at level 0 is no escalation: the entry says who is paged, ESCALATED is for a move.
    assert types(transition) == ["INCIDENT_CREATED", "EVENT_RECEIVED", "NOTIFICATION_PLANNED"]
    assert "paging" in transition.log[-1].text
    assert transition.pages == (sms_page(1, T0, level=0),)
    assert transition.cancel_pages is False
    assert incident.id == 11
    assert incident.alert_source_id == 2
    assert incident.alert_key == "db1"
    assert incident.status == "PENDING"
    assert incident.summary == "disk full"
    assert incident.details == "99% used"
    assert incident.report_time == T0
    assert incident.escalation_policy_id == TWO_LEVELS.id
    assert incident.escalation_level == 0
    assert incident.escalation_pass == 0
    assert incident.next_escalation_at == T0 + timedelta(minutes=5)
    assert incident.images == ({"src": "https://img/1.png"},)
    assert incident.links == ({"href": "https://runbook"},)
    assert incident.labels == {"env": "prod"}
    assert incident.custom_details == {"used": 99}
    assert incident.event_count == 1
    assert incident.accepted_at is None and incident.resolved_at is None


@pytest.mark.parametrize(
    ("event_priority", "source_default", "expected"),
    [
        (None, "HIGH", "HIGH"),
        (None, "LOW", "LOW"),
        ("LOW", "HIGH", "LOW"),
        ("HIGH", "LOW", "HIGH"),
    ],
)
def test_open_priority_comes_from_the_event_or_else_the_source(
    event_priority: Priority | None, source_default: Priority, expected: Priority
) -> None:
    incident = opened(priority=event_priority, default_priority=source_default)
    assert incident.priority == expected


@pytest.mark.parametrize(("event_priority", "source_default"), [("LOW", "HIGH"), (None, "LOW")])
def test_low_priority_reaches_level_0_but_never_gets_a_deadline(
    event_priority: Priority | None, source_default: Priority
) -> None:
    incident = opened(priority=event_priority, default_priority=source_default)
    assert incident.priority == "LOW"
    assert incident.escalation_level == 0
    assert incident.next_escalation_at is None
    # However late the clock gets, a LOW incident never escalates.
    later = escalation_due(incident, TWO_LEVELS, T0 + timedelta(days=2), paging=EVERYONE)
    assert not later.changed
    assert later.incident == incident
    assert later.pages == ()


@pytest.mark.parametrize(
    "policy", [None, EscalationPolicy(4, "empty", ())], ids=["no policy", "policy without levels"]
)
def test_open_without_escalation_levels_logs_no_policy_and_sets_no_deadline(
    policy: EscalationPolicy | None,
) -> None:
    transition = open_incident(1, 2, "db1", "HIGH", alert(), policy, "prom", T0, paging=EVERYONE)
    assert types(transition) == ["INCIDENT_CREATED", "EVENT_RECEIVED", "NO_ESCALATION_POLICY"]
    assert transition.pages == ()
    assert transition.incident.status == "PENDING"
    assert transition.incident.next_escalation_at is None
    assert transition.incident.escalation_policy_id == (policy.id if policy else None)


def test_open_logs_the_comments_the_alert_carries() -> None:
    event = alert(comments=(Comment("nagios", "first look"), Comment("", "no creator")))
    transition = open_incident(1, 2, "db1", "HIGH", event, TWO_LEVELS, "prom", T0, paging=EVERYONE)
    assert types(transition)[-2:] == ["COMMENT", "COMMENT"]
    assert [entry.text for entry in transition.log[-2:]] == ["nagios: first look", "no creator"]


# --- paging when a level is reached ---------------------------------------------------------------

SMS_CONTACT = Contact(21, "SMS", "+491511111111")
VOICE_CONTACT = Contact(22, "VOICE", "+491522222222")
PUSH_CONTACT = Contact(23, "PUSH", "ntfy://alerts-1")
RULED = Person(
    1,
    "carol",
    "carol@example.com",
    None,
    (SMS_CONTACT, VOICE_CONTACT, PUSH_CONTACT),
    (
        AlertRule("SMS", SMS_CONTACT.id, 30, "HIGH_PRIORITY"),
        AlertRule("SMS", SMS_CONTACT.id, 0, "HIGH_PRIORITY"),
        AlertRule("VOICE", VOICE_CONTACT.id, 0, "HIGH_PRIORITY"),
        AlertRule("PUSH", PUSH_CONTACT.id, 5, "LOW_PRIORITY"),
        AlertRule("SMS", SMS_CONTACT.id, 45, "LOW_PRIORITY"),
    ),
)


def test_reaching_a_level_pages_each_rule_for_the_priority_at_its_delay() -> None:
    transition = open_with(people=paging(RULED, reachable(2)))
    assert same_pages(
        transition.pages,
        [
            PlannedPage(1, "SMS", SMS_CONTACT.target, T0, level=0),
            PlannedPage(1, "VOICE", VOICE_CONTACT.target, T0, level=0),
            PlannedPage(1, "SMS", SMS_CONTACT.target, T0 + timedelta(minutes=30), level=0),
        ],
    )
    assert not any(page.fallback for page in transition.pages)
    assert all(page.kind == "ALERT" for page in transition.pages)
    # Level 1's user is not paged before level 1 is reached.
    assert {page.user_id for page in transition.pages} == {1}


def test_low_incidents_page_by_the_low_priority_rules() -> None:
    transition = open_with(priority="LOW", people=paging(RULED))
    assert same_pages(
        transition.pages,
        [
            PlannedPage(1, "PUSH", PUSH_CONTACT.target, T0 + timedelta(minutes=5), level=0),
            PlannedPage(1, "SMS", SMS_CONTACT.target, T0 + timedelta(minutes=45), level=0),
        ],
    )
    assert transition.incident.next_escalation_at is None


def only_rules(priority_rule: str) -> Person:
    """User 1, dave, with one SMS rule of one priority."""
    contact = Contact(31, "SMS", "+491533333333")
    rule = AlertRule("SMS", contact.id, 0, priority_rule)  # type: ignore[arg-type]
    return Person(1, "dave", "dave@example.com", None, (contact,), (rule,))


@pytest.mark.parametrize(
    ("person", "priority"),
    [
        (Person(1, "dave", "dave@example.com", None), "HIGH"),
        (Person(1, "dave", "dave@example.com", None), "LOW"),
        (only_rules("LOW_PRIORITY"), "HIGH"),
        (only_rules("HIGH_PRIORITY"), "LOW"),
    ],
    ids=["no rules, HIGH", "no rules, LOW", "only LOW rules, HIGH", "only HIGH rules, LOW"],
)
def test_a_user_without_a_rule_for_the_priority_gets_one_email_at_once(
    person: Person, priority: Priority
) -> None:
    transition = open_with(priority=priority, people=paging(person))
    assert transition.pages == (
        PlannedPage(1, "EMAIL", "dave@example.com", T0, fallback=True, level=0),
    )
    # A log entry says so: it names the user and the address the e-mail goes to.
    saying_so = [entry for entry in transition.log if "dave@example.com" in entry.text]
    assert len(saying_so) == 1, transition.log
    assert saying_so[0].user_id == 1
    assert "ESCALATED" not in types(transition)
    assert "NOBODY_ON_CALL" not in types(transition)


def test_a_level_pages_its_users_and_whoever_is_on_call_in_its_schedules() -> None:
    policy = EscalationPolicy(5, "mixed", (EscalationRule(5, user_ids=(1, 2), schedule_ids=(50, 51)),))
    people = paging(reachable(1), reachable(2), reachable(3), on_call={50: 3, 51: 1})
    transition = open_with(policy, people=people)
    # User 1 is both listed and on call: one notification cycle, not two.
    assert same_pages(transition.pages, [sms_page(1, T0, 0), sms_page(2, T0, 0), sms_page(3, T0, 0)])


@pytest.mark.parametrize(
    ("muted_until", "paged"),
    [
        (None, True),
        (T0 - timedelta(minutes=1), True),
        (T0, True),  # muted until exactly now: reachable again
        (T0 + timedelta(seconds=1), False),
        (FOREVER, False),
    ],
    ids=["not muted", "mute ended", "mute ends now", "muted 1 s more", "muted"],
)
def test_a_muted_user_is_not_reachable(muted_until: datetime | None, paged: bool) -> None:
    transition = open_with(people=paging(reachable(1, muted_until), reachable(2)))
    level0_paged = any(page.user_id == 1 and page.level == 0 for page in transition.pages)
    assert level0_paged is paged
    assert ("NOBODY_ON_CALL" in types(transition)) is not paged


SCHEDULE_AT_LEVEL_0 = EscalationPolicy(
    3, "ops", (EscalationRule(5, schedule_ids=(50,)), EscalationRule(10, user_ids=(2,)))
)


@pytest.mark.parametrize(
    ("policy", "level0_people"),
    [
        (TWO_LEVELS, paging(reachable(1, FOREVER), reachable(2))),
        (TWO_LEVELS, paging(reachable(2))),  # user 1 unknown to paging
        (TWO_LEVELS, paging(bare(1, email=""), reachable(2))),  # neither rules nor an e-mail address
        (SCHEDULE_AT_LEVEL_0, paging(reachable(1), reachable(2))),  # nobody on call in schedule 50
    ],
    ids=["muted", "unknown user", "no way to reach", "empty schedule"],
)
def test_a_level_with_nobody_reachable_escalates_at_once(
    policy: EscalationPolicy, level0_people: Paging
) -> None:
    transition = open_with(policy, people=level0_people)
    log = types(transition)
    assert "NOBODY_ON_CALL" in log
    assert "ESCALATED" in log
    assert log.index("NOBODY_ON_CALL") < log.index("ESCALATED")
    incident = transition.incident
    assert incident.status == "PENDING"
    assert incident.escalation_level == 1
    # Level 1 is reached at the same instant and runs for its own timeout.
    assert incident.next_escalation_at == T0 + timedelta(minutes=10)
    assert transition.pages == (sms_page(2, T0, level=1),)


def test_levels_with_nobody_are_skipped_until_one_has_somebody() -> None:
    policy = make_policy(5, 10, 15)
    transition = open_with(policy, people=muting(1, 2))
    assert types(transition).count("NOBODY_ON_CALL") == 2
    assert transition.incident.escalation_level == 2
    assert transition.incident.next_escalation_at == T0 + timedelta(minutes=15)
    assert transition.pages == (sms_page(3, T0, level=2),)


@pytest.mark.parametrize(
    "policy",
    [
        make_policy(5),
        make_policy(5, 10),
        make_policy(5, 10, repeating=True, frequency=3),
        make_policy(5, repeating=True, frequency=100),
    ],
    ids=["one level", "two levels", "repeating", "repeating one level"],
)
@pytest.mark.parametrize("people", [NO_PAGING, muting(1, 2)], ids=["nobody known", "all muted"])
def test_nobody_reachable_in_the_whole_policy_pages_nobody_and_stays_pending(
    policy: EscalationPolicy, people: Paging
) -> None:
    transition = open_with(policy, people=people)
    assert transition.response_code == "NEW_INCIDENT_CREATED"
    assert transition.pages == ()
    # Each level is looked at once, however many repeats the policy allows.
    assert types(transition).count("NOBODY_ON_CALL") <= len(policy.rules) + 1
    assert transition.incident.escalation_pass == 0
    assert "ESCALATED" not in types(transition)
    assert any(
        entry.log_entry_type == "NOBODY_ON_CALL" and "nobody is paged" in entry.text.lower()
        for entry in transition.log
    ), transition.log
    assert transition.incident.status == "PENDING"
    assert transition.incident.next_escalation_at is None
    # Nothing is left to fire: a later timer changes nothing.
    later = escalation_due(transition.incident, policy, T0 + timedelta(days=1), paging=EVERYONE)
    assert not later.changed


@pytest.mark.parametrize(
    "people", [muting(1), paging(reachable(2))], ids=["level 0 muted", "level 0 unknown"]
)
def test_low_priority_with_nobody_at_level_0_never_escalates(people: Paging) -> None:
    transition = open_with(priority="LOW", people=people)
    assert transition.pages == ()
    assert "NOBODY_ON_CALL" in types(transition)
    assert "ESCALATED" not in types(transition)
    assert transition.incident.escalation_level == 0
    assert transition.incident.next_escalation_at is None
    assert transition.incident.status == "PENDING"
    later = escalation_due(transition.incident, TWO_LEVELS, T0 + timedelta(days=1), paging=EVERYONE)
    assert not later.changed
    assert later.pages == ()


def test_low_priority_pages_level_0_only() -> None:
    transition = open_with(priority="LOW")
    assert transition.pages == (sms_page(1, T0, level=0),)
    assert transition.incident.next_escalation_at is None


# --- level_user_ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "on_call", "expected"),
    [
        (EscalationRule(5, user_ids=(1, 2)), {}, (1, 2)),
        (EscalationRule(5, schedule_ids=(10,)), {10: 3}, (3,)),
        (EscalationRule(5, schedule_ids=(10,)), {}, ()),
        (EscalationRule(5, user_ids=(1, 2), schedule_ids=(10, 11)), {10: 3, 11: 4}, (1, 2, 3, 4)),
        (EscalationRule(5, user_ids=(4,), schedule_ids=(10, 11)), {10: 3}, (4, 3)),
        (EscalationRule(5, user_ids=(1, 2), schedule_ids=(10,)), {10: 2}, (1, 2)),
        (EscalationRule(5, schedule_ids=(10, 11)), {10: 3, 11: 3}, (3,)),
        (EscalationRule(5, user_ids=(2, 2)), {}, (2,)),
    ],
    ids=[
        "users only",
        "schedule only",
        "empty schedule",
        "users then schedules",
        "schedule with nobody skipped",
        "on call and listed",
        "same user on two schedules",
        "user listed twice",
    ],
)
def test_level_user_ids(rule: EscalationRule, on_call: dict[int, int], expected: tuple[int, ...]) -> None:
    asked: list[tuple[int, datetime]] = []

    def lookup(schedule_id: int, at: datetime) -> int | None:
        asked.append((schedule_id, at))
        return on_call.get(schedule_id)

    assert level_user_ids(rule, T0, lookup) == expected
    # Each schedule is asked who is on call at that instant.
    assert asked == [(schedule_id, T0) for schedule_id in rule.schedule_ids]


# --- accept / resolve / comment -----------------------------------------------------------------


def test_pending_accepted_resolved() -> None:
    incident = opened()
    accepted = accept(incident, USER, T0 + timedelta(minutes=1))
    assert accepted.response_code == "INCIDENT_ACCEPTED"
    assert accepted.incident.status == "ACCEPTED"
    assert accepted.incident.accepted_at == T0 + timedelta(minutes=1)
    assert accepted.incident.accepted_by == USER.user_id
    assert accepted.incident.next_escalation_at is None
    assert types(accepted) == ["ACCEPTED"]
    assert accepted.cancel_pages is True
    assert accepted.pages == ()

    resolved = resolve(accepted.incident, OTHER_USER, T0 + timedelta(minutes=2))
    assert resolved.response_code == "INCIDENT_RESOLVED"
    assert resolved.incident.status == "RESOLVED"
    assert resolved.incident.resolved_at == T0 + timedelta(minutes=2)
    assert resolved.incident.resolved_by == OTHER_USER.user_id
    assert resolved.incident.accepted_by == USER.user_id  # the accept is not forgotten
    assert resolved.incident.next_escalation_at is None
    assert not resolved.incident.is_open
    assert types(resolved) == ["RESOLVED"]
    assert resolved.cancel_pages is True
    assert resolved.pages == ()


def test_pending_resolved_directly() -> None:
    incident = opened()
    assert incident.next_escalation_at is not None
    resolved = resolve(incident, USER, T0 + timedelta(minutes=3))
    assert resolved.response_code == "INCIDENT_RESOLVED"
    assert resolved.incident.status == "RESOLVED"
    assert resolved.incident.resolved_at == T0 + timedelta(minutes=3)
    assert resolved.incident.resolved_by == USER.user_id
    assert resolved.incident.accepted_at is None
    assert resolved.incident.next_escalation_at is None
    assert resolved.cancel_pages is True


def test_accept_on_accepted_answers_already_accepted_and_changes_nothing() -> None:
    accepted = accept(opened(), USER, T0 + timedelta(minutes=1)).incident
    again = accept(accepted, OTHER_USER, T0 + timedelta(minutes=4))
    assert again.response_code == "INCIDENT_ALREADY_ACCEPTED"
    assert again.incident == accepted
    assert again.incident.accepted_by == USER.user_id
    assert again.incident.accepted_at == T0 + timedelta(minutes=1)
    assert again.log == ()
    assert again.pages == ()
    assert not again.changed


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("accept", lambda inc: accept(inc, USER, T0)),
        ("resolve", lambda inc: resolve(inc, USER, T0)),
        ("comment", lambda inc: comment(inc, "too late", USER)),
        ("escalate", lambda inc: escalate(inc, TWO_LEVELS, USER, T0, paging=EVERYONE)),
        ("escalate to a level", lambda inc: escalate(inc, TWO_LEVELS, USER, T0, 1, paging=EVERYONE)),
        ("escalate without policy", lambda inc: escalate(inc, None, USER, T0, paging=EVERYONE)),
        ("ALERT event", lambda inc: apply_event(inc, alert(), INTEGRATION, T0)),
        ("ACCEPT event", lambda inc: apply_event(inc, Event("ACCEPT", "db1"), INTEGRATION, T0)),
        ("RESOLVE event", lambda inc: apply_event(inc, Event("RESOLVE", "db1"), INTEGRATION, T0)),
        ("COMMENT event", lambda inc: apply_event(inc, Event("COMMENT", "db1", summary="late"), INTEGRATION,
                                                  T0)),
    ],
)
@pytest.mark.parametrize("accepted_first", [False, True], ids=["from PENDING", "from ACCEPTED"])
def test_resolved_is_final(
    name: str, change: Callable[[Incident], Transition], accepted_first: bool
) -> None:
    incident = opened()
    if accepted_first:
        incident = accept(incident, USER, T0).incident
    resolved = resolve(incident, USER, T0).incident
    with pytest.raises(ApiError) as caught:
        change(resolved)
    assert caught.value.status == 409, name
    assert caught.value.code == "INCIDENT_RESOLVED", name


def test_a_comment_event_without_comments_logs_its_summary_as_a_comment() -> None:
    transition = apply_event(opened(), Event("COMMENT", "db1", summary="looking", details="from zabbix"),
                             INTEGRATION, T0)
    assert transition.response_code == "COMMENT_ADDED"
    assert types(transition) == ["EVENT_RECEIVED", "COMMENT"]
    assert transition.log[-1].text == "looking\nfrom zabbix"


def test_a_comment_event_with_nothing_to_say_is_refused() -> None:
    with pytest.raises(ApiError) as caught:
        Event("COMMENT", "db1")
    assert caught.value.status == 400
    assert caught.value.field == "comments"


@pytest.mark.parametrize("accepted_first", [False, True])
def test_comment_adds_a_log_entry_and_changes_nothing_else(accepted_first: bool) -> None:
    incident = opened()
    if accepted_first:
        incident = accept(incident, USER, T0).incident
    transition = comment(incident, "looking into it", OTHER_USER)
    assert transition.response_code == "COMMENT_ADDED"
    assert transition.incident == incident
    assert types(transition) == ["COMMENT"]
    assert transition.log[0].text == "looking into it"
    assert transition.pages == ()
    assert transition.cancel_pages is False


@pytest.mark.parametrize(
    ("action", "log_type"),
    [
        (lambda inc, actor: accept(inc, actor, T0), "ACCEPTED"),
        (lambda inc, actor: resolve(inc, actor, T0), "RESOLVED"),
        (lambda inc, actor: comment(inc, "hi", actor), "COMMENT"),
    ],
    ids=["accept", "resolve", "comment"],
)
@pytest.mark.parametrize("actor", [USER, OTHER_USER, SYSTEM], ids=["alice/API", "bob/SMS", "system"])
def test_user_actions_log_the_actors_user_id_and_channel(
    action: Callable[[Incident, Actor], Transition], log_type: str, actor: Actor
) -> None:
    transition = action(opened(), actor)
    entry = only_entry(transition, log_type)
    assert entry.user_id == actor.user_id
    assert entry.channel == actor.channel


# --- apply_event ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "response", "status", "log_types", "cancels"),
    [
        (alert("again"), "EVENT_ADDED_TO_INCIDENT", "PENDING", ["EVENT_RECEIVED"], False),
        (Event("ACCEPT", "db1"), "INCIDENT_ACCEPTED", "ACCEPTED", ["EVENT_RECEIVED", "ACCEPTED"], True),
        (Event("RESOLVE", "db1"), "INCIDENT_RESOLVED", "RESOLVED", ["EVENT_RECEIVED", "RESOLVED"], True),
        (
            Event("COMMENT", "db1", comments=(Comment("zabbix", "ack in zabbix"),)),
            "COMMENT_ADDED",
            "PENDING",
            ["EVENT_RECEIVED", "COMMENT"],
            False,
        ),
    ],
    ids=["ALERT", "ACCEPT", "RESOLVE", "COMMENT"],
)
def test_apply_event_answers_by_event_type(
    event: Event, response: str, status: str, log_types: list[str], cancels: bool
) -> None:
    incident = opened()
    transition = apply_event(incident, event, INTEGRATION, T0 + timedelta(minutes=1))
    assert transition.response_code == response
    assert transition.incident.status == status
    assert types(transition) == log_types
    assert transition.cancel_pages is cancels
    assert transition.pages == ()
    received = only_entry(transition, "EVENT_RECEIVED")
    assert received.channel == INTEGRATION.channel
    assert received.user_id is None
    assert received.text.startswith(event.event_type)
    # README: eventCount counts every event the incident received, whatever its type.
    assert transition.incident.event_count == incident.event_count + 1


def test_apply_alert_adds_to_the_incident_and_counts_it() -> None:
    incident = opened()
    first = apply_event(incident, alert("again"), INTEGRATION, T0 + timedelta(minutes=1))
    second = apply_event(first.incident, alert("and again"), INTEGRATION, T0 + timedelta(minutes=2))
    assert first.incident.event_count == 2
    assert second.incident.event_count == 3
    # An ALERT on an open key pages nobody again: the escalation state is untouched.
    assert first.pages == () and second.pages == ()
    assert second.incident.escalation_level == incident.escalation_level
    assert second.incident.next_escalation_at == incident.next_escalation_at
    assert second.incident.status == "PENDING"


def test_apply_alert_on_an_accepted_incident_keeps_it_accepted() -> None:
    accepted = accept(opened(), USER, T0).incident
    transition = apply_event(accepted, alert("again"), INTEGRATION, T0 + timedelta(minutes=1))
    assert transition.response_code == "EVENT_ADDED_TO_INCIDENT"
    assert transition.incident.status == "ACCEPTED"
    assert transition.incident.event_count == accepted.event_count + 1


@pytest.mark.parametrize(
    ("event_type", "log_type"), [("ACCEPT", "ACCEPTED"), ("RESOLVE", "RESOLVED")]
)
def test_accept_and_resolve_events_log_the_integrations_channel(event_type: str, log_type: str) -> None:
    transition = apply_event(opened(), Event(event_type, "db1"), INTEGRATION, T0)  # type: ignore[arg-type]
    entry = only_entry(transition, log_type)
    assert entry.channel == INTEGRATION.channel
    assert entry.user_id is None
    assert transition.incident.next_escalation_at is None


def test_accept_event_on_accepted_answers_already_accepted() -> None:
    accepted = accept(opened(), USER, T0).incident
    transition = apply_event(accepted, Event("ACCEPT", "db1"), INTEGRATION, T0 + timedelta(minutes=1))
    assert transition.response_code == "INCIDENT_ALREADY_ACCEPTED"
    assert transition.incident.status == "ACCEPTED"
    assert transition.incident.accepted_by == USER.user_id
    assert "ACCEPTED" not in types(transition)
    assert transition.incident.event_count == accepted.event_count + 1


def test_event_comments_become_comment_entries() -> None:
    event = Event("RESOLVE", "db1", comments=(Comment("grafana", "recovered"), Comment("", "bare")))
    transition = apply_event(opened(), event, INTEGRATION, T0)
    assert types(transition) == ["EVENT_RECEIVED", "RESOLVED", "COMMENT", "COMMENT"]
    assert [entry.text for entry in transition.log[2:]] == ["grafana: recovered", "bare"]


# --- escalation_due ------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(minutes=4, seconds=59)])
def test_escalation_due_before_the_deadline_changes_nothing(offset: timedelta) -> None:
    incident = opened()
    transition = escalation_due(incident, TWO_LEVELS, T0 + offset, paging=EVERYONE)
    assert not transition.changed
    assert transition.incident == incident
    assert transition.pages == ()


@pytest.mark.parametrize("late", [timedelta(0), timedelta(minutes=3)], ids=["on time", "3 min late"])
def test_escalation_due_moves_to_level_1_with_a_deadline_from_now(late: timedelta) -> None:
    incident = opened()
    now = T0 + timedelta(minutes=5) + late
    transition = escalation_due(incident, TWO_LEVELS, now, paging=EVERYONE)
    assert types(transition) == ["ESCALATED"]
    assert transition.log[0].user_id is None and transition.log[0].channel is None
    assert transition.incident.escalation_level == 1
    assert transition.incident.escalation_pass == 0
    assert transition.incident.status == "PENDING"
    assert transition.incident.next_escalation_at == now + timedelta(minutes=10)
    assert transition.pages == (sms_page(2, now, level=1),)
    # The cycles of earlier levels keep running.
    assert transition.cancel_pages is False


def test_escalation_due_pages_level_1_by_its_rules_from_the_deadline() -> None:
    contact = Contact(40, "VOICE", "+491544444444")
    erin = Person(
        2, "erin", "erin@example.com", None, (contact,),
        (AlertRule("VOICE", 40, 15, "HIGH_PRIORITY"), AlertRule("VOICE", 40, 0, "HIGH_PRIORITY")),
    )
    people = paging(reachable(1), erin)
    deadline = T0 + timedelta(minutes=5)
    transition = escalation_due(opened(people=people), TWO_LEVELS, deadline, paging=people)
    assert transition.incident.escalation_level == 1
    assert same_pages(
        transition.pages,
        [
            PlannedPage(2, "VOICE", contact.target, deadline, level=1),
            PlannedPage(2, "VOICE", contact.target, deadline + timedelta(minutes=15), level=1),
        ],
    )


@pytest.mark.parametrize(
    ("muted_until", "reached"),
    [(T0 + timedelta(minutes=4), 1), (T0 + timedelta(minutes=5), 1), (T0 + timedelta(minutes=6), 2)],
    ids=["mute ended before", "mute ends at the deadline", "still muted"],
)
def test_escalation_due_checks_mutes_at_the_deadline(muted_until: datetime, reached: int) -> None:
    policy = make_policy(5, 10, 15)
    people = paging(reachable(1), reachable(2, muted_until), reachable(3))
    deadline = T0 + timedelta(minutes=5)
    transition = escalation_due(opened(policy, people=people), policy, deadline, paging=people)
    assert transition.incident.escalation_level == reached
    assert transition.incident.next_escalation_at == deadline + timedelta(minutes=5 * (reached + 1))
    assert transition.pages == (sms_page(reached + 1, deadline, level=reached),)
    assert ("NOBODY_ON_CALL" in types(transition)) is (reached == 2)


def test_escalation_after_the_last_level_ends_without_repeating() -> None:
    level1 = escalation_due(opened(), TWO_LEVELS, T0 + timedelta(minutes=5), paging=EVERYONE).incident
    assert level1.next_escalation_at == T0 + timedelta(minutes=15)
    ended = escalation_due(level1, TWO_LEVELS, T0 + timedelta(minutes=15), paging=EVERYONE)
    assert types(ended) == ["ESCALATION_ENDED"]
    assert ended.pages == ()
    assert ended.incident.next_escalation_at is None
    assert ended.incident.escalation_level == 1
    assert ended.incident.status == "PENDING"
    # A timer firing again afterwards is harmless.
    again = escalation_due(ended.incident, TWO_LEVELS, T0 + timedelta(hours=1), paging=EVERYONE)
    assert not again.changed
    assert again.incident == ended.incident


def walk(
    incident: Incident, policy: EscalationPolicy, people: Paging = EVERYONE
) -> tuple[list[tuple[int, int]], list[str], list[PlannedPage]]:
    """Fire every escalation deadline until none is left: the (level, pass) reached, log and pages."""
    visited = [(incident.escalation_level, incident.escalation_pass)]
    log: list[str] = []
    pages: list[PlannedPage] = []
    for _ in range(100):
        due = incident.next_escalation_at
        if due is None:
            return visited, log, pages
        transition = escalation_due(incident, policy, due, paging=people)
        assert transition.changed
        log.extend(types(transition))
        pages.extend(transition.pages)
        incident = transition.incident
        if "ESCALATED" in types(transition):
            visited.append((incident.escalation_level, incident.escalation_pass))
    raise AssertionError("escalation never stopped")


@pytest.mark.parametrize(
    ("repeating", "frequency", "expected_levels"),
    [
        (False, 0, [0, 1]),
        (False, 2, [0, 1]),
        (True, 0, [0, 1]),
        (True, 1, [0, 1, 0, 1]),
        (True, 2, [0, 1, 0, 1, 0, 1]),
    ],
)
def test_repeating_policy_passes(repeating: bool, frequency: int, expected_levels: list[int]) -> None:
    policy = make_policy(5, 10, repeating=repeating, frequency=frequency)
    visited, log, pages = walk(opened(policy), policy)
    assert [level for level, _ in visited] == expected_levels
    assert [p for _, p in visited] == [i // 2 for i in range(len(expected_levels))]
    assert log[-1] == "ESCALATION_ENDED"
    assert log.count("ESCALATION_ENDED") == 1
    assert log.count("ESCALATED") == len(expected_levels) - 1
    # Each level reached after the first pages its user again, at that level.
    assert [(page.user_id, page.level) for page in pages] == [
        (level + 1, level) for level in expected_levels[1:]
    ]


def test_frequency_2_gives_three_passes_through_a_single_level_policy() -> None:
    policy = make_policy(5, repeating=True, frequency=2)
    visited, log, pages = walk(opened(policy), policy)
    assert visited == [(0, 0), (0, 1), (0, 2)]
    assert log[-1] == "ESCALATION_ENDED"
    assert len(pages) == 2


def test_repeated_level_deadlines_follow_each_levels_timeout() -> None:
    policy = make_policy(5, 10, repeating=True, frequency=1)
    incident = opened(policy)
    deadlines = []
    while incident.next_escalation_at is not None:
        deadlines.append(incident.next_escalation_at - T0)
        incident = escalation_due(incident, policy, incident.next_escalation_at, paging=EVERYONE).incident
    assert deadlines == [timedelta(minutes=m) for m in (5, 15, 20, 30)]


def test_repeating_policy_with_an_unreachable_level_keeps_its_pass_count() -> None:
    policy = make_policy(5, 10, repeating=True, frequency=2)
    visited, log, pages = walk(opened(policy, people=muting(2)), policy, muting(2))
    # Level 1 is skipped at once each time: three passes through level 0, then the end.
    assert visited == [(0, 0), (0, 1), (0, 2)]
    assert log.count("NOBODY_ON_CALL") == 3
    assert log[-1] == "ESCALATION_ENDED"
    assert {page.user_id for page in pages} == {1}


def test_a_repeating_policy_whose_people_all_become_unreachable_stops() -> None:
    policy = make_policy(5, 10, repeating=True, frequency=1000)
    incident = opened(policy)
    transition = escalation_due(incident, policy, T0 + timedelta(minutes=5), paging=muting(1, 2))
    assert transition.pages == ()
    assert types(transition).count("NOBODY_ON_CALL") <= len(policy.rules) + 1
    assert transition.incident.escalation_pass <= 1
    assert transition.incident.next_escalation_at is None
    assert transition.incident.status == "PENDING"
    assert any(
        entry.log_entry_type == "NOBODY_ON_CALL" and "nobody is paged" in entry.text.lower()
        for entry in transition.log
    ), transition.log


def late_stale(incident: Incident) -> Incident:
    """The incident as a late timer might still see it: with its old deadline left in place."""
    return replace(incident, next_escalation_at=T0 + timedelta(minutes=5))


@pytest.mark.parametrize(
    "make",
    [
        lambda: accept(opened(), USER, T0).incident,
        lambda: resolve(opened(), USER, T0).incident,
        lambda: late_stale(accept(opened(), USER, T0).incident),
        lambda: late_stale(resolve(opened(), USER, T0).incident),
    ],
    ids=["accepted", "resolved", "accepted with stale deadline", "resolved with stale deadline"],
)
def test_escalation_due_on_accepted_or_resolved_changes_nothing(make: Callable[[], Incident]) -> None:
    incident = make()
    transition = escalation_due(incident, TWO_LEVELS, T0 + timedelta(minutes=30), paging=EVERYONE)
    assert not transition.changed
    assert transition.incident == incident
    assert transition.incident.escalation_level == 0
    assert transition.pages == ()


@pytest.mark.parametrize(
    "policy", [None, EscalationPolicy(4, "empty", ())], ids=["no policy", "policy without levels"]
)
def test_escalation_due_when_the_policy_is_gone_stops_escalating(policy: EscalationPolicy | None) -> None:
    incident = opened()
    transition = escalation_due(incident, policy, T0 + timedelta(minutes=5), paging=EVERYONE)
    assert types(transition) == ["NO_ESCALATION_POLICY"]
    assert transition.pages == ()
    assert transition.incident.next_escalation_at is None
    assert transition.incident.status == "PENDING"


def test_escalation_user_ids_are_the_users_escalation_due_pages_first() -> None:
    policy = make_policy(5, 10, 15)
    deadline = T0 + timedelta(minutes=5)
    incident = opened(policy)
    assert escalation_user_ids(incident, policy, deadline) == (2,)
    paged = {p.user_id for p in escalation_due(incident, policy, deadline, paging=EVERYONE).pages}
    assert paged == {2}
    # Not due yet, not pending, no policy, or no level left: nobody to read ahead.
    assert escalation_user_ids(incident, policy, deadline - timedelta(seconds=1)) == ()
    assert escalation_user_ids(accept(incident, USER, T0).incident, policy, deadline) == ()
    assert escalation_user_ids(incident, None, deadline) == ()
    last = replace(incident, escalation_level=2)
    assert escalation_user_ids(last, policy, deadline) == ()
    assert escalation_user_ids(last, make_policy(5, 10, 15, repeating=True, frequency=1), deadline) == (1,)


@pytest.mark.parametrize(
    ("level", "expected"),
    [(0, T0 + timedelta(minutes=5)), (1, T0 + timedelta(minutes=10)), (2, None), (-1, None)],
)
def test_level_deadline(level: int, expected: datetime | None) -> None:
    assert level_deadline(TWO_LEVELS, level, T0) == expected


@pytest.mark.parametrize(
    ("policy", "level", "pass_number", "expected"),
    [
        (make_policy(5, 10), 0, 0, LevelStep(1, 0)),
        (make_policy(5, 10), 1, 0, None),
        (make_policy(5, 10, repeating=True, frequency=2), 1, 0, LevelStep(0, 1)),
        (make_policy(5, 10, repeating=True, frequency=2), 1, 1, LevelStep(0, 2)),
        (make_policy(5, 10, repeating=True, frequency=2), 1, 2, None),
        (make_policy(5, 10, repeating=True, frequency=2), 0, 2, LevelStep(1, 2)),
        (EscalationPolicy(1, "empty", (), repeating=True, frequency=3), 0, 0, None),
    ],
)
def test_next_step(
    policy: EscalationPolicy, level: int, pass_number: int, expected: LevelStep | None
) -> None:
    assert next_step(policy, level, pass_number) == expected


# --- escalate (manual or reply) -------------------------------------------------------------------

THREE_LEVELS = make_policy(5, 10, 15)


def at_level(level: int, policy: EscalationPolicy = THREE_LEVELS, pass_number: int = 0) -> Incident:
    return replace(opened(policy), escalation_level=level, escalation_pass=pass_number)


@pytest.mark.parametrize(
    ("policy", "start", "expected"),
    [
        (THREE_LEVELS, 0, 1),
        (THREE_LEVELS, 1, 2),
        (THREE_LEVELS, 2, 0),
        (make_policy(5, 10, 15, repeating=True, frequency=2), 2, 0),
        (make_policy(5), 0, 0),
    ],
    ids=["0 to 1", "1 to 2", "last wraps to 0", "last wraps to 0, repeating", "single level"],
)
def test_escalate_moves_to_the_next_level_and_wraps_after_the_last(
    policy: EscalationPolicy, start: int, expected: int
) -> None:
    now = T0 + timedelta(minutes=2)
    transition = escalate(at_level(start, policy), policy, USER, now, paging=EVERYONE)
    incident = transition.incident
    assert incident.escalation_level == expected
    assert incident.status == "PENDING"
    timeout = timedelta(minutes=policy.rules[expected].escalation_timeout_min)
    assert incident.next_escalation_at == now + timeout
    assert transition.pages == (sms_page(expected + 1, now, level=expected),)
    assert "ESCALATED" in types(transition)
    assert transition.cancel_pages is False


@pytest.mark.parametrize("level", [0, 1, 2])
@pytest.mark.parametrize("start", [0, 2])
def test_escalate_to_an_explicit_level(start: int, level: int) -> None:
    now = T0 + timedelta(minutes=2)
    transition = escalate(at_level(start), THREE_LEVELS, USER, now, level, paging=EVERYONE)
    assert transition.incident.escalation_level == level
    assert transition.incident.next_escalation_at == now + timedelta(minutes=5 * (level + 1))
    assert transition.pages == (sms_page(level + 1, now, level=level),)


def test_escalate_keeps_the_pass_count() -> None:
    policy = make_policy(5, 10, repeating=True, frequency=2)
    transition = escalate(at_level(1, policy, pass_number=1), policy, USER, T0, paging=EVERYONE)
    assert transition.incident.escalation_level == 0
    assert transition.incident.escalation_pass == 1


@pytest.mark.parametrize("level", [-1, 3, 10])
def test_escalate_to_a_level_the_policy_lacks_is_refused(level: int) -> None:
    with pytest.raises(ApiError) as caught:
        escalate(opened(THREE_LEVELS), THREE_LEVELS, USER, T0, level, paging=EVERYONE)
    assert caught.value.status == 400
    assert caught.value.field == "level"


@pytest.mark.parametrize("level", [None, 0])
@pytest.mark.parametrize(
    "policy", [None, EscalationPolicy(4, "empty", ())], ids=["no policy", "policy without levels"]
)
def test_escalate_without_a_policy_is_refused(policy: EscalationPolicy | None, level: int | None) -> None:
    with pytest.raises(ApiError) as caught:
        escalate(opened(policy), policy, USER, T0, level, paging=EVERYONE)
    assert caught.value.status == 400
    assert caught.value.code == "NO_ESCALATION_POLICY"


def test_escalate_makes_an_accepted_incident_pending_again() -> None:
    accepted = accept(opened(), USER, T0 + timedelta(minutes=1)).incident
    assert accepted.next_escalation_at is None
    now = T0 + timedelta(minutes=3)
    transition = escalate(accepted, TWO_LEVELS, OTHER_USER, now, paging=EVERYONE)
    incident = transition.incident
    assert incident.status == "PENDING"
    assert incident.accepted_at is None
    assert incident.accepted_by is None
    assert incident.escalation_level == 1
    assert incident.next_escalation_at == now + timedelta(minutes=10)
    assert transition.pages == (sms_page(2, now, level=1),)


@pytest.mark.parametrize("actor", [USER, OTHER_USER], ids=["alice/API", "bob/SMS"])
def test_escalate_logs_the_actors_user_id_and_channel(actor: Actor) -> None:
    transition = escalate(opened(), TWO_LEVELS, actor, T0, paging=EVERYONE)
    entry = only_entry(transition, "ESCALATED")
    assert entry.user_id == actor.user_id
    assert entry.channel == actor.channel


def test_escalate_to_a_level_with_nobody_moves_on_at_once() -> None:
    transition = escalate(opened(THREE_LEVELS), THREE_LEVELS, USER, T0, paging=muting(2))
    assert transition.incident.escalation_level == 2
    assert transition.incident.next_escalation_at == T0 + timedelta(minutes=15)
    assert transition.pages == (sms_page(3, T0, level=2),)
    assert "NOBODY_ON_CALL" in types(transition)
