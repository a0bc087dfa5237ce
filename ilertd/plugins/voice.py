"""Voice pages as a built-in plugin: Twilio calls ([twilio]) and the TwiML route reading the incident aloud.

The route is `/api/v1/twilio/voice/{notificationId}`, fetched by Twilio when the call connects.

Only Twilio may fetch the TwiML: every request must carry a valid `X-Twilio-Signature`, computed
from `twilio.auth_token` and the URL under `server.public_url` (notification ids are
sequential, and the TwiML says what is wrong).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ilertd import hookimpl
from ilertd.channels.twilio_voice import TwilioVoiceChannel, check_twilio_request
from ilertd.domain.page_text import PageFacts, alert_text
from ilertd.hookspecs import Channel, PluginContext
from ilertd.store.incidents import incident
from ilertd.store.outbox import notification
from ilertd.store.sources import source
from ilertd.web.http import path_id, threaded

METHOD = "VOICE"


class TwiML:
    """The TwiML route's handler, given the plugin's context (the Twilio settings, the public URL)."""

    def __init__(self, context: PluginContext) -> None:
        self.context = context

    def check_signature(self, request: Request, body: bytes) -> None:
        check_twilio_request(self.context.settings.twilio.auth_token, self.context.public_url,
                             request.url.path, request.url.query, request.method, body,
                             request.headers.get("x-twilio-signature", ""))

    def voice(self, request: Request, body: bytes) -> Response:
        """GET|POST /api/v1/twilio/voice/{notificationId}: what the callee hears."""
        self.check_signature(request, body)
        page = notification(path_id(request))
        paged = incident(page.incident_id) if page is not None and page.incident_id is not None else None
        if page is None or paged is None:
            spoken = "This is ilertd. This page no longer exists. Goodbye."
        else:
            origin = source(paged.alert_source_id)
            facts = PageFacts(paged.id, paged.summary, paged.details, paged.priority,
                              paged.status, origin.name if origin else "",
                              f"{self.context.public_url}/api/incidents/{paged.id}")
            spoken = alert_text(facts, f"ilertd-n{page.id}").spoken
        twiml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<Response><Say voice="alice">{escape(spoken)}</Say>'
            f'<Pause length="1"/><Say voice="alice">{escape(spoken)}</Say></Response>'
        )
        return Response(twiml, media_type="application/xml")


@hookimpl
def register_channels(context: PluginContext) -> list[Channel]:
    twilio = context.settings.twilio
    configured = bool(twilio.account_sid and twilio.auth_token and twilio.from_number)
    sender = (TwilioVoiceChannel(twilio.account_sid, twilio.auth_token, twilio.from_number,
                                 twilio.api_base_url) if configured else None)
    # A shift reminder is read ahead of time; a phone call for it would be a false page.
    return [Channel(METHOD, sender=sender, reminders=False,
                    description="phone calls through Twilio ([twilio]) reading the incident aloud")]


@hookimpl
def register_routes(context: PluginContext) -> list[BaseRoute]:
    twiml = TwiML(context)
    endpoint = threaded(twiml.voice, access="public")
    return [Route("/api/v1/twilio/voice/{id}", endpoint, methods=["GET", "POST"])]
