"""Twilio's side of a voice page: the TwiML that reads the incident aloud when the call connects."""

from __future__ import annotations

from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ilertd.domain.page_text import PageFacts, alert_text
from ilertd.store import models as m
from ilertd.web.http import path_id, threaded
from ilertd.web.services import Services


def routes(services: Services) -> list[Route]:
    def voice(request: Request, _body: bytes) -> Response:
        """GET|POST /api/v1/twilio/voice/{notificationId}: what the callee hears."""
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

    return [Route("/api/v1/twilio/voice/{id}", threaded(voice), methods=["GET", "POST"])]
