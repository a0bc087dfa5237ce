"""Config as code: `ilertd provision FILE [--dry-run]` and `ilertd export`, against real stores: a file
applied twice changes nothing the second time, a bad file changes nothing at all, export and
provision reproduce a store built through the API, and a running daemon pages by what was provisioned."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ilertd.cli import main
from ilertd.domain.provision_document import multiset_diff, read_document
from ilertd.domain.provision_render import render
from tests.conditions import wait_for
from tests.daemon import DaemonProcess
from tests.inprocess import InProcessDaemon
from tests.paging import Paging

TEAM = textwrap.dedent('''\
    [[users]]
    username = "alice"
    firstName = "Alice"
    email = "alice@example.com"
    timezone = "Europe/Berlin"
    contacts = [
      {method = "EMAIL", target = "alice@example.com"},
      {method = "SMS", target = "+4915112345678"},
    ]
    notificationRules = [
      {type = "HIGH_PRIORITY", contact = {method = "SMS", target = "+4915112345678"}},
      {type = "HIGH_PRIORITY", contact = {target = "alice@example.com"}, delayMin = 5},
    ]
    updateRules = [{type = "ALERT_RESOLVED", contact = {method = "EMAIL", target = "alice@example.com"}}]
    dutyRules = [{contact = {method = "EMAIL", target = "alice@example.com"}, beforeMin = 60}]

    [[users]]
    username = "bob"
    role = "admin"

    [[schedules]]
    name = "primary"
    timezone = "Europe/Berlin"

    [[schedules.scheduleLayers]]
    name = "weekdays"
    users = [{name = "alice"}, {name = "bob"}]
    rotation = "P1W"
    startsOn = 2026-01-05T09:00:00
    restrictions = [
      {from = {dayOfWeek = "MONDAY", time = "09:00"}, to = {dayOfWeek = "FRIDAY", time = "17:00"}},
    ]

    [[escalationPolicies]]
    name = "ops"

    [[escalationPolicies.escalationRules]]
    escalationTimeout = 15
    schedules = [{name = "primary"}]

    [[escalationPolicies.escalationRules]]
    escalationTimeout = 30
    users = [{name = "bob"}]

    [[alertSources]]
    name = "prometheus"
    integrationType = "PROMETHEUS"
    escalationPolicy = {name = "ops"}
''')


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`ilertd ARGS` in this process (no daemon runs in it meanwhile): exit status, stdout, stderr."""
    capsys.readouterr()  # what was printed before, by a daemon's first start, is not the command's
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """`store(name)`: make the commands work on the data dir `name` (created on first use)."""

    def use(name: str) -> Path:
        directory = tmp_path / name
        monkeypatch.setenv("STATE_DIRECTORY", str(directory))
        return directory

    use("data")
    return use


