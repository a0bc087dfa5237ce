"""The web UI's escalation policy and alert source pages: their forms change what the API reads, and a
source's page gives a URL and a snippet that really reach it."""

from __future__ import annotations

import html
import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlencode

import yaml

from tests.inprocess import InProcessDaemon
from tests.ui_helpers import csrf, login, submit, user

FORM = {"Content-Type": "application/x-www-form-urlencoded"}

ALERTMANAGER_FIXTURES = Path(__file__).parent / "fixtures" / "alertmanager"


def schedule(app: InProcessDaemon, name: str, user_id: int) -> int:
    created = app.post("/api/schedules", {
        "name": name, "type": "RECURRING", "timezone": "Europe/Berlin",
        "scheduleLayers": [{"name": "days", "users": [{"id": user_id}], "rotation": "P1D",
                            "startsOn": "2026-01-05T10:00"}]})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def snippet(page: str) -> str:
    found = re.search(r'<pre class="snippet"[^>]*><code>(.*?)</code></pre>', page, re.S)
    assert found is not None, "the page shows no snippet"
    return html.unescape(found[1])


def page_id(url: object, kind: str) -> int:
    found = re.search(rf"/ui/{kind}/(\d+)(\?|$)", str(url))
    assert found is not None, f"not on a page of one of the {kind}: {url}"
    return int(found[1])


def test_a_policy_is_created_and_edited_through_its_form(app: InProcessDaemon) -> None:
    user(app, "root", "ADMIN")
    ann, ben = user(app, "ann"), user(app, "ben")
    primary = schedule(app, "primary", ben)
    client = login(app, "root")
    form = client.get("/ui/policies/new").text
    # Empty rows to fill in, each with a timeout and a choice of users and schedules.
    assert 'name="level-1-timeout"' in form and 'name="level-1-schedules"' in form
    assert f'<option value="{ann}">ann</option>' in form
    assert f'<option value="{primary}">primary</option>' in form
    created = submit(client, "/ui/policies/new", "/ui/policies/new", [
        ("name", "ops <night>"),
        ("level-0-timeout", "15"), ("level-0-users", str(ann)),
        ("level-1-timeout", ""),
        ("level-2-timeout", "30"), ("level-2-users", str(ben)), ("level-2-users", str(ann)),
        ("level-2-schedules", str(primary)),
        ("repeating", "on"), ("frequency", "2"),
    ])
    assert created.status_code == 200 and "Escalation policy created." in created.text
    policy_id = page_id(created.url, "policies")
    stored = app.get(f"/api/escalation-policies/{policy_id}").json()
    assert stored == {
        "id": policy_id, "name": "ops <night>", "repeating": True, "frequency": 2,
        "escalationRules": [
            {"escalationTimeout": 15, "users": [{"id": ann}], "schedules": []},
            {"escalationTimeout": 30, "users": [{"id": ann}, {"id": ben}], "schedules": [{"id": primary}]},
        ]}
    source = app.post("/api/alert-sources", {"name": "shop", "escalationPolicy": {"id": policy_id}}).json()
    shown = client.get(f"/ui/policies/{policy_id}").text
    assert "ops &lt;night&gt;" in shown and "<h3>Level 1</h3>" in shown and "15 min" in shown
    assert f'href="/ui/schedules/{primary}">primary</a>' in shown and "ann, ben" in shown
    assert f'href="/ui/sources/{source["id"]}">shop</a>' in shown and "2 more times" in shown
    listed = client.get("/ui/policies").text
    assert f'href="/ui/policies/{policy_id}">ops &lt;night&gt;</a>' in listed

    edit = f"/ui/policies/{policy_id}/edit"
    form = client.get(edit).text
    # Its two levels, filled in, and two empty rows.
    assert 'name="level-0-timeout" type="number" min="0" step="1" inputmode="numeric" value="15"' in form
    assert 'name="level-3-timeout"' in form and 'name="level-4-timeout"' not in form
    assert f'<option value="{primary}" selected>primary</option>' in form
    saved = submit(client, edit, edit, [
        ("name", "ops"),
        ("level-0-timeout", ""),
        ("level-1-timeout", "45"), ("level-1-schedules", str(primary)),
        ("level-3-timeout", "5"), ("level-3-users", str(ben)),
        ("frequency", "0"),
    ])
    assert saved.status_code == 200 and "Escalation policy saved." in saved.text
    assert app.get(f"/api/escalation-policies/{policy_id}").json() == {
        "id": policy_id, "name": "ops", "repeating": False, "frequency": 0,
        "escalationRules": [
            {"escalationTimeout": 45, "users": [], "schedules": [{"id": primary}]},
            {"escalationTimeout": 5, "users": [{"id": ben}], "schedules": []},
        ]}


