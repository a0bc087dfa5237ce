"""An example third-party ilertd plugin: ticket webhooks in, pages out to a webhook, a plain-text route.

Installed beside ilertd it is found through the `ilertd.plugins` entry point in this
distribution's pyproject.toml, and configured in ilertd's settings as `[plugins.example]`:

- integration `ticket`: the tool posts `{"id", "title", "state": "open"|"closed"}` to
  `/api/v1/events/ticket/{integrationKey}` of an alert source of type TICKET, signed with
  `X-Ticket-Signature: sha256=<hex HMAC of the body>` when `secret` is set;
- channel `WEBHOOK`: pages POSTed as JSON to `webhook_url` (`{contact}` is the contact's target);
- route `POST /example/alert/{integrationKey}`: a plain-text body (a script's
  `curl --data "disk full"`) opens an incident with that summary; it takes events, so a follower
  queues one while no node leads (202 EVENT_QUEUED) for the next leader.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from ilertd import hookimpl
from ilertd.hookspecs import (
    ApiError,
    Channel,
    ConfigOption,
    DeliveryError,
    Event,
    Integration,
    IntegrationRequest,
    Message,
    PluginContext,
    takes_events,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

__version__ = "1.0.0"

logger = logging.getLogger(__name__)

STATES = ("open", "closed")
EXPECTED = '{"id": "...", "state": "open"|"closed", "title": "..."}'
SIGNATURE_HEADER = "x-ticket-signature"
MAX_SUMMARY = 1024


def _positive(value: int) -> str | None:
    return None if value > 0 else f"must be greater than 0, got {value}"


@hookimpl
def plugin_config() -> list[ConfigOption]:
    return [
        ConfigOption("secret", str, "", "HMAC-SHA256 key the ticket tool signs its webhooks with; "
                                        "empty: unsigned webhooks are accepted"),
        ConfigOption("webhook_url", str, "", "where WEBHOOK pages are POSTed as JSON, {contact} standing "
                                             "for the contact's target; empty: no WEBHOOK channel"),
        ConfigOption("timeout", int, 10, "seconds one page delivery may take", check=_positive),
    ]


# --- the integration ---------------------------------------------------------------------------


def parse(request: IntegrationRequest) -> list[Event]:
    """A ticket tool's webhook → one event: an open ticket alerts, a closed one resolves."""
    body = request.json()
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or body.get("state") not in STATES:
        raise ApiError(400, "INVALID_PAYLOAD", f"expected {EXPECTED}")
    kind = "ALERT" if body["state"] == "open" else "RESOLVE"
    return [Event(event_type=kind, alert_key=body["id"], summary=body.get("title"))]


def signature(secret: str, body: bytes) -> str:
    """What the tool sends in X-Ticket-Signature: `sha256=` and the hex HMAC of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verifier(secret: str) -> Callable[[IntegrationRequest], None] | None:
    """The signature check for `secret`; None (no check) when it is empty."""
    if not secret:
        return None

    def verify(request: IntegrationRequest) -> None:
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(given.encode(), signature(secret, request.body).encode()):
            raise ApiError(401, "INVALID_SIGNATURE", f"missing or wrong {SIGNATURE_HEADER}")

    return verify


@hookimpl
def register_integrations(context: PluginContext) -> list[Integration]:
    return [Integration(name="ticket", integration_type="TICKET", parse=parse, aliases=("tickets",),
                        description="example: a ticket tool's webhook",
                        verify=verifier(context.config["secret"]))]


# --- the channel -------------------------------------------------------------------------------


class WebhookSender:
    """Pages POSTed as JSON to a URL of the team's own (a chat bridge, a pager gateway).

    Stateless, so the channel actors may share it."""

    name = "webhook"

    def __init__(self, url_template: str, timeout: int) -> None:
        self.url_template = url_template
        self.timeout = timeout

    def send(self, target: str, message: Message) -> None:
        url = self.url_template.replace("{contact}", urllib.parse.quote(target, safe=""))
        body = json.dumps({"target": target, "title": message.title, "body": message.body,
                           "reference": message.reference}).encode()
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as error:
            raise DeliveryError(f"the webhook answered HTTP {error.code} for {target}") from None
        except (urllib.error.URLError, OSError) as error:
            raise DeliveryError(f"the webhook could not be reached: {error}") from None


@hookimpl
def register_channels(context: PluginContext) -> list[Channel]:
    url = context.config["webhook_url"]
    if not url:
        return []
    return [Channel("WEBHOOK", sender=WebhookSender(url, context.config["timeout"]),
                    description="example: pages POSTed as JSON to [plugins.example] webhook_url")]


# --- the route ---------------------------------------------------------------------------------


class PlainTextAlerts:
    """`POST /example/alert/{integrationKey}[?alertKey=...]`: the body, as text, is the summary."""

    def __init__(self, context: PluginContext) -> None:
        self.context = context

    async def alert(self, request: Request) -> Response:
        text = (await self.context.read_body(request)).decode("utf-8", errors="replace").strip()
        if not text:
            raise ApiError(400, "INVALID_PAYLOAD", "the body must be the alert's summary, as text")
        event = Event(event_type="ALERT", summary=text[:MAX_SUMMARY],
                      alert_key=request.query_params.get("alertKey"))
        (outcome,) = await self.context.ingest(request.path_params["key"], [event], "example", text)
        if outcome.error is not None:
            raise outcome.error
        reply: dict[str, Any] = {"incidentId": outcome.incident_id, "alertKey": outcome.alert_key,
                                 "responseCode": outcome.response_code}
        return JSONResponse(reply, status_code=202)


@hookimpl
def register_routes(context: PluginContext) -> list[BaseRoute]:
    # It takes events: a follower queues it while no node leads (a script's curl is sent once).
    return [takes_events(Route("/example/alert/{key}", PlainTextAlerts(context).alert, methods=["POST"]))]


# --- start and stop ----------------------------------------------------------------------------


@hookimpl
def startup(context: PluginContext) -> None:
    logger.info("example: ticket webhooks at %s/api/v1/events/ticket/{key} (%s), plain-text alerts at "
                "%s/example/alert/{key}", context.public_url,
                "signed" if context.config["secret"] else "unsigned", context.public_url)


@hookimpl
def shutdown(context: PluginContext) -> None:
    logger.info("example: stopped")
