"""Schedules over HTTP on the whole daemon (in process) under the manual clock: CRUD, on call, shifts,
overrides, feeds."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.inprocess import InProcessDaemon

# The daemon's manual clock starts on Monday 2026-01-05 at 09:00Z, 10:00 in Berlin.


def add_user(app: InProcessDaemon, name: str) -> int:
    created = app.post("/api/users", {"username": name, "email": f"{name}@example.com"})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def daily(users: list[int], starts_on: str = "2026-01-05T10:00", **layer: Any) -> dict[str, Any]:
    return {
        "name": "primary", "type": "RECURRING", "timezone": "Europe/Berlin",
        "scheduleLayers": [{"name": "days", "users": [{"id": u} for u in users], "rotation": "P1D",
                            "startsOn": starts_on, **layer}],
    }


def create(app: InProcessDaemon, body: dict[str, Any]) -> int:
    created = app.post("/api/schedules", body)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def shifts(app: InProcessDaemon, schedule_id: int, start: str, until: str) -> list[tuple[str, str, str]]:
    reply = app.get(f"/api/schedules/{schedule_id}/shifts", params={"from": start, "until": until})
    assert reply.status_code == 200, reply.text
    return [(s["user"]["username"], s["start"], s["end"]) for s in reply.json()]


def test_a_schedule_is_created_read_and_listed_in_camel_case(app: InProcessDaemon) -> None:
    ann, ben = add_user(app, "ann"), add_user(app, "ben")
    body = daily([ann, ben], restrictions=[{"from": {"dayOfWeek": "MONDAY", "time": "08:00"},
                                            "to": {"dayOfWeek": "FRIDAY", "time": "18:00"}}])
    schedule_id = create(app, body)
    got = app.get(f"/api/schedules/{schedule_id}").json()
    assert got == {
        "id": schedule_id, "name": "primary", "type": "RECURRING", "timezone": "Europe/Berlin",
        "scheduleLayers": [{
            "name": "days", "users": [{"id": ann}, {"id": ben}], "rotation": "P1D",
            "startsOn": "2026-01-05T10:00:00", "endsOn": None,
            "restrictions": [{"from": {"dayOfWeek": "MONDAY", "time": "08:00"},
                              "to": {"dayOfWeek": "FRIDAY", "time": "18:00"}}],
        }],
        "shifts": [],
    }
    assert [s["id"] for s in app.get("/api/schedules").json()] == [schedule_id]
    # An offset on startsOn is converted into the schedule's zone.
    other = create(app, {**daily([ann], starts_on="2026-01-05T09:00:00Z"), "name": "secondary"})
    layer = app.get(f"/api/schedules/{other}").json()["scheduleLayers"][0]
    assert layer["startsOn"] == "2026-01-05T10:00:00"


def layer(**fields: Any) -> dict[str, Any]:
    return {"scheduleLayers": [{"name": "x", "users": [{"id": 1}], "rotation": "P1D",
                                "startsOn": "2026-01-05T10:00", **fields}]}


BAD_DAY = [{"from": {"dayOfWeek": "FUNDAY", "time": "08:00"}, "to": {"dayOfWeek": "FRIDAY", "time": "18:00"}}]
BACKWARDS = [{"user": {"id": 1}, "start": "2026-01-06T10:00Z", "end": "2026-01-06T09:00Z"}]


@pytest.mark.parametrize(("change", "field"), [
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"type": "WEEKLY"}, "type"),
    ({"scheduleLayers": []}, "scheduleLayers"),
    (layer(rotation="P1M"), "scheduleLayers[0].rotation"),
    (layer(rotation="PT5M"), "scheduleLayers[0].rotation"),
    (layer(startsOn="yesterday"), "scheduleLayers[0].startsOn"),
    (layer(users=[]), "scheduleLayers[0].users"),
    (layer(users=[{"id": 99}]), "scheduleLayers"),
    (layer(restrictions=BAD_DAY), "scheduleLayers[0].restrictions[0].from.dayOfWeek"),
    # fromisoformat reads these as times too; the offset of "09+01" was dropped unseen.
    *[(layer(restrictions=[{"from": {"dayOfWeek": "MONDAY", "time": t},
                            "to": {"dayOfWeek": "MONDAY", "time": "17:00"}}]),
       "scheduleLayers[0].restrictions[0].from.time") for t in ("09+01", "0900Z", "T0900", "09.00")],
    # A layer always on duty, where a malformed value was meant to restrict it.
    *[(layer(restrictions=bad), "scheduleLayers[0].restrictions") for bad in (False, 0, "", {})],
    (layer(rotation="+P1D"), "scheduleLayers[0].rotation"),
    ({"type": "STATIC", "scheduleLayers": None, "shifts": BACKWARDS}, "shifts[0].end"),
])
def test_bad_schedules_are_refused_naming_the_field_and_change_nothing(
    app: InProcessDaemon, change: dict[str, Any], field: str
) -> None:
    body = {**daily([1]), **change}
    refused = app.post("/api/schedules", body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "INVALID_FIELD" and refused.json()["field"] == field
    assert app.get("/api/schedules").json() == []


def test_the_timezone_is_fixed_at_creation_and_users_may_not_write(app: InProcessDaemon) -> None:
    ann = add_user(app, "ann")
    schedule_id = create(app, daily([ann]))
    moved = app.put(f"/api/schedules/{schedule_id}", {**daily([ann]), "timezone": "America/Chicago"})
    assert moved.status_code == 400 and moved.json()["field"] == "timezone"
    token = app.post(f"/api/users/{ann}/tokens", {"name": "t"}).json()["token"]
    assert app.post("/api/schedules", daily([ann]), token=token).status_code == 403
    assert app.get(f"/api/schedules/{schedule_id}", token=token).status_code == 200
    assert app.client.get("/api/schedules").status_code == 401


def test_the_type_is_fixed_at_creation_so_the_past_stays(app: InProcessDaemon) -> None:
    """Made STATIC by a PUT, the RECURRING versions before it were read as STATIC ones: every
    shift before the edit was gone, and who had been on call then could no longer be told."""
    ann, ben = add_user(app, "ann"), add_user(app, "ben")
    schedule_id = create(app, daily([ann, ben], starts_on="2026-01-01T10:00"))
    before = shifts(app, schedule_id, "2026-01-03T00:00:00Z", "2026-01-05T00:00:00Z")
    app.advance("PT2H")
    static = {"name": "primary", "type": "STATIC", "timezone": "Europe/Berlin", "shifts": [
        {"user": {"id": ann}, "start": "2026-01-06T00:00:00Z", "end": "2026-01-07T00:00:00Z"}]}
    refused = app.put(f"/api/schedules/{schedule_id}", static)
    assert (refused.status_code, refused.json()["field"]) == (400, "type"), refused.text
    assert shifts(app, schedule_id, "2026-01-03T00:00:00Z", "2026-01-05T00:00:00Z") == before
    # A PUT that leaves the type out keeps it (a STATIC schedule is not made RECURRING).
    kept = create(app, {**static, "name": "static"})
    assert app.put(f"/api/schedules/{kept}", {k: v for k, v in static.items() if k != "type"}
                   | {"name": "static"}).status_code == 200
    assert app.get(f"/api/schedules/{kept}").json()["type"] == "STATIC"


def test_who_is_on_call_and_the_shifts_follow_the_rotation(app: InProcessDaemon) -> None:
    ann, ben = add_user(app, "ann"), add_user(app, "ben")
    schedule_id = create(app, daily([ann, ben]))
    now = app.get(f"/api/schedules/{schedule_id}/user-on-call")
    assert now.status_code == 200
    assert now.json() == {"user": {"id": ann, "username": "ann"}, "start": "2026-01-05T09:00:00.000Z",
                          "end": "2026-01-06T09:00:00.000Z"}
    later = app.get(f"/api/schedules/{schedule_id}/user-on-call", params={"at": "2026-01-06T12:00:00"})
    assert later.json()["user"]["username"] == "ben"
    before = app.get(f"/api/schedules/{schedule_id}/user-on-call", params={"at": "2026-01-05T08:59:59Z"})
    assert before.status_code == 204
    assert shifts(app, schedule_id, "2026-01-05T00:00Z", "2026-01-08T00:00Z") == [
        ("ann", "2026-01-05T09:00:00.000Z", "2026-01-06T09:00:00.000Z"),
        ("ben", "2026-01-06T09:00:00.000Z", "2026-01-07T09:00:00.000Z"),
        ("ann", "2026-01-07T09:00:00.000Z", "2026-01-08T00:00:00.000Z"),
    ]
    too_long = app.get(f"/api/schedules/{schedule_id}/shifts",
                          params={"from": "2026-01-01T00:00Z", "until": "2028-01-01T00:00Z"})
    assert too_long.status_code == 400 and too_long.json()["field"] == "until"
    assert app.get("/api/schedules/99/user-on-call").status_code == 404


def test_overrides_sit_above_the_layers_and_never_rewrite_the_past(app: InProcessDaemon) -> None:
    ann, ben, cat = add_user(app, "ann"), add_user(app, "ben"), add_user(app, "cat")
    schedule_id = create(app, daily([ann]))
    path = f"/api/schedules/{schedule_id}/overrides"
    past = app.put(path, {"user": {"id": ben}, "start": "2026-01-05T08:00Z", "end": "2026-01-05T12:00Z"})
    assert past.status_code == 400 and past.json()["field"] == "start"
    first = app.put(path, {"user": {"id": ben}, "start": "2026-01-05T12:00Z", "end": "2026-01-05T18:00Z"})
    assert first.status_code == 201, first.text
    newer = app.put(path, {"user": {"id": cat}, "start": "2026-01-05T14:00Z", "end": "2026-01-05T16:00Z"})
    assert newer.status_code == 201
    assert shifts(app, schedule_id, "2026-01-05T09:00Z", "2026-01-05T20:00Z") == [
        ("ann", "2026-01-05T09:00:00.000Z", "2026-01-05T12:00:00.000Z"),
        ("ben", "2026-01-05T12:00:00.000Z", "2026-01-05T14:00:00.000Z"),
        ("cat", "2026-01-05T14:00:00.000Z", "2026-01-05T16:00:00.000Z"),
        ("ben", "2026-01-05T16:00:00.000Z", "2026-01-05T18:00:00.000Z"),
        ("ann", "2026-01-05T18:00:00.000Z", "2026-01-05T20:00:00.000Z"),
    ]
    assert [o["user"]["username"] for o in app.get(path).json()] == ["ben", "cat"]
    app.advance("PT4H")  # 13:00Z: ben's override is running, cat's has not begun
    assert app.client.delete(f"{path}/{newer.json()['id']}", headers=app.auth()).status_code == 204
    assert app.client.delete(f"{path}/{first.json()['id']}", headers=app.auth()).status_code == 204
    assert shifts(app, schedule_id, "2026-01-05T09:00Z", "2026-01-05T20:00Z") == [
        ("ann", "2026-01-05T09:00:00.000Z", "2026-01-05T12:00:00.000Z"),
        ("ben", "2026-01-05T12:00:00.000Z", "2026-01-05T13:00:00.000Z"),
        ("ann", "2026-01-05T13:00:00.000Z", "2026-01-05T20:00:00.000Z"),
    ]
    app.advance("PT1H")
    over = app.client.delete(f"{path}/{first.json()['id']}", headers=app.auth())
    assert over.status_code == 409 and over.json()["code"] == "IN_THE_PAST"


def test_one_override_is_read_by_its_id_within_its_schedule(app: InProcessDaemon) -> None:
    ben = add_user(app, "ben")
    schedule_id, other_id = create(app, daily([ben])), create(app, {**daily([ben]), "name": "other"})
    path = f"/api/schedules/{schedule_id}/overrides"
    made = app.put(path, {"user": {"id": ben}, "start": "2026-01-05T12:00Z", "end": "2026-01-05T18:00Z"})
    assert made.status_code == 201
    read = app.get(f"{path}/{made.json()['id']}")
    assert read.status_code == 200 and read.json() == made.json()
    assert app.get(f"/api/schedules/{other_id}/overrides/{made.json()['id']}").status_code == 404
    assert app.get(f"{path}/999").json()["code"] == "NOT_FOUND"
    assert app.get(f"/api/schedules/999/overrides/{made.json()['id']}").status_code == 404


def test_an_edit_applies_from_now_on(app: InProcessDaemon) -> None:
    ann, ben, cat = add_user(app, "ann"), add_user(app, "ben"), add_user(app, "cat")
    schedule_id = create(app, daily([ann, ben]))
    before = shifts(app, schedule_id, "2026-01-05T09:00Z", "2026-01-08T09:00Z")
    app.advance("PT30H")  # Tuesday 15:00Z, in ben's shift
    edited = app.put(f"/api/schedules/{schedule_id}", daily([cat]))
    assert edited.status_code == 200, edited.text
    assert edited.json()["scheduleLayers"][0]["users"] == [{"id": cat}]
    after = shifts(app, schedule_id, "2026-01-05T09:00Z", "2026-01-08T09:00Z")
    assert after[:2] == [before[0], ("ben", "2026-01-06T09:00:00.000Z", "2026-01-06T15:00:00.000Z")]
    assert after[2:] == [("cat", "2026-01-06T15:00:00.000Z", "2026-01-08T09:00:00.000Z")]


def test_on_calls_list_who_each_policy_level_would_page(app: InProcessDaemon) -> None:
    ann, ben, cat = add_user(app, "ann"), add_user(app, "ben"), add_user(app, "cat")
    schedule_id = create(app, daily([ann, ben]))
    policy = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [
        {"escalationTimeout": 10, "schedules": [{"id": schedule_id}]},
        {"escalationTimeout": 10, "users": [{"id": cat}]},
    ]})
    assert policy.status_code == 201, policy.text
    reply = app.get("/api/on-calls", params={"from": "2026-01-05T12:00Z", "until": "2026-01-06T12:00Z"})
    assert reply.status_code == 200
    assert [(e["escalationLevel"], e["user"]["username"], e["start"], e["end"]) for e in reply.json()] == [
        (0, "ann", "2026-01-05T12:00:00.000Z", "2026-01-06T09:00:00.000Z"),
        (0, "ben", "2026-01-06T09:00:00.000Z", "2026-01-06T12:00:00.000Z"),
        (1, "cat", "2026-01-05T12:00:00.000Z", "2026-01-06T12:00:00.000Z"),
    ]
    assert reply.json()[0]["escalationPolicy"] == {"id": policy.json()["id"], "name": "ops"}
    # Without `until`: who is on call at `from` (now), a schedule's shift whole.
    now = app.get("/api/on-calls").json()
    assert [(e["escalationLevel"], e["user"]["username"], e["start"], e["end"]) for e in now] == [
        (0, "ann", "2026-01-05T09:00:00.000Z", "2026-01-06T09:00:00.000Z"),
        (1, "cat", None, None),
    ]
    week = app.get(f"/api/schedules/{schedule_id}/shifts").json()
    assert len(week) == 7 and week[-1]["end"] == "2026-01-12T09:00:00.000Z"
    in_use = app.client.delete(f"/api/schedules/{schedule_id}", headers=app.auth())
    assert in_use.status_code == 409
    unknown = app.post("/api/escalation-policies", {"name": "x", "escalationRules": [
        {"escalationTimeout": 10, "schedules": [{"id": 77}]}]})
    assert unknown.status_code == 400 and unknown.json()["field"] == "escalationRules[0].schedules"


def _unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def test_ical_feeds_for_a_schedule_and_for_a_user(app: InProcessDaemon) -> None:
    ann, ben = add_user(app, "ann"), add_user(app, "ben")
    schedule_id = create(app, daily([ann, ben]))
    feed = app.get(f"/api/schedules/{schedule_id}.ics")
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    lines = _unfold(feed.text)
    assert lines[0] == "BEGIN:VCALENDAR" and "DTSTART:20260105T090000Z" in lines
    # The coming 90 days, one shift a day; the window ends at 09:00Z, an hour into the 91st shift
    # since Berlin's summer time hands off at 08:00Z.
    assert lines.count("BEGIN:VEVENT") == 91
    assert "DTSTART:20260328T090000Z" in lines and "DTSTART:20260329T080000Z" in lines
    url = app.get(f"/api/users/{ben}/feed-url").json()["url"]
    assert url.startswith(app.url + f"/api/users/{ben}/shifts.ics?token=")
    mine = app.client.get(url.replace(app.url, ""))
    assert mine.status_code == 200
    events = _unfold(mine.text)
    assert events.count("BEGIN:VEVENT") == 45 and "DTSTART:20260106T090000Z" in events
    wrong = app.client.get(f"/api/users/{ann}/shifts.ics", params={"token": url.rsplit("=", 1)[1]})
    assert wrong.status_code == 401
    assert app.client.get(f"/api/schedules/{schedule_id}.ics").status_code == 401
    schedule_url = app.get(f"/api/schedules/{schedule_id}/feed-url").json()["url"]
    assert app.client.get(schedule_url.replace(app.url, "")).status_code == 200


def test_an_on_call_since_the_schedule_began_keeps_its_uid_from_one_refresh_to_the_next(
        app: InProcessDaemon) -> None:
    """One person on call since the schedule was made: the feed cut the shift at its window, so its
    start (and the UID made from it) moved every day, and calendar apps replaced the event. (One
    older than a year, the feed follows back a year at a time: tests/test_schedule_history.py.)"""
    ann = add_user(app, "ann")
    schedule_id = create(app, daily([ann], starts_on="2024-01-01T09:00"))

    def starts() -> list[str]:
        lines = _unfold(app.get(f"/api/schedules/{schedule_id}.ics").text)
        return [line for line in lines if line.startswith(("UID:", "DTSTART:"))]

    first = starts()
    assert first == ["UID:schedule-1-user-2-20260105T090000Z@ilertd", "DTSTART:20260105T090000Z"], first
    app.advance("P1D")
    assert starts() == first


def test_a_new_schedule_has_no_one_on_call_before_it_was_created(app: InProcessDaemon) -> None:
    """Its rotation started days before it was made (at 09:00Z on 2026-01-05, the manual clock):
    its shifts, who was on call and its feed named people on call in a schedule that did not
    exist yet."""
    ann, ben = add_user(app, "ann"), add_user(app, "ben")
    schedule_id = create(app, daily([ann, ben], starts_on="2026-01-01T08:00"))
    assert shifts(app, schedule_id, "2026-01-01T00:00Z", "2026-01-07T00:00Z") == [
        ("ann", "2026-01-05T09:00:00.000Z", "2026-01-06T07:00:00.000Z"),
        ("ben", "2026-01-06T07:00:00.000Z", "2026-01-07T00:00:00.000Z"),
    ]
    assert shifts(app, schedule_id, "2026-01-01T00:00Z", "2026-01-05T09:00Z") == []
    path = f"/api/schedules/{schedule_id}/user-on-call"
    for before in ("2026-01-04T12:00:00Z", "2026-01-05T08:59:59Z"):
        assert app.get(path, params={"at": before}).status_code == 204, before
    now = app.get(path).json()
    assert (now["user"]["username"], now["start"]) == ("ann", "2026-01-05T09:00:00.000Z")
    feed = _unfold(app.get(f"/api/schedules/{schedule_id}.ics").text)
    assert min(line for line in feed if line.startswith("DTSTART:")) == "DTSTART:20260105T090000Z"


def test_a_deleted_schedule_is_gone(app: InProcessDaemon, tmp_path: Path) -> None:
    ann = add_user(app, "ann")
    schedule_id = create(app, daily([ann]))
    assert app.client.delete(f"/api/schedules/{schedule_id}", headers=app.auth()).status_code == 204
    assert app.get(f"/api/schedules/{schedule_id}").status_code == 404
    assert app.get(f"/api/schedules/{schedule_id}/shifts").status_code == 404


def test_a_static_schedule_has_its_shifts_and_gaps(app: InProcessDaemon) -> None:
    ann, ben = add_user(app, "ann"), add_user(app, "ben")
    schedule_id = create(app, {"name": "holidays", "type": "STATIC", "timezone": "Europe/Berlin",
                                  "shifts": [
        {"user": {"id": ann}, "start": "2026-01-05T08:00:00+01:00", "end": "2026-01-05T18:00:00+01:00"},
        {"user": {"id": ben}, "start": "2026-01-06T08:00:00+01:00", "end": "2026-01-06T18:00:00+01:00"},
                                  ]})
    got = app.get(f"/api/schedules/{schedule_id}").json()
    assert got["scheduleLayers"] == [] and got["shifts"][0] == {
        "user": {"id": ann}, "start": "2026-01-05T07:00:00.000Z", "end": "2026-01-05T17:00:00.000Z"}
    # Ann's first shift began before the schedule was created (09:00Z, the manual clock).
    assert shifts(app, schedule_id, "2026-01-05T00:00Z", "2026-01-07T00:00Z") == [
        ("ann", "2026-01-05T09:00:00.000Z", "2026-01-05T17:00:00.000Z"),
        ("ben", "2026-01-06T07:00:00.000Z", "2026-01-06T17:00:00.000Z"),
    ]
    path = f"/api/schedules/{schedule_id}/user-on-call"
    # "+01:00" unencoded in a query string arrives as " 01:00"; it is read as meant.
    assert app.client.get(f"{path}?at=2026-01-05T20:00:00+01:00", headers=app.auth()).status_code == 204
    during = app.client.get(f"{path}?at=2026-01-06T12:00:00+01:00", headers=app.auth())
    assert during.status_code == 200 and during.json()["user"]["username"] == "ben"
    bad = app.get(path, params={"at": "tomorrow"})
    assert bad.status_code == 400 and bad.json()["field"] == "at"


def test_a_user_asking_for_another_users_feed_url_is_told_about_rights(app: InProcessDaemon) -> None:
    ann = app.post("/api/users", {"username": "ann"}).json()["id"]
    bob = app.post("/api/users", {"username": "bob"}).json()["id"]
    bob_token = app.post(f"/api/users/{bob}/tokens", {}).json()["token"]
    refused = app.get(f"/api/users/{ann}/feed-url", token=bob_token)
    assert refused.status_code == 403
    assert refused.json()["message"] == "only an ADMIN may read another user's calendar feed URL"
    assert app.get(f"/api/users/{bob}/feed-url", token=bob_token).status_code == 200


def test_a_level_naming_someone_twice_is_refused_and_an_older_copy_is_listed_once(
        app: InProcessDaemon) -> None:
    ann = add_user(app, "ann")
    schedule_id = create(app, daily([ann]))
    for key, ref in (("users", {"id": ann}), ("schedules", {"id": schedule_id})):
        twice = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [
            {"escalationTimeout": 10, key: [ref, ref]}]})
        assert twice.status_code == 400, twice.text
        assert twice.json()["field"] == f"escalationRules[0].{key}[1]"
        assert f"id {ref['id']} is listed twice in this level" in twice.json()["message"]
    assert app.get("/api/escalation-policies").json() == []
    # A store from before kept such a level: on-calls lists each of its people once.
    policy = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [
        {"escalationTimeout": 10, "users": [{"id": ann}]}]}).json()
    with sqlite3.connect(app.data_dir / "ilertd.db") as db:
        db.execute("UPDATE escalation_policy SET rules = ? WHERE id = ?", (json.dumps([{
            "escalationTimeout": 10, "users": [{"id": ann}, {"id": ann}], "schedules": []}]), policy["id"]))
    assert [(e["escalationLevel"], e["user"]["username"]) for e in app.get("/api/on-calls").json()] == [
        (0, "ann")]


def test_static_shifts_of_two_users_may_not_overlap(app: InProcessDaemon) -> None:
    """One user on call at a time: where two users' shifts overlapped, the later one listed won,
    a choice the API never stated. Touching shifts, and one user's own overlapping ones, stay."""
    ann, ben = add_user(app, "ann"), add_user(app, "ben")

    def static(*shifts: tuple[int, str, str]) -> dict[str, Any]:
        return {"name": "holidays", "type": "STATIC", "timezone": "UTC", "shifts": [
            {"user": {"id": u}, "start": f"2026-01-06T{a}:00Z", "end": f"2026-01-06T{b}:00Z"}
            for u, a, b in shifts]}

    refused = app.post("/api/schedules", static((ann, "08:00", "12:00"), (ben, "14:00", "18:00"),
                                                (ben, "11:00", "13:00")))
    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == "shifts[2]"
    assert refused.json()["message"] == (
        "shifts[2] overlaps shifts[0] (from 2026-01-06T11:00:00.000Z to 2026-01-06T12:00:00.000Z): "
        "a schedule has one user on call at a time")
    assert app.get("/api/schedules").json() == []
    schedule_id = create(app, static((ann, "08:00", "12:00"), (ben, "12:00", "18:00"),
                                     (ann, "09:00", "10:00")))
    assert shifts(app, schedule_id, "2026-01-06T00:00Z", "2026-01-07T00:00Z") == [
        ("ann", "2026-01-06T08:00:00.000Z", "2026-01-06T12:00:00.000Z"),
        ("ben", "2026-01-06T12:00:00.000Z", "2026-01-06T18:00:00.000Z"),
    ]
    edited = app.put(f"/api/schedules/{schedule_id}",
                     static((ann, "08:00", "12:00"), (ben, "07:00", "09:00")))
    assert edited.status_code == 400 and edited.json()["field"] == "shifts[0]", edited.text


