"""Twilio's side of a voice page: the TwiML that reads the incident aloud when the call connects.

Only Twilio may fetch it: every request must carry a valid `X-Twilio-Signature`, computed
from `twilio.auth_token` and the URL under `server.public_url` (notification ids are
sequential, and the TwiML says what is wrong).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ilertd.domain.page_text import PageFacts, alert_text
from ilertd.errors import ApiError
from ilertd.store import models as m
from ilertd.web.http import path_id, threaded
from ilertd.web.services import Services


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's request signature: HMAC-SHA1 over the URL and the sorted POST parameters."""
    data = url + "".join(key + params[key] for key in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def routes(services: Services) -> list[Route]:
    def check_signature(request: Request, body: bytes) -> None:
        token = services.config.twilio.auth_token
        if not token:
            raise ApiError(403, "FORBIDDEN", "Twilio is not configured")
        url = services.public_url + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        params = dict(parse_qsl(body.decode(errors="replace"))) if request.method == "POST" else {}
        given = request.headers.get("x-twilio-signature", "")
        if not hmac.compare_digest(given.encode(), twilio_signature(token, url, params).encode()):
            raise ApiError(403, "FORBIDDEN", "missing or invalid X-Twilio-Signature")

    def voice(request: Request, body: bytes) -> Response:
        """GET|POST /api/v1/twilio/voice/{notificationId}: what the callee hears."""
        check_signature(request, body)
        notification = m.Notification.get_or_none(m.Notification.id == path_id(request))
        if notification is None:
            spoken = "This is ilertd. This page no longer exists. Goodbye."
        else:
            incident = m.Incident.get_by_id(notification.incident_id)
            source = m.AlertSource.get_or_none(m.AlertSource.id == incident.alert_source_id)
            facts = PageFacts(incident.id, incident.summary, incident.details, incident.priority,
                              incident.status, source.name if source else "",
                              f"{services.public_url}/api/incidents/{incident.id}")
            spoken = alert_text(facts, f"ilertd-n{notification.id}").spoken
        twiml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<Response><Say voice="alice">{escape(spoken)}</Say>'
            f'<Pause length="1"/><Say voice="alice">{escape(spoken)}</Say></Response>'
        )
        return Response(twiml, media_type="application/xml")

    return [Route("/api/v1/twilio/voice/{id}", threaded(voice, access="public"), methods=["GET", "POST"])]
