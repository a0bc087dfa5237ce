"""How an HTTP provider's answer is read: one that took the page but answered late or oddly."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from ilertd.channels import twilio_voice
from ilertd.channels.apprise_channel import AppriseChannel
from ilertd.channels.base import DeliveryError, Message
from ilertd.channels.http_exchanges import READ_TIMEOUT_S
from ilertd.channels.twilio_voice import TwilioVoiceChannel
from tests.loopback import HttpReceiver, Request
from tests.paging import Paging


def page() -> Message:
    return Message("[ilertd] #7 disk full", "Incident #7\n", "ilertd-n7", "disk full",
                   voice_url="https://ilertd.example/api/v1/twilio/voice/7")


class Provider(HttpReceiver):
    """Answers as the test sets `answers` (by the request's path or Twilio's `To`); holds its answer
    until `release` while `holding`."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[Any, ...]] = {}
        self.holding = False
        self.release = threading.Event()
        super().__init__()

    def answer(self, request: Request) -> tuple[Any, ...]:  # type: ignore[override]
        if self.holding:
            self.release.wait(10)
        key = request.form().get("To", "") if request.path.endswith("/Calls.json") else request.path
        return self.answers.get(key) or super().answer(request)


@pytest.fixture
def provider() -> Iterator[Provider]:
    receiver = Provider()
    yield receiver
    receiver.release.set()
    receiver.close()


def sms(provider: Provider, options: str = "") -> AppriseChannel:
    url = f"json://127.0.0.1:{provider.port}/sms/{{contact}}{options}"
    return AppriseChannel("sms", url, short_messages=True)


def test_an_http_provider_has_thirty_seconds_to_answer(provider: Provider) -> None:
    """apprise's default of 4 s counted a gateway that took the SMS and answered after 5 s failed:
    the SMS went again at each retry."""
    channel = sms(provider)
    channel.send("+4915100000001", page())
    (plugin,) = next(iter(channel._cache.values()))
    assert plugin.socket_read_timeout == READ_TIMEOUT_S == 30
    own = sms(provider, "?rto=12")
    own.send("+4915100000001", page())
    assert next(iter(next(iter(own._cache.values())))).socket_read_timeout == 12


def test_a_late_answer_says_the_provider_may_have_taken_the_page(provider: Provider) -> None:
    """It said "A Connection error occurred", as if the gateway was never reached."""
    provider.holding = True
    with pytest.raises(DeliveryError, match=r"timed out waiting for the provider's answer \(the provider"
                                            r" may have taken it\)"):
        sms(provider, "?rto=0.3").send("+4915100000001", page())
    assert len(provider.to("/sms/")) == 1


def voice(provider: Provider) -> TwilioVoiceChannel:
    return TwilioVoiceChannel("ACtest", "twilio-secret", "+15550001111", f"http://127.0.0.1:{provider.port}")


def test_a_call_taken_with_an_unreadable_answer_is_not_placed_again(provider: Provider,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A 201 with a proxy's HTML was retried: every retry placed another call."""
    provider.answers["+4915200000888"] = (201, b"<html>proxy</html>")
    voice(provider).send("+4915200000888", page())
    assert "Twilio took the call to +4915200000888 without a readable call sid" in caplog.text
    provider.answers["+4915200000500"] = (500, {"message": "boom"})
    with pytest.raises(DeliveryError, match="Twilio refused the call to \\+4915200000500: HTTP 500"):
        voice(provider).send("+4915200000500", page())


def test_a_late_twilio_answer_says_the_call_may_have_been_placed(provider: Provider,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert twilio_voice.TIMEOUT_S == 30
    monkeypatch.setattr(twilio_voice, "TIMEOUT_S", 0.3)
    provider.holding = True
    with pytest.raises(DeliveryError, match=r"Twilio timed out .* \(the call to \+4915200000777 may have"
                                            r" been placed\)"):
        voice(provider).send("+4915200000777", page())


def test_a_providers_retry_after_comes_with_its_refusal(provider: Provider) -> None:
    provider.answers["/sms/+4915100000429"] = (429, {"error": "slow down"}, {"Retry-After": "120"})
    with pytest.raises(DeliveryError) as refused:
        sms(provider).send("+4915100000429", page())
    assert refused.value.retry_after == "120"
    provider.answers["/sms/+4915100000500"] = (500, {"error": "boom"}, {"Retry-After": "120"})
    with pytest.raises(DeliveryError) as failed:
        sms(provider).send("+4915100000500", page())
    assert failed.value.retry_after is None  # only a 429's or a 503's
    provider.answers["+4915200000429"] = (429, {"code": 20429}, {"Retry-After": "90"})
    with pytest.raises(DeliveryError) as call_refused:
        voice(provider).send("+4915200000429", page())
    assert call_refused.value.retry_after == "90"


def test_a_page_refused_with_retry_after_is_retried_when_the_provider_asked(app_paging: Paging) -> None:
    p = app_paging
    ann = p.user("ann", [("SMS", 0, "HIGH_PRIORITY")])
    p.policy([(60, [ann])])
    p.http.answer = lambda request: (429, {"error": "slow down"}, {"Retry-After": "120"})  # type: ignore[method-assign]
    incident = p.alert("db1")
    now = p.daemon.advance("PT0S")
    (row,) = p.notifications(incident)
    assert (row["status"], row["attempts"]) == ("SCHEDULED", 1)
    assert datetime.fromisoformat(row["dueAt"]) - datetime.fromisoformat(now) == timedelta(minutes=2)
