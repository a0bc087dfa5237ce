"""Auth and roles over HTTP: tokens, ADMIN and USER rights, users, alert sources, policies."""

from __future__ import annotations

import pytest

from ilertd.app.auth import Principal
from ilertd.errors import ApiError
from ilertd.store import models as m
from tests.inprocess import InProcessDaemon
from tests.integration_helpers import log_texts
from tests.test_cli_users import on_duty_everywhere
from tests.ui_helpers import login, user


def make_user(app: InProcessDaemon, username: str, role: str = "USER") -> tuple[int, str]:
    created = app.post("/api/users", {"username": username, "email": f"{username}@example.com",
                                         "role": role, "timezone": "Europe/Berlin"})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    token = app.post(f"/api/users/{user_id}/tokens", {"name": "test"})
    assert token.status_code == 201
    return user_id, token.json()["token"]


def test_requests_without_a_valid_token_are_401(app: InProcessDaemon) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        reply = app.client.get("/api/incidents", headers=headers)
        assert reply.status_code == 401
        assert reply.json()["code"] == "UNAUTHORIZED"
    assert app.client.put("/api/incidents/1/accept").status_code == 401
    assert app.client.post("/api/users", json={"username": "x"}).status_code == 401


def test_user_edits_only_their_own_profile(app: InProcessDaemon) -> None:
    alice, alice_token = make_user(app, "alice")
    bob, _ = make_user(app, "bob")
    forbidden = app.put(f"/api/users/{bob}", {"firstName": "Robert"}, token=alice_token)
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "FORBIDDEN"
    assert app.get(f"/api/users/{bob}").json()["firstName"] == ""
    own = app.put(f"/api/users/{alice}", {"firstName": "Alice", "mutedUntil": "2026-01-05T12:00:00+01:00"},
                     token=alice_token)
    assert own.status_code == 200
    assert own.json()["firstName"] == "Alice"
    assert own.json()["mutedUntil"] == "2026-01-05T11:00:00.000Z"
    promote = app.put(f"/api/users/{alice}", {"role": "ADMIN"}, token=alice_token)
    assert promote.status_code == 403
    assert app.get("/api/users/current", token=alice_token).json()["role"] == "USER"
    assert app.post("/api/users", {"username": "eve"}, token=alice_token).status_code == 403
    assert app.post(f"/api/users/{bob}/tokens", token=alice_token).status_code == 403
    # An admin edits anyone.
    assert app.put(f"/api/users/{bob}", {"lastName": "B"}).json()["lastName"] == "B"


def test_user_reads_everything_and_acts_on_incidents(app: InProcessDaemon) -> None:
    _, token = make_user(app, "carol")
    incident_id = app.event(summary="down", alertKey="a").json()["incidentId"]
    assert app.get("/api/users", token=token).status_code == 200
    assert app.get("/api/alert-sources", token=token).status_code == 200
    accepted = app.put(f"/api/incidents/{incident_id}/accept", token=token)
    assert accepted.status_code == 200
    assert accepted.json()["acceptedBy"]["username"] == "carol"
    assert app.post("/api/alert-sources", {"name": "x"}, token=token).status_code == 403


def test_user_validation_errors(app: InProcessDaemon) -> None:
    make_user(app, "dave")
    cases = [
        ({"username": "dave"}, 409, "username"),
        ({"username": ""}, 400, "username"),
        ({"username": "ok", "role": "ROOT"}, 400, "role"),
        ({"username": "ok", "email": "not-an-address"}, 400, "email"),
        ({"username": "ok", "timezone": "Mars/Olympus"}, 400, "timezone"),
        ({"username": "ok", "mutedUntil": "tomorrow"}, 400, "mutedUntil"),
    ]
    for body, status, field in cases:
        reply = app.post("/api/users", body)
        assert reply.status_code == status, (body, reply.text)
        assert reply.json()["field"] == field
    assert [u["username"] for u in app.get("/api/users").json()] == ["admin", "dave"]


