"""Events in: the native Event API and tool payloads through integration plugins."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ilertd.actors.messages import IngestEvent, Outcome, SourceInfo
from ilertd.domain import json_input
from ilertd.domain.events import Event, parse_native_event
from ilertd.errors import ApiError
from ilertd.hookspecs import IntegrationRequest
from ilertd.plugins import event_api, pagerduty
from ilertd.web.http import error_response, parse_json, read_body
from ilertd.web.ratelimit import RateLimiter
from ilertd.web.services import Services

SECRET_FIELDS = ("integrationKey", "apiKey")


class EventsEndpoints:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.limiter = RateLimiter(services.config.limits.events_per_minute_per_key, services.clock)

    async def _source(self, integration_key: str) -> SourceInfo:
        # The cache answers from memory for known keys; only a miss touches the store.
        source = self.services.sources.cached(integration_key)
        if source is None:
            source = await run_in_threadpool(self.services.sources.get, integration_key)
        if source is None:
            raise ApiError(404, "UNKNOWN_INTEGRATION_KEY", "no alert source has this integration key")
        return source

    async def _ingest(
        self, source: SourceInfo, event: Event, integration: str, payload: Any
    ) -> Outcome:
        received_at = self.services.clock.now()
        return await self.services.ask_async(
            lambda reply: IngestEvent(source, event, integration, payload, reply, received_at)
        )

    def _reply(self, outcome: Outcome) -> dict[str, Any]:
        return {
            "alertKey": outcome.alert_key,
            "alertUrl": f"{self.services.public_url}/api/incidents/{outcome.incident_id}",
            "incidentId": outcome.incident_id,
            "responseCode": outcome.response_code,
        }

    async def native_body(self, body: bytes) -> dict[str, Any]:
        """iLert's event body → the 202 reply, once the event is committed and routed."""
        if self.services.plugins.integration(event_api.NAME) is None:
            raise ApiError(503, "PLUGIN_UNAVAILABLE", "the Event API plugin is not loaded")
        document = parse_json(body)
        integration_key, event = parse_native_event(document)
        source = await self._source(integration_key)
        self.limiter.check(integration_key)
        payload = {k: v for k, v in document.items() if k not in SECRET_FIELDS}
        outcome = await self._ingest(source, event, "api", payload)
        if outcome.error is not None:
            raise outcome.error
        return self._reply(outcome)

    async def native(self, request: Request) -> Response:
        """POST /api/events: iLert's event body; 202 once the event is committed and routed."""
        body = await read_body(request)
        return JSONResponse(await self.native_body(body), status_code=202)

    async def tool(self, request: Request) -> Response:
        """POST /api/v1/events/{type}/{key}: a tool's own payload, mapped by its plugin."""
        kind = request.path_params["type"]
        integration = self.services.plugins.integration(kind)
        if integration is None:
            raise ApiError(404, "UNKNOWN_INTEGRATION_TYPE", f"no integration is named {kind!r}")
        body = await read_body(request)
        integration_key = request.path_params["key"]
        source = await self._source(integration_key)
        if not integration.accepts_any_source and source.integration_type != integration.integration_type:
            raise ApiError(
                400, "INTEGRATION_TYPE_MISMATCH",
                f"this key belongs to a {source.integration_type} alert source,"
                f" not {integration.integration_type}",
            )
        self.limiter.check(integration_key)
        parsed = IntegrationRequest(
            body=body,
            headers=dict(request.headers),
            query=dict(request.query_params),
            source_name=source.name,
        )
        try:
            events = integration.parse(parsed)
        except ApiError:
            raise
        except (ValueError, KeyError, TypeError) as error:
            raise ApiError(400, "INVALID_PAYLOAD", f"{integration.name}: {error}") from None
        payload = raw_payload(body)
        results = []
        for event in events:
            outcome = await self._ingest(source, event, integration.name, payload)
            if outcome.error is not None and outcome.error.code != "NO_OPEN_INCIDENT_WITH_KEY":
                return error_response(outcome.error)
            if outcome.error is not None:
                # Tools re-send on anything but 2xx: a resolve that matches nothing is done.
                results.append({"alertKey": event.alert_key, "alertUrl": None, "incidentId": None,
                                "responseCode": outcome.error.code})
            else:
                results.append(self._reply(outcome))
        return JSONResponse(results, status_code=202)

    async def pagerduty(self, request: Request) -> Response:
        """POST /v2/enqueue: PagerDuty Events API v2, answered in PagerDuty's own shapes."""
        try:
            body = await read_body(request)
            document = parse_json(body)
        except ApiError as error:
            return _pagerduty_error(error.status, [error.message])
        try:
            routing_key, event = pagerduty.parse_enqueue(document)
        except pagerduty.InvalidPagerDutyEvent as error:
            return _pagerduty_error(400, error.errors)
        try:
            source = await self._source(routing_key)
        except ApiError:
            return _pagerduty_error(400, ["'routing_key' is not the integration key of any alert source"])
        try:
            self.limiter.check(routing_key)
        except ApiError as error:
            return JSONResponse(
                {"status": "throttle event", "message": "Requests for this service are arriving too "
                 "quickly; retry later"},
                status_code=429, headers=error.headers,
            )
        payload = {k: v for k, v in document.items() if k != "routing_key"}
        outcome = await self._ingest(source, event, pagerduty.NAME, payload)
        if outcome.error is not None and outcome.error.code == "NO_OPEN_INCIDENT_WITH_KEY":
            # As PagerDuty: acknowledging or resolving what is not open is accepted and dropped.
            dedup_key = event.alert_key
        elif outcome.error is not None:
            return _pagerduty_error(outcome.error.status, [outcome.error.message])
        else:
            dedup_key = outcome.alert_key
        return JSONResponse(
            {"status": "success", "message": "Event processed", "dedup_key": dedup_key},
            status_code=202,
        )


def raw_payload(body: bytes) -> Any:
    """What is stored of a tool's request: the body the plugin received, as a JSON value when
    it is JSON (the plugin may have read it otherwise: a form, a text), else as its text."""
    if not body.strip():
        return None
    try:
        return json_input.loads(body)
    except json_input.JsonInputError:
        return body.decode("utf-8", errors="replace")


def _pagerduty_error(status: int, errors: list[str]) -> JSONResponse:
    message = "Event object is invalid" if status == 400 else errors[0]
    return JSONResponse({"status": "invalid event", "message": message, "errors": errors},
                        status_code=status)
