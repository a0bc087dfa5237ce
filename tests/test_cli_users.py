"""People from the CLI: `ilertd user list [--json]`, `ilertd user delete NAME [--force]` (refused while the
user is on duty), ids never reused after a delete, and `--config` before the command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from playhouse.migrations import Runner

from ilertd.cli import main
from ilertd.store.db import MIGRATIONS_DIR, migrate, open_database
from tests.daemon import DaemonProcess
from tests.inprocess import InProcessDaemon


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`ilertd ARGS` in this process (no daemon runs in it meanwhile): exit status, stdout, stderr."""
    capsys.readouterr()  # what a daemon's first start printed is not the command's
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_user_list_prints_a_table_and_the_apis_user_objects(
        app: InProcessDaemon, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for body in ({"username": "alice", "email": "alice@example.com", "timezone": "Europe/Berlin"},
                 {"username": "bob", "role": "ADMIN", "mutedUntil": "2999-12-31T23:59:59Z"}):
        assert app.post("/api/users", body).status_code == 201
    listed = app.get("/api/users").json()
    app.stop()
    monkeypatch.setenv("STATE_DIRECTORY", str(app.data_dir))
    code, out, _ = cli(capsys, "user", "list", "--json")
    assert code == 0 and json.loads(out) == listed
    code, out, _ = cli(capsys, "user", "list")
    assert code == 0
    assert out.splitlines() == [
        "ID  USERNAME  ROLE   EMAIL",
        "1   admin     ADMIN",
        "2   alice     USER   alice@example.com",
        "3   bob       ADMIN",
    ]


def on_duty_everywhere(app: InProcessDaemon) -> dict[str, int]:
    """ann on a policy level (with ben), in a layer (with ben), in a static schedule and on an
    override to come (the daemon's manual clock is in January 2026, the command's is the wall
    clock: the override lies past both); cat alone on a level of her own."""
    ids = {name: app.post("/api/users", {"username": name}).json()["id"] for name in ("ann", "ben", "cat")}
    rota = app.post("/api/schedules", {
        "name": "rota", "timezone": "UTC", "scheduleLayers": [
            {"name": "days", "users": [{"id": ids["ann"]}, {"id": ids["ben"]}], "rotation": "P1D",
             "startsOn": "2026-01-05T09:00"}]}).json()["id"]
    holidays = app.post("/api/schedules", {
        "name": "holidays", "type": "STATIC", "timezone": "UTC", "shifts": [
            {"user": {"id": ids["ann"]}, "start": "2026-12-24T00:00:00Z", "end": "2026-12-25T00:00:00Z"},
            {"user": {"id": ids["ben"]}, "start": "2026-12-25T00:00:00Z", "end": "2026-12-26T00:00:00Z"}]}
    ).json()["id"]
    override = app.put(f"/api/schedules/{rota}/overrides", {
        "user": {"id": ids["ann"]}, "start": "2099-01-10T00:00:00Z", "end": "2099-01-11T00:00:00Z"})
    assert override.status_code == 201, override.text
    policy = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [
        {"escalationTimeout": 10, "users": [{"id": ids["ann"]}, {"id": ids["ben"]}]},
        {"escalationTimeout": 10, "schedules": [{"id": rota}, {"id": holidays}]},
        {"escalationTimeout": 10, "users": [{"id": ids["cat"]}]}]})
    assert policy.status_code == 201, policy.text
    return {**ids, "rota": rota, "holidays": holidays, "policy": policy.json()["id"]}


def test_user_delete_is_refused_while_on_duty_and_force_takes_them_off_first(
        app: InProcessDaemon, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ids = on_duty_everywhere(app)
    app.stop()
    monkeypatch.setenv("STATE_DIRECTORY", str(app.data_dir))
    before = cli(capsys, "export")[1]
    code, out, err = cli(capsys, "user", "delete", "ann")
    assert (code, out) == (1, "")
    assert err == ("ilertd: user \"ann\" is on duty in escalation policy \"ops\" level 0; "
                   "schedule \"rota\" layer 1 \"days\"; schedule \"holidays\" (static shifts); "
                   "schedule \"rota\" override 2099-01-10T00:00:00.000Z to 2099-01-11T00:00:00.000Z: "
                   "take them off there first, or delete with --force to do it now\n")
    code, _, err = cli(capsys, "user", "delete", "cat", "--force")
    assert code == 1
    assert err == ("ilertd: user \"cat\" is the only one in escalation policy \"ops\" level 2: "
                   "add someone there, or remove it, first; nothing changed\n")
    assert cli(capsys, "export")[1] == before
    code, _, err = cli(capsys, "user", "delete", "ann", "--force")
    assert code == 0, err
    assert err.splitlines()[-1] == "deleted user ann"
    assert "taken off schedule \"rota\" layer 1 \"days\"" in err.splitlines()
    app.start()
    assert app.get(f"/api/users/{ids['ann']}").status_code == 404
    policy = app.get(f"/api/escalation-policies/{ids['policy']}").json()
    assert policy["escalationRules"][0]["users"] == [{"id": ids["ben"]}]
    assert len(policy["escalationRules"]) == 3
    rota = app.get(f"/api/schedules/{ids['rota']}").json()
    assert rota["scheduleLayers"][0]["users"] == [{"id": ids["ben"]}]
    holidays = app.get(f"/api/schedules/{ids['holidays']}").json()
    assert [s["user"]["id"] for s in holidays["shifts"]] == [ids["ben"]]
    assert app.get(f"/api/schedules/{ids['rota']}/overrides").json() == []
    # The command ran on the wall clock: from then on ben is the whole rotation.
    on_call = app.get(f"/api/schedules/{ids['rota']}/user-on-call", params={"at": "2099-01-10T12:00:00Z"})
    assert on_call.json()["user"]["id"] == ids["ben"]
    missing = main(["user", "delete", "nobody"])
    assert missing == 1 and "no user is named \"nobody\"" in capsys.readouterr().err


def test_ids_are_never_reused_after_a_delete(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "data"))
    a = int(cli(capsys, "user", "add", "a")[1])
    b = int(cli(capsys, "user", "add", "b")[1])
    assert cli(capsys, "user", "delete", "b")[0] == 0
    c = int(cli(capsys, "user", "add", "c")[1])
    assert b == a + 1 and c not in (a, b)


