"""Names in API and CLI messages are shown as entered, in double quotes, not as Python's repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from ilertd.cli import main
from tests.inprocess import InProcessDaemon

NAME = "Bob's D:\\backups"


def test_a_name_in_an_api_refusal_is_shown_as_entered(app: InProcessDaemon) -> None:
    """`'Bob\\'s ...'` came back as `"Bob's D:\\\\backups"`: repr doubled the backslash."""
    level = {"escalationTimeout": 5, "users": [{"id": 1}]}
    policy = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [level]}).json()
    source = app.post("/api/alert-sources", {"name": NAME, "escalationPolicy": {"id": policy["id"]}})
    assert source.status_code == 201, source.text
    refused = app.delete(f"/api/escalation-policies/{policy['id']}")
    assert refused.status_code == 409
    assert f'escalate by this policy: "{NAME}";' in refused.json()["message"], refused.json()
    twice = app.post("/api/alert-sources", {"name": NAME})
    assert twice.status_code == 409
    assert f'is already named "{NAME}": names are unique' in twice.json()["message"], twice.json()


def test_a_schedule_in_use_names_each_policy_paging_it(app: InProcessDaemon) -> None:
    """The refusal named only the first policy, by its bare id: "escalation policy 1 pages this
    schedule"."""
    schedule = app.post("/api/schedules", {"name": "prim", "timezone": "UTC", "scheduleLayers": [
        {"users": [{"id": 1}], "rotation": "P1D", "startsOn": "2026-01-05T00:00"}]}).json()["id"]
    for name in ("ops", NAME):
        created = app.post("/api/escalation-policies", {"name": name, "escalationRules": [
            {"escalationTimeout": 5, "schedules": [{"id": schedule}]}]})
        assert created.status_code == 201, created.text
    refused = app.delete(f"/api/schedules/{schedule}")
    assert (refused.status_code, refused.json()["code"]) == (409, "IN_USE")
    assert refused.json()["message"] == (
        f'escalation policies page this schedule: "ops", "{NAME}"; remove it there first')


def test_a_name_in_a_cli_error_is_shown_as_entered(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "data"))
    assert main(["user", "passwd", "no.body"]) == 1
    assert 'no user is named "no.body"' in capsys.readouterr().err