@pytest.mark.parametrize(("path", "body"), [
    ("/api/schedules", {"type": "STATIC", "timezone": "UTC", "shifts": []}),
    ("/api/escalation-policies", {"escalationRules": [{"escalationTimeout": 5, "users": [{"id": 1}]}]}),
    ("/api/alert-sources", {"integrationType": "API"}),
])
def test_a_name_another_object_of_its_kind_holds_is_409_and_changes_nothing(
        app: InProcessDaemon, path: str, body: dict[str, Any]) -> None:
    """Config as code and `ilertd export` find schedules, policies and sources by name: a second
    "ops" made through the API or the UI made the store impossible to export."""
    first = app.post(path, {**body, "name": "ops"})
    assert first.status_code == 201, first.text
    before = app.get(path).json()
    again = app.post(path, {**body, "name": "ops"})
    assert again.status_code == 409, again.text
    refusal = again.json()
    assert (refusal["status"], refusal["code"], refusal["field"]) == (409, "ALREADY_EXISTS", "name")
    assert refusal["message"].endswith(f" {first.json()['id']} is already named \"ops\": names are unique")
    other = app.post(path, {**body, "name": "Ops"})
    assert other.status_code == 201, other.text
    # Renaming onto a taken name is refused; sending one's own name back is not.
    taken = app.put(f"{path}/{other.json()['id']}", {**body, "name": "ops"})
    assert taken.status_code == 409 and taken.json()["field"] == "name", taken.text
    own = app.put(f"{path}/{first.json()['id']}", {**body, "name": "ops"})
    assert own.status_code == 200, own.text
    assert [o["name"] for o in app.get(path).json()] == [o["name"] for o in before] + ["Ops"]


