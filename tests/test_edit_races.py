"""Two writes to one object at once, as two admins pressing Save together: each request reads the
object before either writes (forced with a barrier after that first read). A write is judged by
the object as its transaction finds it, never by a read before it."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2 as httpx
import pytest

from ilertd.app import preferences, schedules, sources
from ilertd.app.auth import Principal
from ilertd.errors import ApiError
from tests.inprocess import InProcessDaemon
from tests.paging import Paging

WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")
HOURS = {"timezone": "UTC", "outside": "NO_ESCALATION", "supportDays": {
    day: {"start": "10:00", "end": "18:00"} for day in WEEKDAYS}}
LATER = {**HOURS, "supportDays": {day: {"start": "12:00", "end": "18:00"} for day in HOURS["supportDays"]}}


def both_read_first(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, last_waits: float = 0.0
                    ) -> None:
    """`module.name`'s first call in each of two threads returns once both have made it (the one
    that made it last `last_waits` seconds later), or after 2 s (a read inside a writing
    transaction that holds the row waits for the other in vain)."""
    barrier, original, seen = threading.Barrier(2, timeout=2), getattr(module, name), threading.local()
    arrivals = itertools.count()

    def first_read_waits(*args: Any) -> Any:
        row = original(*args)
        if not getattr(seen, "read", False):
            seen.read, last = True, next(arrivals) == 1
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
            if last:
                time.sleep(last_waits)
        return row
    monkeypatch.setattr(module, name, first_read_waits)


def at_once(*requests: Callable[[], httpx.Response]) -> list[httpx.Response]:
    with ThreadPoolExecutor(len(requests)) as pool:
        return [future.result() for future in [pool.submit(request) for request in requests]]


def test_two_policy_edits_never_store_a_policy_either_is_refused_with(
        either_store: InProcessDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each judged by the row before both: repeating (frequency 3) and every timeout 0 were both
    stored, which either alone, after the other, is refused."""
    app = either_store
    user = app.post("/api/users", {"username": "u1", "email": "u1@example.com"}).json()["id"]
    created = app.post("/api/escalation-policies", {"name": "p", "escalationRules": [
        {"escalationTimeout": 5, "users": [{"id": user}]}]})
    path = f"/api/escalation-policies/{created.json()['id']}"
    both_read_first(monkeypatch, sources, "policy_or_404")
    at_once_zero = {"escalationRules": [{"escalationTimeout": 0, "users": [{"id": user}]}]}
    answers = at_once(lambda: app.put(path, {"repeating": True, "frequency": 3}),
                      lambda: app.put(path, at_once_zero))
    assert sorted(a.status_code for a in answers) == [200, 400], [a.text for a in answers]
    stored = app.get(path).json()
    assert not (stored["repeating"] and all(r["escalationTimeout"] == 0 for r in stored["escalationRules"]))


def test_two_edits_from_one_loaded_copy_of_a_policy_store_one_and_refuse_the_other(
        either_store: InProcessDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    """The UI's two tabs: each save names the version its form loaded. Checked before the write,
    both passed when they came at once; checked in the write, the second is refused."""
    app = either_store
    user = app.post("/api/users", {"username": "u1", "email": "u1@example.com"}).json()["id"]
    created = app.post("/api/escalation-policies", {"name": "p", "escalationRules": [
        {"escalationTimeout": 5, "users": [{"id": user}]}]}).json()["id"]
    loaded = sources.version_of_policy(sources.policy_or_404(created))
    edits, admin = app.daemon.services.app.sources, Principal(1, "admin", "ADMIN")
    both_read_first(monkeypatch, sources, "policy_or_404")

    def save(body: dict[str, Any]) -> str:
        try:
            edits.update_policy(admin, created, body, loaded)
        except ApiError as error:
            return error.code
        return "saved"
    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(save, [{"repeating": True, "frequency": 1}, {"name": "q"}]))
    assert outcomes == ["CHANGED_SINCE_LOADED", "saved"]


