"""A user deleted who was the last one their incidents' levels had paged: each such incident
reaches its level again, paging whoever it reaches now (ilertd.domain.policy_edits)."""

from __future__ import annotations

from typing import Any

from ilertd.app.offboarding import delete_user
from ilertd.store.policy_moves import owed_policy_moves
from tests.paging import Paging


def rota(paging: Paging, *user_ids: int) -> int:
    """A daily rotation of the users from today's midnight: the first is on call now."""
    created = paging.daemon.post("/api/schedules", {"name": "prim", "timezone": "UTC", "scheduleLayers": [
        {"name": "days", "users": [{"id": u} for u in user_ids], "rotation": "P1D",
         "startsOn": "2026-01-05T00:00"}]})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def policy(paging: Paging, levels: list[tuple[int, list[int], list[int]]]) -> int:
    created = paging.daemon.post("/api/escalation-policies", {"name": "ops", "escalationRules": [
        {"escalationTimeout": t, "users": [{"id": u} for u in users],
         "schedules": [{"id": s} for s in schedules]} for t, users, schedules in levels]})
    assert created.status_code == 201, created.text
    assert paging.daemon.put("/api/alert-sources/1", {"escalationPolicy": {"id": created.json()["id"]}}
                             ).status_code == 200
    return int(created.json()["id"])


def served(paging: Paging, incident: int) -> dict[str, Any]:
    return dict(paging.daemon.get(f"/api/incidents/{incident}").json())


def texts(paging: Paging, incident: int) -> list[str]:
    entries = paging.daemon.get(f"/api/incidents/{incident}/log-entries", params={"max-results": 100}).json()
    return [entry["text"] for entry in entries]


def test_the_on_call_user_deleted_has_the_level_page_who_is_on_call_now(paging_either_store: Paging) -> None:
    """ann, on call, was paged; deleted with force, bo came on call but was never paged: the
    level ran out and the escalation ended, the incident PENDING with nobody paged, the log
    silent about the delete."""
    paging = paging_either_store
    ann, bo = paging.user("ann"), paging.user("bo")
    policy(paging, [(30, [], [rota(paging, ann, bo)])])
    incident = paging.alert()
    paging.daemon.advance("PT2M")
    assert len(paging.mails_to("ann@example.com")) == 1
    assert paging.daemon.delete(f"/api/users/{ann}?force=true").status_code == 204
    paging.daemon.advance("PT0S")
    assert len(paging.mails_to("bo@example.com")) == 1
    assert 'User "ann" was deleted; level 0 reached again: paging bo (on call in prim)' in texts(
        paging, incident)
    now = served(paging, incident)
    assert (now["status"], now["escalationLevel"], now["nextEscalationAt"]) == (
        "PENDING", 0, "2026-01-05T09:32:00.000Z")
    assert owed_policy_moves() == []


def test_the_last_level_deleted_out_from_under_an_incident_pages_again(app_paging: Paging) -> None:
    a, ann, bo = app_paging.user("a"), app_paging.user("ann"), app_paging.user("bo")
    policy(app_paging, [(10, [a], []), (10, [], [rota(app_paging, ann, bo)])])
    incident = app_paging.alert()
    app_paging.daemon.advance("PT10M")
    assert served(app_paging, incident)["escalationLevel"] == 1
    assert app_paging.daemon.delete(f"/api/users/{ann}?force=true").status_code == 204
    app_paging.daemon.advance("PT0S")
    assert len(app_paging.mails_to("bo@example.com")) == 1
    assert len(app_paging.mails_to("a@example.com")) == 1, "level 0 is not paged again"
    assert 'User "ann" was deleted; level 1 reached again: paging bo (on call in prim)' in texts(
        app_paging, incident)


