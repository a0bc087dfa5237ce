"""The `[smtp_in]` listener (ilertd.plugins.smtp_in): real SMTP sessions against the in-process daemon,
and the listener's drain on stop (the mapping of a mail, pure: test_smtp_mapping.py)."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import pytest

from ilertd.config import ConfigError
from ilertd.domain.events import Event
from ilertd.errors import ApiError
from ilertd.hookspecs import Outcome, SourceInfo
from ilertd.plugins.mail import (
    DEFAULT_RESOLVE_PATTERN,
    compile_resolve_pattern,
)
from ilertd.plugins.mail_listener import MailListener
from ilertd.plugins.manager import NOT_READY
from ilertd.plugins.smtp_in import MailHandler
from ilertd.store import models as m
from tests import integration_helpers as helpers
from tests.inprocess import InProcessDaemon
from tests.loopback import free_port

DOMAIN = "alerts.example.com"
SENDER = "nagios@monitor.example.com"
RESOLVE = compile_resolve_pattern(DEFAULT_RESOLVE_PATTERN)
# Bounds a wait on another thread; never reached when the code works.
WAIT = 30.0


def write_config(directory: Path, port: int, extra: str = "", domain: str = DOMAIN) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "ilertd.toml"
    path.write_text(f'[smtp_in]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\ndomain = "{domain}"\n'
                    + extra)
    return path


def mail(subject: str | None, body: str = "", sender: str = SENDER, message_id: str = "") -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Nagios <{sender}>"
    if subject is not None:
        message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    message.set_content(body)
    return message


def wire(message: EmailMessage) -> bytes:
    """A mail as it goes over SMTP: CRLF line ends (smtplib sends bytes as they are)."""
    return message.as_bytes(policy=SMTP)


@dataclass
class MailDaemon:
    """The in-process daemon with its SMTP listener on `port`."""

    app: InProcessDaemon
    port: int

    def source(self, integration_type: str = "EMAIL", name: str = "mail") -> str:
        return helpers.new_source(self.app, integration_type, name)

    def smtp(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.port, timeout=WAIT)

    def send(self, message: EmailMessage, to: str | Sequence[str]) -> tuple[int, str]:
        """One transaction, step by step: the DATA reply's code and text (smtplib's sendmail only
        raises on a refusal)."""
        recipients = [to] if isinstance(to, str) else list(to)
        with self.smtp() as client:
            client.ehlo()
            assert client.mail(SENDER)[0] == 250
            for recipient in recipients:
                code, text = client.rcpt(recipient)
                assert code == 250, text
            code, reply = client.data(wire(message))
        return code, reply.decode()

    def incidents(self) -> list[dict[str, Any]]:
        return helpers.incidents(self.app)

    def incident(self, incident_id: int) -> dict[str, Any]:
        return dict(self.app.get(f"/api/incidents/{incident_id}").json())


@pytest.fixture
def start_mail(tmp_path: Path, make_app: Callable[..., InProcessDaemon]) -> Callable[..., MailDaemon]:
    def start(extra: str = "", name: str = "mail") -> MailDaemon:
        port = free_port()
        app = make_app(name, config=write_config(tmp_path / f"{name}-config", port, extra)).start()
        return MailDaemon(app, port)

    return start


@pytest.fixture
def daemon(start_mail: Callable[..., MailDaemon]) -> MailDaemon:
    return start_mail("[plugins.smtp_in]\nmax_message_bytes = 20000\n")


def incident_id_of(reply: str) -> int:
    return int(reply.rsplit("incident ", 1)[1].rstrip(")"))


# --- through the daemon --------------------------------------------------------------------------


def test_a_mail_opens_an_incident_once_committed(daemon: MailDaemon) -> None:
    key = daemon.source()
    code, reply = daemon.send(mail("Disk full on db-1", "/var is at 98%\r\nsince 10:02\n",
                                   message_id="<42@monitor.example.com>"), f"{key}@{DOMAIN}")
    # The 250 names the incident: the event was committed before the reply.
    assert code == 250 and reply.startswith("2.0.0 ALERT taken"), reply
    incident = daemon.incident(incident_id_of(reply))
    assert incident["summary"] == "Disk full on db-1"
    assert incident["details"] == "/var is at 98%\nsince 10:02"
    assert incident["alertKey"] == "Disk full on db-1"
    assert incident["status"] == "PENDING"
    assert incident["customDetails"] == {"from": SENDER, "messageId": "<42@monitor.example.com>"}
    assert [i["id"] for i in daemon.incidents()] == [incident["id"]]


def test_a_repeat_mail_joins_the_incident_and_a_resolve_subject_resolves_it(daemon: MailDaemon) -> None:
    key = daemon.source()
    address = f"{key}@{DOMAIN}"
    code, reply = daemon.send(mail("[FIRING:1] Disk full on db-1", "first"), address)
    assert code == 250, reply
    first = incident_id_of(reply)
    # Another client's reply to the alert, with the domain in upper case: the same alert.
    code, reply = daemon.send(mail("Re: Disk  full on db-1", "second"), f"{key}@ALERTS.Example.COM")
    assert code == 250 and incident_id_of(reply) == first, reply
    assert len(daemon.incidents()) == 1
    assert daemon.incident(first)["eventCount"] == 2
    code, reply = daemon.send(mail("[RESOLVED] Disk full on db-1", "back to 60%"), address)
    assert code == 250 and reply.startswith("2.0.0 RESOLVE taken"), reply
    assert daemon.incident(first)["status"] == "RESOLVED"
    # A recovery that matches nothing open is done (250), as the Event API answers it: no retry.
    code, reply = daemon.send(mail("Recovery: load on web-7", ""), address)
    assert code == 250 and "no open incident" in reply, reply
    assert len(daemon.incidents()) == 1


def test_stock_tool_mails_pair_and_a_recovery_word_in_an_alert_pages(daemon: MailDaemon) -> None:
    address = f"{daemon.source()}@{DOMAIN}"

    def incident_of(subject: str, taken: str) -> int:
        code, reply = daemon.send(mail(subject, "body"), address)
        assert code == 250 and reply.startswith(f"2.0.0 {taken} taken"), (subject, reply)
        return incident_id_of(reply)

    nagios = incident_of("** PROBLEM Service Alert: web-1/HTTP is CRITICAL **", "ALERT")
    assert incident_of("** RECOVERY Service Alert: web-1/HTTP is OK **", "RESOLVE") == nagios
    zabbix = incident_of("Problem: High CPU utilization on db-1", "ALERT")
    assert incident_of("Resolved in 5m 0s: High CPU utilization on db-1", "RESOLVE") == zabbix
    # A real failure that starts with "Recovery" opens an incident: it was taken as a resolve.
    backup = incident_of("Recovery of backup db-1 FAILED", "ALERT")
    assert {i["id"]: i["status"] for i in daemon.incidents()} == {
        nagios: "RESOLVED", zabbix: "RESOLVED", backup: "PENDING"}


def test_grafanas_partly_resolved_group_joins_its_incident(daemon: MailDaemon) -> None:
    address = f"{daemon.source()}@{DOMAIN}"
    replies = [daemon.send(mail(subject, "body"), address)[1] for subject in (
        "[FIRING:2] DiskFull (prod)", "[FIRING:1, RESOLVED:1] DiskFull (prod)", "[RESOLVED] DiskFull (prod)")]
    assert len({incident_id_of(reply) for reply in replies}) == 1, replies
    assert [i["status"] for i in daemon.incidents()] == ["RESOLVED"]


def test_unknown_keys_and_other_domains_are_refused_at_rcpt(daemon: MailDaemon) -> None:
    key = daemon.source()
    for address in (f"0123456789abcdef0123456789abcdef@{DOMAIN}", f"{key}@example.org",
                    f"{key}@sub.{DOMAIN}", key):
        with daemon.smtp() as client, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail(SENDER, [address], wire(mail("Disk full", "x")))
        code, text = refused.value.recipients[address]
        assert code == 550 and text.startswith(b"5.1.1 no such mailbox"), (address, text)
    assert daemon.incidents() == []


def test_a_source_of_another_type_is_refused_at_rcpt(daemon: MailDaemon) -> None:
    key = daemon.source("PROMETHEUS", name="prometheus")
    address = f"{key}@{DOMAIN}"
    with daemon.smtp() as client, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        client.sendmail(SENDER, [address], wire(mail("Disk full", "x")))
    code, text = refused.value.recipients[address]
    assert code == 550
    assert b"belongs to alert source \"prometheus\", of type PROMETHEUS: mail is taken only by EMAIL" in text
    assert daemon.incidents() == []


def test_an_oversized_mail_is_refused(daemon: MailDaemon) -> None:
    key = daemon.source()
    address = f"{key}@{DOMAIN}"
    big = mail("Huge report", "x" * 76 + "\n" + ("y" * 76 + "\n") * 400)
    assert len(wire(big)) > 20000
    # smtplib declares the size (SIZE=) and is refused before it sends the body...
    with daemon.smtp() as client, pytest.raises(smtplib.SMTPSenderRefused) as refused:
        client.sendmail(SENDER, [address], wire(big))
    assert refused.value.smtp_code == 552
    # ...and a client that does not is refused after it.
    with daemon.smtp() as client:
        client.ehlo()
        client.mail(SENDER)
        assert client.rcpt(address)[0] == 250
        code, text = client.data(wire(big))
    assert code == 552 and b"Too much mail data" in text, text
    assert daemon.incidents() == []
    # Just under the limit is taken.
    assert daemon.send(mail("Small report", "fine"), address)[0] == 250


def test_a_multipart_mail_with_an_encoded_subject(daemon: MailDaemon) -> None:
    key = daemon.source()
    message = mail("Festplatte voll \u2013 München-01 ⚠", "Plattenplatz: 2 %\n")
    message.add_alternative("<html><body><h1>Festplatte voll</h1><p>Plattenplatz: <b>2&nbsp;%</b></p>"
                            "</body></html>", subtype="html")
    raw = wire(message)
    assert b"=?utf-8?" in raw and b"multipart/alternative" in raw, "the subject goes RFC 2047-encoded"
    code, reply = daemon.send(message, f"{key}@{DOMAIN}")
    assert code == 250, reply
    incident = daemon.incident(incident_id_of(reply))
    assert incident["summary"] == "Festplatte voll \u2013 München-01 ⚠"
    assert incident["details"] == "Plattenplatz: 2 %", "the text/plain part, not the HTML"
    # An HTML-only mail: its text, without tags, styles or entities.
    html_only = EmailMessage()
    html_only["Subject"] = "=?iso-8859-1?q?Temperatur_=FCber_Grenzwert?="
    html_only.set_content("<html><head><style>p {color: red}</style></head><body><p>Rack&nbsp;4:</p>"
                          "<p>41 &deg;C</p></body></html>", subtype="html")
    code, reply = daemon.send(html_only, f"{key}@{DOMAIN}")
    assert code == 250, reply
    incident = daemon.incident(incident_id_of(reply))
    assert incident["summary"] == "Temperatur über Grenzwert"
    assert incident["details"] == "Rack 4:\n\n41 °C"
    # No subject at all.
    code, reply = daemon.send(mail(None, "cron: backup failed"), f"{key}@{DOMAIN}")
    assert code == 250, reply
    assert daemon.incident(incident_id_of(reply))["summary"] == "(no subject)"


def test_one_mail_to_two_sources_opens_an_incident_on_each(daemon: MailDaemon) -> None:
    first, second = daemon.source(name="team a"), daemon.source(name="team b")
    code, reply = daemon.send(mail("Shared switch down", ""), [f"{first}@{DOMAIN}", f"{second}@{DOMAIN}"])
    assert code == 250 and "team a: incident" in reply and "team b: incident" in reply, reply
    assert sorted(i["alertSource"]["id"] for i in daemon.incidents()) == [2, 3]


def test_a_page_ilertd_sent_to_an_alert_sources_address_is_refused_not_looped(
        tmp_path: Path, make_app: Callable[..., InProcessDaemon]) -> None:
    """A contact naming an EMAIL source's own address (or a list that holds it): each page opened
    an incident on that source, which paged the address again, without end (18 incidents in six
    minutes). ilertd's mail carries X-Ilertd-Page, and its listener refuses such a mail."""
    port = free_port()
    loop = f'[channels.email]\nurl = "mailto://127.0.0.1:{port}?from=ilertd@example.com&to={{contact}}&mode=insecure"\n'
    app = make_app("loop", config=write_config(tmp_path / "loop-config", port, loop)).start()
    key = helpers.new_source(app, "EMAIL", "mail")
    source = next(s for s in app.get("/api/alert-sources").json() if s["name"] == "mail")
    ann = app.post("/api/users", {"username": "ann"}).json()["id"]
    # Such a contact is refused now (see below); a store may hold one from before, and a list
    # at another domain may forward to the source's address.
    contact = m.Contact.create(user=ann, method="EMAIL", target=f"{key}@{DOMAIN}")
    rule = {"method": "EMAIL", "contact": {"id": contact.id}, "type": "HIGH_PRIORITY"}
    assert app.post(f"/api/users/{ann}/notification-preferences/alerts", rule).status_code == 201
    policy = app.post("/api/escalation-policies", {"name": "ops", "escalationRules": [
        {"escalationTimeout": 30, "users": [{"id": ann}]}]}).json()["id"]
    app.put(f"/api/alert-sources/{source['id']}", {"escalationPolicy": {"id": policy}})
    first = app.post("/api/events", {"integrationKey": key, "eventType": "ALERT", "summary": "db down"})
    assert first.status_code == 202, first.text
    for _ in range(6):
        app.advance("PT1M")
    assert [i["summary"] for i in app.get("/api/incidents").json()] == ["db down"]
    (page,) = app.get(f"/api/incidents/{first.json()['incidentId']}/notifications").json()
    assert page["status"] == "SCHEDULED" and "a mail loop" in page["errorMessage"], page
    assert "a page ilertd sent (ilertd-n" in app.log()


