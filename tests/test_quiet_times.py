"""Maintenance windows and support hours: incidents open but page nobody until the hold ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ilertd.actors.clock import MANUAL_CLOCK_FILE
from ilertd.actors.host import IncidentHost
from ilertd.actors.messages import EscalationDue
from ilertd.actors.supervisor import HOSTS
from ilertd.domain import quiet_times as q
from ilertd.domain.incidents import HELD, Incident
from tests.paging import Paging

# The manual clock starts on Monday 2026-01-05 at 09:00 UTC.
WINDOW = {"summary": "database upgrade", "start": "2026-01-05T09:30:00Z", "end": "2026-01-05T11:00:00Z",
          "alertSources": [{"id": 1}]}


def test_an_incident_opened_in_a_window_pages_nobody_until_its_end_then_starts_at_level_0(
        app_paging: Paging) -> None:
    app = app_paging.daemon
    dave = app_paging.user("dave")
    erin = app_paging.user("erin")
    app_paging.policy([(10, [dave]), (10, [erin])])
    created = app.post("/api/maintenance-windows", WINDOW)
    assert created.status_code == 201, created.text
    before = app_paging.alert("opened-before")
    app.advance("PT40M")  # 09:40, inside the window
    during = app_paging.alert("opened-during")
    held = app.get(f"/api/incidents/{during}").json()
    assert (held["status"], held["escalationLevel"], held["held"], held["nextEscalationAt"]) == (
        "PENDING", 0, True, "2026-01-05T11:00:00.000Z")
    # An event on a key already open during the window updates it as usual.
    assert app_paging.daemon.event(summary="again", alertKey="opened-during").json()["responseCode"] == (
        "EVENT_ADDED_TO_INCIDENT")
    app.advance("PT1H")  # 10:40: the window still runs
    # The incident opened before the window escalated as before: dave at 09:00, erin at 09:10.
    assert len(app_paging.mails_to("dave@example.com")) == 1
    assert len(app_paging.mails_to("erin@example.com")) == 1
    assert [r["incident"] for r in _pages(app_paging, during)] == []
    assert "ESCALATION_HELD" in app.log_types(during)
    app.advance("PT20M")  # 11:00: the window ends, level 0 pages dave
    assert len(app_paging.mails_to("dave@example.com")) == 2
    started = app.get(f"/api/incidents/{during}").json()
    assert (started["escalationLevel"], started["held"], started["nextEscalationAt"]) == (
        0, False, "2026-01-05T11:10:00.000Z")
    app.advance("PT10M")  # then on to level 1 after its timeout
    assert len(app_paging.mails_to("erin@example.com")) == 2
    assert app.get(f"/api/incidents/{before}").json()["escalationLevel"] == 1


def test_a_held_incident_accepted_or_resolved_is_held_no_more(app_paging: Paging) -> None:
    app = app_paging.daemon
    app_paging.policy([(10, [app_paging.user("dave")])])
    window = app.post("/api/maintenance-windows", {**WINDOW, "start": "2026-01-05T08:00:00Z"})
    assert window.status_code == 201, window.text
    accepted, resolved = app_paging.alert("a"), app_paging.alert("r")
    assert app.get(f"/api/incidents/{accepted}").json()["held"] is True
    assert app.put(f"/api/incidents/{accepted}/accept").status_code == 200
    assert app.put(f"/api/incidents/{resolved}/resolve").status_code == 200
    for incident_id, status in ((accepted, "ACCEPTED"), (resolved, "RESOLVED")):
        shown = app.get(f"/api/incidents/{incident_id}").json()
        assert (shown["status"], shown["held"], shown["nextEscalationAt"]) == (status, False, None)


def _pages(app_paging: Paging, incident_id: int) -> list[dict[str, object]]:
    return [dict(r, incident=incident_id) for r in app_paging.notifications(incident_id)]


def test_a_held_incident_survives_a_restart_and_still_starts_at_the_windows_end(
        app_paging: Paging) -> None:
    app = app_paging.daemon
    dave = app_paging.user("dave")
    app_paging.policy([(10, [dave])])
    earlier = {**WINDOW, "start": "2026-01-05T08:00:00Z"}
    assert app.post("/api/maintenance-windows", earlier).status_code == 201
    held = app_paging.alert("held")
    app.stop()
    app.start()
    app.advance("PT1H59M")
    assert app_paging.mails_to("dave@example.com") == []
    app.advance("PT1M")
    assert len(app_paging.mails_to("dave@example.com")) == 1
    assert app.get(f"/api/incidents/{held}").json()["held"] is False


def test_a_hold_runs_on_through_the_next_window_of_an_extended_maintenance(app_paging: Paging) -> None:
    app = app_paging.daemon
    app_paging.policy([(10, [app_paging.user("dave")])])
    for start, end in (("09:00", "10:00"), ("10:00", "12:00")):
        created = app.post("/api/maintenance-windows", {**WINDOW, "summary": f"upgrade {start}",
                                                        "start": f"2026-01-05T{start}:00Z",
                                                        "end": f"2026-01-05T{end}:00Z"})
        assert created.status_code == 201, created.text
    app.advance("PT30M")  # 09:30, in the first window
    held = app_paging.alert("db-1")
    assert app.get(f"/api/incidents/{held}").json()["nextEscalationAt"] == "2026-01-05T12:00:00.000Z"
    app.advance("PT35M")  # 10:05, in the second window: nobody paged
    assert app.get(f"/api/incidents/{held}").json()["held"] is True
    assert app_paging.mails_to("dave@example.com") == []
    app.advance("PT1H55M")  # 12:00: the maintenance is over
    assert len(app_paging.mails_to("dave@example.com")) == 1
    assert app.get(f"/api/incidents/{held}").json()["held"] is False


def test_a_hold_that_ended_while_stopped_holds_on_in_the_window_running_at_the_start(
        app_paging: Paging) -> None:
    app = app_paging.daemon
    app_paging.policy([(10, [app_paging.user("dave")])])
    for summary, start, end in (("first", "08:00", "10:00"), ("later", "12:00", "13:00")):
        window = {**WINDOW, "summary": summary, "start": f"2026-01-05T{start}:00Z",
                  "end": f"2026-01-05T{end}:00Z"}
        assert app.post("/api/maintenance-windows", window).status_code == 201
    held = app_paging.alert("held")  # 09:00: held until 10:00
    app.quiet()
    app.stop()
    # Down until 12:30, in the later window: the hold due at 10:00 runs on to its end.
    (app.data_dir / MANUAL_CLOCK_FILE).write_text("2026-01-05T12:30:00.000Z")
    app.start()
    app.advance("PT0S")
    shown = app.get(f"/api/incidents/{held}").json()
    assert (shown["held"], shown["nextEscalationAt"]) == (True, "2026-01-05T13:00:00.000Z")
    assert app_paging.mails_to("dave@example.com") == []
    app.advance("PT30M")
    assert len(app_paging.mails_to("dave@example.com")) == 1


def test_outside_support_hours_a_source_opens_low_priority_or_holds_until_they_start(
        app_paging: Paging) -> None:
    app = app_paging.daemon
    dave = app_paging.user("dave", [("EMAIL", 0, "HIGH_PRIORITY"), ("SMS", 0, "LOW_PRIORITY")])
    app_paging.policy([(10, [dave])])
    office = {"timezone": "Europe/Berlin", "supportDays": {"MONDAY": {"start": "12:00", "end": "18:00"}},
              "outside": "LOW_PRIORITY"}
    updated = app.put("/api/alert-sources/1", {"supportHours": office})
    assert updated.status_code == 200, updated.text
    assert updated.json()["supportHours"] == office
    low = app.get(f"/api/incidents/{app_paging.alert('low')}").json()  # 10:00 in Berlin: outside
    assert low["priority"] == "LOW"
    assert app.put("/api/alert-sources/1", {"supportHours": {**office, "outside": "NO_ESCALATION"}}
                   ).status_code == 200
    held = app.get(f"/api/incidents/{app_paging.alert('held')}").json()
    assert (held["priority"], held["held"], held["nextEscalationAt"]) == (
        "HIGH", True, "2026-01-05T11:00:00.000Z")  # 12:00 in Berlin
    # The LOW incident paged by SMS; the held one pages nobody until 12:00 in Berlin. A page goes
    # out on its channel's thread after the commit, not before the reply: wait for quiet first.
    app.quiet()
    assert len(app_paging.http.to("/sms/")) == 1
    assert app_paging.mails_to("dave.pager@example.com") == []
    app.advance("PT1H59M")
    assert app_paging.mails_to("dave.pager@example.com") == []
    app.advance("PT1M")
    assert len(app_paging.mails_to("dave.pager@example.com")) == 1
    inside = app.get(f"/api/incidents/{app_paging.alert('inside')}").json()  # 12:00 in Berlin: inside
    assert (inside["priority"], inside["held"]) == ("HIGH", False)


def test_in_a_window_outside_low_priority_support_hours_an_incident_opens_low_and_held(
        app_paging: Paging) -> None:
    """The window's hold was taken and the source's LOW_PRIORITY hours were not: the incident
    opened HIGH, and at the window's end, still outside the hours, it paged level 0 and escalated."""
    app = app_paging.daemon
    alice, bob = app_paging.user("alice"), app_paging.user("bob")
    app_paging.policy([(10, [alice]), (10, [bob])])
    app.put("/api/alert-sources/1", {"supportHours": {
        "timezone": "UTC", "supportDays": {"MONDAY": {"start": "12:00", "end": "18:00"}},
        "outside": "LOW_PRIORITY"}})
    app.post("/api/maintenance-windows", {**WINDOW, "start": "2026-01-05T08:00:00Z",
                                          "end": "2026-01-05T10:00:00Z"})
    incident_id = app_paging.alert()  # 09:00, in the window and outside the hours
    opened = app.get(f"/api/incidents/{incident_id}").json()
    assert (opened["priority"], opened["held"]) == ("LOW", True)
    assert {"ESCALATION_HELD", "SUPPORT_HOURS"} <= set(app.log_types(incident_id))
    app.advance("PT59M")
    assert app_paging.mails_to("alice@example.com") == []
    app.advance("PT1M")  # the window ends: level 0, and no escalation by timeout
    assert len(app_paging.mails_to("alice@example.com")) == 1
    app.advance("PT1H")
    assert app_paging.mails_to("bob@example.com") == []
    assert app.get(f"/api/incidents/{incident_id}").json()["escalationLevel"] == 0