def test_a_policy_saved_from_the_form_keeps_the_order_of_its_levels_people(app: InProcessDaemon) -> None:
    """A multiple choice sends its picks in the list's order: saved unchanged, a level naming bob
    then ann came back ann then bob, and a provision file listing them saw a change each run."""
    user(app, "root", "ADMIN")
    ann, bob, cat = user(app, "ann"), user(app, "bob"), user(app, "cat")
    level = {"escalationTimeout": 10, "users": [{"id": bob}, {"id": ann}]}
    policy_id = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [level]}).json()["id"]
    client = login(app, "root")
    edit = f"/ui/policies/{policy_id}/edit"
    picks = [("level-0-users", str(i)) for i in sorted((ann, bob, cat))]
    saved = submit(client, edit, edit, [("name", "ops"), ("level-0-timeout", "15"), *picks])
    assert saved.status_code == 200, saved.text
    (rule,) = app.get(f"/api/escalation-policies/{policy_id}").json()["escalationRules"]
    assert (rule["escalationTimeout"], rule["users"]) == (15, [{"id": bob}, {"id": ann}, {"id": cat}])


def test_a_bad_policy_form_is_shown_again_with_its_error_and_changes_nothing(app: InProcessDaemon) -> None:
    user(app, "root", "ADMIN")
    ann = user(app, "ann")
    level = {"escalationTimeout": 10, "users": [{"id": ann}]}
    policy_id = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [level]}).json()["id"]
    before = app.get(f"/api/escalation-policies/{policy_id}").json()
    client = login(app, "root")
    edit = f"/ui/policies/{policy_id}/edit"

    no_levels = submit(client, edit, edit, [("name", "renamed"), ("level-0-timeout", "")])
    assert no_levels.status_code == 400
    assert "escalationRules must be a non-empty array" in no_levels.text
    assert 'value="renamed"' in no_levels.text

    negative = submit(client, edit, edit, [("name", "renamed"), ("level-0-timeout", "-5"),
                                           ("level-0-users", str(ann))])
    assert negative.status_code == 400 and "escalationTimeout must be an integer from 0" in negative.text
    # What was typed is still there to correct.
    assert 'value="-5"' in negative.text and f'<option value="{ann}" selected>ann</option>' in negative.text

    nobody = submit(client, edit, edit, [("name", "renamed"), ("level-0-timeout", "5"),
                                         ("level-0-users", str(ann)), ("level-1-timeout", "5")])
    assert nobody.status_code == 400 and "level 1 needs at least one user or schedule" in nobody.text
    not_a_number = submit(client, edit, edit, [("name", "renamed"), ("level-0-timeout", "soon"),
                                               ("level-0-users", str(ann))])
    assert not_a_number.status_code == 400 and "the timeout must be a whole number" in not_a_number.text
    blank = submit(client, edit, edit, [("name", "  "), ("level-0-timeout", "5"),
                                        ("level-0-users", str(ann))])
    assert blank.status_code == 400 and "name must not be empty" in blank.text
    assert app.get(f"/api/escalation-policies/{policy_id}").json() == before

    refused = submit(client, "/ui/policies/new", "/ui/policies/new", [
        ("name", "new"), ("level-0-timeout", "-1"), ("level-0-users", str(ann))])
    assert refused.status_code == 400 and 'value="new"' in refused.text
    assert [p["id"] for p in app.get("/api/escalation-policies").json()] == [policy_id]


