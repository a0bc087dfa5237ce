"""The web UI's "On call now" and schedule pages: who is on call until when, 14 days per layer and in
the end, and overrides added and taken back through the forms as the API allows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

from ilertd.domain.schedule_view import tonight
from tests.inprocess import InProcessDaemon
from tests.ui_helpers import login, submit, user

# The manual clock starts on Monday 2026-01-05 at 09:00Z: 10:00 in Berlin, where everyone here lives.
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)
# A business-hours window: Monday 08:00 to Friday 18:00, one window, weekends off.
WEEKDAYS = [{"from": {"dayOfWeek": "MONDAY", "time": "08:00"},
             "to": {"dayOfWeek": "FRIDAY", "time": "18:00"}}]
_ROW = re.compile(r"<tr>\s*<td[^>]*>([^<]*)</td>\s*<td><time[^>]*>([^<]+)</time></td>\s*"
                  r"<td><time[^>]*>([^<]+)</time></td>", re.S)


def local(instant: str | datetime) -> str:
    """As the pages show an instant to someone in Berlin."""
    at = datetime.fromisoformat(instant.replace("Z", "+00:00")) if isinstance(instant, str) else instant
    return at.astimezone(BERLIN).strftime("%a %Y-%m-%d %H:%M %Z")


def team(app: InProcessDaemon) -> dict[str, Any]:
    """boss (ADMIN), ann and ben (USERs), all in Berlin; a schedule of two layers: ben as the backup
    all week, above him ann and ben a day each on weekdays; an override of ben on Tuesday morning;
    a policy paging boss and the schedule at level 0 and the schedule alone at level 1."""
    roles = (("boss", "ADMIN"), ("ann", "USER"), ("ben", "USER"))
    people = {name: user(app, name, role) for name, role in roles}
    for ident in people.values():
        assert app.put(f"/api/users/{ident}", {"timezone": "Europe/Berlin"}).status_code == 200
    created = app.post("/api/schedules", {
        "name": "primary", "type": "RECURRING", "timezone": "Europe/Berlin",
        "scheduleLayers": [
            {"name": "backup", "users": [{"id": people["ben"]}], "rotation": "P1W",
             "startsOn": "2026-01-05T10:00"},
            {"name": "weekdays", "users": [{"id": people["ann"]}, {"id": people["ben"]}], "rotation": "P1D",
             "startsOn": "2026-01-05T10:00", "restrictions": WEEKDAYS},
        ],
    })
    assert created.status_code == 201, created.text
    schedule_id = created.json()["id"]
    override = app.put(f"/api/schedules/{schedule_id}/overrides", {
        "user": {"id": people["ben"]}, "start": "2026-01-06T06:00:00Z", "end": "2026-01-06T09:00:00Z"})
    assert override.status_code == 201, override.text
    policy = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [
        {"escalationTimeout": 10, "users": [{"id": people["boss"]}], "schedules": [{"id": schedule_id}]},
        {"escalationTimeout": 10, "schedules": [{"id": schedule_id}]},
    ]})
    assert policy.status_code == 201, policy.text
    return {**people, "schedule": schedule_id, "override": override.json()["id"],
            "policy": policy.json()["id"]}


def api_shifts(app: InProcessDaemon, schedule_id: int) -> list[tuple[str, str, str]]:
    """The final timeline of the next 14 days, as the API gives it."""
    until = (NOW + timedelta(days=14)).isoformat()
    reply = app.get(f"/api/schedules/{schedule_id}/shifts", params={"from": app.now(), "until": until})
    assert reply.status_code == 200, reply.text
    return [(s["user"]["username"], s["start"], s["end"]) for s in reply.json()]


def table(html: str, caption: str) -> list[tuple[str, str, str]]:
    """The rows (who, from, until) of the shift table with this caption."""
    start = html.index(f"<caption>{caption}")
    body = html[start:html.index("</table>", start)]
    return [(unescape(who), since, until) for who, since, until in _ROW.findall(body)]


def test_the_on_call_page_names_who_is_on_call_and_until_when(app: InProcessDaemon) -> None:
    ids = team(app)
    page = login(app, "ann").get("/ui/on-call")
    assert page.status_code == 200
    html = page.text
    # ann holds Monday's weekday shift, cut short by ben's override on Tuesday at 07:00 Berlin.
    on_call = app.get(f"/api/schedules/{ids['schedule']}/user-on-call").json()
    assert on_call["user"]["username"] == "ann" and on_call["end"] == "2026-01-06T06:00:00.000Z"
    schedules = html.split('id="by-schedule"')[1].split('id="by-policy"')[0]
    assert re.search(rf'<a href="/ui/schedules/{ids["schedule"]}">primary</a></th>\s*'
                     rf'<td class="who-on-call">ann</td>\s*<td><time[^>]*>{local(on_call["end"])}</time>',
                     schedules)
    # Then ben, from that moment (his override).
    handover = local("2026-01-06T06:00:00Z")
    assert f'ben from <time datetime="2026-01-06T06:00:00+00:00">{handover}' in schedules
    # Per level: what /api/on-calls answers for now, each user with their end (a level's own user has none).
    policy = html.split(f'id="policy-{ids["policy"]}"')[1]
    api = [(e["escalationLevel"], e["user"]["username"], e["end"]) for e in app.get("/api/on-calls").json()]
    assert api == [(0, "boss", None), (0, "ann", on_call["end"]), (1, "ann", on_call["end"])]
    levels = re.findall(r'<tr>\s*(?:<th scope="rowgroup"[^>]*>Level (\d)</th>\s*)?<td>(\w+)</td>\s*'
                        r'<td>([^<]*)(?:<a[^>]*>[^<]*</a>)?</td>\s*'
                        r'<td[^>]*>(?:<time[^>]*>([^<]*)</time>|always)</td>', policy)
    assert levels == [("0", "boss", "user of the level", ""),
                      ("", "ann", "on call in ", local(on_call["end"])),
                      ("1", "ann", "on call in ", local(on_call["end"]))]
    # Once ben's override is over and ann's weekday turn is ben's too, the page follows.
    app.advance("PT22H")
    later = login(app, "ann").get("/ui/on-call").text.split('id="by-policy"')[0]
    assert re.search(r'<td class="who-on-call">ben</td>\s*<td><time[^>]*>'
                     + local("2026-01-07T09:00:00Z"), later)


def test_the_schedule_page_shows_each_layer_and_the_final_shifts_of_14_days(app: InProcessDaemon) -> None:
    ids = team(app)
    client = login(app, "ann")
    listed = client.get("/ui/schedules").text
    assert re.search(rf'href="/ui/schedules/{ids["schedule"]}">primary</a></th>\s*<td>Europe/Berlin</td>\s*'
                     r'<td class="who-on-call">ann</td>', listed)
    reply = client.get(f"/ui/schedules/{ids['schedule']}")
    assert reply.status_code == 200
    html = reply.text
    end = NOW + timedelta(days=14)
    # The final result is the API's shifts of the 14 days, with the span nobody is on call named.
    final = table(html, "On call: the final result")
    assert [row for row in final if row[0] != "Nobody on call"] == [
        (who, local(start), local(until)) for who, start, until in api_shifts(app, ids["schedule"])]
    assert final[0] == ("ann", local(NOW), local("2026-01-06T06:00:00Z"))
    assert final[1] == ("ben", local("2026-01-06T06:00:00Z"), local("2026-01-07T09:00:00Z"))
    assert final[-1][2] == local(end)
    # Each layer alone: the backup is ben throughout; the weekday layer alternates, off at weekends,
    # and knows nothing of the override.
    assert table(html, "backup on its own") == [("ben", local(NOW), local(end))]
    weekdays = table(html, "weekdays on its own")
    assert weekdays[:3] == [("ann", local(NOW), local("2026-01-06T09:00:00Z")),
                            ("ben", local("2026-01-06T09:00:00Z"), local("2026-01-07T09:00:00Z")),
                            ("ann", local("2026-01-07T09:00:00Z"), local("2026-01-08T09:00:00Z"))]
    assert ("Nobody on call", local("2026-01-09T17:00:00Z"), local("2026-01-12T07:00:00Z")) in weekdays
    # The chart: a lane per layer, the overrides and the final result, bars placed by attributes.
    chart = html.split('<div class="lanes"')[1].split("</div>")[0]
    lanes = chart.split('<svg class="lane"')[1:]
    assert len(lanes) == 4 and "style=" not in html
    placed = re.compile(r'<svg class="bar tone\d" x="([\d.]+)%" y="2" width="([\d.]+)%"')
    bars = [placed.findall(lane) for lane in lanes]
    assert bars[0] == [("0.0", "100.0")]
    # ben's override: 21 of the 336 hours from now to 06:00Z on Tuesday, for three hours.
    assert bars[2] == [(str(round(21 / 336 * 100, 3)), str(round(3 / 336 * 100, 3)))]
    # The final lane: a bar per shift, one after the other (the backup leaves no gap).
    assert len(bars[3]) == len(api_shifts(app, ids["schedule"]))
    ends = [float(x) + float(width) for x, width in bars[3]]
    assert all(abs(float(x) - end) < 0.002 for (x, _), end in zip(bars[3][1:], ends, strict=False))
    assert abs(ends[-1] - 100) < 0.002
    # A day line for each local midnight of the 14 days.
    assert len(re.findall(r'<line class="tick"', lanes[0])) == 14
    # The override listed, with the time it runs.
    overrides = html.split('id="overrides"')[1]
    assert re.search(rf"<td>ben</td>\s*<td><time[^>]*>{local('2026-01-06T06:00:00Z')}</time>", overrides)
    assert client.get("/ui/schedules/999").status_code == 404
    assert client.get("/ui/schedules/x").status_code == 404


def test_an_override_added_through_the_form_changes_the_shifts(app: InProcessDaemon) -> None:
    ids = team(app)
    client = login(app, "boss")
    page = f"/ui/schedules/{ids['schedule']}"
    form = client.get(page).text
    # The form offers tonight in the schedule's zone, read in the viewer's zone.
    assert 'name="start" value="2026-01-05T18:00"' in form and 'name="end" value="2026-01-06T09:00"' in form
    added = submit(client, page, f"{page}/overrides",
                   {"user": str(ids["ann"]), "start": "2026-01-10T20:00", "end": "2026-01-11T08:30"})
    assert added.status_code == 200 and "Override added: ann is on call from" in added.text
    # Saturday night was ben's, as the backup; from 20:00 to 08:30 Berlin it is ann's.
    assert ("ann", "2026-01-10T19:00:00.000Z", "2026-01-11T07:30:00.000Z") in api_shifts(app, ids["schedule"])
    assert re.search(rf"<td>ann</td>\s*<td><time[^>]*>{local('2026-01-10T19:00:00Z')}</time>",
                     added.text.split('id="overrides"')[1])
    # "I'll take tonight": the one who presses it, from 18:00 until 09:00 in the schedule's zone.
    taken = submit(client, page, f"{page}/overrides", {"preset": "tonight"})
    assert taken.status_code == 200 and "Override added: boss" in taken.text
    tonight_shift = ("boss", "2026-01-05T17:00:00.000Z", "2026-01-06T08:00:00.000Z")
    assert tonight_shift in api_shifts(app, ids["schedule"])


def test_a_bad_override_re_renders_with_the_error_and_stores_nothing(app: InProcessDaemon) -> None:
    ids = team(app)
    client = login(app, "boss")
    page = f"/ui/schedules/{ids['schedule']}"
    before = app.get(f"{page.replace('/ui/', '/api/')}/overrides").json()
    cases = [
        ({"start": "2026-01-05T09:30", "end": "2026-01-05T12:00"}, "is in the past"),
        ({"start": "2026-01-06T12:00", "end": "2026-01-06T11:00"}, "end must be after start"),
        ({"start": "tomorrow", "end": "2026-01-06T11:00"}, "Start must be a date and time."),
        ({"start": "2026-01-06T12:00", "end": "2027-03-01T12:00"}, "at most 366 days"),
    ]
    for times, message in cases:
        refused = submit(client, page, f"{page}/overrides", {"user": str(ids["ben"]), **times})
        assert refused.status_code == 400 and message in refused.text, refused.text
        # What was typed stays in the form.
        assert f'name="start" value="{times["start"]}"' in refused.text
        assert re.search(rf'<option value="{ids["ben"]}" selected>ben</option>', refused.text)
    unknown = submit(client, page, f"{page}/overrides",
                     {"user": "9999", "start": "2026-01-06T12:00", "end": "2026-01-06T13:00"})
    assert unknown.status_code == 400 and "9999" in unknown.text
    assert app.get(f"/api/schedules/{ids['schedule']}/overrides").json() == before


def test_an_override_started_a_minute_ago_starts_now(app: InProcessDaemon) -> None:
    """The form pre-fills the next whole minute; sent once that minute had begun, the start was
    "in the past", and sending it again never worked."""
    ids = team(app)
    client = login(app, "boss")
    page = f"/ui/schedules/{ids['schedule']}"
    overrides = f"/api/schedules/{ids['schedule']}/overrides"
    app.advance("PT65S")  # 09:01:05Z: the form's 10:01 Berlin began 5 s ago
    added = submit(client, page, f"{page}/overrides",
                   {"user": str(ids["ann"]), "start": "2026-01-05T10:01", "end": "2026-01-05T12:00"})
    assert added.status_code == 200 and "Override added: ann" in added.text, added.text
    starts = [o["start"] for o in app.get(overrides).json() if o["user"]["id"] == ids["ann"]]
    assert starts == ["2026-01-05T09:01:05.000Z"]
    # Further back than a form's minute or two is still refused: the past does not change.
    late = submit(client, page, f"{page}/overrides",
                  {"user": str(ids["ben"]), "start": "2026-01-05T09:55", "end": "2026-01-05T12:00"})
    assert late.status_code == 400 and "is in the past" in late.text


def test_an_override_is_removed_or_ended_and_the_past_stays(app: InProcessDaemon) -> None:
    ids = team(app)
    client = login(app, "boss")
    page = f"/ui/schedules/{ids['schedule']}"
    overrides = f"/api/schedules/{ids['schedule']}/overrides"
    later = app.put(overrides, {"user": {"id": ids["ann"]}, "start": "2026-01-08T09:00:00Z",
                                "end": "2026-01-08T12:00:00Z"}).json()["id"]
    removed = submit(client, page, f"{page}/overrides/{later}/delete", {})
    assert removed.status_code == 200 and "Override removed." in removed.text
    assert [o["id"] for o in app.get(overrides).json()] == [ids["override"]]
    # ben's Tuesday override, taken back while it runs, ends then.
    app.advance("PT22H")
    client = login(app, "boss")  # the session of the day before has expired
    assert "End now" in client.get(page).text
    ended = submit(client, page, f"{page}/overrides/{ids['override']}/delete", {})
    assert ended.status_code == 200
    assert app.get(overrides).json()[0]["end"] == "2026-01-06T07:00:00.000Z"
    # A page left open past an override's end: taking it back then is refused, as the API refuses it.
    stale = client.get(page).text
    app.advance("PT1H")
    refused = client.post(f"{page}/overrides/{ids['override']}/delete",
                          data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', stale)[1]})
    assert refused.status_code == 409 and "the past does not change" in refused.text
    assert app.get(overrides).json()[0]["end"] == "2026-01-06T07:00:00.000Z"


def test_a_user_reads_every_page_but_may_not_add_or_remove_overrides(app: InProcessDaemon) -> None:
    ids = team(app)
    client = login(app, "ann")
    page = f"/ui/schedules/{ids['schedule']}"
    for path in ("/ui/on-call", "/ui/schedules", page):
        assert client.get(path).status_code == 200
    html = client.get(page).text
    assert 'name="start"' not in html and "/delete" not in html and "Only an administrator" in html
    before = app.get(f"/api/schedules/{ids['schedule']}/overrides").json()
    # The API refuses a USER both, for themselves too; so does the page.
    token = app.post(f"/api/users/{ids['ann']}/tokens", {"name": "t"}).json()["token"]
    own = {"user": {"id": ids["ann"]}, "start": "2026-01-06T12:00:00Z", "end": "2026-01-06T13:00:00Z"}
    assert app.put(f"/api/schedules/{ids['schedule']}/overrides", own, token=token).status_code == 403
    assert app.delete(f"/api/schedules/{ids['schedule']}/overrides/{ids['override']}",
                      token=token).status_code == 403
    for data in ({"user": str(ids["ann"]), "start": "2026-01-06T12:00", "end": "2026-01-06T13:00"},
                 {"preset": "tonight"}):
        refused = submit(client, page, f"{page}/overrides", data)
        assert refused.status_code == 403 and "only an ADMIN" in refused.text
    gone = submit(client, page, f"{page}/overrides/{ids['override']}/delete", {})
    assert gone.status_code == 403
    assert app.get(f"/api/schedules/{ids['schedule']}/overrides").json() == before


def test_nobody_on_call_is_said_so_on_every_page(app: InProcessDaemon) -> None:
    ann = user(app, "ann")
    app.put(f"/api/users/{ann}", {"timezone": "Europe/Berlin"})
    static = app.post("/api/schedules", {"name": "weekend", "type": "STATIC", "timezone": "Europe/Berlin",
                                         "shifts": [{"user": {"id": ann}, "start": "2026-01-10T08:00:00Z",
                                                     "end": "2026-01-11T20:00:00Z"}]}).json()["id"]
    app.post("/api/escalation-policies", {"name": "weekend", "escalationRules": [
        {"escalationTimeout": 10, "schedules": [{"id": static}]}]})
    client = login(app, "ann")
    on_call = client.get("/ui/on-call").text
    assert re.search(r'<td class="empty">Nobody</td><td class="empty"><time[^>]*>'
                     + local("2026-01-10T08:00:00Z"), on_call)
    assert 'ann from <time datetime="2026-01-10T08:00:00+00:00">' in on_call
    assert re.search(r'<td class="empty">Nobody on call</td>\s*<td>on call in <a href="/ui/schedules/'
                     + str(static), on_call)
    assert re.search(r'<td class="empty">Nobody</td>', client.get("/ui/schedules").text)
    page = client.get(f"/ui/schedules/{static}").text
    assert table(page, "Static shifts on its own") == [
        ("Nobody on call", local(NOW), local("2026-01-10T08:00:00Z")),
        ("ann", local("2026-01-10T08:00:00Z"), local("2026-01-11T20:00:00Z")),
        ("Nobody on call", local("2026-01-11T20:00:00Z"), local(NOW + timedelta(days=14)))]
    assert table(page, "On call: the final result") == table(page, "Static shifts on its own")
    assert "No override is running or coming up." in page


def test_tonight_is_the_night_running_or_the_next_one() -> None:
    evening = datetime(2026, 1, 5, 17, tzinfo=UTC)
    morning = datetime(2026, 1, 6, 8, tzinfo=UTC)
    assert tonight(NOW, BERLIN) == (evening, morning)
    # Once the evening has begun it starts now; before the morning it is the night still running.
    assert tonight(NOW.replace(hour=20), BERLIN) == (NOW.replace(hour=20), morning)
    night = datetime(2026, 1, 6, 3, tzinfo=UTC)
    assert tonight(night, BERLIN) == (night, morning)
    # The night the clocks go forward is an hour shorter.
    spring = tonight(datetime(2026, 3, 28, 12, tzinfo=UTC), BERLIN)
    assert spring == (datetime(2026, 3, 28, 17, tzinfo=UTC), datetime(2026, 3, 29, 7, tzinfo=UTC))
