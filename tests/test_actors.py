"""The actor system in-process under a manual clock: the memory cap, forgetting idle incidents, the sweep."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pykka
import pytest

from ilertd.actors.base import send
from ilertd.actors.clock import ManualClock
from ilertd.actors.incident import escalation_timer_key
from ilertd.actors.messages import HeldCount, IncidentCommand, IngestEvent, Outcome, Ping, Reload, SourceInfo
from ilertd.actors.runtime import Runtime
from ilertd.actors.supervisor import Supervisor
from ilertd.domain.events import Event
from ilertd.domain.incidents import Actor
from ilertd.store import committer as committer_module
from ilertd.store import models as m
from ilertd.store.committer import WRITE_RETRY, Committer
from ilertd.store.db import migrate, open_database
from ilertd.tracker import WorkTracker

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class System:
    runtime: Runtime
    supervisor: pykka.ActorRef[Any]
    clock: ManualClock
    source: SourceInfo

    def ingest(self, key: str, event_type: str = "ALERT") -> Outcome:
        done = threading.Event()
        box: list[Outcome] = []

        def reply(outcome: Outcome) -> None:
            box.append(outcome)
            done.set()

        event = Event(event_type=event_type, alert_key=key, summary=f"{key} is down")  # type: ignore[arg-type]
        send(self.supervisor, IngestEvent(self.source, event, "api", {"k": key}, reply), self.runtime.tracker)
        assert done.wait(10)
        return box[0]

    def command(self, incident_id: int, action: str) -> Outcome:
        done = threading.Event()
        box: list[Outcome] = []

        def reply(outcome: Outcome) -> None:
            box.append(outcome)
            done.set()

        message = IncidentCommand(incident_id, action, Actor(1, "admin", "API"), reply)  # type: ignore[arg-type]
        send(self.supervisor, message, self.runtime.tracker)
        assert done.wait(10)
        return box[0]

    def incidents_in_memory(self) -> int:
        hosts = self.supervisor.proxy().hosts.get(timeout=10)
        return sum(host.ask(HeldCount(), timeout=10) for host in hosts.refs())


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    db = open_database(f"sqlite:///{tmp_path / 'ilertd.db'}")
    migrate(db)
    m.User.create(username="oncall", email="oncall@example.com", created_at=START)
    policy = m.EscalationPolicy.create(name="ops", rules=[
        {"escalationTimeout": 10, "users": [{"id": 1}], "schedules": []},
        {"escalationTimeout": 10, "users": [{"id": 1}], "schedules": []},
    ])
    row = m.AlertSource.create(name="src", integration_type="API", integration_key="k" * 32,
                               escalation_policy=policy.id, created_at=START)
    tracker = WorkTracker()
    clock = ManualClock(START, tracker)
    committer = Committer(db, tracker)
    committer.start()
    runtime = Runtime(db, clock, committer, tracker, "http://127.0.0.1:8020")
    supervisor = Supervisor.start(runtime, 3, 30)
    supervisor.ask(Ping(), timeout=10)
    source = SourceInfo(row.id, row.name, "API", "HIGH", policy.id)
    yield System(runtime, supervisor, clock, source)
    supervisor.stop(timeout=10)
    committer.stop()
    db.close()


def test_incidents_held_in_memory_are_capped_and_forgotten_ones_come_back(system: System) -> None:
    opened = [system.ingest(f"host-{i}") for i in range(8)]
    assert [o.response_code for o in opened] == ["NEW_INCIDENT_CREATED"] * 8
    system.runtime.tracker.wait_idle()
    assert system.incidents_in_memory() <= 3
    # Every incident still answers, re-activated from the store with its state intact.
    for i, outcome in enumerate(opened):
        again = system.ingest(f"HOST-{i}")
        assert again.incident_id == outcome.incident_id
        assert again.response_code == "EVENT_ADDED_TO_INCIDENT"
    assert system.command(opened[0].incident_id, "accept").response_code == "INCIDENT_ACCEPTED"  # type: ignore[arg-type]
    assert system.ingest("host-0", "ACCEPT").response_code == "INCIDENT_ALREADY_ACCEPTED"
    system.runtime.tracker.wait_idle()
    assert m.Incident.get_by_id(opened[0].incident_id).event_count == 3
    assert system.incidents_in_memory() <= 3


def test_idle_incidents_are_forgotten_on_the_sweep(system: System) -> None:
    system.ingest("a")
    system.ingest("b")
    system.runtime.tracker.wait_idle()
    assert system.incidents_in_memory() == 2
    system.clock.advance(timedelta(seconds=61))
    system.runtime.tracker.wait_idle()
    assert system.incidents_in_memory() == 0
    assert system.ingest("a").response_code == "EVENT_ADDED_TO_INCIDENT"


def test_reconcile_sweep_fires_an_overdue_deadline_that_lost_its_timer(system: System) -> None:
    # Open off the sweep's 30-second beat, so the deadline falls between two sweeps.
    system.clock.advance(timedelta(seconds=10))
    outcome = system.ingest("lost-timer")
    incident_id = outcome.incident_id
    assert incident_id is not None
    system.runtime.tracker.wait_idle()
    key = escalation_timer_key(incident_id)
    deadline = START + timedelta(minutes=10, seconds=10)
    assert system.clock.armed_at(key) == deadline
    # A timer can be lost (a bug, a race); the store still knows the deadline.
    system.clock.disarm(key)
    system.clock.set(deadline)
    assert m.Incident.get_by_id(incident_id).escalation_level == 0
    system.clock.advance(timedelta(seconds=20))
    system.runtime.tracker.wait_idle()
    row = m.Incident.get_by_id(incident_id)
    assert row.escalation_level == 1
    assert row.next_escalation_at == deadline + timedelta(seconds=20) + timedelta(minutes=10)


def test_resolved_key_reopens_as_a_new_incident_even_when_the_actor_raced(system: System) -> None:
    first = system.ingest("race")
    # Resolve and immediately alert again, without waiting in between.
    done = threading.Event()
    box: list[Outcome] = []

    def reply(outcome: Outcome) -> None:
        box.append(outcome)
        if len(box) == 2:
            done.set()

    resolve = Event(event_type="RESOLVE", alert_key="race")
    alert = Event(event_type="ALERT", alert_key="race", summary="again")
    send(system.supervisor, IngestEvent(system.source, resolve, "api", {}, reply), system.runtime.tracker)
    send(system.supervisor, IngestEvent(system.source, alert, "api", {}, reply), system.runtime.tracker)
    assert done.wait(10)
    codes = {o.response_code: o.incident_id for o in box}
    assert codes["INCIDENT_RESOLVED"] == first.incident_id
    assert codes["NEW_INCIDENT_CREATED"] != first.incident_id


def test_a_batch_of_escalations_lands_whole_when_its_writes_are_queued_in_parts(
        system: System, monkeypatch: pytest.MonkeyPatch) -> None:
    # Queued seven at a time, a host's batch of escalations crosses several submits (and, with
    # three incidents held per host, passivates most of its incidents before its end).
    monkeypatch.setattr(committer_module, "WRITES_TOGETHER", 7)
    incidents = []
    for i in range(40):
        outcome = system.ingest(f"node-{i}")
        assert outcome.incident_id is not None
        incidents.append(outcome.incident_id)
    system.runtime.tracker.wait_idle()
    system.clock.advance(timedelta(minutes=10))
    system.runtime.tracker.wait_idle()
    assert {r.id: r.escalation_level for r in m.Incident.select()} == {i: 1 for i in incidents}
    entries = m.LogEntry.select().where(m.LogEntry.log_entry_type == "ESCALATED")
    assert Counter(e.incident_id for e in entries) == {i: 1 for i in incidents}
    next_deadline = START + timedelta(minutes=20)
    assert all(system.clock.armed_at(escalation_timer_key(i)) == next_deadline for i in incidents)


def test_a_sweep_whose_read_failed_comes_again(system: System, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next sweep was armed at the end of this one: a read that raised (a disk error, a
    database gone a moment) ended the sweeps for good, and a lost timer stayed lost."""
    from ilertd.actors import supervisor as supervisor_module

    reads = supervisor_module.store.escalation_deadlines
    failed: list[datetime] = []

    def fails_once(reader: Any, now: datetime) -> Any:
        if not failed:
            failed.append(now)
            raise OSError("disk I/O error")
        return reads(reader, now)

    monkeypatch.setattr(supervisor_module.store, "escalation_deadlines", fails_once)
    outcome = system.ingest("lost-timer")
    assert outcome.incident_id is not None
    system.runtime.tracker.wait_idle()
    system.clock.advance(timedelta(seconds=30))
    system.runtime.tracker.wait_idle()
    assert failed == [START + timedelta(seconds=30)]
    # A timer lost meanwhile: only a sweep after the failed one finds its deadline.
    system.clock.disarm(escalation_timer_key(outcome.incident_id))
    system.clock.advance(timedelta(minutes=10, seconds=30))
    system.runtime.tracker.wait_idle()
    assert m.Incident.get_by_id(outcome.incident_id).escalation_level == 1


def test_an_incident_reloaded_after_the_store_failed_is_looked_at_soon_and_otherwise_not(
        system: System) -> None:
    """Only a store that failed is worth a look in WRITE_RETRY: a statement that failed would fail
    as often (the sweep is the net for it, as before)."""
    outcome = system.ingest("reloaded")
    incident_id = outcome.incident_id
    assert incident_id is not None
    system.runtime.tracker.wait_idle()
    key = escalation_timer_key(incident_id)
    deadline = START + timedelta(minutes=10)
    assert system.clock.armed_at(key) == deadline
    hosts = system.supervisor.proxy().hosts.get(timeout=10)
    hosts.tell(incident_id, Reload(incident_id, soon=False))
    system.runtime.tracker.wait_idle()
    assert system.clock.armed_at(key) == deadline
    hosts.tell(incident_id, Reload(incident_id, soon=True))
    system.runtime.tracker.wait_idle()
    assert system.clock.armed_at(key) == START + WRITE_RETRY
