"""A third party's sender misbehaving: a BaseException from `send`, `warm()` or `batch()` raising."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ilertd import hookimpl
from ilertd.hookspecs import Channel, Message
from tests.inprocess import InProcessDaemon
from tests.test_plugins_and_cli import entry_point_installer


class UnrulySender:
    """Raises what its target's first word names from `send`; `warm` and `batch` raise when told to."""

    name = "unruly"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sent: list[str] = []
        self.warm_fails = False
        self.batch_fails_on: str = ""

    def warm(self) -> None:
        if self.warm_fails:
            raise RuntimeError("warm() exploded")

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        if self.batch_fails_on == "enter":
            raise RuntimeError("batch() exploded on enter")
        yield
        if self.batch_fails_on == "exit":
            raise RuntimeError("batch() exploded on exit")

    def send(self, target: str, message: Message) -> None:
        kind = target.partition("-")[0]
        if kind == "exit" and not self.sent:
            self.sent.append("(exited)")
            raise SystemExit(4)
        if kind == "interrupt" and not self.sent:
            self.sent.append("(interrupted)")
            raise KeyboardInterrupt
        self.sent.append(target)


SENDER = UnrulySender()


class Unruly:
    @hookimpl
    def register_channels(self) -> list[Channel]:
        return [Channel("UNRULY", sender=SENDER)]


UNRULY = Unruly()


@pytest.fixture
def unruly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
           make_app: Callable[..., InProcessDaemon]) -> Iterator[Callable[[], InProcessDaemon]]:
    entry_point_installer(tmp_path, monkeypatch, request, __name__)(unruly="UNRULY")
    SENDER.reset()
    yield lambda: make_app().start()
    SENDER.reset()


def _paged_at(app: InProcessDaemon, target: str) -> None:
    """One user, paged at once at `target` by the UNRULY method for alerts of the default source."""
    user = app.post("/api/users", {"username": "una", "email": "una@example.com"}).json()["id"]
    contact = app.post(f"/api/users/{user}/contacts", {"method": "UNRULY", "target": target}).json()["id"]
    rule = app.post(f"/api/users/{user}/notification-preferences/alerts", {
        "method": "UNRULY", "contact": {"id": contact}, "delayMin": 0, "type": "HIGH_PRIORITY"})
    assert rule.status_code == 201, rule.text
    policy = app.post("/api/escalation-policies", {
        "name": "unruly", "repeating": False, "frequency": 0,
        "escalationRules": [{"escalationTimeout": 30, "users": [{"id": user}]}]}).json()["id"]
    assert app.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy}}).status_code == 200


def _attempts(app: InProcessDaemon, incident_id: int) -> list[tuple[str, int]]:
    rows = app.get(f"/api/incidents/{incident_id}/notifications").json()
    return [(r["status"], r["attempts"]) for r in rows]


@pytest.mark.parametrize("target", ["exit-x", "interrupt-x"])
def test_a_send_raising_systemexit_or_keyboardinterrupt_is_a_failed_attempt(
        unruly: Callable[[], InProcessDaemon], target: str) -> None:
    app = unruly()
    _paged_at(app, target)
    incident_id = app.event(summary="db1 is down", alertKey="db1").json()["incidentId"]
    app.advance("PT0S")
    assert _attempts(app, incident_id) == [("SCHEDULED", 1)]
    assert "NOTIFICATION_FAILED" in app.log_types(incident_id)
    # The actors live on: events are taken, and the retry goes out after 30 s.
    assert app.event(summary="still serving", alertKey="other").status_code == 202
    app.advance("PT30S")
    assert _attempts(app, incident_id) == [("SUCCESS", 2)]
    assert SENDER.sent[-1] == target


def test_a_warm_that_raises_is_logged_and_the_channel_still_sends(
        unruly: Callable[[], InProcessDaemon]) -> None:
    SENDER.warm_fails = True
    app = unruly()
    assert "warm() failed" in app.log()
    _paged_at(app, "plain-x")
    incident_id = app.event(summary="db1 is down", alertKey="db1").json()["incidentId"]
    app.advance("PT0S")
    assert _attempts(app, incident_id) == [("SUCCESS", 1)]


def test_a_batch_that_raises_on_enter_fails_the_batchs_pages_which_are_retried(
        unruly: Callable[[], InProcessDaemon]) -> None:
    app = unruly()
    _paged_at(app, "plain-x")
    SENDER.batch_fails_on = "enter"
    incident_id = app.event(summary="db1 is down", alertKey="db1").json()["incidentId"]
    app.advance("PT0S")
    assert _attempts(app, incident_id) == [("SCHEDULED", 1)] and SENDER.sent == []
    assert "NOTIFICATION_FAILED" in app.log_types(incident_id)
    log = app.get(f"/api/incidents/{incident_id}/log-entries").json()
    assert any("attempt 1: RuntimeError: batch() exploded on enter; retrying" in e["text"] for e in log)
    # Not again before its back-off.
    app.advance("PT29S")
    assert _attempts(app, incident_id) == [("SCHEDULED", 1)]
    SENDER.batch_fails_on = "exit"
    app.advance("PT1S")
    # Failing at its end, the batch's pages are sent all the same: only the failure is logged.
    assert _attempts(app, incident_id) == [("SUCCESS", 2)] and SENDER.sent == ["plain-x"]
    assert "its batch() failed at its end" in app.log()
    assert app.event(summary="still serving", alertKey="other").status_code == 202