def test_ending_a_window_early_pages_what_it_held_and_moving_it_moves_the_hold(
        app_paging: Paging) -> None:
    app = app_paging.daemon
    dave = app_paging.user("dave")
    app_paging.policy([(30, [dave])])
    window = app.post("/api/maintenance-windows", {**WINDOW, "start": "2026-01-05T08:00:00Z"}).json()
    first = app_paging.alert("first")
    moved = app.put(f"/api/maintenance-windows/{window['id']}", {"end": "2026-01-05T12:00:00Z"})
    assert moved.status_code == 200, moved.text
    assert app.get(f"/api/incidents/{first}").json()["nextEscalationAt"] == "2026-01-05T12:00:00.000Z"
    app.advance("PT2H30M")  # 11:30: the old end passed, the new one not yet
    assert app_paging.mails_to("dave@example.com") == []
    # Deleted while it still runs: what it held starts escalating at once.
    assert app.delete(f"/api/maintenance-windows/{window['id']}").status_code == 204
    app.advance("PT0S")
    assert len(app_paging.mails_to("dave@example.com")) == 1
    released = app.get(f"/api/incidents/{first}").json()
    assert (released["held"], released["nextEscalationAt"]) == (False, "2026-01-05T12:00:00.000Z")
    assert app.log_types(first).count("ESCALATION_HELD") == 3