def test_a_name_taken_shows_the_form_again_with_what_was_typed(app: InProcessDaemon) -> None:
    """A duplicate policy or source name gave a "409 · Something is wrong" page, and everything
    typed (the levels, their people) was lost."""
    user(app, "root", "ADMIN")
    ann = user(app, "ann")
    level = {"escalationTimeout": 10, "users": [{"id": ann}]}
    app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [level]})
    other = app.post("/api/escalation-policies", {"name": "db", "escalationRules": [level]}).json()["id"]
    client = login(app, "root")
    for form in ("/ui/policies/new", f"/ui/policies/{other}/edit"):
        taken = submit(client, form, form, [("name", "ops"), ("level-0-timeout", "7"),
                                            ("level-0-users", str(ann))])
        assert taken.status_code == 409 and 'value="ops"' in taken.text and 'value="7"' in taken.text
        assert f'<option value="{ann}" selected>ann</option>' in taken.text
        assert "is already named" in taken.text
        assert "Something is wrong" not in taken.text
    assert sorted(p["name"] for p in app.get("/api/escalation-policies").json()) == ["db", "ops"]
    second = app.post("/api/alert-sources", {"name": "web", "integrationType": "API"}).json()["id"]
    for form in ("/ui/sources/new", f"/ui/sources/{second}/edit"):
        taken = submit(client, form, form, {"name": "default", "integrationType": "API", "priority": "LOW",
                                            "escalationPolicy": ""})
        assert taken.status_code == 409 and 'value="default"' in taken.text, taken.text[-800:]
        assert 'name="integrationType"' in taken.text and "is already named" in taken.text
        assert "Something is wrong" not in taken.text
    assert sorted(s["name"] for s in app.get("/api/alert-sources").json()) == ["default", "web"]


def test_a_policy_changed_in_another_tab_is_not_overwritten_unseen(app: InProcessDaemon) -> None:
    """Two tabs editing one policy: the later save silently removed the level the other had added."""
    user(app, "root", "ADMIN")
    ann, ben = user(app, "ann"), user(app, "ben")
    level = {"escalationTimeout": 10, "users": [{"id": ann}]}
    policy_id = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [level]}).json()["id"]
    client = login(app, "root")
    edit = f"/ui/policies/{policy_id}/edit"
    version = re.compile(r'name="version" value="([^"]+)"')

    def version_of(page: str) -> str:
        found = version.search(page)
        assert found is not None, page
        return found[1]

    first_tab = client.get(edit).text
    mine = [("name", "ops"), ("repeating", "on"), ("frequency", "2"),
            ("level-0-timeout", "10"), ("level-0-users", str(ann))]
    other = submit(client, edit, edit, [("name", "ops"), ("level-0-timeout", "10"),
                                        ("level-0-users", str(ann)),
                                        ("level-1-timeout", "15"), ("level-1-users", str(ben))])
    assert other.status_code == 200 and len(app.get(f"/api/escalation-policies/{policy_id}").json()[
        "escalationRules"]) == 2
    stale = client.post(edit, content=urlencode([*mine, ("version", version_of(first_tab)),
                                                 ("csrf_token", csrf(first_tab))]), headers=FORM)
    assert stale.status_code == 409 and "changed since you opened it" in stale.text
    assert "with 2 levels" in stale.text and 'name="repeating" checked' in stale.text
    saved = app.get(f"/api/escalation-policies/{policy_id}").json()
    assert len(saved["escalationRules"]) == 2 and saved["repeating"] is False
    # Seen, and saved again: the user's version replaces it.
    again = client.post(edit, content=urlencode([*mine, ("version", version_of(stale.text)),
                                                 ("csrf_token", csrf(stale.text))]), headers=FORM)
    assert again.status_code == 200 and "Escalation policy saved." in again.text
    saved = app.get(f"/api/escalation-policies/{policy_id}").json()
    assert len(saved["escalationRules"]) == 1 and saved["repeating"] is True