def write(tmp_path: Path, text: str, name: str = "team.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def users_by_name(capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    code, out, _ = cli(capsys, "user", "list", "--json")
    assert code == 0
    return {u["username"]: u["id"] for u in json.loads(out)}


def test_a_second_run_changes_nothing_and_every_id_stays(
        tmp_path: Path, store: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    team = write(tmp_path, TEAM)
    code, out, err = cli(capsys, "provision", str(team))
    assert code == 0, err
    assert out.splitlines() == [
        "created user \"alice\"", "created user \"bob\"", "created schedule \"primary\"",
        "created escalation policy \"ops\"", "created alert source \"prometheus\"",
        "5 created, 0 updated, 0 unchanged",
    ]
    ids = users_by_name(capsys)
    exported = cli(capsys, "export")[1]
    code, out, _ = cli(capsys, "provision", str(team))
    assert (code, out) == (0, "0 created, 0 updated, 5 unchanged\n")
    assert users_by_name(capsys) == ids
    # Not one row was rewritten: the export, which shows the values, and the ids are the same.
    assert cli(capsys, "export")[1] == exported
    # What the file says is what the store holds, normalised as the API normalises it.
    assert 'role = "ADMIN"' in exported and 'startsOn = "2026-01-05T09:00:00"' in exported
    assert ('{type = "HIGH_PRIORITY", contact = {method = "EMAIL", target = "alice@example.com"}, '
            "delayMin = 5}") in exported


def test_dry_run_prints_the_plan_and_changes_nothing_then_only_changes_are_written(
        tmp_path: Path, store: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "provision", str(write(tmp_path, TEAM)))[0] == 0
    ids = users_by_name(capsys)
    before = cli(capsys, "export")[1]
    sms_contact = '{method = "SMS", target = "+4915112345678"}'
    edited = (TEAM.replace('email = "alice@example.com"', 'email = "alice@ops.example.com"')
              .replace('{name = "alice"}, {name = "bob"}', '{name = "bob"}, {name = "alice"}')
              .replace(f"  {sms_contact},\n", "")
              .replace(f'  {{type = "HIGH_PRIORITY", contact = {sms_contact}}},\n', "")
              + '\n[[users]]\nusername = "carol"\n')
    changed = write(tmp_path, edited, "edited.toml")
    code, out, _ = cli(capsys, "provision", str(changed), "--dry-run")
    assert code == 0
    assert out.splitlines() == [
        "update user \"alice\": email, contacts, notificationRules",
        "create user \"carol\"",
        "update schedule \"primary\": scheduleLayers",
        "dry run, nothing changed: 1 to create, 2 to update, 3 unchanged",
    ]
    assert cli(capsys, "export")[1] == before
    code, out, _ = cli(capsys, "provision", str(changed))
    assert out.splitlines()[-1] == "1 created, 2 updated, 3 unchanged"
    after = cli(capsys, "export")[1]
    assert 'email = "alice@ops.example.com"' in after and "+4915112345678" not in after
    assert 'users = [{name = "bob"}, {name = "alice"}]' in after
    # The unchanged rule kept its contact (the e-mail one); nobody changed id.
    assert ('{type = "HIGH_PRIORITY", contact = {method = "EMAIL", target = "alice@example.com"}, '
            "delayMin = 5}") in after
    assert {k: v for k, v in users_by_name(capsys).items() if k != "carol"} == ids
    assert cli(capsys, "provision", str(changed))[1] == "0 created, 0 updated, 6 unchanged\n"


BAD_FILES = [
    # (file text, line, message)
    ('[[users]]\nusername = "carol"\nemial = "c@example.com"\n', 3,
     "user \"carol\": unknown key 'emial': not a key of [[users]]; did you mean 'email'?"),
    ('[[users]]\nusername = "carol"\nemail = "c@example.com\n', 3,
     "TOML syntax: Illegal character '\\n' (column 23)"),
    ('[[users]]\nusername = "carol"\ncontacts = [\n  {method = "EMAIL", target = "c@example.com"},\n'
     '  {method = "SMS", target = "0151"},\n]\n', 5,
     "user \"carol\": contacts[1]: target must be an E.164 number such as +4915112345678 for a SMS contact"),
    ('[[users]]\nusername = "carol"\n\n[[schedules]]\nname = "nights"\ntimezone = "UTC"\n\n'
     '[[schedules.scheduleLayers]]\nusers = [{name = "carol"}]\nrotation = "P1D"\n'
     'startsOn = "2026-01-05T09:00"\n\n'
     '[[schedules.scheduleLayers]]\nusers = [{name = "zed"}]\nrotation = "P1D"\n'
     'startsOn = "2026-01-05T09:00"\n',
     14, 'schedule "nights": scheduleLayers[1].users[0]: no user is named "zed", in the file or the store'),
    ('[[users]]\nusername = "carol"\n\n[[schedules]]\nname = "nights"\ntimezone = "UTC"\n\n'
     '[[schedules.scheduleLayers]]\nusers = [{name = "carol"}]\nrotation = "PT1M"\n'
     'startsOn = "2026-01-05T09:00"\n',
     10, "schedule \"nights\": scheduleLayers[0].rotation must be at least PT15M"),
    ('[[users]]\nusername = "carol"\n\n[[alertSources]]\nname = "x"\npriority = "HIGH"\n'
     'escalationPolicy = {name = "nope"}\n', 7,
     'alert source "x": escalationPolicy: no escalation policy is named "nope", in the file or the store'),
    ('[[users]]\nusername = "carol"\n\n[[users]]\nusername = "carol"\n', 4,
     "user \"carol\" is defined twice (also on line 1)"),
    ('[[users]]\nusername = "carol"\n\n[[users]]\nusername = "Carol"\n', 4,
     "user \"Carol\" is defined twice (also on line 1)"),
    ('[[users]]\nusername = "carol"\n[[alertSources]]\nname = "prometheus"\npriority = "URGENT"\n', 5,
     "alert source \"prometheus\": priority must be one of HIGH, LOW"),
    ('[[schedules]]\nname = "primary"\ntimezone = "UTC"\n[[schedules.scheduleLayers]]\n'
     'users = [{name = "bob"}]\nrotation = "P1W"\nstartsOn = "2026-01-05T09:00"\n', 3,
     "schedule \"primary\": timezone is fixed at creation (Europe/Berlin); create a new schedule"),
    ('user = 3\n', 1, "unknown key 'user': not a top-level key; did you mean 'users'?"),
    ('[[users]]\nusername = "alice"\nnotificationRules = [\n'
     '  {type = "HIGH_PRIORITY", contact = {method = "VOICE", target = "+4915112345678"}},\n]\n', 4,
     "user \"alice\": notificationRules[0]: contact VOICE +4915112345678 is not one of this user's contacts"),
    # The same rule twice, its delay once left to the default: one rule the API would refuse.
    ('[[users]]\nusername = "alice"\nnotificationRules = [\n'
     '  {type = "HIGH_PRIORITY", contact = {method = "SMS", target = "+4915112345678"}},\n'
     '  {type = "HIGH_PRIORITY", contact = {target = "alice@example.com"}, delayMin = 5},\n'
     '  {type = "HIGH_PRIORITY", contact = {target = "+4915112345678"}, delayMin = 0},\n]\n', 6,
     'user "alice": notificationRules[2]: the same alert rule as notificationRules[0]: list each rule once'),
    ('[[escalationPolicies]]\nname = "ops"\n[[escalationPolicies.escalationRules]]\nescalationTimeout = 5\n'
     'users = [{id = 1}]\n', 5,
     "escalation policy \"ops\": escalationRules[0].users[0] must be a reference by name: {name = \"...\"}"),
    # A misspelt key inside support hours or a restriction was passed over: `outsdie` left the
    # source escalating outside its hours, where the file meant them held.
    ('[[alertSources]]\nname = "x"\nsupportHours = {timezone = "UTC", outsdie = "NO_ESCALATION", '
     'supportDays = {MONDAY = {start = "08:00", end = "18:00"}}}\n', 3,
     "alert source \"x\": supportHours: unknown key 'outsdie': not a key of supportHours; "
     "did you mean 'outside'?"),
    ('[[alertSources]]\nname = "x"\nsupportHours = {timezone = "UTC", '
     'supportDays = {MONDAY = {start = "08:00", ends = "18:00"}}}\n', 3,
     "alert source \"x\": supportHours.supportDays.MONDAY: unknown key 'ends': not a key of "
     "supportHours.supportDays.MONDAY; did you mean 'end'?"),
    ('[[schedules]]\nname = "primary"\ntimezone = "UTC"\n[[schedules.scheduleLayers]]\n'
     'users = [{name = "bob"}]\nrotation = "P1W"\nstartsOn = "2026-01-05T09:00"\n'
     'restrictions = [{from = {dayOfWeek = "MONDAY", time = "08:00"}, to = {dayOfWeek = "MONDAY", '
     'tme = "17:00"}}]\n', 8,
     "schedule \"primary\": scheduleLayers[0].restrictions[0].to: unknown key 'tme': not a key of "
     "scheduleLayers[0].restrictions[0].to; did you mean 'time'?"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD_FILES)
def test_a_bad_file_exits_2_naming_its_line_and_changes_nothing(
        tmp_path: Path, store: Callable[[str], Path], capsys: pytest.CaptureFixture[str],
        text: str, line: int, message: str) -> None:
    assert cli(capsys, "provision", str(write(tmp_path, TEAM)))[0] == 0
    before = cli(capsys, "export")[1]
    bad = write(tmp_path, text, "bad.toml")
    for dry_run in ((), ("--dry-run",)):
        code, out, err = cli(capsys, "provision", str(bad), *dry_run)
        assert (code, out, err) == (2, "", f"{bad}:{line}: {message}\n")
    # `carol`, valid and before the fault in most of these files, was not created either.
    assert cli(capsys, "export")[1] == before


def build_through_the_api(app: InProcessDaemon) -> None:
    """Users with contacts and every kind of rule, schedules of both types, a policy of users and
    schedules, and sources with what sources can hold."""
    def made(response: object) -> dict[str, object]:
        assert response.status_code in (200, 201), response.text  # type: ignore[attr-defined]
        return response.json()  # type: ignore[attr-defined, no-any-return]

    ids = {}
    for name, extra in (("alice", {"firstName": "Alice", "timezone": "Europe/Berlin"}),
                        ("bob", {"role": "ADMIN", "email": "bob@example.com"}), ("carol", {})):
        ids[name] = made(app.post("/api/users", {"username": name, **extra}))["id"]
    alice = ids["alice"]
    sms = made(app.post(f"/api/users/{alice}/contacts", {"method": "SMS", "target": "+4915112345678"}))
    mail = made(app.post(f"/api/users/{alice}/contacts", {"method": "EMAIL", "target": "a@example.com"}))
    push = made(app.post(f"/api/users/{ids['bob']}/contacts", {"method": "PUSH", "target": "ops-bob"}))
    prefs = f"/api/users/{alice}/notification-preferences"
    by_sms = {"method": "SMS", "contact": {"id": sms["id"]}}
    by_mail = {"method": "EMAIL", "contact": {"id": mail["id"]}}
    made(app.post(f"{prefs}/alerts", {**by_sms, "type": "HIGH_PRIORITY"}))
    made(app.post(f"{prefs}/alerts", {**by_mail, "type": "HIGH_PRIORITY", "delayMin": 10}))
    made(app.post(f"{prefs}/alerts", {**by_mail, "type": "LOW_PRIORITY"}))
    made(app.post(f"{prefs}/updates", {**by_mail, "type": "ALERT_ACCEPTED"}))
    made(app.post(f"{prefs}/duties", {**by_sms, "beforeMin": 30}))
    made(app.post(f"/api/users/{ids['bob']}/notification-preferences/alerts",
                  {"method": "PUSH", "contact": {"id": push["id"]}, "type": "LOW_PRIORITY", "delayMin": 3}))
    primary = made(app.post("/api/schedules", {
        "name": "primary", "type": "RECURRING", "timezone": "Europe/Berlin", "scheduleLayers": [
            {"name": "days", "users": [{"id": alice}, {"id": ids["bob"]}], "rotation": "P1D",
             "startsOn": "2026-01-05T09:00",
             "restrictions": [{"from": {"dayOfWeek": "MONDAY", "time": "08:00"},
                               "to": {"dayOfWeek": "FRIDAY", "time": "18:00"}}]},
            {"users": [{"id": ids["carol"]}], "rotation": "PT12H", "startsOn": "2026-01-05T20:00",
             "endsOn": "2026-12-31T20:00"},
        ]}))
    static = made(app.post("/api/schedules", {
        "name": "holidays", "type": "STATIC", "timezone": "UTC",
        "shifts": [{"user": {"id": ids["carol"]}, "start": "2026-12-24T00:00:00Z",
                    "end": "2026-12-27T00:00:00Z"}]}))
    policy = made(app.post("/api/escalation-policies", {
        "name": "ops", "repeating": True, "frequency": 2, "escalationRules": [
            {"escalationTimeout": 10, "schedules": [{"id": primary["id"]}, {"id": static["id"]}]},
            {"escalationTimeout": 20, "users": [{"id": ids["bob"]}, {"id": alice}]}]}))
    made(app.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy["id"]}, "priority": "LOW"}))
    made(app.post("/api/alert-sources", {
        "name": "grafana", "integrationType": "GRAFANA", "escalationPolicy": {"id": policy["id"]},
        "signingSecret": "not-exported",
        "supportHours": {"timezone": "Europe/Berlin", "outside": "NO_ESCALATION",
                         "supportDays": {"MONDAY": {"start": "08:00", "end": "18:00"},
                                         "FRIDAY": {"start": "08:00", "end": "24:00"}}}}))
    made(app.post("/api/alert-sources", {"name": "hook", "integrationType": "WEBHOOK",
                                         "fieldMapping": {"summary": "/alert/title"}}))
    made(app.post("/api/alert-sources", {"name": "texts", "integrationType": "SMS",
                                         "phoneNumber": "+15550009999"}))