def test_a_store_from_before_gets_ids_that_are_never_reused_and_keeps_its_rows(tmp_path: Path) -> None:
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("000[1-8]_*.py")):
        shutil.copy(path, earlier / path.name)
    db = open_database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    list(Runner(db, str(earlier)).up())
    for user_id, name in ((1, "a"), (2, "b")):
        db.execute_sql("INSERT INTO user (id, username, first_name, last_name, email, timezone, role,"
                       " created_at) VALUES (?, ?, '', '', '', 'UTC', 'USER', '2026-01-01 00:00:00')",
                       (user_id, name))
        db.execute_sql("INSERT INTO contact (user_id, method, target) VALUES (?, 'EMAIL', ?)",
                       (user_id, f"{name}@example.com"))
    assert migrate(db)[:1] == ["0009_ids_never_reused"]  # then any later migration
    assert db.execute_sql("SELECT id, username FROM user ORDER BY id").fetchall() == [(1, "a"), (2, "b")]
    # The foreign keys still point at the rebuilt table: a user's contacts go with them.
    db.execute_sql("DELETE FROM user WHERE id = 2")
    assert db.execute_sql("SELECT user_id FROM contact").fetchall() == [(1,)]
    db.execute_sql("INSERT INTO user (username, first_name, last_name, email, timezone, role, created_at)"
                   " VALUES ('c', '', '', '', 'UTC', 'USER', '2026-01-01 00:00:00')")
    assert db.execute_sql("SELECT id FROM user WHERE username = 'c'").fetchone() == (3,)
    db.close()


class ConfigFirst(DaemonProcess):
    """`ilertd --config FILE serve ...`: the option before the command."""

    def command(self) -> list[str]:
        argv = super().command()
        assert argv[3] == "serve" and self.config is not None
        argv.remove("--config")
        argv.remove(str(self.config))
        return [*argv[:3], "--config", str(self.config), *argv[3:]]


def test_config_is_read_before_the_command_as_after_it(tmp_path: Path) -> None:
    config = tmp_path / "ilertd.toml"
    database = tmp_path / "elsewhere" / "ilertd.db"
    config.write_text(f'[server]\npublic_url = "http://pager.example.test"\n'
                      f'[database]\nurl = "sqlite:///{database}"\n')
    daemon = ConfigFirst(tmp_path / "first", config=config)
    try:
        daemon.start()
        assert daemon.command()[3:6] == ["--config", str(config), "serve"]
        reply = daemon.event(summary="configured", alertKey="x")
        assert reply.status_code == 202, reply.text
        incident = daemon.get(f"/api/incidents/{reply.json()['incidentId']}").json()
        assert incident["alertUrl"].startswith("http://pager.example.test/")
        assert database.exists()
    finally:
        daemon.stop()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ILERTD_")}
    env["STATE_DIRECTORY"] = str(tmp_path / "unused")
    for argv in (["--config", str(config), "user", "list"], ["user", "list", "--config", str(config)]):
        listed = subprocess.run([sys.executable, "-m", "ilertd", *argv], env=env, capture_output=True,
                                text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[1].split() == ["1", "admin", "ADMIN"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nprot = 9000\n")
    refused = subprocess.run([sys.executable, "-m", "ilertd", "--config", str(bad), "serve", "--port", "0"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "server.prot" in refused.stderr


def test_user_delete_keeps_an_admin(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`ilertd user delete admin` deleted the only ADMIN: nobody could then change a user, a policy
    or a source but from the CLI (the API cannot get there: an ADMIN cannot delete themselves)."""
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "data"))
    assert cli(capsys, "user", "add", "bob")[0] == 0  # a first start: admin, the only ADMIN
    code, _out, err = cli(capsys, "user", "delete", "admin")
    assert code == 1 and "\"admin\" is the only ADMIN: make another user an ADMIN first" in err, err
    assert cli(capsys, "user", "add", "carol", "--admin")[0] == 0
    assert cli(capsys, "user", "delete", "admin")[0] == 0
    names = [line.split()[1] for line in cli(capsys, "user", "list")[1].splitlines()[1:]]
    assert names == ["bob", "carol"]
