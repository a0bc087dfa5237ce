"""Tests of accepting, resolving and commenting on an incident, by a user or by an event applied to it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from ilertd.domain.events import Comment, Event
from ilertd.domain.incidents import (
    SYSTEM,
    Actor,
    Incident,
    Transition,
    accept,
    apply_event,
    comment,
    escalate,
    resolve,
)
from ilertd.errors import ApiError
from tests.incident_builders import (
    EVERYONE,
    INTEGRATION,
    OTHER_USER,
    T0,
    TWO_LEVELS,
    USER,
    alert,
    only_entry,
    opened,
    types,
)

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
    event = Event("RESOLVE", "db1", comments=(Comment("grafana", "recovered"), Comment("", "bare"),
                                              Comment("  ", "blank creator"), Comment(" ops ", "padded")))
    transition = apply_event(opened(), event, INTEGRATION, T0)
    assert types(transition) == ["EVENT_RECEIVED", "RESOLVED", "COMMENT", "COMMENT", "COMMENT", "COMMENT"]
    # A blank creator is none (it was logged "  : blank creator").
    assert [entry.text for entry in transition.log[2:]] == [
        "grafana: recovered", "bare", "blank creator", "ops: padded"]