def test_two_source_edits_never_leave_a_number_on_a_source_of_another_type(
        either_store: InProcessDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    app = either_store
    created = app.post("/api/alert-sources", {"name": "sms", "integrationType": "SMS"})
    path = f"/api/alert-sources/{created.json()['id']}"
    both_read_first(monkeypatch, sources, "source_or_404")
    answers = at_once(lambda: app.put(path, {"phoneNumber": "+4930123456"}),
                      lambda: app.put(path, {"integrationType": "API"}))
    assert sorted(a.status_code for a in answers) == [200, 400], [a.text for a in answers]
    stored = app.get(path).json()
    assert stored["integrationType"] == "SMS" or stored["phoneNumber"] is None, stored


def test_a_schedule_edit_after_its_delete_is_a_404(either_store: InProcessDaemon,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The edit had read the schedule; the delete committed; the edit's new version then failed on
    the foreign key: a 500."""
    app = either_store
    user = app.post("/api/users", {"username": "u1", "email": "u1@example.com"}).json()["id"]
    body = {"name": "s", "type": "RECURRING", "timezone": "UTC", "scheduleLayers": [
        {"users": [{"id": user}], "rotation": "P1D", "startsOn": "2026-01-01T00:00"}]}
    path = f"/api/schedules/{app.post('/api/schedules', body).json()['id']}"
    read, deleted = threading.Event(), threading.Event()
    original = schedules.schedule_or_404

    def read_then_wait(schedule_id: int) -> Any:
        row = original(schedule_id)
        if not read.is_set():
            read.set()
            assert deleted.wait(5)
        return row
    monkeypatch.setattr(schedules, "schedule_or_404", read_then_wait)
    with ThreadPoolExecutor(1) as pool:
        edit = pool.submit(app.put, path, {**body, "name": "s2"})
        assert read.wait(5)
        assert app.client.delete(path, headers=app.auth()).status_code == 204
        deleted.set()
        answer = edit.result()
    assert (answer.status_code, answer.json()["code"]) == (404, "NOT_FOUND"), answer.text


def test_two_changes_of_a_number_take_its_pages_to_the_one_kept(paging_either_store: Paging,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL each change moved the pages from the number before both: the second left them
    at the first's number, given up, and the page was texted there."""
    paging = paging_either_store
    ann = paging.user("ann", [("SMS", 30, "HIGH_PRIORITY")])
    contact = paging.daemon.get(f"/api/users/{ann}/contacts").json()[0]["id"]
    paging.policy([(60, [ann])])
    paging.alert()
    paging.daemon.advance("PT1M")
    both_read_first(monkeypatch, preferences, "owned_or_404")
    path = f"/api/users/{ann}/contacts/{contact}"
    answers = at_once(lambda: paging.daemon.put(path, {"target": "+4915199990001"}),
                      lambda: paging.daemon.put(path, {"target": "+4915199990002"}))
    assert [a.status_code for a in answers] == [200, 200]
    monkeypatch.undo()
    kept = paging.daemon.get(f"/api/users/{ann}/contacts").json()[0]["target"]
    paging.daemon.advance("PT40M")
    assert [r.path for r in paging.http.to("/sms/")] == [f"/sms/{kept}"]


def test_a_resave_beside_a_change_of_support_hours_leaves_the_holds_as_the_hours_stored(
        paging_either_store: Paging, monkeypatch: pytest.MonkeyPatch) -> None:
    """A form re-saving the hours it had read, after another admin moved their start, compared them
    with its own read: "unchanged", the holds stayed where the other change put them (12:00), the
    hours back at 10:00, and nobody was paged at 10:00."""
    paging = paging_either_store
    ann = paging.user("ann")
    paging.policy([(30, [ann])])
    assert paging.daemon.put("/api/alert-sources/1", {"supportHours": HOURS}).status_code == 200
    incident = paging.alert()
    # The re-save reads second and writes last.
    both_read_first(monkeypatch, sources, "source_or_404", last_waits=0.5)
    with ThreadPoolExecutor(2) as pool:
        change = pool.submit(paging.daemon.put, "/api/alert-sources/1", {"supportHours": LATER})
        time.sleep(0.2)
        resave = pool.submit(paging.daemon.put, "/api/alert-sources/1",
                             {"name": "other", "supportHours": HOURS})
        answers = [change.result(), resave.result()]
    assert [a.status_code for a in answers] == [200, 200]
    monkeypatch.undo()
    start = paging.daemon.get("/api/alert-sources/1").json()["supportHours"]["supportDays"]["MONDAY"]["start"]
    held_until = paging.daemon.get(f"/api/incidents/{incident}").json()["nextEscalationAt"]
    assert held_until == f"2026-01-05T{start}:00.000Z", (start, held_until)
