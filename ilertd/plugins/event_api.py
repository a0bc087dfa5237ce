"""The native Event API as a built-in plugin: its routes, and the tool payload route to integrations.

`POST /api/events` (alias `/api/v1/events`) takes iLert's event body; `POST
/api/v1/events/{type}/{key}` hands a tool's body to the integration named `{type}`.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ilertd import hookimpl
from ilertd.domain.events import Event, parse_native_event
from ilertd.domain.page_text import incident_link
from ilertd.domain.text_input import storable_pairs
from ilertd.domain.wording import quoted
from ilertd.errors import ApiError
from ilertd.hookspecs import (
    BodyReply,
    BodyRoute,
    ConfigOption,
    Integration,
    IntegrationRequest,
    Outcome,
    PluginContext,
    SourceInfo,
    takes_events,
    unsigned_refused,
)
from ilertd.web.http import parse_json

NAME = "api"
SECRET_FIELDS = ("integrationKey", "apiKey")
NO_OPEN_INCIDENT = "NO_OPEN_INCIDENT_WITH_KEY"
# The metrics' `integration` of a request naming no integration: the path's own word would make a
# new time series of every word anyone sends (memory here, cardinality in Prometheus).
UNKNOWN_TYPE = "unknown"


def parse(request: IntegrationRequest) -> list[Event]:
    """The body names its own integration key; the route has already matched the path's."""
    _key, event = parse_native_event(request.json())
    return [event]


def event_part(event: Event, index: int, count: int) -> dict[str, Any]:
    """What is stored with one of a request's several events: its own part, not the whole body
    again (a group of a hundred alerts would store its body a hundred times)."""
    return {"part": index + 1, "of": count, "eventType": event.event_type, "summary": event.summary,
            "labels": dict(event.labels), "customDetails": dict(event.custom_details)}


