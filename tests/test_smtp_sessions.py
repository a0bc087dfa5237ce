"""E-mail pages of one batch share an SMTP session; one e-mail plugin serves every bare address."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ilertd.channels.apprise_channel import AppriseChannel
from ilertd.channels.base import DeliveryError, Message
from ilertd.channels.smtp_sessions import MAX_MESSAGES
from tests.loopback import SmtpServer


def page(number: int) -> Message:
    return Message(f"[ilertd] #{number} disk full", "Incident #{number}\n", f"ilertd-n{number}", "disk full")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def recipients(server: SmtpServer) -> list[str]:
    return [str(message["To"]) for message in server.messages]


def test_the_e_mails_of_a_batch_go_through_one_session(smtp: SmtpServer) -> None:
    channel = AppriseChannel("email", smtp.url())
    with channel.batch():
        for number, contact in enumerate(["a@example.com", "b@example.com", "c@example.com"]):
            channel.send(contact, page(number))
    assert recipients(smtp) == ["a@example.com", "b@example.com", "c@example.com"]
    assert len(set(smtp.peers)) == 1


def test_an_e_mail_outside_a_batch_opens_and_closes_its_own_session(smtp: SmtpServer) -> None:
    # A session left open would surface as an unclosed socket's warning, which fails the test.
    channel = AppriseChannel("email", smtp.url())
    channel.send("a@example.com", page(1))
    channel.send("b@example.com", page(2))
    assert recipients(smtp) == ["a@example.com", "b@example.com"]
    assert len(set(smtp.peers)) == 2


def test_a_session_carries_at_most_max_messages(smtp: SmtpServer) -> None:
    channel = AppriseChannel("email", smtp.url())
    with channel.batch():
        for number in range(MAX_MESSAGES + 1):
            channel.send(f"user{number}@example.com", page(number))
    peers = smtp.peers
    assert len(peers) == MAX_MESSAGES + 1
    assert peers[MAX_MESSAGES - 1] == peers[0] != peers[MAX_MESSAGES]


def test_a_session_that_failed_is_not_used_again(smtp: SmtpServer) -> None:
    smtp.inbox.refused.add("gone@example.com")
    channel = AppriseChannel("email", smtp.url())
    with channel.batch():
        channel.send("a@example.com", page(1))
        # The server's own words are in the failure (apprise logs them at debug level only).
        with pytest.raises(DeliveryError, match=r"gone@example\.com refused: 550 no such user here"):
            channel.send("gone@example.com", page(2))
        channel.send("b@example.com", page(3))
    assert recipients(smtp) == ["a@example.com", "b@example.com"]
    first, after_failure = smtp.peers
    assert first != after_failure


def test_one_plugin_serves_bare_addresses_and_a_named_contact_gets_its_own(smtp: SmtpServer) -> None:
    channel = AppriseChannel("email", smtp.url())
    for number, contact in enumerate(["a@example.com", "b@example.com", "Carol <carol@example.com>"]):
        channel.send(contact, page(number))
    assert recipients(smtp) == ["a@example.com", "b@example.com", "Carol <carol@example.com>"]
    # The two bare addresses shared the plugin made once for the URL; the named one has its own.
    assert len(channel._cache) == 2


def test_a_url_naming_the_contact_elsewhere_builds_a_plugin_per_contact(smtp: SmtpServer) -> None:
    url = f"mailto://127.0.0.1:{smtp.port}?from=ilertd@example.com&to={{contact}}&cc={{contact}}&mode=insecure"
    channel = AppriseChannel("email", url)
    channel.send("a@example.com", page(1))
    channel.send("b@example.com", page(2))
    assert recipients(smtp) == ["a@example.com", "b@example.com"]
    assert len(channel._cache) == 2


@pytest.mark.parametrize("extra", ["bcc", "cc"])
def test_a_refused_cc_or_bcc_does_not_fail_the_page(smtp: SmtpServer, extra: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """An archive mailbox refusing its copy failed the whole page: it was retried, and the
    responder got it again at each retry (up to 25 times)."""
    smtp.inbox.refused.update({"archive@example.com", "gone@example.com"})
    url = smtp.url() + f"&{extra}=archive@example.com"
    channel = AppriseChannel("email", url)
    with channel.batch():
        channel.send("a@example.com", page(1))
        with pytest.raises(DeliveryError, match=r"gone@example\.com refused: 550"):
            channel.send("gone@example.com", page(2))
    assert recipients(smtp) == ["a@example.com"]
    assert "e-mail to a@example.com sent, but not to its other recipients: archive@example.com refused: 550" \
        in caplog.text


def test_a_server_closing_a_reused_session_gets_the_page_again_on_a_fresh_one(smtp: SmtpServer) -> None:
    """A server taking 10 messages a connection (then 421) failed the 11th page of a burst, which
    went 30 s later."""
    smtp.inbox.per_session = 3
    channel = AppriseChannel("email", smtp.url())
    with channel.batch():
        for number in range(7):
            channel.send(f"user{number}@example.com", page(number))
    assert recipients(smtp) == [f"user{number}@example.com" for number in range(7)]
    peers = smtp.peers
    assert peers[0] == peers[2] != peers[3] == peers[5] != peers[6]
    # A fresh session the server refuses is the page's failure, not tried again.
    smtp.inbox.per_session = 0
    with pytest.raises(DeliveryError, match=r"421 4\.7\.0 too many messages"):
        channel.send("late@example.com", page(8))