def test_alert_sources_get_generated_keys_and_take_events(app: InProcessDaemon) -> None:
    created = app.post("/api/alert-sources", {"name": "db team", "priority": "LOW"})
    assert created.status_code == 201
    source = created.json()
    assert len(source["integrationKey"]) == 32 and source["integrationType"] == "API"
    assert source["escalationPolicy"] is None
    reply = app.event(key=source["integrationKey"], summary="slow", alertKey="db1").json()
    incident = app.get(f"/api/incidents/{reply['incidentId']}").json()
    assert incident["alertSource"] == {"id": source["id"], "name": "db team"}
    assert incident["priority"] == "LOW"
    # The same key in another source is another incident.
    other = app.event(summary="slow", alertKey="db1").json()
    assert other["incidentId"] != reply["incidentId"]
    read_only = app.put(f"/api/alert-sources/{source['id']}", {"integrationKey": "mine"})
    assert read_only.status_code == 400 and read_only.json()["field"] == "integrationKey"
    in_use = app.client.delete(f"/api/alert-sources/{source['id']}", headers=app.auth())
    assert in_use.status_code == 409


def test_escalation_policy_validation(app: InProcessDaemon) -> None:
    cases = [
        ({"name": "p"}, "escalationRules"),
        ({"name": "p", "escalationRules": []}, "escalationRules"),
        ({"name": "p", "escalationRules": [{"escalationTimeout": 5}]}, "escalationRules[0]"),
        ({"name": "p", "escalationRules": [{"escalationTimeout": -1, "users": [{"id": 1}]}]},
         "escalationTimeout"),
        ({"name": "p", "escalationRules": [{"escalationTimeout": 5, "users": [{"id": 99}]}]},
         "escalationRules[0].users"),
        ({"name": "p", "escalationRules": [{"escalationTimeout": 5, "users": [{"id": 1}]}],
          "frequency": 50}, "frequency"),
    ]
    for body, field in cases:
        reply = app.post("/api/escalation-policies", body)
        assert reply.status_code == 400, (body, reply.text)
        assert reply.json()["field"] == field
    assert app.get("/api/escalation-policies").json() == []
    good = app.post("/api/escalation-policies", {
        "name": "p", "repeating": True, "frequency": 2,
        "escalationRules": [{"escalationTimeout": 5, "users": [{"id": 1}]}],
    })
    assert good.status_code == 201
    assert good.json()["escalationRules"] == [
        {"escalationTimeout": 5, "users": [{"id": 1}], "schedules": []}
    ]


def test_a_repeating_policy_whose_levels_all_time_out_at_0_is_refused(app: InProcessDaemon) -> None:
    """Its passes all ran in one instant: with frequency 9 each responder was paged ten times at
    once and the escalation was over, before anyone could answer the first page."""
    zero = {"escalationTimeout": 0, "users": [{"id": 1}]}
    refused = app.post("/api/escalation-policies", {
        "name": "p", "repeating": True, "frequency": 9, "escalationRules": [zero, zero]})
    assert (refused.status_code, refused.json()["field"]) == (400, "escalationRules")
    assert "its 10 passes would all run at once" in refused.json()["message"]
    # Without repeats, or with a level that takes time, it is a policy as any other.
    once = app.post("/api/escalation-policies", {"name": "once", "escalationRules": [zero]})
    assert once.status_code == 201
    path = f"/api/escalation-policies/{once.json()['id']}"
    # An edit is judged with what it leaves unchanged.
    edited = app.put(path, {"repeating": True, "frequency": 2})
    assert (edited.status_code, edited.json()["field"]) == (400, "escalationRules")
    assert "its 3 passes" in edited.json()["message"]
    assert app.get(path).json()["repeating"] is False
    timed = app.put(path, {"repeating": True, "frequency": 2,
                           "escalationRules": [zero, zero | {"escalationTimeout": 5}]})
    assert timed.status_code == 200
    assert app.put(path, {"escalationRules": [zero]}).status_code == 400
    assert app.put(path, {"frequency": 0}).status_code == 200
    assert app.put(path, {"escalationRules": [zero]}).status_code == 200


