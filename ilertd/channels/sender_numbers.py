"""The numbers SMS pages are sent from, read from the config: a text to one is a responder's reply."""

from __future__ import annotations

from ilertd.config import Config
from ilertd.domain.phone_numbers import SMS, VOICE, SenderNumber, e164, twilio_sender

TWILIO_SCHEME = "twilio"  # apprise's NotifyTwilio.secure_protocol
# apprise's schemes that hand a message to a web endpoint of one's own: a gateway there may send
# texts from a Twilio number whose replies come to ilertd.
GATEWAY_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})


def _twilio_url_sender(url: str) -> tuple[str, bool, bool] | None:
    """The number a twilio:// apprise URL sends from, whether through WhatsApp, and whether it
    calls; None for another scheme (each names its sender in its own way, or not at all)."""
    scheme, separator, _ = url.partition("://")
    if not separator or scheme.strip().lower() != TWILIO_SCHEME:
        return None
    # Only for a twilio:// URL: apprise costs a command of the CLI about 160 ms of import.
    from apprise.plugins.twilio import NotifyTwilio

    parsed = NotifyTwilio.parse_url(url)
    if not parsed or not isinstance(parsed.get("source"), str):
        return None
    sender = twilio_sender(parsed["source"])
    if sender is None:
        return None
    # `method=call` makes the SMS channel read its pages out in a call instead of texting them.
    calls = str(parsed.get("method") or "").strip().lower() == "call"
    return sender[0], sender[1], calls


def sms_channel_sender(url: str, inbound: bool) -> SenderNumber | None:
    """The number the SMS channel's apprise URL texts (or calls) from, when it is a twilio:// URL
    that does not send through WhatsApp. Only the number leaves here: the URL holds the account's
    credentials."""
    sender = _twilio_url_sender(url)
    if sender is None or sender[1]:
        return None
    number, _, calls = sender
    return SenderNumber(number, frozenset({VOICE if calls else SMS}), inbound)


def reply_numbers(config: Config) -> frozenset[str]:
    """The numbers SMS pages are sent from: `[twilio] from_number` and the twilio:// sender of
    `[channels.sms]` (through WhatsApp too). A responder answers a page by texting the number it
    came from, so a text to one of them is a reply, and no SMS alert source may take its texts."""
    numbers = {e164(config.twilio.from_number)}
    channel = _twilio_url_sender(config.channels.sms.url)
    if channel is not None:
        numbers.add(channel[0])
    return frozenset(n for n in numbers if n is not None)


def replies_reach_ilertd(sms_url: str) -> bool:
    """Whether a reply to an SMS page sent through `sms_url` can come to ilertd's Twilio webhook:
    sent from a Twilio number (twilio://) or by a gateway of one's own, yes; through another
    provider (vonage://, sinch://, ...), the reply goes to that provider, and a page asking for
    one would ask in vain. No URL (pages to the log): as if they could."""
    scheme, separator, _ = sms_url.partition("://")
    scheme = scheme.strip().lower()
    return not separator or scheme == TWILIO_SCHEME or scheme in GATEWAY_SCHEMES
