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


def test_a_name_in_a_cli_error_is_shown_as_entered(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "data"))
    assert main(["user", "passwd", "no.body"]) == 1
    assert 'no user is named "no.body"' in capsys.readouterr().err