def test_a_put_cannot_blank_a_name(app: InProcessDaemon) -> None:
    """A POST refused an empty name, a PUT stored it: `ilertd export` then wrote `name = ""` (and
    references to it) that `provision` refuses, and the UI listed a nameless row."""
    rule = {"escalationTimeout": 5, "users": [{"id": 1}]}
    policy = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [rule]}).json()["id"]
    monitor = app.post("/api/heartbeat-monitors", {"name": "backup", "intervalSec": 3600,
                                                   "alertSource": {"id": 1}}).json()["id"]
    window = app.post("/api/maintenance-windows", {"summary": "upgrade", "start": "2026-02-01T00:00:00Z",
                                                   "end": "2026-02-01T02:00:00Z",
                                                   "alertSources": [{"id": 1}]}).json()["id"]
    cases = [("/api/alert-sources/1", "name"), (f"/api/escalation-policies/{policy}", "name"),
             (f"/api/heartbeat-monitors/{monitor}", "name"),
             (f"/api/maintenance-windows/{window}", "summary")]
    for path, field in cases:
        before = app.get(path).json()[field]
        for blank in ("", "  \t"):
            refused = app.put(path, {field: blank})
            assert (refused.status_code, refused.json()["field"]) == (400, field), (path, refused.text)
            assert refused.json()["message"] == f"{field} must not be empty"
        assert app.get(path).json()[field] == before
        assert app.put(path, {field: "renamed"}).status_code == 200, path


def test_a_policy_that_sources_or_open_incidents_escalate_by_is_not_deleted(app: InProcessDaemon) -> None:
    """Deleting it left its sources without a policy and its open incidents without escalation:
    every later alert of those sources paged nobody, silently. Now refused, as PagerDuty refuses it."""
    policy = app.post("/api/escalation-policies", {
        "name": "ops", "escalationRules": [{"escalationTimeout": 5, "users": [{"id": 1}]}]}).json()["id"]
    path = f"/api/escalation-policies/{policy}"
    for name in ("db", "web"):
        app.post("/api/alert-sources", {"name": name, "escalationPolicy": {"id": policy}})
    app.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy}})
    incident = app.event(summary="disk full", alertKey="disk").json()["incidentId"]
    refused = app.delete(path)
    assert (refused.status_code, refused.json()["code"]) == (409, "IN_USE")
    assert refused.json()["message"] == ('alert sources escalate by this policy: "default", "db", "web";'
                                         " give them another policy first")
    for source in app.get("/api/alert-sources").json():
        assert app.put(f"/api/alert-sources/{source['id']}", {"escalationPolicy": None}).status_code == 200
    still = app.delete(path)
    assert (still.status_code, still.json()["message"]) == (
        409, f"open incidents escalate by this policy: #{incident}; resolve them first")
    assert app.get(path).status_code == 200
    app.put(f"/api/incidents/{incident}/resolve")
    assert app.delete(path).status_code == 204
    assert app.get(path).status_code == 404


def test_the_only_admin_keeps_the_role(either_store: InProcessDaemon) -> None:
    """With no ADMIN left nobody could change a user, policy or source but through the CLI. (On
    PostgreSQL the ADMINs' rows are locked while it is checked.)"""
    app = either_store
    alone = app.put("/api/users/1", {"role": "USER"})
    assert (alone.status_code, alone.json()["code"], alone.json()["field"]) == (409, "CONFLICT", "role")
    assert alone.json()["message"] == "\"admin\" is the only ADMIN: make another user an ADMIN first"
    assert app.get("/api/users/1").json()["role"] == "ADMIN"
    bob, bob_token = make_user(app, "bob", role="ADMIN")
    assert app.put("/api/users/1", {"role": "user"}).json()["role"] == "USER"
    assert app.put(f"/api/users/{bob}", {"role": "USER"}, token=bob_token).status_code == 409
    unchanged_role = app.put(f"/api/users/{bob}", {"firstName": "Bob", "role": "ADMIN"}, token=bob_token)
    assert unchanged_role.status_code == 200