def test_an_alertmanager_source_page_gives_a_receiver_that_opens_incidents(app: InProcessDaemon) -> None:
    user(app, "root", "ADMIN")
    ann = user(app, "ann")
    policy_id = app.post("/api/escalation-policies", {
        "name": "ops", "escalationRules": [{"escalationTimeout": 10, "users": [{"id": ann}]}]}).json()["id"]
    client = login(app, "root")
    form = client.get("/ui/sources/new").text
    assert '<option value="PROMETHEUS">PROMETHEUS: Prometheus Alertmanager</option>' in form
    created = submit(client, "/ui/sources/new", "/ui/sources/new", {
        "name": "prometheus", "integrationType": "PROMETHEUS", "priority": "LOW",
        "escalationPolicy": str(policy_id)})
    assert created.status_code == 200 and "Alert source created." in created.text
    source_id = page_id(created.url, "sources")
    source = app.get(f"/api/alert-sources/{source_id}").json()
    assert (source["name"], source["integrationType"], source["priority"], source["escalationPolicy"]) == (
        "prometheus", "PROMETHEUS", "LOW", {"id": policy_id})
    key = source["integrationKey"]
    url = f"{app.url}/api/v1/events/alertmanager/{key}"
    assert f'<code class="source-url">{url}</code>' in created.text
    assert f'<code class="source-key">{key}</code>' in created.text
    assert "docs/integrations/alertmanager.md" in created.text

    receiver = yaml.safe_load(snippet(created.text))
    (config,) = receiver["receivers"][0]["webhook_configs"]
    assert receiver["receivers"][0]["name"] == "ilertd" and config == {"url": url, "send_resolved": True}
    body = (ALERTMANAGER_FIXTURES / "am_firing_single.body.json").read_bytes()
    posted = app.client.post(config["url"], content=body, headers={"Content-Type": "application/json"})
    assert posted.status_code == 202, posted.text
    (result,) = posted.json()
    incident = app.get(f"/api/incidents/{result['incidentId']}").json()
    assert incident["alertSource"]["id"] == source_id and incident["summary"] == "HighCPUUsage on host-0"
    # Its page to ann is sent now, within the test: sent by the channel's thread as the test ended, its
    # log line met the log capture of the test's phase being closed ("--- Logging error ---").
    app.advance("PT0S")
    listed = client.get("/ui/sources").text
    assert f'<a href="/ui/incidents?source={source_id}">1</a>' in listed
    assert f'href="/ui/policies/{policy_id}">ops</a>' in listed


def test_the_event_api_source_page_gives_a_curl_command_that_works(app: InProcessDaemon) -> None:
    user(app, "root", "ADMIN")
    client = login(app, "root")
    created = submit(client, "/ui/sources/new", "/ui/sources/new", {
        "name": "scripts", "integrationType": "API", "priority": "HIGH", "escalationPolicy": ""})
    source_id = page_id(created.url, "sources")
    key = app.get(f"/api/alert-sources/{source_id}").json()["integrationKey"]
    command = shlex.split(snippet(created.text).replace("\\\n", " "))
    assert command[:3] == ["curl", "-X", "POST"]
    url = command[3]
    body = command[command.index("-d") + 1]
    assert url == f"{app.url}/api/events" and json.loads(body)["integrationKey"] == key
    posted = app.client.post(url, content=body, headers={"Content-Type": "application/json"})
    assert posted.status_code == 202, posted.text
    incident = app.get(f"/api/incidents/{posted.json()['incidentId']}").json()
    assert incident["alertSource"]["id"] == source_id and incident["status"] == "PENDING"


def test_a_source_name_too_long_is_refused_not_cut(app: InProcessDaemon) -> None:
    """The form cut it to 255 characters and stored that, where the API refuses it: a file or a
    script naming the source by the name typed found nothing."""
    user(app, "root", "ADMIN")
    client = login(app, "root")
    refused = submit(client, "/ui/sources/new", "/ui/sources/new", {
        "name": "n" * 300, "integrationType": "API", "priority": "HIGH", "escalationPolicy": ""})
    assert refused.status_code == 400 and "name must be at most 255 characters" in refused.text
    assert [s["name"] for s in app.get("/api/alert-sources").json()] == ["default"]
    blank = submit(client, "/ui/sources/new", "/ui/sources/new", {
        "name": "  ", "integrationType": "API", "priority": "HIGH", "escalationPolicy": ""})
    assert blank.status_code == 400 and "name must not be empty" in blank.text


