"""Tests of escalating an incident by hand or by reply (ilertd.domain.incidents.escalate)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ilertd.domain.escalation import EscalationPolicy
from ilertd.domain.incidents import (
    Actor,
    Incident,
    Paging,
    accept,
    acceptor_deleted,
    escalate,
    escalation_due,
)
from ilertd.errors import ApiError
from tests.incident_builders import (
    EVERYONE,
    OTHER_USER,
    T0,
    TWO_LEVELS,
    USER,
    make_policy,
    muting,
    only_entry,
    opened,
    sms_page,
    types,
)

THREE_LEVELS = make_policy(5, 10, 15)


def at_level(level: int, policy: EscalationPolicy = THREE_LEVELS, pass_number: int = 0) -> Incident:
    return replace(opened(policy), escalation_level=level, escalation_pass=pass_number)


def sent_so_far(count: int, paging: Paging = EVERYONE) -> Paging:
    """`paging` in a store whose last message sent was the `count`th (its `sent_seq`)."""
    return replace(paging, messages_sent=lambda: count)


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


def test_escalating_into_an_unreachable_last_level_wraps_to_level_0() -> None:
    """It walked on by the timeout rule, which has no level after the last: ESCALATION_ENDED with
    nobody paged and nothing due, for good, though level 0's user could be paged (and was not
    even once a later mute ended)."""
    transition = escalate(at_level(1), THREE_LEVELS, USER, T0 + timedelta(minutes=6), paging=muting(3))
    incident = transition.incident
    assert (incident.escalation_level, incident.escalation_pass) == (0, 0)
    assert incident.next_escalation_at == T0 + timedelta(minutes=11)
    assert transition.pages == (sms_page(1, T0 + timedelta(minutes=6), level=0),)
    assert "ESCALATION_ENDED" not in types(transition)
    entry = only_entry(transition, "ESCALATED")
    assert entry.user_id == USER.user_id and "level 0" in entry.text


def test_escalating_with_nobody_reachable_anywhere_waits_and_says_who_asked() -> None:
    now = T0 + timedelta(minutes=6)
    nobody = sent_so_far(3, muting(1, 2, 3))
    transition = escalate(at_level(1), THREE_LEVELS, OTHER_USER, now, paging=nobody, page_seq=1)
    incident = transition.incident
    assert incident.status == "PENDING" and incident.escalation_level < 0
    assert incident.next_escalation_at is not None and incident.next_escalation_at > now
    assert transition.pages == () and "ESCALATION_ENDED" not in types(transition)
    assert {(e.user_id, e.channel) for e in transition.log} == {(OTHER_USER.user_id, "SMS")}
    # The same reply again (a provider's retry) finds the escalation done.
    with pytest.raises(ApiError) as again:
        escalate(incident, THREE_LEVELS, OTHER_USER, now + timedelta(minutes=1), paging=nobody, page_seq=1)
    assert again.value.code == "ALREADY_ESCALATED"


def test_each_level_that_pages_says_when_it_did() -> None:
    incident = opened(THREE_LEVELS)
    assert incident.escalated_at == T0
    timed_out = escalation_due(incident, THREE_LEVELS, T0 + timedelta(minutes=5), EVERYONE).incident
    assert (timed_out.escalation_level, timed_out.escalated_at) == (1, T0 + timedelta(minutes=5))
    by_hand = escalate(timed_out, THREE_LEVELS, USER, T0 + timedelta(minutes=7), paging=EVERYONE).incident
    assert (by_hand.escalation_level, by_hand.escalated_at) == (2, T0 + timedelta(minutes=7))
    # Accepting moves no level: when the level paged stays.
    assert accept(by_hand, USER, T0 + timedelta(minutes=8)).incident.escalated_at == T0 + timedelta(minutes=7)


@pytest.mark.parametrize("policy", [THREE_LEVELS, make_policy(5)], ids=["three levels", "single level"])
def test_a_reply_to_a_page_sent_before_the_incident_last_escalated_moves_nothing(
        policy: EscalationPolicy) -> None:
    # The page went out first (the 1st message sent); the same "escalate" reply came twice (or the
    # timeout ran out first): the first moved the incident after it, the second finds it moved since.
    once = escalate(opened(policy), policy, USER, T0 + timedelta(minutes=2), paging=sent_so_far(1),
                    page_seq=1)
    assert (once.incident.escalated_at, once.incident.escalated_seq) == (T0 + timedelta(minutes=2), 1)
    with pytest.raises(ApiError) as refused:
        escalate(once.incident, policy, USER, T0 + timedelta(minutes=3), paging=sent_so_far(2), page_seq=1)
    assert refused.value.status == 409 and refused.value.code == "ALREADY_ESCALATED"
    assert f"reached level {once.incident.escalation_level} at" in refused.value.message
    # A page sent after that escalation may escalate again; so may anyone without a page (the API).
    later = escalate(once.incident, policy, USER, T0 + timedelta(minutes=4), paging=sent_so_far(2),
                     page_seq=2)
    assert (later.incident.escalated_at, later.incident.escalated_seq) == (T0 + timedelta(minutes=4), 2)
    by_api = escalate(later.incident, policy, USER, T0 + timedelta(minutes=5), paging=EVERYONE)
    assert by_api.incident.escalated_at == T0 + timedelta(minutes=5)


def test_an_incident_that_has_not_escalated_since_it_opened_escalates_on_any_reply() -> None:
    incident = opened(THREE_LEVELS)
    assert incident.escalated_seq is None  # opening at level 0 comes before any page of it
    moved = escalate(incident, THREE_LEVELS, USER, T0 + timedelta(minutes=2), paging=EVERYONE, page_seq=1)
    assert moved.incident.escalation_level == 1


def test_a_reply_is_judged_by_the_order_messages_were_sent_not_by_the_stamps() -> None:
    """The wall clock stepped back an hour after the page (the 5th message sent) went out: the
    reply's escalation is stamped before the page, yet came after it; the same reply again, stamped
    later still before the page, moves nothing."""
    stepped_back = T0 - timedelta(hours=1)
    once = escalate(opened(THREE_LEVELS), THREE_LEVELS, USER, stepped_back, paging=sent_so_far(5), page_seq=5)
    assert once.incident.escalation_level == 1
    with pytest.raises(ApiError) as refused:
        escalate(once.incident, THREE_LEVELS, USER, stepped_back + timedelta(minutes=1),
                 paging=sent_so_far(6), page_seq=5)
    assert refused.value.code == "ALREADY_ESCALATED"
    timed_out = escalation_due(once.incident, THREE_LEVELS, T0 + timedelta(hours=1), sent_so_far(7)).incident
    assert (timed_out.escalation_level, timed_out.escalated_seq) == (2, 7)


def test_an_accept_by_a_deleted_user_is_taken_back_only_while_it_stands() -> None:
    now = T0 + timedelta(minutes=2)
    accepted = accept(at_level(1), USER, T0).incident
    taken_back = acceptor_deleted(accepted, THREE_LEVELS, USER.user_id or 0, "bo", now, EVERYONE)
    assert (taken_back.incident.status, taken_back.incident.accepted_by) == ("PENDING", None)
    assert taken_back.incident.escalation_level == 1 and taken_back.pages
    assert only_entry(taken_back, "ESCALATED").text.startswith(
        "Escalated to level 1 of policy ops by ilertd, as bo, who accepted it, was deleted")
    # Accepted by someone else since, or never accepted, or no levels to page: left as it is.
    others = accept(at_level(1), OTHER_USER, T0).incident
    for incident, policy in ((others, THREE_LEVELS), (at_level(1), THREE_LEVELS), (accepted, None)):
        unchanged = acceptor_deleted(incident, policy, USER.user_id or 0, "bo", now, EVERYONE)
        assert unchanged.incident is incident and not unchanged.log
