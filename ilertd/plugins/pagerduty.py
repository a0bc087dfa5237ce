"""PagerDuty's Events API v2 as a built-in plugin: `POST /v2/enqueue` and the `pagerduty` integration.

The route answers in PagerDuty's own shapes, so a tool set up for PagerDuty needs one new URL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ilertd import hookimpl
from ilertd.domain.events import MAX_ALERT_KEY, MAX_SUMMARY, Event, Priority
from ilertd.errors import ApiError
from ilertd.hookspecs import Integration, IntegrationRequest, PluginContext, takes_events
from ilertd.web.http import parse_json

NAME = "pagerduty"
ACTIONS = {"trigger": "ALERT", "acknowledge": "ACCEPT", "resolve": "RESOLVE"}
SEVERITIES: dict[str, Priority] = {"critical": "HIGH", "error": "HIGH", "warning": "LOW", "info": "LOW"}
LABEL_FIELDS = ("source", "severity", "component", "group", "class")


class InvalidPagerDutyEvent(Exception):
    """PagerDuty answers a bad event with every problem at once, not just the first."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _string(body: Mapping[str, Any], name: str, errors: list[str], where: str = "") -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(f"'{where}{name}' must be a string")
        return None
    return value


def _items(body: Mapping[str, Any], name: str, keys: tuple[str, ...], required: str,
           errors: list[str]) -> tuple[dict[str, str], ...]:
    value = body.get(name)
    if value is None:
        return ()
    if not isinstance(value, list):
        errors.append(f"'{name}' must be an array")
        return ()
    items = []
    for index, item in enumerate(value[:50]):
        if not isinstance(item, dict) or not isinstance(item.get(required), str):
            errors.append(f"'{name}[{index}].{required}' is missing or not a string")
            continue
        items.append({k: item[k] for k in keys if isinstance(item.get(k), str)})
    return tuple(items)


def parse_enqueue(body: object) -> tuple[str, Event]:
    """(routing key, event) from an Events API v2 body; raises with every error."""
    if not isinstance(body, dict):
        raise InvalidPagerDutyEvent(["the event must be a JSON object"])
    errors: list[str] = []
    routing_key = _string(body, "routing_key", errors)
    if not routing_key or not routing_key.strip():
        errors.append("'routing_key' is missing or blank")
    action = _string(body, "event_action", errors)
    if action is None or action not in ACTIONS:
        errors.append("'event_action' must be one of trigger, acknowledge, resolve")
    dedup_key = _string(body, "dedup_key", errors)
    if dedup_key is not None and len(dedup_key.strip()) > MAX_ALERT_KEY:
        errors.append(f"'dedup_key' must be at most {MAX_ALERT_KEY} characters")
    if action in ("acknowledge", "resolve") and not (dedup_key and dedup_key.strip()):
        errors.append(f"'dedup_key' is required for {action}")
    payload = body.get("payload")
    summary = None
    priority: Priority | None = None
    labels: dict[str, str] = {}
    custom_details: dict[str, Any] = {}
    if action == "trigger":
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or not an object")
            payload = {}
        summary = _string(payload, "summary", errors, "payload.")
        if not summary or not summary.strip():
            errors.append("'payload.summary' is missing or blank")
        elif len(summary) > MAX_SUMMARY:
            errors.append(f"'payload.summary' must be at most {MAX_SUMMARY} characters")
        source = _string(payload, "source", errors, "payload.")
        if not source or not source.strip():
            errors.append("'payload.source' is missing or blank")
        severity = _string(payload, "severity", errors, "payload.")
        if severity not in SEVERITIES:
            errors.append("'payload.severity' must be one of critical, error, warning, info")
        else:
            priority = SEVERITIES[severity]
        for field in LABEL_FIELDS:
            value = payload.get(field)
            if isinstance(value, str) and value:
                labels[field] = value
        details = payload.get("custom_details")
        if details is not None:
            custom_details = details if isinstance(details, dict) else {"details": details}
    links = _items(body, "links", ("href", "text"), "href", errors)
    images = _items(body, "images", ("src", "href", "alt"), "src", errors)
    client_url = _string(body, "client_url", errors)
    if client_url:
        links = (*links, {"href": client_url, "text": _string(body, "client", errors) or client_url})
    if errors:
        raise InvalidPagerDutyEvent(errors)
    assert routing_key is not None and action is not None
    event = Event(
        event_type=ACTIONS[action],  # type: ignore[arg-type]
        alert_key=dedup_key.strip() if dedup_key and dedup_key.strip() else None,
        summary=summary,
        priority=priority,
        images=images,
        links=links,
        labels=labels,
        custom_details=custom_details,
    )
    return routing_key.strip(), event


