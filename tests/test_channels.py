"""Channel URL rendering (also for services with fixed hosts that tests cannot reach) and back-off."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import apprise
import pytest

from ilertd.channels.apprise_channel import AppriseChannel, render_url
from ilertd.channels.base import DeliveryError, Message
from ilertd.channels.setup import channels_from_config
from ilertd.config import ChannelConfig, ChannelsConfig, Config, TwilioConfig
from ilertd.domain.notification_plan import retry_delay
from tests.loopback import HttpReceiver

# Twilio's formats: an account SID is AC and 32 hex digits, a token 32 characters.
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "f" * 32


@pytest.mark.parametrize(("template", "target", "expected"), [
    (f"twilio://{SID}:{TOKEN}@+15550001111/{{contact}}", "+4915112345678",
     f"twilio://{SID}:{TOKEN}@+15550001111/%2B4915112345678"),
    ("pover://userkey@apptoken/{contact}", "phone-1", "pover://userkey@apptoken/phone-1"),
    ("vonage://key:secret@15550001111/{contact}", "+4915112345678",
     "vonage://key:secret@15550001111/%2B4915112345678"),
    ("ntfys://ntfy.example.com/{contact}", "ops alice", "ntfys://ntfy.example.com/ops%20alice"),
    ("json://gw.example.com/sms/{contact}", "+491", "json://gw.example.com/sms/%2B491"),
    ("mailto://smtp.example.com:587?from=ilertd@example.com&to={contact}&mode=starttls", "a@b.example",
     "mailto://smtp.example.com:587?from=ilertd@example.com&to=a%40b.example&mode=starttls"),
])
def test_contact_and_reference_rendering(template: str, target: str, expected: str) -> None:
    url = render_url(template, target)
    assert url == expected
    # Every rendered URL is one apprise accepts: the page would not fail on the URL itself.
    assert apprise.Apprise().add(url)


def test_back_off_doubles_up_to_fifteen_minutes() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [
        timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4),
    ]
    assert retry_delay(10) == timedelta(minutes=15)


def test_methods_without_a_channel_page_the_log() -> None:
    channels = channels_from_config(Config())
    assert all(c.name.startswith("log") for c in channels.values())
    configured = channels_from_config(Config(
        channels=ChannelsConfig(email=ChannelConfig("mailto://localhost?to={contact}")),
        twilio=TwilioConfig(account_sid="AC1", auth_token="t", from_number="+1555"),
    ))
    assert configured["EMAIL"].name == "email" and configured["VOICE"].name == "voice"
    assert configured["SMS"].name.startswith("log")


def test_e_mail_reuses_one_verified_tls_context_and_never_an_unverified_one() -> None:
    import ssl

    import apprise.plugins.email.smtp as apprise_smtp

    from ilertd.channels.apprise_channel import _ReusedTLSContext, _verifies_certificates

    assert isinstance(apprise_smtp.ssl, _ReusedTLSContext), "apprise's SMTP client uses the shim"
    tls = _ReusedTLSContext()
    assert tls.create_default_context() is not tls.create_default_context()
    tls.allow_for("mailtos://h?to={contact}&mode=starttls")
    first = tls.create_default_context()
    assert first is tls.create_default_context() and first.verify_mode == ssl.CERT_REQUIRED
    tls.allow_for("mailtos://h?to={contact}&mode=starttls&verify=no")
    assert tls.create_default_context() is not first
    tls.allow_for("mailtos://h?to={contact}&mode=starttls")
    assert not tls.reuse, "once a URL turns checks off, nothing shares a context"
    assert _verifies_certificates("mailtos://h?to=a@b&mode=starttls")
    assert not _verifies_certificates("mailtos://h?to=a@b&mode=starttls&verify=no")


def test_a_failed_sends_error_holds_only_its_own_log_lines() -> None:
    """apprise logs to one process-wide logger; a page's error must not carry what another
    channel actor's send logged meanwhile."""
    receiver = HttpReceiver()
    entered, release = threading.Event(), threading.Event()

    def slow_refusal(_request: Any) -> tuple[int, dict[str, Any]]:
        entered.set()
        release.wait(10)
        return 503, {"error": "unavailable"}

    receiver.answer = slow_refusal  # type: ignore[method-assign]
    channel = AppriseChannel("sms", f"json://127.0.0.1:{receiver.port}/sms/{{contact}}")
    failures: list[str] = []

    def send() -> None:
        try:
            channel.send("+4915100000001", Message("t", "b", "ilertd-n1", "s"))
        except DeliveryError as error:
            failures.append(str(error))

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert entered.wait(10)
        # Another channel actor's send fails meanwhile, on its own thread.
        other = threading.Thread(target=lambda: apprise.logger.warning("push to ops-bob failed: SECRET-B"))
        other.start()
        other.join()
    finally:
        release.set()
        sender.join(10)
        receiver.close()
    assert len(failures) == 1
    assert "503" in failures[0] or "unavailable" in failures[0].lower(), failures[0]
    assert "SECRET-B" not in failures[0]


def test_apprise_never_sleeps_between_sends_to_one_contact() -> None:
    """The channel actor throttles per contact on the daemon's clock; apprise's own wall-clock
    pause between two sends through one plugin would hold the actor (a team mailbox shared by two
    contacts would make each wait for the other), so it is off on every cached plugin."""
    receiver = HttpReceiver()
    try:
        channel = AppriseChannel("sms", f"json://127.0.0.1:{receiver.port}/sms/{{contact}}")
        for _ in range(2):
            channel.send("+4915100000001", Message("t", "b", "ilertd-n1", "s"))
        assert len(receiver.to("/sms/")) == 2
        cached = next(iter(channel._cache.values()))
        assert [plugin.request_rate_per_sec for plugin in cached] == [0]
    finally:
        receiver.close()