@pytest.mark.parametrize("end_early", ["put", "delete"])
def test_a_window_ended_early_releases_everything_it_held_at_once_as_its_end_does(
        app_paging: Paging, monkeypatch: pytest.MonkeyPatch, end_early: str) -> None:
    """Its 50 held incidents were released one by one, each hold moved (and committed) before the
    next was asked, each then escalating on its own: they now start at level 0 together, in one
    batch of escalations per incident host, as when a window runs out at its end."""
    app = app_paging.daemon
    app_paging.policy([(30, [app_paging.user("dave")])])
    window = app.post("/api/maintenance-windows", {**WINDOW, "start": "2026-01-05T08:00:00Z"}).json()
    held = [app_paging.alert(f"db-{n}") for n in range(50)]
    app.quiet()
    batches: list[list[int]] = []
    escalations = IncidentHost._escalations

    def recorded(host: IncidentHost, due: list[EscalationDue]) -> None:
        batches.append([d.incident_id for d in due])
        escalations(host, due)

    monkeypatch.setattr(IncidentHost, "_escalations", recorded)
    ended = (app.put(f"/api/maintenance-windows/{window['id']}", {"end": "2026-01-05T08:30:00Z"})
             if end_early == "put" else app.delete(f"/api/maintenance-windows/{window['id']}"))
    assert ended.status_code in (200, 204), ended.text
    app.quiet()
    shown = [app.get(f"/api/incidents/{incident_id}").json() for incident_id in held]
    assert {(s["held"], s["escalationLevel"], s["nextEscalationAt"]) for s in shown} == {
        (False, 0, "2026-01-05T09:30:00.000Z")}
    assert sorted(i for batch in batches for i in batch) == held
    assert len(batches) <= HOSTS, [len(batch) for batch in batches]


