"""SMS as a built-in plugin: pages through the apprise URL of `[channels.sms] url`, and Twilio's
inbound SMS webhook `POST /api/v1/twilio/sms`, where a text to an SMS alert source's number opens
an alert on that source, and any other text is a responder's reply to a page (`3a`, `ack 12`, STOP)."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ilertd import hookimpl
from ilertd.channels.sender_numbers import reply_numbers
from ilertd.channels.twilio_voice import check_twilio_request, twiml_text
from ilertd.domain.events import MAX_ALERT_KEY, MAX_SUMMARY, Event
from ilertd.domain.phone_numbers import twilio_address_number
from ilertd.errors import ApiError
from ilertd.hookspecs import Channel, PluginContext, takes_events
from ilertd.store.numbers import sms_sources_numbered
from ilertd.store.sources import source_key_by_phone

logger = logging.getLogger(__name__)

INTEGRATION = "sms"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# To the sender of an SMS alert ilertd could not confirm (the store refused it, or no answer came
# in time: it may or may not be open, and a second one is better than none).
NOT_CONFIRMED = "ilertd: your alert was not confirmed, so nobody may be paged. Send it again in a minute."
# To the sender of a reply (or STOP) the store could not take: nothing changed.
NOT_TAKEN = "ilertd: your reply was not taken: ilertd could not store it. Text it again in a minute."


def sms_event(form: dict[str, str]) -> Event:
    """A text to a source's number as an ALERT: the body is the summary, the sender in the details.
    Twilio re-sends a webhook it got no answer to with the same MessageSid: one incident for both."""
    body = " ".join(form.get("Body", "").split()) or "(empty SMS)"
    sender = form.get("From", "")
    return Event(
        event_type="ALERT",
        alert_key=(form.get("MessageSid") or f"sms-{sender}-{body}")[:MAX_ALERT_KEY],
        summary=body[:MAX_SUMMARY],
        details=f"SMS from {sender} to {form.get('To', '')}",
        custom_details={"from": sender, "to": form.get("To", ""), "messageSid": form.get("MessageSid", "")},
    )


def twiml_message(text: str | None) -> str:
    """TwiML that texts `text` back to the sender (None: nothing, and nothing is charged)."""
    if text is None:
        return EMPTY_TWIML
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{twiml_text(text)}</Message></Response>'


class InboundSms:
    def __init__(self, context: PluginContext) -> None:
        self.context = context
        # A text to one of these is a reply, whatever source an older store gave the number.
        self.reply_numbers = reply_numbers(context.settings)

    async def receive(self, request: Request) -> Response:
        body = await self.context.read_body(request)
        form = check_twilio_request(self.context.settings.twilio.auth_token, self.context.public_url,
                                    request.url.path, request.url.query, request.method, body,
                                    request.headers.get("x-twilio-signature", ""))
        # A message through WhatsApp names its channel before each number: a reply from
        # "whatsapp:+4915..." answers the pages to +4915..., as one by SMS does.
        sender, to = twilio_address_number(form.get("From", "")), twilio_address_number(form.get("To", ""))
        alerts_here = bool(to) and to not in self.reply_numbers
        if alerts_here and sender in self.reply_numbers:
            # A page ilertd texted to an SMS source's number (a contact naming it): taken, it would
            # open an incident paging that number again, without end.
            logger.warning("SMS from %s, a number pages are sent from, to the SMS alert source number %s:"
                           " a page of ilertd's own; not taken as an alert (no contact should name it)",
                           sender, to)
            return Response(EMPTY_TWIML, media_type="application/xml")
        key = await run_in_threadpool(source_key_by_phone, to) if alerts_here else None
        if key is None:
            replies = self.context.replies
            try:
                answer = await run_in_threadpool(replies.sms, sender, form.get("Body", ""),
                                                 form.get("MessageSid", ""))
            except ApiError as error:
                if error.status < 500:
                    raise
                # A 5xx is not re-sent by Twilio: the reply would be lost with nobody told.
                logger.warning("SMS reply from %s not taken: %s (%s); the sender is told to text it again",
                               sender, error.message, error.code)
                answer = NOT_TAKEN
            return Response(twiml_message(answer), media_type="application/xml")
        try:
            event = sms_event(form)
        except ValueError as error:
            raise ApiError(400, "INVALID_PAYLOAD", f"sms: {error}") from None
        (outcome,) = await self.context.ingest(key, [event], INTEGRATION, {k: v for k, v in form.items()})
        error = outcome.error
        if error is not None and error.status >= 500:
            # Twilio re-sends a webhook after a timeout, never after a 5xx (without connection
            # overrides): a 503 here lost the alert with its sender believing it raised. Told,
            # a person can send it again.
            logger.warning("SMS alert from %s not opened: %s (%s); the sender is told to send it again",
                           form.get("From", ""), error.message, error.code)
            return Response(twiml_message(NOT_CONFIRMED), media_type="application/xml")
        if error is not None:
            raise error
        # Twilio texts back whatever the TwiML says: nothing, so the sender is not charged a reply.
        return Response(EMPTY_TWIML, media_type="application/xml")


@hookimpl
def register_channels(context: PluginContext) -> list[Channel]:
    # Empty: the method still exists (contacts may use it), and its pages go to the log.
    return [Channel("SMS", url=context.settings.channels.sms.url, short_messages=True, layout="sms",
                    description="SMS, the short text, through apprise (twilio://, vonage://, json://, ...)")]


@hookimpl
def startup(context: PluginContext) -> None:
    """Say which SMS sources an older store gave a number pages are sent from: texts to it are
    replies, and the source takes none (the API refuses such a number now)."""
    numbers = reply_numbers(context.settings)
    for source_id, name, number in sms_sources_numbered(numbers):
        logger.error("alert source %d (%r) has the number %s, which pages are sent from: texts to it "
                     "are replies to pages, and it opens no alerts; give it a number of its own",
                     source_id, name, number)


def queued_text(_body: bytes) -> Response:
    """A text a follower queued while no node leads (Twilio never sends again a webhook answered
    5xx): taken, the next leader acts on it; Twilio texts nothing back for an empty answer."""
    return Response(EMPTY_TWIML, media_type="application/xml")


@hookimpl
def register_routes(context: PluginContext) -> list[BaseRoute]:
    return [takes_events(Route("/api/v1/twilio/sms", InboundSms(context).receive, methods=["POST"]),
                         queued_text)]