def parse(request: IntegrationRequest) -> list[Event]:
    try:
        return [parse_enqueue(request.json())[1]]
    except InvalidPagerDutyEvent as error:
        raise ApiError(400, "INVALID_PAYLOAD", str(error)) from None


class PagerDutyApi:
    """`POST /v2/enqueue`, given the plugin's context (how it ingests)."""

    def __init__(self, context: PluginContext) -> None:
        self.context = context

    async def enqueue(self, request: Request) -> Response:
        """POST /v2/enqueue: PagerDuty Events API v2, answered in PagerDuty's own shapes."""
        try:
            document = parse_json(await self.context.read_body(request))
        except ApiError as error:
            return _error(error.status, [error.message])
        try:
            routing_key, event = parse_enqueue(document)
        except InvalidPagerDutyEvent as error:
            return _error(400, error.errors)
        payload = {k: v for k, v in document.items() if k != "routing_key"}
        try:
            source = await self.context.keyed_source(routing_key, NAME)
            (outcome,) = await self.context.ingest(source, [event], NAME, payload)
        except ApiError as error:
            if error.code == "UNKNOWN_INTEGRATION_KEY":
                return _error(400, ["'routing_key' is not the integration key of any alert source"])
            if error.code == "INVALID_SIGNATURE":
                return _error(401, [error.message])
            if error.code == "RATE_LIMITED":
                return JSONResponse(
                    {"status": "throttle event", "message": "Requests for this service are arriving too "
                     "quickly; retry later"},
                    status_code=429, headers=error.headers,
                )
            return _error(error.status, [error.message])
        if outcome.error is not None and outcome.error.code == "NO_OPEN_INCIDENT_WITH_KEY":
            # As PagerDuty: acknowledging or resolving what is not open is accepted and dropped.
            dedup_key = event.alert_key
        elif outcome.error is not None:
            return _error(outcome.error.status, [outcome.error.message])
        else:
            dedup_key = outcome.alert_key
        return JSONResponse(
            {"status": "success", "message": "Event processed", "dedup_key": dedup_key},
            status_code=202,
        )


def _error(status: int, errors: list[str]) -> JSONResponse:
    message = "Event object is invalid" if status == 400 else errors[0]
    return JSONResponse({"status": "invalid event", "message": message, "errors": errors},
                        status_code=status)


@hookimpl
def register_integrations() -> list[Integration]:
    return [
        Integration(
            name=NAME,
            integration_type="API",
            parse=parse,
            description="PagerDuty Events API v2 bodies (as POST /v2/enqueue)",
            accepts_any_source=True,
        )
    ]


def queued_enqueue(body: bytes) -> Response:
    """What a follower answers for an event it queued while no node leads, in PagerDuty's shape."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    dedup_key = document.get("dedup_key") if isinstance(document, dict) else None
    return JSONResponse({"status": "success", "message": "Event queued", "dedup_key": dedup_key},
                        status_code=202)


@hookimpl
def register_routes(context: PluginContext) -> list[BaseRoute]:
    return [takes_events(Route("/v2/enqueue", PagerDutyApi(context).enqueue, methods=["POST"]),
                         queued_enqueue)]