def test_an_address_at_ilertds_own_mail_domain_is_no_persons(
        tmp_path: Path, make_app: Callable[..., InProcessDaemon]) -> None:
    """Mail to any address at `[smtp_in] domain` reaches ilertd's listener: an alert source's
    address opened an incident paging the address again, any other was refused (no such
    mailbox) and the page was lost. Such a contact, or account address, is refused upfront."""
    app = make_app("own", config=write_config(tmp_path / "own-config", free_port())).start()
    key = helpers.new_source(app, "EMAIL", "mail")
    ann = app.post("/api/users", {"username": "ann", "email": "ann@example.com"}).json()["id"]
    for target in (f"{key}@{DOMAIN}", f"ann@{DOMAIN.upper()}.", "reply@" + DOMAIN):
        refused = app.post(f"/api/users/{ann}/contacts", {"method": "EMAIL", "target": target})
        assert (refused.status_code, refused.json()["field"]) == (400, "target"), refused.text
        assert "ilertd's own mail domain" in refused.json()["message"]
    kept = app.post(f"/api/users/{ann}/contacts", {"method": "EMAIL", "target": "ann@example.org"})
    assert kept.status_code == 201
    moved = app.put(f"/api/users/{ann}/contacts/{kept.json()['id']}", {"target": f"ann@{DOMAIN}"})
    assert (moved.status_code, moved.json()["field"]) == (400, "target")
    assert app.get(f"/api/users/{ann}/contacts").json() == [kept.json()]
    for write in (lambda body: app.post("/api/users", {"username": "bob", **body}),
                  lambda body: app.put(f"/api/users/{ann}", body)):
        refused = write({"email": f"oncall@{DOMAIN}"})
        assert (refused.status_code, refused.json()["field"]) == (400, "email"), refused.text
    assert app.get(f"/api/users/{ann}").json()["email"] == "ann@example.com"


