"""Answering a page by e-mail and push: signed links in e-mail and ntfy pages (a GET changes
nothing, its POST acts), and replies mailed back to the SMTP listener, under the manual clock."""

from __future__ import annotations

import re
import smtplib
import socket
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import paging_with
from tests.inprocess import InProcessDaemon
from tests.loopback import free_port
from tests.paging import Paging
from tests.store_faults import write_lock_held
from tests.test_replies import LINK, accept_link, incident, log, parts

# --- e-mail and push links --------------------------------------------------------------------------


def test_an_email_page_has_one_fact_per_line_and_the_same_in_html_with_links(app_paging: Paging) -> None:
    fay = app_paging.user("fay")
    app_paging.daemon.put(f"/api/users/{fay}", {"timezone": "Europe/Berlin"})
    app_paging.policy([(30, [fay])])
    incident_id = app_paging.alert(summary="checkout 500s", details="HTTP 500 on /cart\nsince 08:55")
    app_paging.daemon.advance("PT0S")
    (mail,) = app_paging.mails_to("fay@example.com")
    assert f"#{incident_id}" in mail["Subject"] and "checkout 500s" in mail["Subject"]
    # Automated mail (RFC 3834: no out-of-office replies), and marked as a page ilertd's own SMTP
    # listener refuses to take as an alert (a mail loop).
    assert mail["Auto-Submitted"] == "auto-generated"
    (page,) = app_paging.notifications(incident_id)
    assert mail["X-Ilertd-Page"].startswith(f"ilertd-n{page['id']}.")
    found = parts(mail)
    text, html = found["text/plain"], found["text/html"]
    lines = text.splitlines()
    assert "Summary:   checkout 500s" in lines and "Source:    default" in lines
    assert "Priority:  HIGH" in lines and "Status:    PENDING" in lines
    assert "Opened:    Mon 2026-01-05 10:00 CET" in lines  # 09:00 UTC in fay's zone
    assert "HTTP 500 on /cart" in lines and "since 08:55" in lines
    links = LINK.findall(text)
    assert len(links) == 3 and all(link in html for link in links)
    for fact in ("checkout 500s", "default", "HIGH", "PENDING", "Mon 2026-01-05 10:00 CET", "Accept",
                 "Resolve", "Escalate"):
        assert fact in html