def test_healthz(app: InProcessDaemon) -> None:
    reply = app.client.get("/healthz")
    assert reply.status_code == 200 and reply.json()["status"] == "ok"


def test_manual_clock_never_goes_backwards(app: InProcessDaemon) -> None:
    assert app.now() == "2026-01-05T09:00:00.000Z"
    assert app.advance("PT30M") == "2026-01-05T09:30:00.000Z"
    back = app.post("/api/_clock", {"set": "2026-01-05T09:00:00Z"})
    assert back.status_code == 400
    bad = app.post("/api/_clock", {"advance": "30 minutes"})
    assert bad.status_code == 400 and bad.json()["field"] == "advance"
    assert app.post("/api/_clock", {"set": "2026-01-06T00:00:00+01:00"}).json()["now"] \
        == "2026-01-05T23:00:00.000Z"


def test_a_user_sees_sources_and_monitors_without_their_keys(app: InProcessDaemon) -> None:
    bob = app.post("/api/users", {"username": "bob"}).json()["id"]
    token = app.post(f"/api/users/{bob}/tokens", {}).json()["token"]
    app.put("/api/alert-sources/1", {"signingSecret": "s3cret-value-1234"})
    app.post("/api/heartbeat-monitors", {"name": "backup", "intervalSec": 3600, "alertSource": {"id": 1}})
    as_user = app.get("/api/alert-sources/1", token=token).json()
    assert as_user["integrationKey"] is None and as_user["signingSecret"] is None
    assert all(s["integrationKey"] is None for s in app.get("/api/alert-sources", token=token).json())
    assert app.get("/api/heartbeat-monitors", token=token).json()[0]["integrationKey"] is None
    as_admin = app.get("/api/alert-sources/1").json()
    assert as_admin["integrationKey"] == app.integration_key
    assert as_admin["signingSecret"] == "s3cret-value-1234"
    assert app.get("/api/heartbeat-monitors").json()[0]["integrationKey"]


def test_the_bearer_scheme_is_matched_in_any_case(app: InProcessDaemon) -> None:
    for scheme in ("Bearer", "bearer", "BEARER"):
        reply = app.client.get("/api/users/current", headers={"Authorization": f"{scheme} {app.admin_token}"})
        assert reply.status_code == 200, scheme
    assert app.client.get("/api/users/current",
                          headers={"Authorization": f"Bearer {app.admin_token.upper()}"}).status_code == 401