def test_without_the_listener_its_domain_is_anyones(app: InProcessDaemon) -> None:
    ann = app.post("/api/users", {"username": "ann", "email": f"ann@{DOMAIN}"})
    assert ann.status_code == 201
    contact = {"method": "EMAIL", "target": f"ann@{DOMAIN}"}
    assert app.post(f"/api/users/{ann.json()['id']}/contacts", contact).status_code == 201


def test_an_empty_mail_is_refused_for_good(daemon: MailDaemon) -> None:
    key = daemon.source()
    with daemon.smtp() as client:
        client.ehlo()
        client.mail(SENDER)
        assert client.rcpt(f"{key}@{DOMAIN}")[0] == 250
        code, text = client.data(b"")
    assert code == 550 and b"empty" in text
    assert daemon.incidents() == []


def test_a_rate_limited_mail_is_deferred_and_taken_on_retry(start_mail: Callable[..., MailDaemon]) -> None:
    daemon = start_mail("[limits]\nevents_per_minute_per_key = 1\n")
    key = daemon.source()
    assert daemon.send(mail("Disk full", ""), f"{key}@{DOMAIN}")[0] == 250
    # 451: the sending server keeps the mail and retries.
    code, reply = daemon.send(mail("Load high", ""), f"{key}@{DOMAIN}")
    assert code == 451 and reply.startswith("4.7.1"), reply
    assert len(daemon.incidents()) == 1
    daemon.app.advance("PT1M")
    assert daemon.send(mail("Load high", ""), f"{key}@{DOMAIN}")[0] == 250
    assert len(daemon.incidents()) == 2


