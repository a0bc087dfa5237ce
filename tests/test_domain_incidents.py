"""Tests of the incident state machine (ilertd.domain.incidents) and the escalation walk it relies on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ilertd.domain.escalation import (
    EscalationPolicy,
    EscalationRule,
    LevelStep,
    level_deadline,
    next_step,
)
from ilertd.domain.events import Comment, Event, Priority
from ilertd.domain.incidents import (
    SYSTEM,
    Actor,
    Incident,
    LogEntry,
    Transition,
    accept,
    apply_event,
    comment,
    escalation_due,
    event_matches,
    open_incident,
    resolve,
)
from ilertd.errors import ApiError

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
USER = Actor(user_id=7, name="alice", channel="API")
OTHER_USER = Actor(user_id=9, name="bob", channel="SMS")
INTEGRATION = Actor(name="prometheus", channel="PROMETHEUS")


def make_policy(*timeouts: int, repeating: bool = False, frequency: int = 0) -> EscalationPolicy:
    rules = tuple(EscalationRule(t, user_ids=(i + 1,)) for i, t in enumerate(timeouts))
    return EscalationPolicy(3, "ops", rules, repeating=repeating, frequency=frequency)


TWO_LEVELS = make_policy(5, 10)


def alert(summary: str = "disk full", **fields: object) -> Event:
    return Event("ALERT", alert_key="db1", summary=summary, **fields)  # type: ignore[arg-type]


def opened(
    policy: EscalationPolicy | None = TWO_LEVELS,
    priority: Priority | None = None,
    default_priority: Priority = "HIGH",
    now: datetime = T0,
) -> Incident:
    event = alert(priority=priority)
    return open_incident(1, 2, "db1", default_priority, event, policy, "prom", now).incident


def types(transition: Transition) -> list[str]:
    return [entry.log_entry_type for entry in transition.log]


def only_entry(transition: Transition, log_type: str) -> LogEntry:
    found = [entry for entry in transition.log if entry.log_entry_type == log_type]
    assert len(found) == 1, transition.log
    return found[0]


# --- open_incident ------------------------------------------------------------------------------


def test_open_with_a_policy_reaches_level_0_with_its_deadline() -> None:
    event = alert(
        details="99% used",
        images=({"src": "https://img/1.png"},),
        links=({"href": "https://runbook"},),
        labels={"env": "prod"},
        custom_details={"used": 99},
    )
    transition = open_incident(11, 2, "db1", "HIGH", event, TWO_LEVELS, "prom", T0)
    incident = transition.incident
    assert transition.response_code == "NEW_INCIDENT_CREATED"
    assert types(transition) == ["INCIDENT_CREATED", "EVENT_RECEIVED", "ESCALATED"]
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
    later = escalation_due(incident, TWO_LEVELS, T0 + timedelta(days=2))
    assert not later.changed
    assert later.incident == incident


@pytest.mark.parametrize(
    "policy", [None, EscalationPolicy(4, "empty", ())], ids=["no policy", "policy without levels"]
)
def test_open_without_escalation_levels_logs_no_policy_and_sets_no_deadline(
    policy: EscalationPolicy | None,
) -> None:
    transition = open_incident(1, 2, "db1", "HIGH", alert(), policy, "prom", T0)
    assert types(transition) == ["INCIDENT_CREATED", "EVENT_RECEIVED", "NO_ESCALATION_POLICY"]
    assert transition.incident.status == "PENDING"
    assert transition.incident.next_escalation_at is None
    assert transition.incident.escalation_policy_id == (policy.id if policy else None)


def test_open_logs_the_comments_the_alert_carries() -> None:
    event = alert(comments=(Comment("nagios", "first look"), Comment("", "no creator")))
    transition = open_incident(1, 2, "db1", "HIGH", event, TWO_LEVELS, "prom", T0)
    assert types(transition)[-2:] == ["COMMENT", "COMMENT"]
    assert [entry.text for entry in transition.log[-2:]] == ["nagios: first look", "no creator"]


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

    resolved = resolve(accepted.incident, OTHER_USER, T0 + timedelta(minutes=2))
    assert resolved.response_code == "INCIDENT_RESOLVED"
    assert resolved.incident.status == "RESOLVED"
    assert resolved.incident.resolved_at == T0 + timedelta(minutes=2)
    assert resolved.incident.resolved_by == OTHER_USER.user_id
    assert resolved.incident.accepted_by == USER.user_id  # the accept is not forgotten
    assert resolved.incident.next_escalation_at is None
    assert not resolved.incident.is_open
    assert types(resolved) == ["RESOLVED"]


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


def test_accept_on_accepted_answers_already_accepted_and_changes_nothing() -> None:
    accepted = accept(opened(), USER, T0 + timedelta(minutes=1)).incident
    again = accept(accepted, OTHER_USER, T0 + timedelta(minutes=4))
    assert again.response_code == "INCIDENT_ALREADY_ACCEPTED"
    assert again.incident == accepted
    assert again.incident.accepted_by == USER.user_id
    assert again.incident.accepted_at == T0 + timedelta(minutes=1)
    assert again.log == ()
    assert not again.changed


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("accept", lambda inc: accept(inc, USER, T0)),
        ("resolve", lambda inc: resolve(inc, USER, T0)),
        ("comment", lambda inc: comment(inc, "too late", USER)),
        ("ALERT event", lambda inc: apply_event(inc, alert(), INTEGRATION, T0)),
        ("ACCEPT event", lambda inc: apply_event(inc, Event("ACCEPT", "db1"), INTEGRATION, T0)),
        ("RESOLVE event", lambda inc: apply_event(inc, Event("RESOLVE", "db1"), INTEGRATION, T0)),
        ("COMMENT event", lambda inc: apply_event(inc, Event("COMMENT", "db1"), INTEGRATION, T0)),
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
    ("event", "response", "status", "log_types"),
    [
        (alert("again"), "EVENT_ADDED_TO_INCIDENT", "PENDING", ["EVENT_RECEIVED"]),
        (Event("ACCEPT", "db1"), "INCIDENT_ACCEPTED", "ACCEPTED", ["EVENT_RECEIVED", "ACCEPTED"]),
        (Event("RESOLVE", "db1"), "INCIDENT_RESOLVED", "RESOLVED", ["EVENT_RECEIVED", "RESOLVED"]),
        (
            Event("COMMENT", "db1", comments=(Comment("zabbix", "ack in zabbix"),)),
            "COMMENT_ADDED",
            "PENDING",
            ["EVENT_RECEIVED", "COMMENT"],
        ),
    ],
    ids=["ALERT", "ACCEPT", "RESOLVE", "COMMENT"],
)
def test_apply_event_answers_by_event_type(
    event: Event, response: str, status: str, log_types: list[str]
) -> None:
    incident = opened()
    transition = apply_event(incident, event, INTEGRATION, T0 + timedelta(minutes=1))
    assert transition.response_code == response
    assert transition.incident.status == status
    assert types(transition) == log_types
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


@pytest.mark.parametrize(
    ("incident_key", "event_key", "resolved", "expected"),
    [
        ("db1", "db1", False, True),
        ("DB1", "db1", False, True),
        ("db1", "db2", False, False),
        ("db1", "db1", True, False),
    ],
)
def test_event_matches_open_incidents_by_key_identity(
    incident_key: str, event_key: str, resolved: bool, expected: bool
) -> None:
    incident = replace(opened(), alert_key=incident_key)
    if resolved:
        incident = resolve(incident, USER, T0).incident
    assert event_matches(incident, event_key) is expected


# --- escalation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(minutes=4, seconds=59)])
def test_escalation_due_before_the_deadline_changes_nothing(offset: timedelta) -> None:
    incident = opened()
    transition = escalation_due(incident, TWO_LEVELS, T0 + offset)
    assert not transition.changed
    assert transition.incident == incident


@pytest.mark.parametrize("late", [timedelta(0), timedelta(minutes=3)], ids=["on time", "3 min late"])
def test_escalation_due_moves_to_level_1_with_a_deadline_from_now(late: timedelta) -> None:
    incident = opened()
    now = T0 + timedelta(minutes=5) + late
    transition = escalation_due(incident, TWO_LEVELS, now)
    assert types(transition) == ["ESCALATED"]
    assert transition.log[0].user_id is None and transition.log[0].channel is None
    assert transition.incident.escalation_level == 1
    assert transition.incident.escalation_pass == 0
    assert transition.incident.status == "PENDING"
    assert transition.incident.next_escalation_at == now + timedelta(minutes=10)


def test_escalation_after_the_last_level_ends_without_repeating() -> None:
    level1 = escalation_due(opened(), TWO_LEVELS, T0 + timedelta(minutes=5)).incident
    assert level1.next_escalation_at == T0 + timedelta(minutes=15)
    ended = escalation_due(level1, TWO_LEVELS, T0 + timedelta(minutes=15))
    assert types(ended) == ["ESCALATION_ENDED"]
    assert ended.incident.next_escalation_at is None
    assert ended.incident.escalation_level == 1
    assert ended.incident.status == "PENDING"
    # A timer firing again afterwards is harmless.
    again = escalation_due(ended.incident, TWO_LEVELS, T0 + timedelta(hours=1))
    assert not again.changed
    assert again.incident == ended.incident


def walk(incident: Incident, policy: EscalationPolicy) -> tuple[list[tuple[int, int]], list[str]]:
    """Fire every escalation deadline until none is left: the (level, pass) visited and the log."""
    visited = [(incident.escalation_level, incident.escalation_pass)]
    log: list[str] = []
    for _ in range(100):
        due = incident.next_escalation_at
        if due is None:
            return visited, log
        transition = escalation_due(incident, policy, due)
        assert transition.changed
        log.extend(types(transition))
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
    visited, log = walk(opened(policy), policy)
    assert [level for level, _ in visited] == expected_levels
    assert [p for _, p in visited] == [i // 2 for i in range(len(expected_levels))]
    assert log[-1] == "ESCALATION_ENDED"
    assert log.count("ESCALATION_ENDED") == 1
    assert log.count("ESCALATED") == len(expected_levels) - 1


def test_frequency_2_gives_three_passes_through_a_single_level_policy() -> None:
    policy = make_policy(5, repeating=True, frequency=2)
    visited, _ = walk(opened(policy), policy)
    assert visited == [(0, 0), (0, 1), (0, 2)]


def test_repeated_level_deadlines_follow_each_levels_timeout() -> None:
    policy = make_policy(5, 10, repeating=True, frequency=1)
    incident = opened(policy)
    deadlines = []
    while incident.next_escalation_at is not None:
        deadlines.append(incident.next_escalation_at - T0)
        incident = escalation_due(incident, policy, incident.next_escalation_at).incident
    assert deadlines == [timedelta(minutes=m) for m in (5, 15, 20, 30)]


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
    transition = escalation_due(incident, TWO_LEVELS, T0 + timedelta(minutes=30))
    assert not transition.changed
    assert transition.incident == incident
    assert transition.incident.escalation_level == 0


def test_escalation_due_when_the_policy_is_gone_stops_escalating() -> None:
    incident = opened()
    transition = escalation_due(incident, None, T0 + timedelta(minutes=5))
    assert types(transition) == ["NO_ESCALATION_POLICY"]
    assert transition.incident.next_escalation_at is None
    assert transition.incident.status == "PENDING"


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
