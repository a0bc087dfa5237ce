"""The numbers pages come from, over HTTP: `GET /api/numbers` as JSON and `/api/numbers.vcf` as a vCard."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ilertd.channels.sender_numbers import sms_channel_sender
from ilertd.domain.phone_numbers import (
    SMS,
    VOICE,
    SenderNumber,
    e164,
    merge_numbers,
    render_vcard,
)
from ilertd.store.numbers import sms_source_numbers
from ilertd.web.http import threaded
from ilertd.web.services import Services

VCARD_TYPE = "text/vcard; charset=utf-8"


def sender_numbers(services: Services) -> list[SenderNumber]:
    """Every number pages come from or texts to ilertd go to, one entry per number.

    `[twilio] from_number`: SMS, and VOICE when the voice plugin calls from it (account, token
    and number set). The twilio:// URL of `[channels.sms]`: its sender. SMS alert sources'
    numbers. Texts reach ilertd (`POST /api/v1/twilio/sms`) only while the sms plugin is
    enabled and `[twilio] auth_token` is set to check Twilio's signature with.
    """
    config = services.config
    twilio = config.twilio
    enabled = {name for name in ("sms", "voice") if _enabled(services, name)}
    inbound = bool(twilio.auth_token) and "sms" in enabled
    found: list[SenderNumber] = []
    own = e164(twilio.from_number)
    if own is not None:
        calls = bool(twilio.account_sid and twilio.auth_token) and "voice" in enabled
        found.append(SenderNumber(own, frozenset({SMS, VOICE} if calls else {SMS}), inbound))
    channel = sms_channel_sender(config.channels.sms.url, inbound) if "sms" in enabled else None
    if channel is not None:
        found.append(channel)
    found.extend(SenderNumber(number, frozenset({SMS}), inbound) for number in sms_source_numbers())
    return merge_numbers(found)


def number_json(number: SenderNumber) -> dict[str, object]:
    return {
        "countryCode": number.country_code,
        "phoneNumber": number.phone_number,
        "types": sorted(number.types),
        "supportsInboundSms": number.supports_inbound_sms,
    }


def _enabled(services: Services, plugin: str) -> bool:
    status = services.plugins.status(plugin)
    return status is not None and status.state == "enabled"


def routes(services: Services) -> list[Route]:
    def list_numbers(_request: Request, _body: bytes) -> Response:
        return JSONResponse([number_json(n) for n in sender_numbers(services)])

    def numbers_vcard(_request: Request, _body: bytes) -> Response:
        return Response(render_vcard(sender_numbers(services)), media_type=VCARD_TYPE,
                        headers={"Content-Disposition": 'attachment; filename="ilertd.vcf"'})

    return [
        Route("/api/numbers", threaded(list_numbers), methods=["GET"]),
        Route("/api/numbers.vcf", threaded(numbers_vcard), methods=["GET"]),
    ]
