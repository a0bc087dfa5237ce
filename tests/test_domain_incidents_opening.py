"""Tests of opening an incident (ilertd.domain.incidents.open_incident): fields, priority, no policy."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ilertd.domain.escalation import EscalationPolicy
from ilertd.domain.events import Comment, Priority
from ilertd.domain.incidents import escalation_due, open_incident
from tests.incident_builders import EVERYONE, T0, TWO_LEVELS, alert, opened, sms_page, types


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