def test_a_start_given_as_an_instant_in_a_repeated_hour_names_the_hour_it_means(app: InProcessDaemon) -> None:
    """07:30Z on 2021-11-07 is 01:30 in Chicago the second time (CST): kept as the local 01:30 it
    was read as the first (CDT), and every hand-off of the layer came an hour early. It is refused
    now; the first pass's instant is taken as before."""
    ann = add_user(app, "ann")
    body = {"name": "nights", "type": "RECURRING", "timezone": "America/Chicago", "scheduleLayers": [
        {"users": [{"id": ann}], "rotation": "P1D", "startsOn": "2021-11-07T07:30:00Z"}]}
    refused = app.post("/api/schedules", body)
    assert (refused.status_code, refused.json()["field"]) == (400, "scheduleLayers[0].startsOn"), refused.text
    assert "second pass of an hour the clocks repeat" in refused.json()["message"]
    body["scheduleLayers"][0]["startsOn"] = "2021-11-07T06:30:00Z"  # 01:30 CDT, the first pass
    created = app.post("/api/schedules", body)
    assert created.status_code == 201, created.text
    assert created.json()["scheduleLayers"][0]["startsOn"] == "2021-11-07T01:30:00"


def test_on_calls_of_a_window_past_its_bound_are_refused(app: InProcessDaemon) -> None:
    """A year of 15-minute hand-offs named by 80 levels was 2.8 million rows and 3.7 GB of memory
    for any USER's one request, alert intake slowing meanwhile."""
    ann, ben = add_user(app, "ann"), add_user(app, "ben")
    schedule_id = create(app, daily([ann, ben], rotation="PT15M"))
    policy = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [
        {"escalationTimeout": 10, "schedules": [{"id": schedule_id}]} for _ in range(3)]})
    assert policy.status_code == 201, policy.text
    # 3 levels x 96 shifts a day: 8,640 rows for 30 days, 25,920 for 90.
    month = app.get("/api/on-calls", params={"from": "2026-01-06T00:00Z", "until": "2026-02-05T00:00Z"})
    assert month.status_code == 200 and len(month.json()) == 3 * 96 * 30
    refused = app.get("/api/on-calls", params={"from": "2026-01-06T00:00Z", "until": "2026-04-06T00:00Z"})
    assert (refused.status_code, refused.json()["field"]) == (400, "until")
    assert refused.json()["message"] == ("the window holds more than 20,000 on-call entries: ask for a"
                                         " shorter one, or read each schedule's /shifts")
    # A schedule's own timeline over the same window is one level's worth.
    shifts_of = app.get(f"/api/schedules/{schedule_id}/shifts",
                        params={"from": "2026-01-06T00:00Z", "until": "2026-04-06T00:00Z"})
    assert shifts_of.status_code == 200 and len(shifts_of.json()) == 96 * 90