def test_other_types_show_their_url_and_their_docs(app: InProcessDaemon) -> None:
    user(app, "root", "ADMIN")
    client = login(app, "root")
    for kind, segment, docs in (("GRAFANA", "grafana", "grafana.md"),
                                ("CLOUDWATCH", "cloudwatch", "cloudwatch.md"),
                                ("WEBHOOK", "webhook", "webhook.md"), ("ICINGA", "icinga", "icinga.md")):
        source = app.post("/api/alert-sources", {"name": kind.lower(), "integrationType": kind}).json()
        page = client.get(f"/ui/sources/{source['id']}").text
        url = f"{app.url}/api/v1/events/{segment}/{source['integrationKey']}"
        assert f'<code class="source-url">{url}</code>' in page, kind
        assert f"docs/integrations/{docs}" in page, kind
        # A CloudWatch source's key alone opens nothing (every SNS message is signed).
        assert ("also takes the Event API" in page) == (kind != "CLOUDWATCH"), kind
    mail = app.post("/api/alert-sources", {"name": "backups", "integrationType": "EMAIL"}).json()
    page = client.get(f"/ui/sources/{mail['id']}").text
    assert "The mail listener is off" in page and "docs/integrations/email-in.md" in page
    texts = app.post("/api/alert-sources", {"name": "texts", "integrationType": "SMS",
                                            "phoneNumber": "+4915112345678"}).json()
    page = client.get(f"/ui/sources/{texts['id']}").text
    assert "+4915112345678" in page and f"{app.url}/api/v1/twilio/sms" in page
    beats = app.post("/api/alert-sources", {"name": "cron", "integrationType": "HEARTBEAT"}).json()
    monitor = app.post("/api/heartbeat-monitors", {"name": "backup", "intervalSec": 3600,
                                                   "alertSource": {"id": beats["id"]}})
    assert monitor.status_code == 201, monitor.text
    page = client.get(f"/ui/sources/{beats['id']}").text
    ping = f"{app.url}/api/v1/heartbeats/{monitor.json()['integrationKey']}"
    assert f"<code>{ping}</code>" in page
    assert app.client.get(ping).status_code == 202


def test_editing_a_source_keeps_what_the_form_does_not_show(app: InProcessDaemon) -> None:
    user(app, "root", "ADMIN")
    mapping = {"summary": "/alert/title", "alertKey": "/alert/id"}
    source = app.post("/api/alert-sources", {"name": "jobs", "integrationType": "WEBHOOK",
                                             "fieldMapping": mapping, "signingSecret": "s3cret"}).json()
    client = login(app, "root")
    edit = f"/ui/sources/{source['id']}/edit"
    form = client.get(edit).text
    assert 'value="jobs"' in form and '<option value="WEBHOOK" selected>' in form
    refused = submit(client, edit, edit, {"name": " ", "integrationType": "WEBHOOK", "priority": "LOW",
                                          "escalationPolicy": ""})
    assert refused.status_code == 400 and "name must not be empty" in refused.text
    assert app.get(f"/api/alert-sources/{source['id']}").json() == source
    saved = submit(client, edit, edit, {"name": "nightly jobs", "integrationType": "WEBHOOK",
                                        "priority": "LOW", "escalationPolicy": ""})
    assert saved.status_code == 200 and "Alert source saved." in saved.text
    assert app.get(f"/api/alert-sources/{source['id']}").json() == {
        **source, "name": "nightly jobs", "priority": "LOW"}