def test_export_then_provision_into_an_empty_store_reproduces_it(
        tmp_path: Path, store: Callable[[str], Path], capsys: pytest.CaptureFixture[str],
        app: InProcessDaemon) -> None:
    build_through_the_api(app)
    app.stop()
    store("inprocess/data")
    code, exported, err = cli(capsys, "export")
    assert code == 0, err
    assert "not-exported" not in exported and app.integration_key not in exported
    assert 'fieldMapping = {summary = "/alert/title"}' in exported
    assert 'endsOn = "2026-12-31T20:00:00"' in exported
    document = write(tmp_path, exported, "exported.toml")
    store("fresh")
    code, out, err = cli(capsys, "provision", str(document))
    assert code == 0, err
    # The document names an ADMIN, so the store gets no first start: it held an `admin` and a
    # `default` source the document never named (here they are its own, created as the rest).
    assert "first start" not in err and not (tmp_path / "fresh" / "first-run.txt").exists()
    assert out.splitlines()[-1] == "11 created, 0 updated, 0 unchanged"
    assert cli(capsys, "export")[1] == exported
    store("inprocess/data")
    assert cli(capsys, "provision", str(document))[1] == "0 created, 0 updated, 11 unchanged\n"


def test_identical_rules_an_older_store_kept_are_exported_once_and_provisioned_away(
        tmp_path: Path, store: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    data = store("data")
    assert cli(capsys, "provision", str(write(tmp_path, TEAM)))[0] == 0
    exported = cli(capsys, "export")[1]
    # Before the API refused a repeated rule, a user could hold two of one: copy alice's first.
    with sqlite3.connect(data / "ilertd.db") as db:
        db.execute("INSERT INTO alert_rule (user_id, contact_id, method, type, delay_min) "
                   "SELECT user_id, contact_id, method, type, delay_min FROM alert_rule "
                   "ORDER BY id LIMIT 1")
        assert db.execute("SELECT count(*) FROM alert_rule").fetchone() == (3,)
    assert cli(capsys, "export")[1] == exported
    document = write(tmp_path, exported, "exported.toml")
    assert cli(capsys, "provision", str(document))[1] == (
        "updated user \"alice\": notificationRules\n0 created, 1 updated, 4 unchanged\n")
    with sqlite3.connect(data / "ilertd.db") as db:
        assert db.execute("SELECT count(*) FROM alert_rule").fetchone() == (2,)
    assert cli(capsys, "export")[1] == exported


def test_two_policies_of_one_name_an_older_store_kept_are_named_by_export_and_provision(
        tmp_path: Path, store: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    """The API refuses a second policy named "ops"; a store from before holds one. Export and
    provisioning say which name and ids, with the kind's plural spelled right."""
    data = store("data")
    team = write(tmp_path, TEAM)
    assert cli(capsys, "provision", str(team))[0] == 0
    with sqlite3.connect(data / "ilertd.db") as db:
        db.execute("INSERT INTO escalation_policy (name, rules, repeating, frequency) "
                   "SELECT name, rules, repeating, frequency FROM escalation_policy WHERE name = 'ops'")
        ids = [i for (i,) in db.execute("SELECT id FROM escalation_policy WHERE name = 'ops' ORDER BY id")]
    assert len(ids) == 2
    code, out, err = cli(capsys, "export")
    assert (code, out) == (1, "")
    assert "several escalation policies are named \"ops\"" in err, err
    code, out, err = cli(capsys, "provision", str(team))
    assert code == 2 and (f"the store has 2 escalation policies named \"ops\" (ids {ids[0]}, {ids[1]})"
                          in err), err


def test_the_document_reader_and_writer_agree() -> None:
    """What `render` writes, `read_document` reads back unchanged, strings with quotes, backslashes,
    newlines and DEL included."""
    rule = {"type": "HIGH_PRIORITY", "delayMin": 5, "contact": {"method": "SMS", "target": "+4915112345678"}}
    user = {"username": "a", "firstName": 'say "hi"\\\n\x7f', "contacts": [], "notificationRules": [rule]}
    level = {"escalationTimeout": 5, "users": [{"name": "a"}]}
    policy = {"name": "p", "repeating": False, "escalationRules": [level]}
    document = read_document(render({"users": [user], "escalationPolicies": [policy]}))
    assert [entry.body for entry in document.entries] == [user, policy]
    assert multiset_diff([(1, "x"), (2, "y"), (3, "x")], ["x", "z"]) == ([2, 3], ["z"])


def ilertd(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`ilertd ARGS` as another process beside the daemon, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ILERTD_")}
    env["STATE_DIRECTORY"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", "ilertd", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_running_daemon_pages_by_what_was_provisioned_beside_it(
        tmp_path: Path, app_paging: Paging) -> None:
    daemon = app_paging.daemon
    assert isinstance(daemon, InProcessDaemon)
    ann = app_paging.user("ann", [("SMS", 0, "HIGH_PRIORITY")])
    ben = app_paging.user("ben", [("SMS", 0, "HIGH_PRIORITY")])
    app_paging.policy([(30, [ann, ben])])
    first = app_paging.alert("db1")
    daemon.advance("PT0S")
    # Both were paged: the daemon now holds the policy and both people in its caches.
    assert sorted(n["user"]["username"] for n in app_paging.notifications(first)) == ["ann", "ben"]
    sent_before = len(app_paging.http.to("/sms/"))
    daemon.put(f"/api/incidents/{first}/resolve")
    document = write(tmp_path, textwrap.dedent('''\
        [[users]]
        username = "ben"
        contacts = [{method = "SMS", target = "+4915199999999"}]
        notificationRules = [{type = "HIGH_PRIORITY", contact = {method = "SMS", target = "+4915199999999"}}]

        [[schedules]]
        name = "pager"
        timezone = "UTC"

        [[schedules.scheduleLayers]]
        users = [{name = "ben"}]
        rotation = "P1D"
        startsOn = "2026-01-01T00:00"

        [[escalationPolicies]]
        name = "ops"

        [[escalationPolicies.escalationRules]]
        escalationTimeout = 30
        schedules = [{name = "pager"}]
        '''), "pager.toml")
    provisioned = ilertd(daemon.data_dir, "provision", str(document))
    assert provisioned.returncode == 0, provisioned.stderr
    assert provisioned.stdout.splitlines()[-1] == "1 created, 2 updated, 0 unchanged"
    watcher = daemon.daemon.watcher
    deadline = time.monotonic() + 10 * watcher.poll_seconds
    while watcher.seen != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert watcher.seen == 1, "the daemon did not see the provisioned change"
    second = app_paging.alert("db2")
    daemon.advance("PT0S")
    # The new policy (its level is the new schedule) and ben's new number, not what was cached.
    assert [(n["user"]["username"], n["target"]) for n in app_paging.notifications(second)] == [
        ("ben", "+4915199999999")]
    assert len(app_paging.http.to("/sms/")) == sent_before + 1
    assert len(app_paging.http.to("/sms/+4915199999999")) == 1
    # The new schedule got its actor, which says who is on call.
    assert f"user {ben} on call" in daemon.log()
    assert "store changed by another process (config generation 0 -> 1)" in daemon.log()


def test_a_provisioning_beside_a_running_daemon_that_makes_someone_reachable_pages_at_once(
        tmp_path: Path, app_paging: Paging) -> None:
    """An incident waits (its only user muted); `ilertd provision` puts a reachable user in its
    policy: once the daemon sees the change, he is paged, not at the next look (09:15)."""
    daemon = app_paging.daemon
    assert isinstance(daemon, InProcessDaemon)
    ann = app_paging.user("ann", muted_until="2026-01-06T09:00:00Z")
    app_paging.user("ben", [("SMS", 0, "HIGH_PRIORITY")])
    app_paging.policy([(30, [ann])])
    incident_id = app_paging.alert()
    daemon.advance("PT7M")
    assert daemon.get(f"/api/incidents/{incident_id}").json()["held"] is True
    document = write(tmp_path, textwrap.dedent('''\
        [[escalationPolicies]]
        name = "ops"

        [[escalationPolicies.escalationRules]]
        escalationTimeout = 30
        users = [{name = "ann"}, {name = "ben"}]
        '''), "ops.toml")
    provisioned = ilertd(daemon.data_dir, "provision", str(document))
    assert provisioned.returncode == 0, provisioned.stderr
    watcher = daemon.daemon.watcher
    deadline = time.monotonic() + 10 * watcher.poll_seconds
    while watcher.seen != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert watcher.seen == 1, "the daemon did not see the provisioned change"
    daemon.advance("PT0S")
    assert [(n["user"]["username"], n["dueAt"]) for n in app_paging.notifications(incident_id)] == [
        ("ben", "2026-01-05T09:07:00.000Z")]


def test_support_hours_provisioned_beside_a_running_daemon_move_the_holds_they_placed(
        tmp_path: Path, app_paging: Paging) -> None:
    """The change came from another process: the daemon's watcher moves the holds, as the API's
    own edit does (the CLI has no incident actors to tell)."""
    daemon = app_paging.daemon
    assert isinstance(daemon, InProcessDaemon)
    app_paging.policy([(30, [app_paging.user("ann")])])
    afternoon = {"timezone": "UTC", "outside": "NO_ESCALATION",
                 "supportDays": {"MONDAY": {"start": "13:00", "end": "17:00"}}}
    assert daemon.put("/api/alert-sources/1", {"supportHours": afternoon}).status_code == 200
    held = app_paging.alert()
    assert daemon.get(f"/api/incidents/{held}").json()["nextEscalationAt"] == "2026-01-05T13:00:00.000Z"
    name = daemon.get("/api/alert-sources/1").json()["name"]
    document = write(tmp_path, textwrap.dedent(f'''\
        [[alertSources]]
        name = "{name}"

        [alertSources.supportHours]
        timezone = "UTC"
        outside = "NO_ESCALATION"
        supportDays = {{MONDAY = {{start = "10:00", end = "17:00"}}}}
        '''), "hours.toml")
    provisioned = ilertd(daemon.data_dir, "provision", str(document))
    assert provisioned.returncode == 0, provisioned.stderr
    assert "hold" not in provisioned.stderr
    watcher = daemon.daemon.watcher
    deadline = time.monotonic() + 10 * watcher.poll_seconds
    while watcher.seen != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert watcher.seen == 1, "the daemon did not see the provisioned change"
    daemon.quiet()
    assert daemon.get(f"/api/incidents/{held}").json()["nextEscalationAt"] == "2026-01-05T10:00:00.000Z"
    daemon.advance("PT1H")
    assert [n["user"]["username"] for n in app_paging.notifications(held)] == ["ann"]


def test_levels_provisioned_beside_a_running_daemon_move_its_incidents_as_the_apis_edit_does(
        tmp_path: Path, app_paging: Paging) -> None:
    """At b (level 1 of a, b, c), `ilertd provision` removed a: the incident stayed at index 1,
    c's level now, so b's timeout ended the escalation and c was never paged. The daemon now
    moves it to b's new level, as a PUT of the policy does (tests/test_policy_edits.py)."""
    daemon = app_paging.daemon
    assert isinstance(daemon, InProcessDaemon)
    a, b, c = (app_paging.user(name) for name in "abc")
    app_paging.policy([(10, [a]), (10, [b]), (10, [c])])
    incident_id = app_paging.alert()
    daemon.advance("PT10M")
    assert daemon.get(f"/api/incidents/{incident_id}").json()["escalationLevel"] == 1
    document = write(tmp_path, textwrap.dedent('''\
        [[escalationPolicies]]
        name = "ops"

        [[escalationPolicies.escalationRules]]
        escalationTimeout = 10
        users = [{name = "b"}]

        [[escalationPolicies.escalationRules]]
        escalationTimeout = 10
        users = [{name = "c"}]
        '''), "ops.toml")
    provisioned = ilertd(daemon.data_dir, "provision", str(document))
    assert provisioned.returncode == 0, provisioned.stderr
    watcher = daemon.daemon.watcher
    wait_for(lambda: watcher.seen == 1, "the daemon to see the provisioned change",
             timeout=10 * watcher.poll_seconds)
    daemon.quiet()
    shown = daemon.get(f"/api/incidents/{incident_id}").json()
    assert (shown["escalationLevel"], shown["nextEscalationAt"]) == (0, "2026-01-05T09:20:00.000Z")
    daemon.advance("PT10M")
    assert len(app_paging.mails_to("c@example.com")) == 1
    assert daemon.get(f"/api/incidents/{incident_id}").json()["escalationLevel"] == 1


def test_a_store_no_daemon_started_gets_its_first_start_from_the_first_command_that_adds_users(
        tmp_path: Path, store: Callable[[str], Path], capsys: pytest.CaptureFixture[str],
        make_daemon: Callable[..., DaemonProcess]) -> None:
    """Config as code first: the team file has no ADMIN. The first `serve` then found users and gave
    the store nothing: no ADMIN, no token, no password, no default source."""
    data = store("fresh")
    team = write(tmp_path, '[[users]]\nusername = "alice"\n\n[[users]]\nusername = "bob"\n')
    code, out, err = cli(capsys, "provision", str(team))
    assert (code, out.splitlines()[-1]) == (0, "2 created, 0 updated, 0 unchanged"), err
    assert "ilertd: first start." in err and "admin API token:" not in out
    listed = cli(capsys, "user", "list")[1].splitlines()[1:]
    assert {line.split()[1]: line.split()[2] for line in listed} == {
        "admin": "ADMIN", "alice": "USER", "bob": "USER"}
    daemon = make_daemon("after")
    daemon.data_dir = data
    daemon.start()
    # The admin's token from first-run.txt administers the running daemon; no second first start.
    assert daemon.post("/api/users", {"username": "dan"}).status_code == 201
    assert [source["name"] for source in daemon.get("/api/alert-sources").json()] == ["default"]
    assert "first start" not in daemon.stdout
    store("other")
    assert cli(capsys, "user", "add", "carol")[0] == 0
    assert [line.split()[1] for line in cli(capsys, "user", "list")[1].splitlines()[1:]] == ["admin", "carol"]


def test_a_number_changed_in_the_document_takes_its_rules_and_unsent_pages_with_it(
        tmp_path: Path, app_paging: Paging) -> None:
    """The document gives ann's one SMS contact a new number: the contact is changed, not
    replaced, so her rules stay and her page due at 09:05 goes to the new number (replaced, the
    page was cancelled with the old contact and nobody got it)."""
    daemon = app_paging.daemon
    assert isinstance(daemon, InProcessDaemon)
    team = textwrap.dedent('''\
        [[users]]
        username = "ann"
        contacts = [{method = "SMS", target = "NUMBER"}]
        notificationRules = [
            {type = "HIGH_PRIORITY", delayMin = 0, contact = {method = "SMS", target = "NUMBER"}},
            {type = "HIGH_PRIORITY", delayMin = 5, contact = {method = "SMS", target = "NUMBER"}},
        ]
        ''')
    old_number, new_number = "+4915100000301", "+4915100000302"
    first = ilertd(daemon.data_dir, "provision", str(write(tmp_path, team.replace("NUMBER", old_number))))
    assert first.returncode == 0, first.stderr
    ann = int(daemon.get("/api/users").json()[-1]["id"])
    contact_before = daemon.get(f"/api/users/{ann}/contacts").json()
    app_paging.policy([(30, [ann])])
    incident_id = app_paging.alert()
    daemon.advance("PT1M")
    changed = ilertd(daemon.data_dir, "provision", str(write(tmp_path, team.replace("NUMBER", new_number))))
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.splitlines()[-1] == "0 created, 1 updated, 0 unchanged"
    contact_after = daemon.get(f"/api/users/{ann}/contacts").json()
    assert [c["id"] for c in contact_after] == [c["id"] for c in contact_before]
    assert contact_after[0]["target"] == new_number
    daemon.advance("PT4M")
    pages = app_paging.notifications(incident_id)
    assert sorted((n["dueAt"][11:16], n["target"], n["status"]) for n in pages) == [
        ("09:00", old_number, "SUCCESS"), ("09:05", new_number, "SUCCESS")]
    assert len(app_paging.http.to(f"/sms/{new_number}")) == 1


def test_a_document_handing_the_admin_role_over_applies_whatever_the_order_of_its_users(
        tmp_path: Path, store: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    """`admin` (the only ADMIN) made a USER above carol made an ADMIN was refused ("the only ADMIN"),
    the other way round taken: an export lists users by name, so which it was depended on names."""
    store("data")
    # A document naming an ADMIN: no first start, so root is the store's only ADMIN.
    assert cli(capsys, "provision", str(write(tmp_path, '[[users]]\nusername = "root"\nrole = "ADMIN"\n',
                                              "root.toml")))[0] == 0
    handover = ('[[users]]\nusername = "root"\nrole = "USER"\n\n'
                '[[users]]\nusername = "zed"\nrole = "ADMIN"\n')
    code, out, err = cli(capsys, "provision", str(write(tmp_path, handover)))
    assert code == 0, err
    # Told in the file's order, though zed was made an ADMIN first.
    assert out.splitlines() == ["updated user \"root\": role", "created user \"zed\"",
                                "1 created, 1 updated, 0 unchanged"]
    roles = {line.split()[1]: line.split()[2] for line in cli(capsys, "user", "list")[1].splitlines()[1:]}
    assert roles == {"root": "USER", "zed": "ADMIN"}


def test_a_rule_names_its_number_as_people_write_it_without_the_method(
        tmp_path: Path, store: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    """With `method` left out the target was compared as written: `+1 555 000 0002` named no
    contact, though the contact (kept as E.164) is that number, and with the method it was found."""
    store("data")
    text = ('[[users]]\nusername = "pat"\ncontacts = [{method = "SMS", target = "+15550000002"}]\n'
            'notificationRules = [{type = "HIGH_PRIORITY", contact = {target = "+1 555 000 0002"}}]\n')
    code, _out, err = cli(capsys, "provision", str(write(tmp_path, text)))
    assert code == 0, err
    exported = cli(capsys, "export")[1]
    assert 'contact = {method = "SMS", target = "+15550000002"}' in exported, exported