def test_changing_support_hours_moves_the_holds_they_placed(app_paging: Paging) -> None:
    app = app_paging.daemon
    app_paging.policy([(30, [app_paging.user("dave")])])
    office = {"timezone": "Europe/Berlin", "supportDays": {"MONDAY": {"start": "12:00", "end": "18:00"}},
              "outside": "NO_ESCALATION"}
    assert app.put("/api/alert-sources/1", {"supportHours": office}).status_code == 200
    held = app_paging.alert("held")  # 10:00 in Berlin: held until 12:00 there, 11:00 UTC
    assert app.get(f"/api/incidents/{held}").json()["nextEscalationAt"] == "2026-01-05T11:00:00.000Z"
    earlier = {**office, "supportDays": {"MONDAY": {"start": "11:00", "end": "18:00"}}}
    assert app.put("/api/alert-sources/1", {"supportHours": earlier}).status_code == 200
    assert app.get(f"/api/incidents/{held}").json()["nextEscalationAt"] == "2026-01-05T10:00:00.000Z"
    # The same hours again move nothing, and log nothing.
    assert app.put("/api/alert-sources/1", {"supportHours": earlier}).status_code == 200
    assert app.log_types(held).count("ESCALATION_HELD") == 2
    app.advance("PT0S")
    assert app_paging.mails_to("dave@example.com") == []
    # Support hours taken away: nothing holds the incident any more, and dave is paged at once.
    assert app.put("/api/alert-sources/1", {"supportHours": None}).status_code == 200
    app.advance("PT0S")
    assert len(app_paging.mails_to("dave@example.com")) == 1
    shown = app.get(f"/api/incidents/{held}").json()
    assert (shown["held"], shown["escalationLevel"], shown["nextEscalationAt"]) == (
        False, 0, "2026-01-05T09:30:00.000Z")
    assert app.log_types(held).count("ESCALATION_HELD") == 3


def afternoon_hours_paging_dave(paging: Paging) -> dict[str, object]:
    """Source 1 escalates to dave, and holds what opens outside Monday 13:00-17:00 UTC; those hours."""
    paging.policy([(30, [paging.user("dave")])])
    hours = {"timezone": "UTC", "outside": "NO_ESCALATION",
             "supportDays": {"MONDAY": {"start": "13:00", "end": "17:00"}}}
    assert paging.daemon.put("/api/alert-sources/1", {"supportHours": hours}).status_code == 200
    return hours


def test_hours_changed_to_low_priority_release_what_they_held_at_its_own_priority(
        app_paging: Paging) -> None:
    app = app_paging.daemon
    office = afternoon_hours_paging_dave(app_paging)
    held = app_paging.alert("held")
    assert app.put("/api/alert-sources/1", {"supportHours": {**office, "outside": "LOW_PRIORITY"}}
                   ).status_code == 200
    app.advance("PT0S")
    shown = app.get(f"/api/incidents/{held}").json()
    assert (shown["priority"], shown["held"], shown["escalationLevel"]) == ("HIGH", False, 0)
    assert len(app_paging.mails_to("dave@example.com")) == 1
    # A new incident opens LOW under the hours as they are now.
    assert app.get(f"/api/incidents/{app_paging.alert('new')}").json()["priority"] == "LOW"


def test_a_held_incident_follows_its_window_and_its_support_hours_as_they_are_now(
        app_paging: Paging) -> None:
    app = app_paging.daemon
    afternoon_hours_paging_dave(app_paging)
    window = app.post("/api/maintenance-windows", {**WINDOW, "start": "2026-01-05T08:00:00Z"}).json()
    first = app_paging.alert("first")  # the window ends at 11:00, outside support hours: held until 13:00
    assert app.get(f"/api/incidents/{first}").json()["nextEscalationAt"] == "2026-01-05T13:00:00.000Z"
    # The maintenance runs on past the start of support hours: the hold follows it.
    assert app.put(f"/api/maintenance-windows/{window['id']}", {"end": "2026-01-05T14:00:00Z"}
                   ).status_code == 200
    assert app.get(f"/api/incidents/{first}").json()["nextEscalationAt"] == "2026-01-05T14:00:00.000Z"
    # Deleted at 09:00, outside support hours: held until they start, not paged at once.
    assert app.delete(f"/api/maintenance-windows/{window['id']}").status_code == 204
    app.advance("PT0S")
    assert app_paging.mails_to("dave@example.com") == []
    assert app.get(f"/api/incidents/{first}").json()["nextEscalationAt"] == "2026-01-05T13:00:00.000Z"
    app.advance("PT4H")
    assert len(app_paging.mails_to("dave@example.com")) == 1


