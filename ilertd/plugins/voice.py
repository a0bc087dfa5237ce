"""Voice pages as a built-in plugin: Twilio calls ([twilio]) and the TwiML reading the incident aloud.

`/api/v1/twilio/voice/{notificationId}`, fetched by Twilio when the call connects, reads the
incident and gathers one key, which Twilio posts to `.../{notificationId}/gather` (`Digits`):
4 accepts, 6 resolves, 5 escalates, anything else repeats the menu. A summary call reads each of
its incidents in turn, each gathered at its own page's URL; 0 moves on to the next.

Only Twilio may fetch the TwiML: every request must carry a valid `X-Twilio-Signature`, computed
from `twilio.auth_token` and the URL under `server.public_url` (notification ids are
sequential, and the TwiML says what is wrong).
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ilertd import hookimpl
from ilertd.channels.twilio_voice import TwilioVoiceChannel, check_twilio_request, twiml_text
from ilertd.config.settings import NOT_E164
from ilertd.domain.page_text import PageFacts, call_text, incident_link, test_text, update_text, voice_menu
from ilertd.domain.pages_in_flight import UPDATE_WORDS, page_reference
from ilertd.domain.phone_numbers import e164
from ilertd.hookspecs import Channel, PluginContext
from ilertd.store.incidents import incident
from ilertd.store.models import Incident, Notification
from ilertd.store.outbox import TEST, notification, pages_of_message
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
        page = notification(path_id(request))
        if page is None or page.kind == TEST:
            return self.menu(page, [])
        # The call is placed with the URL of one of its rows, not always the first it reads; a call
        # of status updates alone reads them.
        call = pages_of_message(page)
        return self.menu(call[0], call) if call else self.updates(pages_of_message(page, updates=True))

    def menu(self, page: Notification | None, call: list[Notification], before: str = "") -> Response:
        """The incident of the page, read with its keys (after `before`): a summary call's
        incidents (`call`, as pages_of_message reads them) each in turn, the next one reached by 0,
        or when no key is pressed."""
        if page is not None and page.kind == TEST:
            spoken = test_text(page.method, page.target, "", page_reference(page.id)).spoken
            return _twiml(f"{_say(spoken)}<Hangup/>")
        paged = incident(page.incident_id) if page is not None and page.incident_id is not None else None
        if page is None or paged is None:
            return _twiml(_say(f"{before} {GONE}"))
        position, count, after = _place_in_call(page, call)
        calls = f"{twiml_text(self.context.public_url)}/api/v1/twilio/voice"
        told = call_text(self._facts(paged), position, count)
        if paged.status == "RESOLVED":  # since the call was placed: nothing to answer
            then = (f'<Redirect method="POST">{calls}/{after.id}/gather</Redirect>' if after is not None
                    else _say(f"{self._also(page)}Goodbye.") + "<Hangup/>")
            return _twiml(f'{_say(before) if before else ""}{_say(told)}{then}')
        spoken = f"{told} {voice_menu(more=after is not None)}"
        gather = (f'<Gather numDigits="1" timeout="8" method="POST" action="{calls}/{page.id}/gather">'
                  f'{_say(spoken)}</Gather>')
        # No key: the menu once more, then the call's next incident (a gather without a key is its
        # menu), or the end (the page stays unanswered and escalates).
        then = (f'<Redirect method="POST">{calls}/{after.id}/gather</Redirect>' if after is not None
                else _say(f"No key was pressed. {self._also(page)}Goodbye."))
        return _twiml(f'{_say(before) if before else ""}{gather}{gather}{then}')

    def updates(self, rows: list[Notification]) -> Response:
        """A call of status updates: each read, then the call ends (they offer no keys)."""
        told = self._told(rows)
        if not told:
            return _twiml(_say(GONE))
        return _twiml(_say(f"This is ilertd. {told} Goodbye.") + "<Hangup/>")

    def _told(self, rows: list[Notification]) -> str:
        """What the status updates `rows` say, one sentence each ("Incident 12 accepted.")."""
        told = []
        for row in rows:
            paged = incident(row.incident_id)
            if paged is not None:
                what = UPDATE_WORDS.get(row.kind, "changed")
                told.append(update_text(self._facts(paged), what, page_reference(row.id)).spoken)
        return " ".join(told)

    def _also(self, page: Notification) -> str:
        """The status updates a call of pages carries too, read after its last incident."""
        told = self._told(pages_of_message(page, updates=True))
        return f"Also: {told} " if told else ""

    def _facts(self, paged: Incident) -> PageFacts:
        origin = source(paged.alert_source_id)
        return PageFacts(paged.id, paged.summary, paged.details, paged.priority, paged.status,
                         origin.name if origin else "", incident_link(self.context.public_url, paged.id))

    def gather(self, request: Request, body: bytes) -> Response:
        """POST /api/v1/twilio/voice/{notificationId}/gather: the key the callee pressed."""
        form = self.check_signature(request, body)
        notification_id = path_id(request)
        answer = self.context.replies.voice_key(notification_id, form.get("Digits", ""))
        page = notification(notification_id)
        call = pages_of_message(page) if page is not None else []
        if answer.repeat:
            return self.menu(page, call)
        after = _place_in_call(page, call)[2] if page is not None else None
        if after is not None:
            return self.menu(after, call, before=answer.text)
        if not answer.text:  # 0 on the last incident: nothing comes after it
            return self.menu(page, call)
        also = self._also(page) if page is not None else ""
        return _twiml(f'{_say(f"{answer.text} {also}Goodbye.")}<Hangup/>')


def _place_in_call(page: Notification, call: list[Notification]) -> tuple[int, int, Notification | None]:
    """Where the page's incident is among those its call reads (`call`; none: the page alone): its
    position (from 0), how many there are, and the page of the one read after it (None: the last)."""
    pages = call or [page]
    position = next((i for i, p in enumerate(pages) if p.incident_id == page.incident_id), 0)
    return position, len(pages), pages[position + 1] if position + 1 < len(pages) else None


GONE = "This is ilertd. This page no longer exists. Goodbye."


def _say(text: str) -> str:
    return f'<Say voice="alice">{twiml_text(text.strip())}</Say>'


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
    from_number = e164(twilio.from_number)
    if configured and from_number is None:
        logger.error("channel VOICE: twilio.from_number %s (`ilertd check-config` says so too)",
                     NOT_E164.format(number=twilio.from_number))
    sender = (TwilioVoiceChannel(twilio.account_sid, twilio.auth_token, from_number or twilio.from_number,
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
