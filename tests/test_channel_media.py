"""A page laid out for its medium: e-mail as plain text beside HTML, ntfy with action buttons."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.header import decode_header, make_header
from email.message import Message as Email
from typing import Any

import pytest
from apprise.plugins.pushover import NotifyPushover

from ilertd.channels.apprise_channel import AppriseChannel
from ilertd.channels.base import DeliveryError, Message, MessageAction
from tests.loopback import HttpReceiver, Request, SmtpServer

# One fact per line, a blank line, a line longer than quoted-printable's 76 columns, and non-ASCII.
BODY = (
    "Incident #42 TRIGGERED: Disk full on db-1\n"
    "Service: Datenbank (Köln)\n"
    "Severity: critical\n"
    "\n"
    "Accept: https://ilertd.example/act/accept?incident=42&token=abcdefghijklmnopqrstuvwxyz0123456789ABCDEF\n"
    "Resolve: https://ilertd.example/act/resolve?incident=42&token=0123"
)
HTML = (
    '<!doctype html><html><body><h1>Disk full on db-1</h1><p>Service: Datenbank (Köln)</p>'
    '<a href="https://ilertd.example/act/accept?incident=42&amp;token=abc">Accept</a></body></html>'
)
ACTIONS = (
    MessageAction("Accept", "https://ilertd.example/act/accept?incident=42&token=a1"),
    MessageAction("Resolve, then close", "https://ilertd.example/act/resolve?incident=42;token=b2"),
    MessageAction("Escalate", "https://ilertd.example/act/escalate?incident=42&token=c3"),
)


def page(**fields: object) -> Message:
    return Message("[ilertd] Disk full on db-1", BODY, "ilertd-n1", "Disk full on db-1", **fields)  # type: ignore[arg-type]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    http = HttpReceiver()
    yield http
    http.close()


def text_of(part: Email) -> str:
    """A MIME part's decoded text, with the wire's CRLF line ends read as the newlines they carry."""
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(part.get_content_charset() or "ascii").replace("\r\n", "\n")


def test_e_mail_with_html_is_our_text_beside_our_html(smtp: SmtpServer) -> None:
    channel = AppriseChannel("email", smtp.url())
    channel.send("alice@example.com", page(html=HTML, reply_to="ack+42@ilertd.example"))

    [email] = smtp.messages
    assert email.get_content_type() == "multipart/alternative"
    plain, html = email.get_payload()
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    # Exactly the page's own text, one fact per line, not apprise's rendering of the HTML.
    assert text_of(plain) == BODY
    assert text_of(html) == HTML
    assert email["Reply-To"] == "ack+42@ilertd.example"
    assert email["X-Ilertd-Notification"] == "ilertd-n1"
    assert email["To"] == "alice@example.com"
    assert str(make_header(decode_header(email["Subject"]))) == "[ilertd] Disk full on db-1"


@pytest.mark.parametrize("summary", [
    "ディスク容量不足" * 15, "ä" * 200, "y" * 1024, "word " * 200, "=?utf-8?q?evil?= literal",
], ids=["japanese", "umlauts", "one long word", "many words", "reads like an encoded word"])
def test_a_long_subject_is_folded_so_the_page_goes_out(smtp: SmtpServer, summary: str) -> None:
    """apprise wrote the Subject on one line, one encoded word beyond ASCII: past 998 characters
    the server refused it ("500 Line too long"), 80 Japanese characters were enough, and the page
    was retried until it ended ERROR, never sent. Text like an encoded word showed decoded."""
    subject = f"[ilertd] #1 HIGH: {summary}"
    channel = AppriseChannel("email", smtp.url())
    channel.send("alice@example.com", Message(subject, BODY, "ilertd-n1", summary))
    # (aiosmtpd, as a real server, refuses a line longer than RFC 5321's 1,000 octets.)
    [email] = smtp.messages
    assert " ".join(str(make_header(decode_header(email["Subject"]))).split()) == " ".join(subject.split())


def test_the_next_e_mail_carries_nothing_of_the_previous_page(smtp: SmtpServer) -> None:
    """The channel reuses one apprise plugin per URL: the HTML and Reply-To of one page must not
    reach the next page sent through it."""
    channel = AppriseChannel("email", smtp.url())
    channel.send("alice@example.com", page(html=HTML, reply_to="ack+42@ilertd.example"))
    channel.send("alice@example.com", Message("[ilertd] Second", BODY, "ilertd-n2", "Second"))

    first, second = smtp.messages
    assert first["Reply-To"] == "ack+42@ilertd.example"
    assert second["Reply-To"] is None
    assert second["X-Ilertd-Notification"] == "ilertd-n2"
    # Without HTML: one text/plain part, its lines kept.
    assert not second.is_multipart()
    assert second.get_content_type() == "text/plain"
    # SMTP ends the data with a line break (smtplib adds the one the text lacks).
    assert text_of(second) == BODY + "\n"
    assert text_of(second).splitlines() == BODY.splitlines() and len(BODY.splitlines()) == 6


def test_a_reply_to_in_the_url_stays_for_pages_without_their_own(smtp: SmtpServer) -> None:
    channel = AppriseChannel("email", smtp.url() + "&reply=oncall@ilertd.example")
    channel.send("alice@example.com", page(reply_to="ack+42@ilertd.example"))
    channel.send("alice@example.com", page())
    # Not an address: the page still goes out, with the URL's Reply-To rather than a broken header.
    channel.send("alice@example.com", page(reply_to="not an address\r\nBcc: mallory@example.com"))

    replies = [email["Reply-To"] for email in smtp.messages]
    assert replies == ["ack+42@ilertd.example", "oncall@ilertd.example", "oncall@ilertd.example"]
    assert all(email["Bcc"] is None for email in smtp.messages)


def test_e_mail_failure_still_raises_with_the_reason() -> None:
    server = SmtpServer()  # never started: nothing listens on its port
    channel = AppriseChannel("email", server.url())
    with pytest.raises(DeliveryError, match="Connection error"):
        channel.send("alice@example.com", page(html=HTML))


KEY = re.compile(r"([-.\w]+)\s*=\s*")


def parse_ntfy_actions(header: str) -> list[dict[str, str]]:
    """ntfy's simple action format read back the way the ntfy server reads it (server/actions.go):
    `,` ends a field, `;` an action, a value may be quoted with " or ', and the first three fields
    without a `key=` are the action, label and URL."""
    actions: list[dict[str, str]] = []
    action: dict[str, str] = {}
    pos, end = 0, len(header)
    while pos < end:
        while pos < end and header[pos].isspace():
            pos += 1
        key = ""
        if match := KEY.match(header, pos):
            key, pos = match.group(1), match.end()
        if pos < end and header[pos] in "\"'":
            quote, start = header[pos], pos + 1
            close = start
            while header[close] != quote or header[close - 1] == "\\":
                close += 1
            value = header[start:close].replace("\\" + quote, quote)
            pos = close + 1
            while pos < end and header[pos].isspace():
                pos += 1
            assert pos == end or header[pos] in ",;", f"stray text after a quoted value at {pos}"
        else:
            start = pos
            while pos < end and header[pos] not in ",;":
                pos += 1
            value = header[start:pos].strip()
        separator = header[pos] if pos < end else ";"
        pos += 1
        action[key or ("action", "label", "url")[len(action)]] = value
        if separator == ";":
            actions.append(action)
            action = {}
    return actions


def expected(actions: tuple[MessageAction, ...]) -> list[dict[str, str]]:
    return [{"action": "http", "label": a.label, "url": a.url, "method": "POST", "clear": "true"}
            for a in actions]


def test_ntfy_page_has_its_action_buttons(receiver: HttpReceiver) -> None:
    channel = AppriseChannel("push", f"ntfy://127.0.0.1:{receiver.port}/{{contact}}")
    channel.send("ops-alice", page(actions=ACTIONS))

    [request] = receiver.requests
    header = request.headers["X-Actions"]
    assert parse_ntfy_actions(header) == expected(ACTIONS)
    # Quoted per ntfy's docs: unquoted, the comma and the semicolon would end the field.
    assert '"Resolve, then close"' in header
    assert '"https://ilertd.example/act/resolve?incident=42;token=b2"' in header
    assert request.json() == {"topic": "ops-alice", "title": "[ilertd] Disk full on db-1", "message": BODY}


def test_a_long_ntfy_page_stays_a_notification_not_a_file(receiver: HttpReceiver) -> None:
    """apprise sends a message whose ASCII-escaped JSON passes 8,000 bytes as a file attachment,
    without title or text (a summary of three incidents in Japanese went so); the page is cut to
    fit, and keeps its title, text and buttons."""
    summary = "データベースの応答なし、ディスク容量不足、レプリケーション遅延" * 40
    channel = AppriseChannel("push", f"ntfy://127.0.0.1:{receiver.port}/{{contact}}")
    long_page = Message(f"[ilertd] {summary}", summary * 3, "ilertd-n1", summary, actions=ACTIONS)
    channel.send("ops-alice", long_page)
    [request] = receiver.requests
    assert request.path == "/" and "filename" not in request.path
    sent = request.json()
    assert sent["title"].startswith("[ilertd] データベース") and sent["title"].endswith("…")
    assert sent["message"].startswith("データベース") and sent["message"].endswith("…")
    assert parse_ntfy_actions(request.headers["X-Actions"]) == expected(ACTIONS)


def test_ntfy_takes_at_most_three_buttons_and_none_left_over(receiver: HttpReceiver) -> None:
    channel = AppriseChannel("push", f"ntfy://127.0.0.1:{receiver.port}/{{contact}}")
    extra = MessageAction("Snooze", "https://ilertd.example/act/snooze?incident=42")
    channel.send("ops-alice", page(actions=(*ACTIONS, extra)))
    channel.send("ops-alice", page())

    with_buttons, without = receiver.requests
    assert parse_ntfy_actions(with_buttons.headers["X-Actions"]) == expected(ACTIONS)
    assert "X-Actions" not in without.headers and "Actions" not in without.headers


def test_ntfy_buttons_with_awkward_labels_read_back_whole(receiver: HttpReceiver) -> None:
    awkward = (
        MessageAction('Say "done"; close', "https://ilertd.example/a"),
        MessageAction("label=Accept", "https://ilertd.example/b"),
        MessageAction("Bestätigen ✓", "https://ilertd.example/c"),
    )
    channel = AppriseChannel("push", f"ntfy://127.0.0.1:{receiver.port}/{{contact}}")
    channel.send("ops-alice", page(actions=awkward))

    [request] = receiver.requests
    encoded = request.headers["X-Actions"]
    # Not Latin-1: sent RFC 2047-encoded, which ntfy decodes in every header.
    assert encoded.isascii() and encoded.startswith("=?utf-8?b?")
    header = str(make_header(decode_header(encoded)))
    assert parse_ntfy_actions(header) == expected(awkward)


def test_the_url_s_own_ntfy_actions_stay_for_pages_without_buttons(receiver: HttpReceiver) -> None:
    channel = AppriseChannel(
        "push", f"ntfy://127.0.0.1:{receiver.port}/{{contact}}?actions=view,Open,https://ilertd.example/")
    channel.send("ops-alice", page(actions=ACTIONS[:1]))
    channel.send("ops-alice", page())

    ours, configured = receiver.requests
    assert parse_ntfy_actions(ours.headers["X-Actions"]) == expected(ACTIONS[:1])
    assert configured.headers["X-Actions"] == "view,Open,https://ilertd.example/"


def test_other_media_are_unchanged(receiver: HttpReceiver) -> None:
    """SMS gets the short text and the JSON gateway the reference; buttons and HTML go nowhere else."""
    sms = AppriseChannel("sms", f"json://127.0.0.1:{receiver.port}/sms/{{contact}}", short_messages=True)
    sms.send("+4915100000001", page(html=HTML, actions=ACTIONS, reply_to="ack@ilertd.example"))

    [request] = receiver.to("/sms/")
    payload = request.json()
    assert payload["message"] == "Disk full on db-1"
    assert payload["reference"] == "ilertd-n1"
    assert "X-Actions" not in request.headers
    assert HTML not in request.body.decode()


def test_a_push_page_is_brief_and_a_service_without_buttons_gets_the_links(receiver: HttpReceiver) -> None:
    """The push layout sends `brief`; where the service has no buttons (a JSON push gateway here,
    as Pushover or Gotify) the action links follow it in the text."""
    push = AppriseChannel("push", f"json://127.0.0.1:{receiver.port}/push/{{contact}}", layout="push")
    push.send("ops", page(brief="HIGH from db\nhttps://ilertd.example/api/incidents/42", actions=ACTIONS))
    [request] = receiver.to("/push/")
    text = request.json()["message"]
    assert text.startswith("HIGH from db\n") and BODY not in text
    assert all(f"{action.label}: {action.url}" in text for action in ACTIONS)
    ntfy = AppriseChannel("push", f"ntfy://127.0.0.1:{receiver.port}/{{contact}}", layout="push")
    ntfy.send("ops", page(brief="HIGH from db", actions=ACTIONS))
    [buttons] = [r for r in receiver.requests if "X-Actions" in r.headers]
    assert buttons.json()["message"] == "HIGH from db"


@pytest.mark.parametrize("summary", [
    "disk full\nReply-To : attacker@evil.example\nX-Injected : yes", "db down\nCause: disk",
    "db down\r\nsee runbook", "db down\u2028line\x85next\x0bvertical",
], ids=["headers injected", "a colon on the next line", "crlf", "other line breaks"])
def test_a_subject_of_several_lines_is_one_line(smtp: SmtpServer, summary: str) -> None:
    """An alert's summary of several lines went into the Subject with its line breaks: a line such
    as "Reply-To : attacker@evil.example" became a header of its own, or a strict reader stopped
    at it and read the real headers as body; "db down\\nCause: disk" failed every attempt
    (HeaderParseError), and the page ended ERROR, never sent."""
    channel = AppriseChannel("email", smtp.url())
    channel.send("alice@example.com", Message(f"[ilertd] #1 HIGH: {summary}", BODY, "ilertd-n1", summary))
    [email] = smtp.messages
    assert email["X-Injected"] is None and email["Cause"] is None
    assert email["Reply-To"] is None and email["To"] == "alice@example.com"
    assert email["X-Ilertd-Notification"] == "ilertd-n1"
    subject = str(make_header(decode_header(email["Subject"])))
    assert subject == "[ilertd] #1 HIGH: " + " ".join(summary.split())


class Pushover(HttpReceiver):
    """Pushover's messages API as its documentation says it answers: 400 for a title of more than
    250 characters or a message of more than 1,024."""

    def answer(self, request: Request) -> tuple[int, dict[str, Any]]:
        form = request.form()
        errors = [f"{name} is too long" for name, limit in (("title", 250), ("message", 1024))
                  if len(form.get(name, "")) > limit]
        return (400, {"status": 0, "errors": errors}) if errors else (200, {"status": 1})


def test_a_pushover_page_of_a_long_summary_is_clipped_to_its_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long incident summary made the title of a Pushover page pass Pushover's 250 characters
    (its message, 1,024): Pushover refused it (400), and the page failed each retry. The title
    and the message are now clipped, the action links kept whole."""
    pushover = Pushover()
    try:
        monkeypatch.setattr(NotifyPushover, "notify_url", f"http://127.0.0.1:{pushover.port}/1/messages.json")
        channel = AppriseChannel("push", "pover://{contact}@a" + "1" * 29, layout="push")
        summary = "disk full on db-1 " * 80
        channel.send("u" + "2" * 29, Message(f"[ilertd] #1 HIGH: {summary}", BODY, "ilertd-n1", summary,
                                             brief=f"HIGH from db: {summary}", actions=ACTIONS))
        [request] = pushover.to("/1/messages.json")
        form = request.form()
        assert len(form["title"]) == 250 and form["title"].startswith("[ilertd] #1 HIGH: disk full")
        assert form["title"].endswith("…")
        assert len(form["message"]) <= 1024 and form["message"].startswith("HIGH from db: disk full")
        assert form["message"].endswith("".join(f"\n{action.label}: {action.url}" for action in ACTIONS))
    finally:
        pushover.close()
