"""Tests of whom an incident pages when it reaches a level: rules, fallback e-mail, mutes, nobody there."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ilertd.domain.escalation import EscalationPolicy, EscalationRule, level_user_ids
from ilertd.domain.events import Priority
from ilertd.domain.frozen import evolve
from ilertd.domain.incidents import HELD, LOOK_AGAIN, NO_PAGING, WAITING, Paging, escalation_due, look_again
from ilertd.domain.notification_plan import AlertRule, Contact, Person, PlannedPage
from tests.incident_builders import (
    EVERYONE,
    FOREVER,
    T0,
    TWO_LEVELS,
    bare,
    make_policy,
    muting,
    open_with,
    paging,
    reachable,
    same_pages,
    sms_page,
    types,
)

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
def test_nobody_reachable_in_the_whole_policy_pages_nobody_then_waits_for_someone(
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
    # It waits (no schedule, mutes for a year): level 0 is tried again LOOK_AGAIN later.
    assert transition.incident.escalation_level == WAITING
    assert transition.incident.next_escalation_at == T0 + LOOK_AGAIN
    # Still nobody: the next look logs nothing, pages nobody and looks again later.
    again = escalation_due(transition.incident, policy, T0 + LOOK_AGAIN, paging=people)
    assert again.changed and again.log == () and again.pages == ()
    assert again.incident.escalation_level == WAITING
    assert again.incident.next_escalation_at == T0 + 2 * LOOK_AGAIN
    # Once someone is reachable, the next look reaches level 0 and pages them: never "never".
    found = escalation_due(again.incident, policy, T0 + 2 * LOOK_AGAIN, paging=EVERYONE)
    assert found.pages == (sms_page(1, T0 + 2 * LOOK_AGAIN, level=0),)
    assert (found.incident.escalation_level, found.incident.escalation_pass) == (0, 0)
    assert found.incident.next_escalation_at == T0 + 2 * LOOK_AGAIN + timedelta(minutes=5)
    assert [e.text for e in found.log if e.log_entry_type == "ESCALATED"] == [
        "Someone is reachable now: level 0 of policy ops reached: paging user1"]


def test_a_waiting_incident_looks_again_when_a_mute_ends_or_a_schedule_hands_over() -> None:
    unmuted_at = T0 + timedelta(minutes=7)
    by_mute = open_with(make_policy(30), people=muting(1, until=unmuted_at))
    assert by_mute.incident.next_escalation_at == unmuted_at
    # Nobody on call in schedule 5 until 09:04; the look is then, not 15 minutes on.
    shift_at = T0 + timedelta(minutes=4)
    on_schedule = EscalationPolicy(3, "ops", (EscalationRule(30, schedule_ids=(5,)),))
    gap = Paging(person=reachable, on_call=lambda _s, at: 1 if at >= shift_at else None,
                 on_call_changes=lambda _s, at: shift_at if at < shift_at else None)
    waiting = open_with(on_schedule, people=gap)
    assert waiting.incident.next_escalation_at == shift_at
    reached = escalation_due(waiting.incident, on_schedule, shift_at, paging=gap)
    assert reached.pages == (sms_page(1, shift_at, level=0),)


def test_a_waiting_incident_looks_again_at_once_when_asked_and_only_a_waiting_one() -> None:
    """Someone was unmuted, put on call or given a contact: the look is now, not at the next one."""
    policy = make_policy(30)
    waiting = open_with(policy, people=muting(1)).incident
    assert (waiting.escalation_level, waiting.next_escalation_at) == (WAITING, T0 + LOOK_AGAIN)
    now = T0 + timedelta(minutes=7)
    found = look_again(waiting, policy, now, paging=EVERYONE)
    assert found.pages == (sms_page(1, now, level=0),)
    assert (found.incident.escalation_level, found.incident.next_escalation_at) == (
        0, now + timedelta(minutes=30))
    assert [e.text for e in found.log if e.log_entry_type == "ESCALATED"] == [
        "Someone is reachable now: level 0 of policy ops reached: paging user1"]
    # Still nobody, and no reason to look sooner than the next look: nothing changes, so nothing is
    # written (every edit of a user comes here, once per waiting incident).
    quiet = look_again(waiting, policy, now, paging=muting(1))
    assert not quiet.changed and quiet.incident is waiting and quiet.pages == ()
    # Still nobody, but a mute now ends before the next look: that is when it looks again.
    sooner = look_again(waiting, policy, now, paging=muting(1, until=now + timedelta(minutes=2)))
    assert sooner.changed and sooner.log == () and sooner.pages == ()
    assert (sooner.incident.escalation_level, sooner.incident.next_escalation_at) == (
        WAITING, now + timedelta(minutes=2))
    # Paging, accepted, resolved or held incidents are not waiting: left as they are.
    paging_now = found.incident
    assert look_again(paging_now, policy, now, paging=EVERYONE).incident is paging_now
    assert not look_again(paging_now, policy, now, paging=EVERYONE).changed
    accepted = evolve(waiting, status="ACCEPTED")
    assert not look_again(accepted, policy, now, paging=EVERYONE).changed
    held = evolve(waiting, escalation_level=HELD)
    assert not look_again(held, policy, now, paging=EVERYONE).changed


@pytest.mark.parametrize(
    "people", [muting(1), paging(reachable(2))], ids=["level 0 muted", "level 0 unknown"]
)
def test_low_priority_with_nobody_at_level_0_waits_for_level_0_and_never_escalates(people: Paging) -> None:
    transition = open_with(priority="LOW", people=people)
    assert transition.pages == ()
    assert "NOBODY_ON_CALL" in types(transition)
    assert "ESCALATED" not in types(transition)
    assert transition.incident.escalation_level == WAITING
    assert transition.incident.next_escalation_at == T0 + LOOK_AGAIN
    assert transition.incident.status == "PENDING"
    # Someone reachable later: level 0 pages them, and a LOW incident goes no further.
    later = escalation_due(transition.incident, TWO_LEVELS, T0 + timedelta(days=1), paging=EVERYONE)
    assert later.pages == (sms_page(1, T0 + timedelta(days=1), level=0),)
    assert later.incident.escalation_level == 0 and later.incident.next_escalation_at is None


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