def test_a_user_on_duty_is_deleted_only_when_taken_off_first_and_never_leaves_a_gap(
        app: InProcessDaemon) -> None:
    """As `ilertd user delete`: refused while on duty (409 naming each place), `?force=true` takes them
    off first, and a level or layer they would leave empty is refused even then. Deleting them as
    before left the policy and schedules naming a user who no longer existed: paging nobody."""
    ids = on_duty_everywhere(app)
    ann, policy_path = ids["ann"], f"/api/escalation-policies/{ids['policy']}"
    assert app.put("/api/alert-sources/1", {"escalationPolicy": {"id": ids["policy"]}}).status_code == 200
    for name in ("ann", "ben", "cat"):
        assert app.put(f"/api/users/{ids[name]}", {"email": f"{name}@example.com"}).status_code == 200
    # Paging has read the policy (and cached it) before the delete.
    first = app.event(summary="before", alertKey="before").json()["incidentId"]
    assert "Level 0 of policy ops reached: paging ann, ben" in log_texts(app, first)
    before = {path: app.get(path).json() for path in (policy_path, f"/api/schedules/{ids['rota']}",
                                                       f"/api/schedules/{ids['holidays']}")}
    refused = app.delete(f"/api/users/{ann}")
    assert (refused.status_code, refused.json()["code"]) == (409, "IN_USE")
    assert refused.json()["message"] == (
        "user \"ann\" is on duty in escalation policy \"ops\" level 0; schedule \"rota\" layer 1 \"days\"; "
        "schedule \"holidays\" (static shifts); schedule \"rota\" override 2099-01-10T00:00:00.000Z to "
        "2099-01-11T00:00:00.000Z: take them off there first, or add ?force=true to take them off there now")
    alone = app.delete(f"/api/users/{ids['cat']}?force=true")
    assert (alone.status_code, alone.json()["code"]) == (409, "IN_USE")
    assert "the only one in escalation policy \"ops\" level 2" in alone.json()["message"]
    unclear = app.delete(f"/api/users/{ann}?force=yes")
    assert (unclear.status_code, unclear.json().get("field")) == (400, "force")
    assert {path: app.get(path).json() for path in before} == before, "nothing changed"
    assert app.get(f"/api/users/{ann}").status_code == 200
    assert app.delete(f"/api/users/{ann}?force=TRUE").status_code == 204
    assert app.get(f"/api/users/{ann}").status_code == 404
    policy = app.get(policy_path).json()
    assert [rule["users"] for rule in policy["escalationRules"]] == [
        [{"id": ids["ben"]}], [], [{"id": ids["cat"]}]]
    rota = app.get(f"/api/schedules/{ids['rota']}").json()
    assert rota["scheduleLayers"][0]["users"] == [{"id": ids["ben"]}]
    holidays = app.get(f"/api/schedules/{ids['holidays']}").json()
    assert [s["user"]["id"] for s in holidays["shifts"]] == [ids["ben"]]
    assert app.get(f"/api/schedules/{ids['rota']}/overrides").json() == []
    # The next incident is paged by the policy as it is now, not as paging had cached it.
    second = app.event(summary="after", alertKey="after").json()["incidentId"]
    assert "Level 0 of policy ops reached: paging ben" in log_texts(app, second)
    assert app.delete(f"/api/users/{make_user(app, 'dan')[0]}").status_code == 204, "off duty: as before"


def test_a_static_schedule_they_alone_would_leave_with_no_shift_ahead_is_refused_even_with_force(
        app: InProcessDaemon) -> None:
    """A rotation layer of theirs alone was refused, the static shifts of theirs alone were
    removed: 204, the schedule `shifts: []`, and every incident found nobody on call there."""
    cy, _ = make_user(app, "cy")
    dee, _ = make_user(app, "dee")

    def static(name: str, shifts: list[tuple[int, str, str]]) -> int:
        created = app.post("/api/schedules", {"name": name, "type": "STATIC", "timezone": "UTC", "shifts": [
            {"user": {"id": u}, "start": f"{start}T00:00:00Z", "end": f"{end}T00:00:00Z"}
            for u, start, end in shifts]})
        assert created.status_code == 201, created.text
        return int(created.json()["id"])

    weekend = static("weekend", [(dee, "2026-01-01", "2026-01-03"), (cy, "2026-01-05", "2026-01-12")])
    before = app.get(f"/api/schedules/{weekend}").json()
    refused = app.delete(f"/api/users/{cy}?force=true")
    assert (refused.status_code, refused.json()["code"]) == (409, "IN_USE"), refused.text
    assert refused.json()["message"] == (
        "user \"cy\" is the only one in schedule \"weekend\" (static shifts): add someone there,"
        " or remove it, first; nothing changed")
    assert app.get(f"/api/schedules/{weekend}").json() == before
    # Someone else's shift still to come: cy's are taken off.
    assert app.put(f"/api/schedules/{weekend}", {"name": "weekend", "type": "STATIC", "shifts": [
        *before["shifts"], {"user": {"id": dee}, "start": "2026-01-12T00:00:00Z",
                            "end": "2026-01-13T00:00:00Z"}]}).status_code == 200
    assert app.delete(f"/api/users/{cy}?force=true").status_code == 204
    assert {s["user"]["id"] for s in app.get(f"/api/schedules/{weekend}").json()["shifts"]} == {dee}