def test_a_level_that_now_reaches_nobody_moves_on_and_one_with_someone_left_stays(app_paging: Paging) -> None:
    """Level 0 names ann and cy (no contact: never paged); ann deleted, level 0 reaches nobody
    and the incident escalates at once to b. An incident whose level paged someone else too stays."""
    ann, cy, b = app_paging.user("ann"), app_paging.user("cy", email=False), app_paging.user("b")
    dee = app_paging.user("dee")
    policy(app_paging, [(10, [ann, cy], []), (10, [b], [])])
    incident = app_paging.alert()
    app_paging.daemon.advance("PT1M")
    assert app_paging.daemon.delete(f"/api/users/{ann}?force=true").status_code == 204
    app_paging.daemon.advance("PT0S")
    assert len(app_paging.mails_to("b@example.com")) == 1
    logged = texts(app_paging, incident)
    assert 'User "ann" was deleted, the last one level 0 had paged; level 0 reached again' in logged
    assert any(text.startswith("Nobody reachable at level 0 of policy ops: cy") for text in logged)
    assert served(app_paging, incident)["escalationLevel"] == 1
    # dee added next to b (the first incident's level 1 edited in place: b alone was paged), and a
    # second incident pages both; b deleted: the first reaches level 1 again, the second has dee.
    path = f"/api/escalation-policies/{served(app_paging, incident)['escalationPolicy']['id']}"
    edited = app_paging.daemon.put(path, {"escalationRules": [
        {"escalationTimeout": 10, "users": [{"id": cy}]},
        {"escalationTimeout": 10, "users": [{"id": b}, {"id": dee}]}]})
    assert edited.status_code == 200, edited.text
    second = app_paging.alert("second")
    app_paging.daemon.advance("PT1M")
    assert served(app_paging, second)["escalationLevel"] == 1
    assert len(app_paging.mails_to("dee@example.com")) == 1
    assert app_paging.daemon.delete(f"/api/users/{b}?force=true").status_code == 204
    app_paging.daemon.advance("PT1M")
    assert len(app_paging.mails_to("dee@example.com")) == 2
    assert 'User "b" was deleted; level 1 reached again: paging dee' in texts(app_paging, incident)
    assert not any("deleted" in text for text in texts(app_paging, second))


def test_a_delete_a_crash_or_another_process_kept_from_its_incidents_is_made_later(
        app_paging: Paging) -> None:
    """The delete commits, and its incidents' moves are made at the next start, or, after
    `ilertd user delete` in a process of its own, when the daemon sees its write."""
    app = app_paging.daemon
    ann, bo, cy = app_paging.user("ann"), app_paging.user("bo"), app_paging.user("cy")
    policy(app_paging, [(30, [], [rota(app_paging, ann, bo, cy)])])
    first = app_paging.alert("first")
    app.advance("PT1M")
    services = app.daemon.services
    assert services is not None
    services.app.ctx.policy_edited = lambda *_: None
    assert app.delete(f"/api/users/{ann}?force=true").status_code == 204
    assert [incident for _, incident in owed_policy_moves()] == [first]
    app.stop()
    app.start()
    app.advance("PT0S")
    assert len(app_paging.mails_to("bo@example.com")) == 1
    assert owed_policy_moves() == []
    # As `ilertd user delete`: nothing here heard of it but the generation it bumped.
    services = app.daemon.services
    assert services is not None
    services.app.ctx.policy_edited = lambda *_: None
    second = app_paging.alert("second")
    app.advance("PT1M")
    assert len(app_paging.mails_to("bo@example.com")) == 2
    assert delete_user(services.app, "bo", force=True)
    app.daemon.watcher._check()
    app.advance("PT1M")
    assert owed_policy_moves() == []
    assert app_paging.mails_to("cy@example.com")
    for incident in (first, second):
        # Sent each, or summed up in one mail with the other's.
        to_cy = [n["status"] for n in app_paging.notifications(incident) if n["user"]["id"] == cy]
        assert to_cy in (["SUCCESS"], ["AGGREGATED"])
        assert 'User "bo" was deleted; level 0 reached again: paging cy (on call in prim)' in texts(
            app_paging, incident)