class EventApi:
    """The plugin's route handlers, given its context (how they ingest, the public URL)."""

    def __init__(self, context: PluginContext) -> None:
        self.context = context

    def reply(self, outcome: Outcome) -> dict[str, Any]:
        return {
            "alertKey": outcome.alert_key,
            "alertUrl": incident_link(self.context.public_url, outcome.incident_id),
            "incidentId": outcome.incident_id,
            "responseCode": outcome.response_code,
        }

    async def native(self, body: bytes) -> BodyReply:
        """POST /api/events: iLert's event body; 202 once the event is committed and routed."""
        try:
            document = parse_json(body)
            integration_key, event = parse_native_event(document)
        except ApiError as error:
            self.context.refused(NAME, error)
            raise
        payload = {k: v for k, v in document.items() if k not in SECRET_FIELDS}
        source = await self.context.keyed_source(integration_key, NAME)
        (outcome,) = await self.context.ingest(source, [event], NAME, payload)
        if outcome.error is not None:
            raise outcome.error
        return 202, self.reply(outcome), {}

    async def tool(self, request: Request) -> Response:
        """POST /api/v1/events/{type}/{key}: a tool's own payload, mapped by its integration."""
        try:
            integration, source, parsed, events = await self._read(request)
        except ApiError as error:
            # Refused before ingestion, which counts what it takes or refuses itself.
            found = self.context.integration(request.path_params["type"])
            self.context.refused(found.name if found else UNKNOWN_TYPE, error)
            raise
        return await self._ingest(integration, source, parsed, events)

    async def _read(self, request: Request
                    ) -> tuple[Integration, SourceInfo, IntegrationRequest, list[Event]]:
        """The request's integration, alert source, body and events, or the ApiError refusing it."""
        kind = request.path_params["type"]
        integration = self.context.integration(kind)
        if integration is None:
            raise ApiError(404, "UNKNOWN_INTEGRATION_TYPE", f"no integration is named {quoted(kind)}")
        source = await self.context.source(request.path_params["key"])
        # A tool batches (Alertmanager sends a whole group): its own limit, not the Event API's.
        body = await self.context.read_body(request, int(self.context.config["tool_max_body_bytes"]))
        if not integration.accepts_any_source and source.integration_type != integration.integration_type:
            raise ApiError(
                400, "INTEGRATION_TYPE_MISMATCH",
                f"this key belongs to alert source {quoted(source.name)}, of type {source.integration_type};"
                f" /api/v1/events/{kind}/ takes keys of {integration.integration_type} sources",
            )
        if integration.accepts_any_source and integration.verify is None and self.context.signs(source):
            # A body of no tool's signature (the Event API's, PagerDuty's) for a signed source.
            raise unsigned_refused(source)
        parsed = IntegrationRequest(body=body, headers=dict(request.headers),
                                    query=storable_pairs(request.query_params), source_name=source.name,
                                    source=source)
        if integration.verify is not None and integration.verify_blocks:
            await run_in_threadpool(integration.verify, parsed)
        elif integration.verify is not None:
            integration.verify(parsed)
        try:
            # A large batch is read off the event loop: 25,000 alerts in one Alertmanager POST kept
            # every other request, another source's alert too, waiting 3 s for its parse.
            if len(body) > OFF_LOOP_BYTES:
                events = await run_in_threadpool(integration.parse, parsed)
            else:
                events = integration.parse(parsed)
        except ApiError:
            raise
        except (ValueError, KeyError, TypeError) as error:
            raise ApiError(400, "INVALID_PAYLOAD", f"{integration.name}: {error}") from None
        if not isinstance(events, list | tuple) or not all(isinstance(e, Event) for e in events):
            # The plugin's bug, not the payload's: a 500 (logged), like a parse that raised.
            raise RuntimeError(f"integration {integration.name}: parse returned {events!r:.200},"
                               " not a list of Event")
        return integration, source, parsed, list(events)

    async def _ingest(self, integration: Integration, source: SourceInfo, parsed: IntegrationRequest,
                      events: list[Event]) -> Response:
        if len(events) == 1:
            outcomes = await self.context.ingest(source, events, integration.name, parsed.stored_payload())
        else:
            outcomes = await self.context.ingest(source, events, integration.name, None,
                                                 payloads=[event_part(e, i, len(events))
                                                           for i, e in enumerate(events)])
        results = []
        for event, outcome in zip(events, outcomes, strict=False):
            if outcome.error is not None and outcome.error.code != NO_OPEN_INCIDENT:
                raise outcome.error
            if outcome.error is not None:
                # Tools re-send on anything but 2xx: a resolve that matches nothing is done.
                results.append({"alertKey": event.alert_key, "alertUrl": None, "incidentId": None,
                                "responseCode": outcome.error.code})
            else:
                results.append(self.reply(outcome))
        return JSONResponse(results, status_code=202)


TOOL_MAX_BODY_BYTES = 4 * 1024 * 1024
# A tool's body past this is parsed in a worker thread (a hand-over costs what parsing a few
# alerts does; an ordinary webhook of one group stays on the loop).
OFF_LOOP_BYTES = 64 * 1024


def _positive(value: int) -> str | None:
    return None if value > 0 else f"must be greater than 0, got {value}"


@hookimpl
def plugin_config() -> list[ConfigOption]:
    return [ConfigOption("tool_max_body_bytes", int, TOOL_MAX_BODY_BYTES,
                         "largest body of POST /api/v1/events/{type}/{key} (a tool's batch), in bytes",
                         _positive)]


@hookimpl
def register_integrations() -> list[Integration]:
    return [
        Integration(
            name=NAME,
            integration_type="API",
            parse=parse,
            description="ilertd's Event API: POST /api/events with iLert's event body",
            accepts_any_source=True,
        )
    ]


def queued_event(body: bytes) -> Response:
    """What a follower answers for an event it queued while no node leads: durable, not yet routed
    to an incident (none to name)."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    fields: dict[str, Any] = document if isinstance(document, dict) else {}
    key = fields.get("alertKey", fields.get("incidentKey"))
    return JSONResponse({"alertKey": key if isinstance(key, str) else None, "alertUrl": None,
                         "incidentId": None, "responseCode": "EVENT_QUEUED"}, status_code=202)


@hookimpl
def register_routes(context: PluginContext) -> list[BaseRoute]:
    api = EventApi(context)
    return [
        BodyRoute("/api/events", api.native, queued=queued_event),
        BodyRoute("/api/v1/events", api.native, queued=queued_event),
        takes_events(Route("/api/v1/events/{type}/{key}", api.tool, methods=["POST"]), queued_event),
    ]