def test_the_listener_goes_with_the_daemon(start_mail: Callable[..., MailDaemon]) -> None:
    daemon = start_mail()
    key = daemon.source()
    assert daemon.send(mail("Disk full", ""), f"{key}@{DOMAIN}")[0] == 250
    assert daemon.app.daemon.plugins is not None
    assert daemon.app.daemon.plugins.status("smtp_in").state == "enabled"  # type: ignore[union-attr]
    daemon.app.stop()
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP("127.0.0.1", daemon.port, timeout=WAIT)
    # A restart listens again, on the same data.
    daemon.app.start()
    code, reply = daemon.send(mail("Re: Disk full", ""), f"{key}@{DOMAIN}")
    assert code == 250 and incident_id_of(reply) == 1, reply


def test_disabled_or_misconfigured_it_does_not_listen(tmp_path: Path,
                                                      make_app: Callable[..., InProcessDaemon]) -> None:
    port = free_port()
    disabled = write_config(tmp_path / "off", port)
    disabled.write_text(disabled.read_text().replace("enabled = true", "enabled = false"))
    cases = [
        (disabled, "enabled", ""),
        (write_config(tmp_path / "pattern", port, "[plugins.smtp_in]\nresolve_subject_pattern = '(ok'\n"),
         "config error", "not a valid regular expression"),
        (write_config(tmp_path / "everything", port, "[plugins.smtp_in]\nresolve_subject_pattern = '.*'\n"),
         "config error", "every mail would resolve"),
        (write_config(tmp_path / "taken", port), "hook error", f"cannot listen on 127.0.0.1:{port}"),
    ]
    # No domain: the configuration itself is refused, before anything starts.
    with pytest.raises(ConfigError, match=r"smtp_in\.domain is empty"):
        make_app("nodomain", config=write_config(tmp_path / "nodomain", port, domain=""))
    # The last case: another program has the port.
    with socket.socket() as taken:
        for index, (config, state, error) in enumerate(cases):
            if index == len(cases) - 1:
                taken.bind(("127.0.0.1", port))
            app = make_app(f"case{index}", config=config).start()
            try:
                status = app.daemon.plugins.status("smtp_in")  # type: ignore[union-attr]
                assert status is not None and status.state == state and error in status.error, status
                with pytest.raises(ConnectionRefusedError):
                    smtplib.SMTP("127.0.0.1", port, timeout=WAIT)
            finally:
                app.stop()


