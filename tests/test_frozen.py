"""`evolve` copies a frozen record as `dataclasses.replace` does, and refuses what replace would
refuse or what it cannot copy faithfully."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from ilertd.domain.events import Event
from ilertd.domain.frozen import evolve
from ilertd.domain.incident_model import Incident, LogEntry, Transition

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
INCIDENT = Incident(7, 1, "db1", "down", "PENDING", "HIGH", NOW, labels={"team": "db"})


@pytest.mark.parametrize(("record", "changes"), [
    (INCIDENT, {"escalation_level": 2, "next_escalation_at": NOW}),
    (INCIDENT, {"status": "ACCEPTED", "accepted_at": NOW, "accepted_by": 3}),
    (INCIDENT, {}),
    (LogEntry("ESCALATED", "paging ann"), {"user_id": 4, "channel": "SMS"}),
    (Transition(INCIDENT, (LogEntry("COMMENT", "x"),), "EVENT_ADDED_TO_INCIDENT"), {"cancel_pages": True}),
])
def test_evolve_equals_replace(record: object, changes: dict[str, object]) -> None:
    evolved = evolve(record, **changes)
    assert evolved == dataclasses.replace(record, **changes)  # type: ignore[type-var]
    assert type(evolved) is type(record)
    assert evolved is not record
    for name, value in changes.items():
        assert getattr(evolved, name) == value


def test_the_original_is_untouched_and_the_copy_stays_frozen() -> None:
    evolved = evolve(INCIDENT, event_count=5)
    assert INCIDENT.event_count == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        evolved.event_count = 6  # type: ignore[misc]


def test_a_name_that_is_not_a_field_is_refused() -> None:
    with pytest.raises(TypeError, match="no field colour"):
        evolve(INCIDENT, colour="red")
    with pytest.raises(TypeError, match="no field is_open"):
        evolve(INCIDENT, is_open=False)


def test_a_class_whose_init_does_more_than_set_fields_is_refused() -> None:
    # Event validates in __post_init__, which replace would run and evolve cannot.
    event = Event(event_type="ALERT", summary="down")
    with pytest.raises(TypeError, match="__post_init__"):
        evolve(event, summary="up")

    @dataclasses.dataclass(frozen=True, slots=True)
    class Slotted:
        a: int

    with pytest.raises(TypeError, match="slots"):
        evolve(Slotted(1), a=2)
