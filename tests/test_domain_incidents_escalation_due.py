"""Tests of escalation timers (escalation_due) and the escalation walk: levels, repeats, deadlines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from ilertd.domain.escalation import EscalationPolicy, LevelStep, level_deadline, next_step
from ilertd.domain.incidents import (
    LOOK_AGAIN,
    WAITING,
    Incident,
    Paging,
    accept,
    escalate,
    escalation_due,
    escalation_user_ids,
    resolve,
)
from ilertd.domain.notification_plan import AlertRule, Contact, Person, PlannedPage
from tests.incident_builders import (
    EVERYONE,
    T0,
    TWO_LEVELS,
    USER,
    make_policy,
    muting,
    opened,
    paging,
    reachable,
    same_pages,
    sms_page,
    types,
)


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


def test_a_pass_that_takes_no_time_is_not_repeated() -> None:
    """A store may hold such a policy from before it was refused: its repeats would page the
    same people again in the same instant, nine times over."""
    policy = make_policy(0, 0, repeating=True, frequency=9)
    visited, log, pages = walk(opened(policy), policy)
    assert visited == [(0, 0), (1, 0)]
    assert log[-1] == "ESCALATION_ENDED" and log.count("ESCALATED") == 1
    assert [(page.user_id, page.level) for page in pages] == [(2, 1)]
    assert next_step(make_policy(0, 1, repeating=True, frequency=9), 1, 0) == LevelStep(0, 1)


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


def test_a_repeating_policy_whose_people_all_become_unreachable_stops_cycling_and_waits() -> None:
    policy = make_policy(5, 10, repeating=True, frequency=1000)
    incident = opened(policy)
    now = T0 + timedelta(minutes=5)
    transition = escalation_due(incident, policy, now, paging=muting(1, 2))
    assert transition.pages == ()
    assert types(transition).count("NOBODY_ON_CALL") <= len(policy.rules) + 1
    # The pass it was in is kept: waiting for someone spends no repeats.
    assert transition.incident.escalation_pass == 0
    assert transition.incident.escalation_level == WAITING
    assert transition.incident.next_escalation_at == now + LOOK_AGAIN
    assert transition.incident.status == "PENDING"
    assert any(
        entry.log_entry_type == "NOBODY_ON_CALL" and "nobody is paged" in entry.text.lower()
        for entry in transition.log
    ), transition.log


def test_escalating_a_waiting_incident_by_hand_tries_level_0() -> None:
    policy = make_policy(5, 10, repeating=True, frequency=1)
    waiting = escalation_due(opened(policy), policy, T0 + timedelta(minutes=5), paging=muting(1, 2)).incident
    assert waiting.escalation_level == WAITING
    by_hand = escalate(waiting, policy, USER, T0 + timedelta(minutes=6), paging=EVERYONE)
    assert {page.user_id for page in by_hand.pages} == {1}
    assert by_hand.incident.escalation_level == 0


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