# --- the listener on its own: ingestion that fails or is slow ------------------------------------


class FakeIntake:
    """Sources and ingestion as the plugin context gives them; `hold` keeps an ingest waiting."""

    def __init__(self, refuse: ApiError | None = None) -> None:
        self.refuse = refuse
        self.events: list[Event] = []
        self.ingesting = threading.Event()
        self.hold: asyncio.Event | None = None

    async def source(self, integration_key: str) -> SourceInfo:
        if integration_key != "k1":
            raise ApiError(404, "UNKNOWN_INTEGRATION_KEY", "no alert source has this integration key")
        return SourceInfo(1, "mail", "EMAIL", "HIGH", None)

    async def ingest(self, source: str | SourceInfo, events: Sequence[Event], integration: str,
                     payload: Any) -> list[Outcome]:
        self.ingesting.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.refuse is not None:
            raise self.refuse
        self.events.extend(events)
        return [Outcome(incident_id=7, alert_key=events[0].alert_key, response_code="NEW_INCIDENT_CREATED")]


@pytest.fixture
def listen() -> Iterator[Callable[[FakeIntake], MailListener]]:
    started: list[MailListener] = []

    def start(intake: FakeIntake) -> MailListener:
        handler = MailHandler(intake, DOMAIN, RESOLVE, 20000)
        listener = MailListener(handler, "127.0.0.1", free_port(), DOMAIN, 20000)
        listener.start()
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()