def test_usernames_are_told_apart_without_case(either_store: InProcessDaemon) -> None:
    """"Alice" and "alice" were two users, one of whom nobody could log in as by typing the name
    as the other wrote it; a responder paged as one and scheduled as the other. A name another
    user holds in any case is taken, and a login or a command finds the user in any case."""
    app = either_store
    alice = user(app, "alice")
    taken = app.post("/api/users", {"username": "ALICE"})
    assert (taken.status_code, taken.json()["code"]) == (409, "ALREADY_EXISTS")
    assert taken.json()["message"] == ("username \"ALICE\" is taken by \"alice\" (user names are told apart "
                                       "without case)")
    bob, _token = make_user(app, "bob")
    renamed = app.put(f"/api/users/{bob}", {"username": "Alice"})
    assert (renamed.status_code, renamed.json()["code"]) == (409, "ALREADY_EXISTS"), renamed.text
    # A user may change the case of their own name.
    assert app.put(f"/api/users/{alice}", {"username": "Alice"}).json()["username"] == "Alice"
    assert [u["username"] for u in app.get("/api/users").json()] == ["admin", "Alice", "bob"]
    login(app, "aLiCe")
    assert app.daemon.services is not None
    app.daemon.services.app.passwords.set("BOB", "a long password")
    assert m.User.get_by_id(bob).password_hash is not None
    # An older store may hold two names that differ only in case: each is found by its own spelling,
    # and neither by a third.
    m.User.create(username="ALICE", role="USER", created_at=m.User.get_by_id(alice).created_at)
    login(app, "Alice")
    with pytest.raises(ApiError) as ambiguous:
        app.daemon.services.app.passwords.set("alice", "a long password")
    assert ambiguous.value.status == 404


def test_an_accept_landing_after_its_user_was_deleted_is_taken_back(either_store: InProcessDaemon) -> None:
    """The delete refuses a user with accepted incidents open, but an accept already authenticated
    committed after it (10 of 40 tries sent within milliseconds of each other): the incident stayed
    ACCEPTED by a user who no longer existed, and never escalated again."""
    app = either_store
    bo, _ = make_user(app, "bo")
    cy, _ = make_user(app, "cy")
    policy = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [
        {"escalationTimeout": 10, "users": [{"id": bo}, {"id": cy}]}]})
    app.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy.json()["id"]}})
    incident_id = app.event(summary="db down", alertKey="db1").json()["incidentId"]
    app.advance("PT0S")
    assert app.client.delete(f"/api/users/{bo}?force=true", headers=app.auth()).status_code == 204
    # bo's accept, authenticated before the delete, reaches the incident after it.
    assert app.daemon.services is not None
    app.daemon.services.app.incidents.act(Principal(bo, "bo", "USER"), incident_id, "accept", {})
    served = app.get(f"/api/incidents/{incident_id}").json()
    assert (served["status"], served["acceptedBy"]) == ("PENDING", None), served
    escalated = [e for e in app.get(f"/api/incidents/{incident_id}/log-entries").json()
                 if e["logEntryType"] == "ESCALATED"]
    assert [e["text"] for e in escalated] == [
        "Escalated to level 0 of policy ops by ilertd, as bo, who accepted it, was deleted: paging cy"]
    app.advance("PT0S")
    pages = [n for n in app.get(f"/api/incidents/{incident_id}/notifications").json() if n["kind"] == "ALERT"]
    assert [n["user"]["id"] for n in pages].count(cy) >= 2, pages
    # Someone who exists accepts as before.
    assert app.put(f"/api/incidents/{incident_id}/accept").json()["status"] == "ACCEPTED"