def paged_with_a_link(app_paging: Paging) -> tuple[int, int, str]:
    """Gus, paged by e-mail for a new incident: his id, the incident's, and the path of the
    mail's accept link."""
    gus = app_paging.user("gus")
    app_paging.policy([(30, [gus])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    return gus, incident_id, accept_link(app_paging, "gus@example.com").replace(app_paging.daemon.url, "")


def test_a_link_get_changes_nothing_and_its_post_accepts(app_paging: Paging) -> None:
    gus, incident_id, path = paged_with_a_link(app_paging)
    shown = app_paging.daemon.client.get(path)
    assert shown.status_code == 200 and "text/html" in shown.headers["content-type"]
    assert f"Accept incident #{incident_id}" in shown.text and 'method="post"' in shown.text
    assert shown.headers["referrer-policy"] == "no-referrer"
    assert incident(app_paging, incident_id)["status"] == "PENDING"
    done = app_paging.daemon.client.post(path)
    assert done.status_code == 200 and f"Incident #{incident_id} accepted." in done.text
    assert incident(app_paging, incident_id)["status"] == "ACCEPTED"
    (accepted,) = log(app_paging, incident_id, "ACCEPTED")
    assert accepted["channel"] == "EMAIL" and accepted["user"]["id"] == gus
    again = app_paging.daemon.client.post(path)
    assert again.status_code == 200 and "already accepted" in again.text


def test_a_link_the_store_could_not_act_on_answers_503_so_a_push_button_shows_it_failed(
        impatient: None, app_paging: Paging) -> None:
    """It was a 200 "Nothing changed" page, which ntfy's action button took for success."""
    _, incident_id, path = paged_with_a_link(app_paging)
    app = app_paging.daemon
    assert isinstance(app, InProcessDaemon)
    app.client.get(path)  # the link read once: its signing key is in hand
    with write_lock_held(app.data_dir / "ilertd.db"):
        refused = app.client.post(path)
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "2" and "could not be stored" in refused.text
    assert incident(app_paging, incident_id)["status"] == "PENDING"
    done = app.client.post(path)
    assert done.status_code == 200 and f"Incident #{incident_id} accepted." in done.text


def test_a_tampered_or_expired_link_is_refused(app_paging: Paging) -> None:
    _, incident_id, path = paged_with_a_link(app_paging)
    # Another incident, another user, another action or a changed signature: each breaks it.
    # Another page too (the escalation answers it).
    number, user, action, channel, expiry, page, signature = path.removeprefix("/r/").split(".")
    for forged in (f"{int(number) + 1}.{user}.{action}.{channel}.{expiry}.{page}",
                   f"{number}.{int(user) + 1}.{action}.{channel}.{expiry}.{page}",
                   f"{number}.{user}.r.{channel}.{expiry}.{page}",
                   f"{number}.{user}.{action}.{channel}.{expiry}.p{int(page[1:]) + 1}",
                   f"{number}.{user}.{action}.{channel}.{expiry}"):
        tampered = f"/r/{forged}.{signature}"
        assert app_paging.daemon.client.get(tampered).status_code == 403
        assert app_paging.daemon.client.post(tampered).status_code == 403
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    assert app_paging.daemon.client.post(f"/r/{number}.{user}.{action}.{channel}.{expiry}.{page}.{flipped}"
                                         ).status_code == 403
    assert app_paging.daemon.client.post("/r/garbage").status_code == 403
    app_paging.daemon.advance("PT24H")
    expired = app_paging.daemon.client.post(path)
    assert expired.status_code == 410 and "expired" in expired.text
    assert incident(app_paging, incident_id)["status"] == "PENDING"


def test_an_ntfy_page_carries_action_buttons_whose_urls_act(app_paging: Paging) -> None:
    hal = app_paging.user("hal", [("PUSH", 0, "HIGH_PRIORITY")])
    app_paging.policy([(30, [hal])])
    incident_id = app_paging.alert(summary="queue backlog")
    app_paging.daemon.advance("PT0S")
    (push,) = [r for r in app_paging.http.to("/") if r.json().get("topic") == "ops-hal"]
    header = push.headers.get("X-Actions") or push.headers.get("Actions") or ""
    actions = [part.strip() for part in header.split(";")]
    assert [a.split(",")[1].strip() for a in actions] == ["Accept", "Resolve", "Escalate"]
    assert all("method=POST" in a for a in actions)
    assert "queue backlog" in push.json()["title"]
    url = actions[1].split(",")[2].strip()
    done = app_paging.daemon.client.post(url.replace(app_paging.daemon.url, ""))
    assert done.status_code == 200
    assert incident(app_paging, incident_id)["status"] == "RESOLVED"
    (resolved,) = log(app_paging, incident_id, "RESOLVED")
    assert resolved["channel"] == "PUSH" and resolved["user"]["id"] == hal


def test_a_page_still_being_sent_counts_from_when_it_was_handed_out(app_paging: Paging) -> None:
    """A page's outcome is stored at the end of its channel's batch: a button pressed twice (or a
    call's "5" posted twice) before then had no place to compare with, and each moved the incident
    a level further (the escalation compares the page's place in the order messages were sent
    with the incident's last move). Simulated here by putting the page back in flight, as it is
    until its batch ends."""
    from ilertd.store import models as m
    from ilertd.store.replies import last_page_seq

    hal = app_paging.user("hal", [("PUSH", 0, "HIGH_PRIORITY")])
    app_paging.policy([(30, [hal])])
    incident_id = app_paging.alert(summary="queue backlog")
    app_paging.daemon.advance("PT0S")
    page = m.Notification.get(m.Notification.incident == incident_id)
    assert page.sent_seq is not None and last_page_seq(incident_id, hal, ("PUSH",)) == page.sent_seq
    m.Notification.update(status="SCHEDULED", sending_since=page.sent_at, sent_at=None).where(
        m.Notification.id == page.id).execute()
    assert last_page_seq(incident_id, hal, ("PUSH",)) == page.sent_seq
    assert last_page_seq(incident_id, hal, ("SMS",)) is None


# --- e-mailed replies -------------------------------------------------------------------------------


@pytest.fixture
def mail_replies(tmp_path: Path, make_app: Callable[..., InProcessDaemon]) -> Iterator[tuple[Paging, int]]:
    """app_paging with the SMTP listener on: replies to pages go to reply@<domain>."""
    port = free_port()

    def start(config: Path) -> InProcessDaemon:
        with config.open("a") as toml:
            toml.write(f'[smtp_in]\nenabled = true\nport = {port}\ndomain = "alerts.example.com"\n')
        return make_app(config=config).start()

    with paging_with(tmp_path, start) as ready:
        yield ready, port


def send_mail(port: int, sender: str, subject: str, text: str, in_reply_to: str = "") -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "reply@alerts.example.com", subject
    if in_reply_to:
        message["In-Reply-To"] = message["References"] = in_reply_to
    message.set_content(text)
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.send_message(message)


def send_html_mail(port: int, sender: str, subject: str, html: str) -> None:
    """A reply as clients that write HTML alone send it (no text/plain part)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "reply@alerts.example.com", subject
    message.set_content(html, subtype="html")
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.send_message(message)


def paged_by_mail(paging: Paging) -> tuple[int, int, Any]:
    """ida, on the only level, paged by e-mail for a new incident: her id, the incident's, the mail."""
    ida = paging.user("ida")
    paging.policy([(30, [ida])])
    incident_id = paging.alert(summary="nightly backup failed")
    paging.daemon.advance("PT0S")
    (mail,) = paging.mails_to("ida@example.com")
    return ida, incident_id, mail


@pytest.mark.parametrize("listener", ["plugin disabled", "port taken"])
def test_without_a_running_listener_pages_ask_for_no_mailed_reply(
        tmp_path: Path, make_app: Callable[..., InProcessDaemon], listener: str) -> None:
    """`[smtp_in]` set, but its plugin disabled or its port taken at start: pages still said "reply
    to this e-mail", with Reply-To and a reply key, and the reply went where no one read it while
    its sender believed the incident accepted. The page carries the links alone then."""
    port = free_port()
    blocker = socket.socket()
    if listener == "port taken":
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
    extra = "\n[plugins.smtp_in]\nenabled = false\n" if listener == "plugin disabled" else ""

    def start(config: Path) -> InProcessDaemon:
        with config.open("a") as toml:
            toml.write(f'[smtp_in]\nenabled = true\nport = {port}\ndomain = "alerts.example.com"\n{extra}')
        return make_app(config=config).start()

    try:
        with paging_with(tmp_path, start) as paging:
            _ida, _incident, mail = paged_by_mail(paging)
            assert mail["Reply-To"] is None
            assert "[ilertd-reply " not in mail["Subject"]
            assert "reply to this e-mail" not in parts(mail)["text/plain"].lower()
    finally:
        blocker.close()


def test_replying_to_an_email_page_acts_only_from_the_paged_address(
        mail_replies: tuple[Paging, int]) -> None:
    paging, port = mail_replies
    ida, incident_id, mail = paged_by_mail(paging)
    assert mail["Reply-To"] == "reply@alerts.example.com"
    assert "[ilertd-reply " in mail["Subject"]
    subject = f"Re: {mail['Subject']}"
    quoted = "\n".join(f"> {line}" for line in parts(mail)["text/plain"].splitlines())
    # The right words from another address, then from the paged one without an action word.
    send_mail(port, "mallory@example.com", subject, f"accept\n\n{quoted}")
    send_mail(port, "ida@example.com", subject, f"Thanks, looking.\n\n{quoted}")
    assert incident(paging, incident_id)["status"] == "PENDING"
    # A subject whose key was changed names nothing.
    forged = re.sub(r"\[ilertd-reply (\d+)\.", lambda m: f"[ilertd-reply {int(m[1]) + 1}.", subject)
    send_mail(port, "ida@example.com", forged, "accept")
    assert incident(paging, incident_id)["status"] == "PENDING"
    send_mail(port, "Ida <IDA@example.com>", subject, f"Accept - on it\n\n{quoted}")
    assert incident(paging, incident_id)["status"] == "ACCEPTED"
    (accepted,) = log(paging, incident_id, "ACCEPTED")
    assert accepted["channel"] == "EMAIL" and accepted["user"]["id"] == ida
    send_mail(port, "ida@example.com", subject, "resolve")
    assert incident(paging, incident_id)["status"] == "RESOLVED"
    # Ida's words that were no answer are in the log, with what they were answered; mallory's,
    # from an address never paged, are not.
    (words,) = log(paging, incident_id, "REPLY_RECEIVED")
    assert words["user"]["id"] == ida and words["channel"] == "EMAIL"
    assert words["text"] == ('ida mailed "Thanks, looking."; answered: the reply\'s first word must be'
                             " accept, resolve or escalate")


def test_only_a_mail_that_can_be_answered_asks_for_replies_to_the_reply_mailbox(
        mail_replies: tuple[Paging, int]) -> None:
    """A summary of pages and a status update carry no reply key, but they carried `Reply-To:
    reply@...` too: a reply to them ("accept" to a summary, "thanks" to an update) was taken there
    and dropped, unanswered, where without it it goes to the sender's address as any mail does."""
    paging, _port = mail_replies
    ida, first, page = paged_by_mail(paging)
    assert page["Reply-To"] == "reply@alerts.example.com"
    second = paging.alert("k2", summary="disk full")  # inside ida's 10 s window: a summary
    third = paging.alert("k3", summary="queue stuck")
    paging.daemon.advance("PT1M")
    summary = paging.mails_to("ida@example.com")[-1]
    assert "2 pages for 2 incidents" in summary["Subject"] and summary["Reply-To"] is None
    contact = paging.daemon.post(f"/api/users/{ida}/contacts",
                                 {"method": "EMAIL", "target": "ida@example.com"})
    assert contact.status_code == 201, contact.text
    rule = paging.daemon.post(f"/api/users/{ida}/notification-preferences/updates", {
        "method": "EMAIL", "contact": {"id": contact.json()["id"]}, "type": "ALERT_RESOLVED"})
    assert rule.status_code == 201, rule.text
    paging.daemon.put(f"/api/incidents/{first}/resolve")
    paging.daemon.advance("PT1M")
    update = paging.mails_to("ida@example.com")[-1]
    assert f"#{first} resolved" in update["Subject"] and update["Reply-To"] is None
    assert {incident(paging, i)["status"] for i in (second, third)} == {"PENDING"}


def test_a_reply_the_store_could_not_take_is_451_so_its_mail_server_sends_it_again(
        impatient: None, mail_replies: tuple[Paging, int]) -> None:
    """It was taken (250) with "was not accepted ... retry" in a line no one reads: the responder
    thought it accepted, and the reply was gone."""
    paging, port = mail_replies
    _, incident_id, mail = paged_by_mail(paging)
    app = paging.daemon
    assert isinstance(app, InProcessDaemon)
    send_mail(port, "ida@example.com", f"Re: {mail['Subject']}", "Thanks, looking.")  # no action word
    with write_lock_held(app.data_dir / "ilertd.db"), pytest.raises(smtplib.SMTPDataError) as refused:
        send_mail(port, "ida@example.com", f"Re: {mail['Subject']}", "accept")
    assert refused.value.smtp_code == 451, refused.value
    assert b"could not be stored" in refused.value.smtp_error
    assert incident(paging, incident_id)["status"] == "PENDING"
    # What the sender's server does next: the same mail, now taken.
    send_mail(port, "ida@example.com", f"Re: {mail['Subject']}", "accept")
    assert incident(paging, incident_id)["status"] == "ACCEPTED"


def test_a_reply_that_cannot_be_read_is_refused_for_good_not_deferred(
        mail_replies: tuple[Paging, int]) -> None:
    """A malformed charset made the parser raise: a 451, and the sending server tried the same
    bytes again for days. As a malformed alert mail is, it is a 550."""
    _paging, port = mail_replies
    raw = (b"From: ida@example.com\r\nTo: reply@alerts.example.com\r\nSubject: Re: page\r\n"
           b'Content-Type: text/plain; charset="\x00"\r\n\r\naccept\r\n')
    with smtplib.SMTP("127.0.0.1", port) as client, pytest.raises(smtplib.SMTPDataError) as refused:
        client.sendmail("ida@example.com", ["reply@alerts.example.com"], raw)
    assert refused.value.smtp_code == 550, refused.value


def test_an_escalating_mail_delivered_twice_moves_the_incident_once(mail_replies: tuple[Paging, int]) -> None:
    """A second delivery (its 250 lost on the way back, say) went a level further, paging the
    level after the one the responder handed the incident to (test_replies_escalate.py: the
    other channels)."""
    paging, port = mail_replies
    ida, hal, ivy = (paging.user(name) for name in ("ida", "hal", "ivy"))
    paging.policy([(30, [ida]), (30, [hal]), (30, [ivy])])
    incident_id = paging.alert(summary="nightly backup failed")
    paging.daemon.advance("PT0S")
    (mail,) = paging.mails_to("ida@example.com")
    paging.daemon.advance("PT2M")
    send_mail(port, "ida@example.com", f"Re: {mail['Subject']}", "escalate")
    paging.daemon.advance("PT0S")
    assert incident(paging, incident_id)["escalationLevel"] == 1
    assert len(paging.mails_to("hal@example.com")) == 1
    send_mail(port, "ida@example.com", f"Re: {mail['Subject']}", "escalate")
    paging.daemon.advance("PT0S")
    assert incident(paging, incident_id)["escalationLevel"] == 1
    assert paging.mails_to("ivy@example.com") == []
    (escalated,) = log(paging, incident_id, "ESCALATED")
    assert escalated["channel"] == "EMAIL" and escalated["user"]["id"] == ida


def test_an_escalating_mail_delivered_twice_answers_the_page_it_replies_to(
        mail_replies: tuple[Paging, int]) -> None:
    """ida is on the next level too: the second delivery of her reply to the level-0 mail was
    judged by the level-1 mail her escalation brought her, and paged level 2. The page it answers
    is the one its In-Reply-To names."""
    paging, port = mail_replies
    ida, hal, ivy = (paging.user(name) for name in ("ida", "hal", "ivy"))
    paging.policy([(30, [ida]), (30, [ida, hal]), (30, [ivy])])
    incident_id = paging.alert(summary="nightly backup failed")
    paging.daemon.advance("PT1M")
    (first,) = paging.mails_to("ida@example.com")
    send_mail(port, "ida@example.com", f"Re: {first['Subject']}", "escalate", first["Message-ID"])
    paging.daemon.advance("PT1M")
    assert incident(paging, incident_id)["escalationLevel"] == 1
    assert len(paging.mails_to("ida@example.com")) == 2 and len(paging.mails_to("hal@example.com")) == 1
    send_mail(port, "ida@example.com", f"Re: {first['Subject']}", "escalate", first["Message-ID"])
    paging.daemon.advance("PT0S")
    assert incident(paging, incident_id)["escalationLevel"] == 1
    assert paging.mails_to("ivy@example.com") == []
    # Her reply to the level-1 mail is "not me" to that page: on to level 2.
    second = paging.mails_to("ida@example.com")[-1]
    send_mail(port, "ida@example.com", f"Re: {second['Subject']}", "escalate", second["Message-ID"])
    paging.daemon.advance("PT0S")
    assert incident(paging, incident_id)["escalationLevel"] == 2
    assert len(paging.mails_to("ivy@example.com")) == 1
def test_an_html_only_reply_acts_on_its_own_text_not_on_what_it_quotes(
        mail_replies: tuple[Paging, int]) -> None:
    """An HTML reply's quoting (a `<blockquote>`, Gmail's and Thunderbird's quote containers) was
    lost in its text: a bottom-posted quoted "Resolve when the backup reruns?" above "Not yet"
    resolved the incident."""
    paging, port = mail_replies
    _, incident_id, mail = paged_by_mail(paging)
    subject = f"Re: {mail['Subject']}"
    send_html_mail(port, "ida@example.com", subject,
                   '<html><body><div class="moz-cite-prefix">On 05/01/2026 10:00, ilertd wrote:<br></div>'
                   '<blockquote type="cite">Resolve when the backup reruns?</blockquote>'
                   "<p>Not yet</p></body></html>")
    assert incident(paging, incident_id)["status"] == "PENDING"
    send_html_mail(port, "ida@example.com", subject,
                   '<div dir="ltr">Accept&nbsp;- on it</div><br><div class="gmail_quote">'
                   '<div dir="ltr" class="gmail_attr">On Mon, Jan 5, 2026 at 10:00 AM ilertd wrote:<br></div>'
                   '<blockquote class="gmail_quote">Resolve when the backup reruns?</blockquote></div>')
    assert incident(paging, incident_id)["status"] == "ACCEPTED"
    assert log(paging, incident_id, "RESOLVED") == []


def deliver(port: int, message: EmailMessage, envelope_sender: str = "ida@example.com") -> tuple[int, bytes]:
    """The SMTP answer to a mail to the reply mailbox from `envelope_sender` ("": the null sender)."""
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.ehlo()
        client.mail(envelope_sender)
        client.rcpt("reply@alerts.example.com")
        return client.data(message.as_bytes())


@pytest.mark.parametrize(("marks", "envelope_sender", "text"), [
    ({"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}, "ida@example.com",
     "Accept my apologies: I am out of the office until 12 January."),
    ({"Precedence": "auto_reply"}, "ida@example.com",
     "Escalate anything urgent to Bob (bob@example.com) until I am back on 12 January."),
    ({"X-Autoreply": "yes"}, "ida@example.com", "Resolve nothing until I am back."),
    ({}, "", "accept"),
], ids=["auto-submitted", "precedence", "x-autoreply", "null-sender"])
def test_an_automatic_reply_acts_on_nothing(
        mail_replies: tuple[Paging, int], marks: dict[str, str], envelope_sender: str, text: str) -> None:
    """An out-of-office notice answering a page acted on its first word: "Accept my apologies"
    accepted the incident (its escalation stopped) and "Escalate anything urgent" escalated it.
    A mail a program sent (RFC 3834) is taken and changes nothing."""
    paging, port = mail_replies
    _, incident_id, mail = paged_by_mail(paging)
    message = EmailMessage()
    message["From"], message["To"] = "ida@example.com", "reply@alerts.example.com"
    message["Subject"] = f"Automatic reply: {mail['Subject']}"
    for name, value in marks.items():
        message[name] = value
    message.set_content(text)
    code, answer = deliver(port, message, envelope_sender)
    assert code == 250 and b"auto-reply ignored" in answer, answer
    paging.daemon.advance("PT0S")
    found = incident(paging, incident_id)
    assert (found["status"], found["escalationLevel"]) == ("PENDING", 0)
    assert log(paging, incident_id, "ACCEPTED") == log(paging, incident_id, "ESCALATED") == []


@pytest.mark.parametrize("attribution", [
    "Am 05.01.26 um 10:00 schrieb ilertd@example.com:",
    "On Mon, Jan 5, 2026 at 10:00 AM ilertd on-call pager <ilertd@example.com>\nwrote:",
], ids=["german", "wrapped"])
def test_a_bottom_posted_reply_acts_whatever_its_attribution_says(
        mail_replies: tuple[Paging, int], attribution: str) -> None:
    """An "accept" below the quoted page did nothing when the line introducing the quote was not
    "... wrote:" on one line: a German client's "Am ... schrieb ...:", Gmail's wrapped on two."""
    paging, port = mail_replies
    _, incident_id, mail = paged_by_mail(paging)
    quoted = "\n".join(f"> {line}" for line in parts(mail)["text/plain"].splitlines())
    send_mail(port, "ida@example.com", f"Re: {mail['Subject']}", f"{attribution}\n{quoted}\n\naccept\n")
    assert incident(paging, incident_id)["status"] == "ACCEPTED"