def test_a_window_made_later_holds_on_what_support_hours_hold_but_not_what_escalates(
        app_paging: Paging) -> None:
    app = app_paging.daemon
    app_paging.policy([(30, [app_paging.user("dave")])])
    escalating = app_paging.alert("escalating")  # no support hours yet
    afternoon = {"timezone": "UTC", "outside": "NO_ESCALATION",
                 "supportDays": {"MONDAY": {"start": "13:00", "end": "17:00"}}}
    assert app.put("/api/alert-sources/1", {"supportHours": afternoon}).status_code == 200
    held = app_paging.alert("held")
    assert app.get(f"/api/incidents/{held}").json()["nextEscalationAt"] == "2026-01-05T13:00:00.000Z"
    made = app.post("/api/maintenance-windows", {**WINDOW, "start": "2026-01-05T08:00:00Z",
                                                 "end": "2026-01-05T15:00:00Z"})
    assert made.status_code == 201, made.text
    assert app.get(f"/api/incidents/{held}").json()["nextEscalationAt"] == "2026-01-05T15:00:00.000Z"
    shown = app.get(f"/api/incidents/{escalating}").json()
    assert (shown["held"], shown["nextEscalationAt"]) == (False, "2026-01-05T09:30:00.000Z")


@pytest.mark.parametrize(("body", "field"), [
    ({"summary": "x", "start": "2026-01-05T10:00:00Z", "end": "2026-01-05T09:00:00Z",
      "alertSources": [{"id": 1}]}, "end"),
    ({"summary": "x", "start": "soon", "end": "2026-01-05T09:00:00Z", "alertSources": [{"id": 1}]}, "start"),
    ({"summary": "x", "start": "2026-01-05T10:00:00Z", "end": "2026-01-05T11:00:00Z", "alertSources": []},
     "alertSources"),
    ({"summary": "x", "start": "2026-01-05T10:00:00Z", "end": "2026-01-05T11:00:00Z",
      "alertSources": [{"id": 99}]}, "alertSources"),
    ({"start": "2026-01-05T10:00:00Z", "end": "2026-01-05T11:00:00Z", "alertSources": [{"id": 1}]},
     "summary"),
    # Over before it is created (the clock reads 09:00): it would hold nothing.
    ({"summary": "x", "start": "2026-01-04T22:00:00Z", "end": "2026-01-05T06:00:00Z",
      "alertSources": [{"id": 1}]}, "end"),
    ({"summary": "x", "start": "2026-01-05T08:00:00Z", "end": "2026-01-05T09:00:00Z",
      "alertSources": [{"id": 1}]}, "end"),
])
def test_a_bad_window_is_a_400_naming_the_field_and_nothing_is_stored(
        app_paging: Paging, body: dict[str, object], field: str) -> None:
    reply = app_paging.daemon.post("/api/maintenance-windows", body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["field"] == field
    assert app_paging.daemon.get("/api/maintenance-windows").json() == []


def test_a_window_past_the_accepted_years_is_told_the_range() -> None:
    """It was told "start is required", though it had given one."""
    from ilertd.app.quiet_times import WINDOW_BODY
    from ilertd.errors import ApiError

    with pytest.raises(ApiError) as refused:
        WINDOW_BODY["start"].read({"start": "3000-01-01T00:00:00Z"}, "start")
    assert refused.value.message == ("start is required: an ISO-8601 instant from 1970-01-01T00:00:00Z"
                                     " to 2999-12-31T23:59:59Z")


def test_windows_are_listed_edited_and_deleted_and_need_an_admin(app_paging: Paging) -> None:
    app = app_paging.daemon
    window = app.post("/api/maintenance-windows", WINDOW).json()
    assert window == {"id": window["id"], **WINDOW, "start": "2026-01-05T09:30:00.000Z",
                      "end": "2026-01-05T11:00:00.000Z"}
    moved = app.put(f"/api/maintenance-windows/{window['id']}", {"end": "2026-01-05T12:00:00Z"})
    assert moved.json()["end"] == "2026-01-05T12:00:00.000Z" and moved.json()["summary"] == WINDOW["summary"]
    # GET-modify-PUT carries the whole object back.
    assert app.put(f"/api/maintenance-windows/{window['id']}", moved.json()).status_code == 200
    dave = app_paging.user("dave")
    token = app.post(f"/api/users/{dave}/tokens", {"name": "t"}).json()["token"]
    assert app.post("/api/maintenance-windows", WINDOW, token=token).status_code == 403
    assert app.delete(f"/api/maintenance-windows/{window['id']}").status_code == 204
    assert app.get(f"/api/maintenance-windows/{window['id']}").status_code == 404


def test_a_deleted_source_leaves_the_windows_naming_it(paging_either_store: Paging) -> None:
    """A window naming a source deleted since could not be edited at all, not even ended: every PUT
    was "alert source 2 does not exist". The source now leaves it; a window of it alone goes."""
    from ilertd.store import models as m

    app = paging_either_store.daemon
    spare = app.post("/api/alert-sources", {"name": "spare"}).json()["id"]
    lone = app.post("/api/alert-sources", {"name": "lone"}).json()["id"]
    both = app.post("/api/maintenance-windows", {**WINDOW, "alertSources": [{"id": 1}, {"id": spare}]}).json()
    alone = app.post("/api/maintenance-windows", {**WINDOW, "alertSources": [{"id": lone}]}).json()
    assert app.delete(f"/api/alert-sources/{spare}").status_code == 204
    assert app.delete(f"/api/alert-sources/{lone}").status_code == 204
    assert app.get(f"/api/maintenance-windows/{both['id']}").json()["alertSources"] == [{"id": 1}]
    assert app.get(f"/api/maintenance-windows/{alone['id']}").status_code == 404
    ended = app.put(f"/api/maintenance-windows/{both['id']}", {"end": "2026-01-05T10:00:00Z"})
    assert ended.status_code == 200, ended.text
    # An older store kept the deleted source's id in the window: an edit leaves it out.
    stale = m.MaintenanceWindow.update(alert_source_ids=[1, spare])
    stale.where(m.MaintenanceWindow.id == both["id"]).execute()
    edited = app.put(f"/api/maintenance-windows/{both['id']}", {"summary": "db upgrade"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["alertSources"] == [{"id": 1}]


@pytest.mark.parametrize(("hours", "field"), [
    ({"timezone": "Mars/Olympus", "supportDays": {"MONDAY": {"start": "08:00", "end": "18:00"}}},
     "supportHours.timezone"),
    ({"timezone": "UTC", "supportDays": {"MONDAY": {"start": "18:00", "end": "08:00"}}},
     "supportHours.supportDays.MONDAY.end"),
    ({"timezone": "UTC", "supportDays": {"FUNDAY": {"start": "08:00", "end": "18:00"}}},
     "supportHours.supportDays.FUNDAY"),
    ({"timezone": "UTC", "supportDays": {"MONDAY": {"start": "8am", "end": "18:00"}}},
     "supportHours.supportDays.MONDAY.start"),
    ({"timezone": "UTC", "supportDays": {"MONDAY": {"start": "08:00", "end": "18:00"}}, "outside": "PANIC"},
     "supportHours.outside"),
])
def test_bad_support_hours_are_a_400_naming_the_field(app_paging: Paging, hours: dict[str, object],
                                                     field: str) -> None:
    reply = app_paging.daemon.put("/api/alert-sources/1", {"supportHours": hours})
    assert reply.status_code == 400, reply.text
    assert reply.json()["field"] == field
    assert app_paging.daemon.get("/api/alert-sources/1").json()["supportHours"] is None


# --- the pure rules -------------------------------------------------------------------------------

def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_support_hours_cross_a_clock_change_and_a_week_end() -> None:
    hours = q.parse_support_hours({"timezone": "Europe/Berlin", "outside": "NO_ESCALATION", "supportDays": {
        "FRIDAY": {"start": "08:00", "end": "24:00"}, "MONDAY": {"start": "08:00", "end": "17:00"}}})
    # Friday 2026-03-27 23:30 in Berlin (UTC+1) is inside; Saturday is not.
    assert hours.within(at("2026-03-27T22:30:00"))
    assert not hours.within(at("2026-03-27T23:00:00"))
    # The clocks go forward on Sunday 2026-03-29: Monday 08:00 in Berlin is 06:00 UTC.
    assert hours.next_start(at("2026-03-28T10:00:00")) == at("2026-03-30T06:00:00")
    opening = q.opening(1, (), hours, at("2026-03-28T10:00:00"))
    assert opening.hold == q.Hold(at("2026-03-30T06:00:00"), "Opened outside the source's support hours")


def test_overlapping_windows_hold_until_the_latest_end_and_only_their_sources() -> None:
    windows = [
        q.MaintenanceWindow(1, "a", at("2026-01-05T09:00:00"), at("2026-01-05T10:00:00"), frozenset({1})),
        q.MaintenanceWindow(2, "b", at("2026-01-05T09:30:00"), at("2026-01-05T12:00:00"), frozenset({1, 2})),
    ]
    assert q.opening(1, windows, None, at("2026-01-05T09:45:00")).hold == q.Hold(
        at("2026-01-05T12:00:00"), "Opened during maintenance window \"b\"")
    assert q.opening(3, windows, None, at("2026-01-05T09:45:00")) == q.Opening()
    # The summary as entered: not Python's repr ('D:\\db', "Bob's").
    named = q.MaintenanceWindow(3, "Bob's upgrade of D:\\db", at("2026-01-05T09:00:00"),
                                at("2026-01-05T10:00:00"), frozenset({3}))
    assert q.opening(3, [named], None, at("2026-01-05T09:45:00")).hold == q.Hold(
        at("2026-01-05T10:00:00"), "Opened during maintenance window \"Bob's upgrade of D:\\db\"")
    # The end is exclusive: at 12:00 nothing holds any more.
    assert q.opening(2, windows, None, at("2026-01-05T12:00:00")) == q.Opening()
    # A window that ends outside NO_ESCALATION support hours holds on until they start.
    hours = q.parse_support_hours({"timezone": "UTC", "outside": "NO_ESCALATION",
                                   "supportDays": {"MONDAY": {"start": "13:00", "end": "17:00"}}})
    assert q.opening(2, windows, hours, at("2026-01-05T09:45:00")).hold == q.Hold(
        at("2026-01-05T13:00:00"), "Opened during maintenance window \"b\"")


def test_a_hold_moves_only_a_held_pending_incident_and_never_into_the_past() -> None:
    held = Incident(1, 1, "k", "s", "PENDING", "HIGH", at("2026-01-05T09:00:00"),
                    escalation_level=HELD, next_escalation_at=at("2026-01-05T11:00:00"))
    now = at("2026-01-05T10:00:00")
    later = q.move_hold(held, at("2026-01-05T12:00:00"), now, "moved")
    assert later.incident.next_escalation_at == at("2026-01-05T12:00:00")
    assert [e.log_entry_type for e in later.log] == ["ESCALATION_HELD"]
    released = q.move_hold(held, at("2026-01-05T08:00:00"), now, "ended")
    assert released.incident.next_escalation_at == now and "escalation starts now" in released.log[0].text
    assert q.move_hold(held, at("2026-01-05T11:00:00"), now, "same").log == ()
    escalating = q.move_hold(Incident(2, 1, "k", "s", "PENDING", "HIGH", now, next_escalation_at=now),
                             at("2026-01-05T12:00:00"), now, "not held")
    assert escalating.log == () and escalating.incident.next_escalation_at == now


def test_a_hold_ends_when_no_window_covers_the_source_then_by_the_support_hours() -> None:
    hours = q.parse_support_hours({"timezone": "UTC", "outside": "NO_ESCALATION",
                                   "supportDays": {"MONDAY": {"start": "13:00", "end": "17:00"}}})
    now = at("2026-01-05T10:00:00")

    def window(id_: int, start: str, end: str, source: int) -> q.MaintenanceWindow:
        return q.MaintenanceWindow(id_, "w", at(f"2026-01-05T{start}:00"), at(f"2026-01-05T{end}:00"),
                                   frozenset({source}))

    covering, later, other = window(1, "08:00", "12:00", 1), window(2, "09:30", "16:00", 1), window(
        3, "08:00", "16:00", 2)
    # A window covering the source now holds it, made after the incident opened or not; one of
    # another source does not.
    assert q.hold_end(1, (covering, other), None, now) == at("2026-01-05T12:00:00")
    assert q.hold_end(1, (covering, other), hours, now) == at("2026-01-05T13:00:00")
    assert q.hold_end(1, (covering, later, other), None, now) == at("2026-01-05T16:00:00")
    assert q.hold_end(1, (other,), None, now) == now
    low = q.parse_support_hours({"timezone": "UTC", "outside": "LOW_PRIORITY",
                                 "supportDays": {"MONDAY": {"start": "13:00", "end": "17:00"}}})
    assert q.hold_end(1, (), low, now) == now
    # A window over by now holds nothing.
    assert q.hold_end(1, (covering,), None, at("2026-01-05T12:00:00")) == at("2026-01-05T12:00:00")
    # Windows that touch or overlap are one maintenance: the hold ends at the end of the chain...
    chain = (window(4, "09:00", "10:00", 1), window(5, "10:00", "12:00", 1), window(6, "11:30", "12:30", 1))
    assert q.hold_end(1, chain, None, at("2026-01-05T09:30:00")) == at("2026-01-05T12:30:00")
    # ...not across a gap; and support hours that begin inside a window wait for its end.
    gap = (window(7, "09:00", "10:00", 1), window(8, "10:01", "12:00", 1))
    assert q.hold_end(1, gap, None, at("2026-01-05T09:30:00")) == at("2026-01-05T10:00:00")
    assert q.hold_end(1, (window(9, "12:30", "14:00", 1),), hours, now) == at("2026-01-05T14:00:00")


def test_a_due_hold_holds_on_while_a_window_covers_the_source() -> None:
    held = Incident(1, 1, "k", "s", "PENDING", "HIGH", at("2026-01-05T09:00:00"),
                    escalation_level=HELD, next_escalation_at=at("2026-01-05T10:00:00"))
    later = q.MaintenanceWindow(2, "later", at("2026-01-05T12:00:00"), at("2026-01-05T13:00:00"),
                                frozenset({1}))
    # Due at 10:00, seen at 12:30 (the daemon was stopped): the later window holds it on.
    moved = q.hold_still(held, (later,), None, at("2026-01-05T12:30:00"))
    assert moved is not None and moved.incident.next_escalation_at == at("2026-01-05T13:00:00")
    assert [e.text for e in moved.log] == [
        "Maintenance window \"later\" covers the source: nobody is paged until 2026-01-05T13:00:00.000Z"]
    # Released when nothing covers it; not yet due, or not held: not this rule's.
    assert q.hold_still(held, (later,), None, at("2026-01-05T11:00:00")) is None
    assert q.hold_still(held, (later,), None, at("2026-01-05T09:30:00")) is None
    escalating = Incident(2, 1, "k", "s", "PENDING", "HIGH", at("2026-01-05T09:00:00"),
                          next_escalation_at=at("2026-01-05T10:00:00"))
    assert q.hold_still(escalating, (later,), None, at("2026-01-05T12:30:00")) is None


@pytest.mark.parametrize(("zone", "days", "after", "starts"), [
    # Lord Howe falls back from 02:00 (+11) to 01:30 (+10:30) on 2026-04-05: at 01:30 of the
    # second pass, 01:45 comes round again 15 minutes on (it was held a week).
    ("Australia/Lord_Howe", {"SUNDAY": {"start": "01:45", "end": "06:00"}}, "2026-04-04T15:00:00",
     "2026-04-04T15:15:00"),
    # Berlin falls back at 03:00 to 02:00 on 2026-10-25: hours ending 02:30 take in 02:00-02:30
    # again (as `within` reads them; it was held a week, while an alert then paged at once).
    ("Europe/Berlin", {"SUNDAY": {"start": "00:00", "end": "02:30"}}, "2026-10-25T00:45:00",
     "2026-10-25T01:00:00"),
    # Apia skipped Friday 2011-12-30: its Friday hours are the next Friday's (it was released on
    # the Saturday, outside them).
    ("Pacific/Apia", {"FRIDAY": {"start": "09:00", "end": "17:00"}}, "2011-12-28T22:00:00",
     "2012-01-05T19:00:00"),
    # A start in the hour skipped (New York, 2026-03-08 02:00 -> 03:00) begins at the gap's end.
    ("America/New_York", {"SUNDAY": {"start": "02:30", "end": "05:00"}}, "2026-03-08T05:00:00",
     "2026-03-08T07:00:00"),
])
def test_support_hours_start_where_within_reads_them_open(zone: str, days: dict[str, dict[str, str]],
                                                         after: str, starts: str) -> None:
    hours = q.parse_support_hours({"timezone": zone, "outside": "NO_ESCALATION", "supportDays": days})
    assert not hours.within(at(after))
    begins = hours.next_start(at(after))
    assert begins == at(starts)
    assert hours.within(begins)
    # Nothing inside them before it, minute by minute.
    probe = at(after)
    while probe < begins:
        assert not hours.within(probe), probe
        probe += timedelta(minutes=1)


def test_support_hours_words_are_taken_in_any_case_and_stored_upper_case() -> None:
    """As every enumerated word of the API: `no_escalation` and `monday` were refused."""
    hours = q.parse_support_hours({"timezone": "Europe/Berlin", "outside": "no_escalation",
                                   "supportDays": {"monday": {"start": "08:00", "end": "18:00"}}})
    assert hours == q.parse_support_hours({"timezone": "Europe/Berlin", "outside": "NO_ESCALATION",
                                           "supportDays": {"MONDAY": {"start": "08:00", "end": "18:00"}}})
    assert q.support_hours_json(hours)["outside"] == "NO_ESCALATION"
    assert list(q.support_hours_json(hours)["supportDays"]) == ["MONDAY"]
    someday = {"someday": {"start": "08:00", "end": "18:00"}}
    with pytest.raises(ValueError, match=r"supportDays\.someday"):
        q.parse_support_hours({"timezone": "UTC", "supportDays": someday})
