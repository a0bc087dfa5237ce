"""Voice pages as a built-in plugin: Twilio calls ([twilio]) and the TwiML reading the incident aloud.

`/api/v1/twilio/voice/{notificationId}`, fetched by Twilio when the call connects, reads the
incident and gathers one key, which Twilio posts to `.../{notificationId}/gather` (`Digits`):
4 accepts, 6 resolves, 5 escalates, anything else repeats the menu.

Only Twilio may fetch the TwiML: every request must carry a valid `X-Twilio-Signature`, computed
from `twilio.auth_token` and the URL under `server.public_url` (notification ids are
sequential, and the TwiML says what is wrong).
"""

from __future__ import annotations

import logging
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ilertd import hookimpl
from ilertd.channels.twilio_voice import TwilioVoiceChannel, check_twilio_request
from ilertd.domain.page_text import PageFacts, alert_text, incident_link, voice_menu
from ilertd.hookspecs import Channel, PluginContext
from ilertd.store.incidents import incident
from ilertd.store.outbox import notification
from ilertd.store.sources import source
from ilertd.web.http import path_id, threaded

METHOD = "VOICE"

logger = logging.getLogger(__name__)


class TwiML:
    """The TwiML route's handler, given the plugin's context (the Twilio settings, the public URL)."""

    def __init__(self, context: PluginContext) -> None:
        self.context = context

    def check_signature(self, request: Request, body: bytes) -> dict[str, str]:
        return check_twilio_request(self.context.settings.twilio.auth_token, self.context.public_url,
                             request.url.path, request.url.query, request.method, body,
                             request.headers.get("x-twilio-signature", ""))

    def voice(self, request: Request, body: bytes) -> Response:
        """GET|POST /api/v1/twilio/voice/{notificationId}: what the callee hears, and the keys."""
        self.check_signature(request, body)
        return self.menu(path_id(request))

    def menu(self, notification_id: int) -> Response:
        page = notification(notification_id)
        paged = incident(page.incident_id) if page is not None and page.incident_id is not None else None
        if page is None or paged is None:
            return _twiml(f'<Say voice="alice">{escape(GONE)}</Say>')
        origin = source(paged.alert_source_id)
        facts = PageFacts(paged.id, paged.summary, paged.details, paged.priority,
                          paged.status, origin.name if origin else "",
                          incident_link(self.context.public_url, paged.id))
        spoken = escape(f"{alert_text(facts, f'ilertd-n{page.id}').spoken} {voice_menu()}")
        gather = (f'<Gather numDigits="1" timeout="8" method="POST" '
                  f'action="{escape(self.context.public_url)}/api/v1/twilio/voice/{page.id}/gather">'
                  f'<Say voice="alice">{spoken}</Say></Gather>')
        # No key: the menu once more, then the call ends (the page stays unanswered and escalates).
        return _twiml(f'{gather}{gather}<Say voice="alice">No key was pressed. Goodbye.</Say>')

    def gather(self, request: Request, body: bytes) -> Response:
        """POST /api/v1/twilio/voice/{notificationId}/gather: the key the callee pressed."""
        form = self.check_signature(request, body)
        notification_id = path_id(request)
        answer = self.context.replies.voice_key(notification_id, form.get("Digits", ""))
        if answer.repeat:
            return self.menu(notification_id)
        return _twiml(f'<Say voice="alice">{escape(answer.text)}</Say><Hangup/>')


GONE = "This is ilertd. This page no longer exists. Goodbye."


def _twiml(verbs: str) -> Response:
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{verbs}</Response>',
                    media_type="application/xml")


@hookimpl
def register_channels(context: PluginContext) -> list[Channel]:
    twilio = context.settings.twilio
    configured = bool(twilio.account_sid and twilio.auth_token and twilio.from_number)
    if twilio.account_sid and not configured:
        logger.error("channel VOICE: twilio.account_sid is set but twilio.auth_token or twilio.from_number"
                     " is not: voice pages go to the log (`ilertd check-config` says which)")
    sender = (TwilioVoiceChannel(twilio.account_sid, twilio.auth_token, twilio.from_number,
                                 twilio.api_base_url) if configured else None)
    # A shift reminder is read ahead of time; a phone call for it would be a false page.
    return [Channel(METHOD, sender=sender, reminders=False, layout="voice",
                    description="phone calls through Twilio ([twilio]) reading the incident aloud")]


@hookimpl
def register_routes(context: PluginContext) -> list[BaseRoute]:
    twiml = TwiML(context)
    return [
        Route("/api/v1/twilio/voice/{id}", threaded(twiml.voice, access="public"), methods=["GET", "POST"]),
        Route("/api/v1/twilio/voice/{id}/gather", threaded(twiml.gather, access="public"), methods=["POST"]),
    ]
