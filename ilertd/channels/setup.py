"""Which channel serves each method, from the settings: apprise URLs, Twilio, or the log."""

from __future__ import annotations

from ilertd.channels.apprise_channel import AppriseChannel
from ilertd.channels.base import Channel
from ilertd.channels.log_channel import LogChannel
from ilertd.channels.twilio_voice import TwilioVoiceChannel
from ilertd.config import Config


def channels_from_config(config: Config) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    for method, setting in (("EMAIL", config.channels.email), ("SMS", config.channels.sms),
                            ("PUSH", config.channels.push)):
        channels[method] = (
            AppriseChannel(method.lower(), setting.url, short_messages=method == "SMS")
            if setting.url else LogChannel(method)
        )
    twilio = config.twilio
    if twilio.account_sid and twilio.auth_token and twilio.from_number:
        channels["VOICE"] = TwilioVoiceChannel(
            twilio.account_sid, twilio.auth_token, twilio.from_number, twilio.api_base_url
        )
    else:
        channels["VOICE"] = LogChannel("VOICE")
    return channels