def send_on(listener: MailListener, subject: str) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=WAIT) as client:
        client.ehlo()
        client.mail(SENDER)
        assert client.rcpt(f"k1@{DOMAIN}")[0] == 250
        return client.data(wire(mail(subject, "body")))


@pytest.mark.parametrize(("refusal", "code", "status"), [
    (NOT_READY, 451, b"4.3.0"),
    (ApiError(503, "TIMEOUT", "the change was not confirmed in time; retry"), 451, b"4.3.0"),
    (ApiError(429, "RATE_LIMITED", "more than 5 events this minute"), 451, b"4.7.1"),
    (ApiError(400, "INVALID_FIELD", "summary is required"), 550, b"5.6.0"),
])
def test_what_ingestion_refuses_is_deferred_or_bounced(
    listen: Callable[[FakeIntake], MailListener], refusal: ApiError, code: int, status: bytes,
) -> None:
    listener = listen(FakeIntake(refuse=refusal))
    reply = send_on(listener, "Disk full")
    assert reply[0] == code and reply[1].startswith(status), reply


def test_stopping_waits_for_a_mail_being_committed(listen: Callable[[FakeIntake], MailListener]) -> None:
    intake = FakeIntake()
    listener = listen(intake)
    assert listener.controller is not None
    loop = listener.controller.loop
    intake.hold = asyncio.run_coroutine_threadsafe(_new_event(), loop).result(WAIT)
    replies: list[tuple[int, bytes]] = []
    sending = threading.Thread(target=lambda: replies.append(send_on(listener, "Disk full")))
    sending.start()
    assert intake.ingesting.wait(WAIT), "the mail reached ingestion"
    stopping = threading.Thread(target=listener.stop)
    stopping.start()
    assert listener.draining.wait(WAIT)
    # Stopping: no new connections, while the mail in flight still waits for its commit.
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP("127.0.0.1", listener.port, timeout=WAIT)
    assert stopping.is_alive() and not replies
    loop.call_soon_threadsafe(intake.hold.set)
    sending.join(WAIT)
    stopping.join(WAIT)
    assert not stopping.is_alive()
    assert replies and replies[0][0] == 250, replies
    assert [e.alert_key for e in intake.events] == ["Disk full"]


async def _new_event() -> asyncio.Event:
    return asyncio.Event()