def test_a_window_of_more_hand_offs_than_a_request_works_out_is_refused(app: InProcessDaemon) -> None:
    """The largest schedule the API takes, over a year, was 800,000 hand-offs: 17-26 s of the daemon
    for any USER's one request, six at once slowing alert intake to a second."""
    ann, ben = add_user(app, "ann"), add_user(app, "ben")
    body = daily([ann, ben], rotation="PT15M")
    body["scheduleLayers"] = [{**body["scheduleLayers"][0], "name": f"layer {n}"} for n in range(5)]
    schedule_id = create(app, body)
    path = f"/api/schedules/{schedule_id}/shifts"
    # Five layers of 96 hand-offs a day: 43,200 for 90 days, 175,200 for a year.
    quarter = app.get(path, params={"from": "2026-01-06T00:00Z", "until": "2026-04-06T00:00Z"})
    assert quarter.status_code == 200 and len(quarter.json()) == 96 * 90
    year = app.get(path, params={"from": "2026-01-06T00:00Z", "until": "2027-01-06T00:00Z"})
    assert (year.status_code, year.json()["field"]) == (400, "until")
    assert year.json()["message"] == ('the window holds more than 150,000 hand-offs of schedule "primary" to'
                                      " work out: ask for a shorter one")


def test_the_feed_of_a_schedule_too_busy_for_its_window_covers_fewer_days(app: InProcessDaemon) -> None:
    """The largest schedule's feed took 5-10 s of the daemon at each calendar's refresh, with only a
    feed token: over the bound of hand-offs a request works out, it covers fewer days."""
    ann, ben = add_user(app, "ann"), add_user(app, "ben")
    body = daily([ann, ben], rotation="PT15M")
    # Twenty layers of 96 hand-offs a day: 172,800 in the feed's 90 days ahead, past 150,000 (its
    # 30 days back hold none: the schedule did not exist then).
    body["scheduleLayers"] = [{**body["scheduleLayers"][0], "name": f"layer {n}"} for n in range(20)]
    schedule_id = create(app, body)
    feed = app.get(f"/api/schedules/{schedule_id}.ics")
    assert feed.status_code == 200
    starts = sorted(line for line in _unfold(feed.text) if line.startswith("DTSTART:"))
    # From 09:00Z on 2026-01-05 (the manual clock), 90 days ahead at most, fewer here.
    assert starts and starts[-1] < "DTSTART:20260401"
    assert len(starts) < 96 * 90
