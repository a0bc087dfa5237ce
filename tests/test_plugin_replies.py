"""A third party's channels of the e-mail, SMS and voice layouts are answered as the built-ins are."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ilertd import hookimpl
from ilertd.hookspecs import Channel, Message
from tests.inprocess import InProcessDaemon
from tests.loopback import free_port
from tests.test_plugins_and_cli import entry_point_installer


class Recording:
    name = "recording"

    def __init__(self) -> None:
        self.sent: list[tuple[str, Message]] = []

    def send(self, target: str, message: Message) -> None:
        self.sent.append((target, message))


MAIL, TEXT, CALL = Recording(), Recording(), Recording()


class LaidOut:
    @hookimpl
    def register_channels(self) -> list[Channel]:
        return [Channel("MAILISH", sender=MAIL, layout="email"),
                Channel("TEXTISH", sender=TEXT, layout="sms", reminders=False),
                Channel("CALLISH", sender=CALL, layout="voice", reminders=False)]


LAID_OUT = LaidOut()


@pytest.fixture
def laid_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
             make_app: Callable[..., InProcessDaemon]) -> InProcessDaemon:
    entry_point_installer(tmp_path, monkeypatch, request, __name__)(laid_out="LAID_OUT")
    for recording in (MAIL, TEXT, CALL):
        recording.sent.clear()
    config = tmp_path / "ilertd.toml"
    config.write_text(f'[smtp_in]\nenabled = true\nport = {free_port()}\ndomain = "alerts.example.com"\n')
    return make_app(config=config).start()


def _paged_by(app: InProcessDaemon, method: str, target: str) -> int:
    """A user paged at once at `target` by `method` for a new incident; the incident's id."""
    user = app.post("/api/users", {"username": "lou", "email": "lou@example.com"}).json()["id"]
    contact = app.post(f"/api/users/{user}/contacts", {"method": method, "target": target}).json()["id"]
    rule = app.post(f"/api/users/{user}/notification-preferences/alerts", {
        "method": method, "contact": {"id": contact}, "delayMin": 0, "type": "HIGH_PRIORITY"})
    assert rule.status_code == 201, rule.text
    policy = app.post("/api/escalation-policies", {
        "name": "lou", "repeating": False, "frequency": 0,
        "escalationRules": [{"escalationTimeout": 30, "users": [{"id": user}]}]}).json()["id"]
    assert app.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy}}).status_code == 200
    incident_id = int(app.event(summary="db1 is down", alertKey="db1").json()["incidentId"])
    app.advance("PT0S")
    return incident_id


def _status(app: InProcessDaemon, incident_id: int) -> str:
    return str(app.get(f"/api/incidents/{incident_id}").json()["status"])


def test_a_reply_by_mail_to_a_third_party_channel_of_the_email_layout_acts(laid_out: InProcessDaemon) -> None:
    app = laid_out
    incident_id = _paged_by(app, "MAILISH", "lou.pager@example.com")
    ((target, message),) = MAIL.sent
    assert target == "lou.pager@example.com"
    assert message.reply_to, "the page invites a reply"
    assert app.daemon.services is not None
    answer = app.daemon.services.app.replies.email("Lou.Pager@example.com", f"Re: {message.title}", "accept")
    assert answer.acted, answer.text
    assert _status(app, incident_id) == "ACCEPTED"


def test_a_text_to_a_third_party_channel_of_the_sms_layout_acts(laid_out: InProcessDaemon) -> None:
    app = laid_out
    incident_id = _paged_by(app, "TEXTISH", "+4915100000042")
    assert [target for target, _ in TEXT.sent] == ["+4915100000042"]
    assert app.daemon.services is not None
    answer = app.daemon.services.app.replies.sms("+4915100000042", f"ack {incident_id}")
    assert answer is not None and "accepted" in answer.lower(), answer
    assert _status(app, incident_id) == "ACCEPTED"


def test_a_key_on_a_third_party_channels_call_of_the_voice_layout_acts(laid_out: InProcessDaemon) -> None:
    app = laid_out
    incident_id = _paged_by(app, "CALLISH", "+4915100000043")
    assert app.daemon.services is not None
    (page,) = app.get(f"/api/incidents/{incident_id}/notifications").json()
    answer = app.daemon.services.app.replies.voice_key(page["id"], "4")
    assert "no longer exists" not in answer.text, answer
    assert _status(app, incident_id) == "ACCEPTED"