def test_deleting_a_policy_and_a_source(app: InProcessDaemon) -> None:
    user(app, "root", "ADMIN")
    ann = user(app, "ann")
    policy_id = app.post("/api/escalation-policies", {
        "name": "ops", "escalationRules": [{"escalationTimeout": 10, "users": [{"id": ann}]}]}).json()["id"]
    unused = app.post("/api/alert-sources", {"name": "unused", "escalationPolicy": {"id": policy_id}}).json()
    busy = app.post("/api/alert-sources", {"name": "busy"}).json()
    app.event(key=busy["integrationKey"], summary="disk full")
    client = login(app, "root")
    page = f"/ui/policies/{policy_id}"
    # A policy a source escalates by stays, as the API keeps it, and its page says why.
    in_use = submit(client, page, f"{page}/delete", {})
    assert in_use.status_code == 409
    assert "alert sources escalate by this policy: &#34;unused&#34;" in in_use.text
    app.put(f"/api/alert-sources/{unused['id']}", {"escalationPolicy": None})
    deleted = submit(client, page, f"{page}/delete", {})
    assert deleted.status_code == 200 and "Escalation policy deleted." in deleted.text
    assert app.get(f"/api/escalation-policies/{policy_id}").status_code == 404
    # A source with incidents stays, as the API keeps it, and its page says why.
    page = f"/ui/sources/{busy['id']}"
    kept = submit(client, page, f"{page}/delete", {})
    assert kept.status_code == 409 and "it cannot be deleted" in kept.text
    assert app.get(f"/api/alert-sources/{busy['id']}").status_code == 200
    page = f"/ui/sources/{unused['id']}"
    gone = submit(client, page, f"{page}/delete", {})
    assert gone.status_code == 200 and "Alert source deleted." in gone.text
    assert app.get(f"/api/alert-sources/{unused['id']}").status_code == 404


def test_a_user_reads_the_pages_and_is_refused_the_forms(app: InProcessDaemon) -> None:
    ann = user(app, "ann")
    policy_id = app.post("/api/escalation-policies", {
        "name": "ops", "escalationRules": [{"escalationTimeout": 10, "users": [{"id": ann}]}]}).json()["id"]
    source = app.post("/api/alert-sources", {"name": "shop", "escalationPolicy": {"id": policy_id}}).json()
    policy_before = app.get(f"/api/escalation-policies/{policy_id}").json()
    client = login(app, "ann")
    for page in ("/ui/policies", f"/ui/policies/{policy_id}", "/ui/sources", f"/ui/sources/{source['id']}"):
        shown = client.get(page)
        assert shown.status_code == 200, page
        assert "/edit" not in shown.text and "/new" not in shown.text and "/delete" not in shown.text, page
    # As the API, the page keeps the integration key from a USER; the setup shows where it goes.
    shown = client.get(f"/ui/sources/{source['id']}").text
    assert source["integrationKey"] not in shown and "shown to admins only" in shown
    assert "&lt;integration key&gt;" in shown
    for form in ("/ui/policies/new", f"/ui/policies/{policy_id}/edit", "/ui/sources/new",
                 f"/ui/sources/{source['id']}/edit"):
        assert client.get(form).status_code == 403, form
    token = csrf(client.get("/ui/policies").text)
    posts = {
        "/ui/policies/new": {"name": "mine", "level-0-timeout": "1", "level-0-users": str(ann)},
        f"/ui/policies/{policy_id}/edit": {"name": "mine", "level-0-timeout": "1", "level-0-users": str(ann)},
        f"/ui/policies/{policy_id}/delete": {},
        "/ui/sources/new": {"name": "mine", "integrationType": "API", "priority": "HIGH",
                            "escalationPolicy": ""},
        f"/ui/sources/{source['id']}/edit": {"name": "mine", "integrationType": "API", "priority": "LOW",
                                             "escalationPolicy": ""},
        f"/ui/sources/{source['id']}/delete": {},
    }
    for action, data in posts.items():
        refused = client.post(action, data={**data, "csrf_token": token})
        assert refused.status_code == 403 and "only an ADMIN may do this" in refused.text, action
    assert app.get(f"/api/escalation-policies/{policy_id}").json() == policy_before
    assert app.get(f"/api/alert-sources/{source['id']}").json() == source
    assert len(app.get("/api/alert-sources").json()) == 2
