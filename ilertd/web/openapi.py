"""The API's OpenAPI 3.1 document (`GET /api/openapi.json`) and its page (`GET /api/docs`), built
from the mounted routes, the request specs their validators read and the answers' specs.

What a route takes and answers is not written here: its body is the spec its validator reads
(`USER_BODY` of ilertd.app.people, ...), its answer the spec beside the function that renders it
(ilertd.web.views). This table adds what only the route knows: a summary, who may call it, its
path and query parameters, its status codes. Every mounted `/api` route needs an entry
(tests/test_openapi.py): a route without one fails the tests, so the document cannot drift.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ilertd import __version__
from ilertd.app.heartbeats import MONITOR_BODY
from ilertd.app.incidents import COMMENT_BODY, ESCALATE_BODY
from ilertd.app.people import TOKEN_BODY, USER_BODY
from ilertd.app.preferences import CONTACT, CONTACT_BODY, RULE_KINDS
from ilertd.app.quiet_times import WINDOW_BODY
from ilertd.app.schedule_fields import SCHEDULE_BODY
from ilertd.app.schedules import OVERRIDE_BODY
from ilertd.app.schema import (
    MAX_ID,
    Anything,
    ArrayOf,
    Either,
    Instant,
    JsonSchema,
    ObjectSpec,
    Spec,
    Text,
    Vocabulary,
    event_body,
)
from ilertd.app.sources import POLICY_BODY, SOURCE_BODY
from ilertd.domain.events import NATIVE_BODY
from ilertd.domain.timeutil import RANGE
from ilertd.web import views
from ilertd.web.http import DEFAULT_PAGE, MAX_PAGE
from ilertd.web.services import Services

OPENAPI_PATH = "/api/openapi.json"
DOCS_PATH = "/api/docs"

Auth = Literal["token", "none", "feed"]
JSON = "application/json"

ERRORS = {
    400: "Refused: the body, a field or a query parameter (`field` names it).",
    401: "No valid bearer token.",
    403: "The caller's role does not allow it.",
    404: "No such object (or an id that is not one).",
    409: "In conflict with the object's state.",
    413: "The body exceeds `server.max_body_bytes`.",
    429: "Over `limits.events_per_minute_per_key` (`Retry-After` says when to retry).",
}


@dataclass(frozen=True)
class Param:
    name: str
    schema: JsonSchema
    description: str = ""
    where: Literal["query", "path"] = "query"
    required: bool = False

    def render(self) -> JsonSchema:
        rendered: JsonSchema = {"name": self.name, "in": self.where, "schema": self.schema}
        if self.description:
            rendered["description"] = self.description
        if self.required or self.where == "path":
            rendered["required"] = True
        return rendered


@dataclass(frozen=True)
class Operation:
    """What only the route knows: the document takes the body and answer shapes from their specs."""

    summary: str
    tag: str
    body: Spec | None = None
    # The body as a create reads it: the spec's fields required on creation are required.
    creating: bool = False
    body_optional: bool = False
    body_media: str = JSON
    reply: Spec | None = None
    status: int = 200
    media: str = JSON
    auth: Auth = "token"
    query: tuple[Param, ...] = ()
    # Statuses beside the ones every route of its kind has (401 with a token, 404 with an id, ...).
    errors: tuple[int, ...] = ()
    # More successes: (status, what it means, answer spec or None for no body).
    also: tuple[tuple[int, str, Spec | None], ...] = ()
    description: str = ""


# --- parameters ---------------------------------------------------------------------------------

PAGED = (
    Param("start-index", {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0},
          "how many to skip"),
    Param("max-results", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
          "how many at most"),
)
INSTANT = {"type": "string", "format": "date-time"}
WINDOW = (
    Param("from", INSTANT, f"ISO-8601 instant {RANGE}; default now"),
    Param("until", INSTANT, "default: from + 7 days; at most 366 days after from"),
)
_PATH_NOUNS = {
    "users": "user", "incidents": "incident", "contacts": "contact", "alerts": "alert rule",
    "updates": "update rule", "duties": "duty rule", "tokens": "API token", "alert-sources": "alert source",
    "escalation-policies": "escalation policy", "schedules": "schedule", "overrides": "override",
    "heartbeat-monitors": "heartbeat monitor", "maintenance-windows": "maintenance window",
    "voice": "notification",
}
_KEYS = {"type": "an integration's name or alias, such as api, prometheus or grafana",
         "key": "an integration key: the alert source's (events) or the monitor's (heartbeats)"}


def path_params(path: str) -> list[Param]:
    """The parameters of an OpenAPI path: ids are non-negative 64-bit integers (anything else is
    simply not found), keys and integration names strings."""
    found = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        for name in re.findall(r"\{(\w+)\}", segment):
            if name in _KEYS:
                found.append(Param(name, {"type": "string"}, _KEYS[name], where="path"))
            else:
                noun = _PATH_NOUNS.get(segments[index - 1], segments[index - 1])
                found.append(Param(name, {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                                   f"the {noun}'s id", where="path"))
    return found


# --- bodies and answers that are not a route module's own ------------------------------------------

# ilertd.web.ops reads this body (the manual clock); it lives here, beside its route's entry.
CLOCK_BODY = Either(choices=(
    ObjectSpec(fields={"advance": Text(max_length=None, description="an ISO-8601 duration; PT0S "
                                       "reads the clock")}, required=("advance",), closed=True),
    ObjectSpec(fields={"set": Instant(description="forward only")}, required=("set",), closed=True),
), description="Exactly one of advance or set.")
EVENT_BODY = event_body(NATIVE_BODY, "Event")
TOOL_PAYLOAD = Anything(description="the tool's own payload (JSON, a form or text), read by the integration")
TWILIO_SMS = ObjectSpec(fields={name: Text(max_length=None) for name in ("MessageSid", "From", "To", "Body")},
                        description="Twilio's webhook form; X-Twilio-Signature is checked")
TWILIO_DIGITS = ObjectSpec(fields={"Digits": Text(max_length=None, description="4 accept, 6 resolve, "
                                                  "5 escalate, any other the menu again")})
TEXT = Text(max_length=None)
ANY_OBJECT = Anything(kind="object")


def _list(spec: Spec) -> ArrayOf:
    return ArrayOf(item=spec)


def _crud(base: str, tag: str, what: str, body: ObjectSpec, reply: ObjectSpec, admin_writes: bool,
          delete_conflict: str = "") -> dict[tuple[str, str], Operation]:
    """The five routes of a collection: list (paged), create, read, update (fields given), delete."""
    who = "ADMIN" if admin_writes else "Oneself or ADMIN"
    forbidden = (403,)
    return {
        ("GET", base): Operation(f"List {what}s", tag, reply=_list(reply), query=PAGED),
        ("POST", base): Operation(f"Create a {what}", tag, body=body, creating=True, reply=reply, status=201,
                                  errors=forbidden, description=f"{who}."),
        ("GET", base + "/{id}"): Operation(f"Read a {what}", tag, reply=reply),
        ("PUT", base + "/{id}"): Operation(f"Change a {what}", tag, body=body, reply=reply, errors=forbidden,
                                           description=f"{who}; changes the fields given."),
        ("DELETE", base + "/{id}"): Operation(
            f"Delete a {what}", tag, status=204, errors=(*forbidden, *((409,) if delete_conflict else ())),
            description=f"{who}. {delete_conflict}".strip()),
    }


def _owned(base: str, tag: str, what: str, body: ObjectSpec, reply: ObjectSpec, key: str
           ) -> dict[tuple[str, str], Operation]:
    """A user's own collection (contacts, each kind of rule): anyone reads, oneself or ADMIN writes."""
    item = f"{base}/{{{key}}}"
    return {
        ("GET", base): Operation(f"List a user's {what}s", tag, reply=_list(reply), query=PAGED),
        ("POST", base): Operation(f"Add a {what}", tag, body=body, creating=True, reply=reply, status=201,
                                  errors=(403,), description="Oneself or ADMIN."),
        ("GET", item): Operation(f"Read a {what}", tag, reply=reply),
        ("PUT", item): Operation(f"Change a {what}", tag, body=body, reply=reply, errors=(403,),
                                 description="Oneself or ADMIN; changes the fields given."),
        ("DELETE", item): Operation(f"Delete a {what}", tag, status=204, errors=(403,),
                                    description="Oneself or ADMIN."),
    }


def _operations() -> dict[tuple[str, str], Operation]:
    """(method, route path as mounted) → its entry."""
    incident = "/api/incidents/{id}"
    ops: dict[tuple[str, str], Operation] = {
        ("GET", "/api/incidents"): Operation(
            "List incidents", "Incidents", reply=_list(views.INCIDENT), description="Newest first.",
            query=(*PAGED,
                   Param("states", {"type": "string"}, "comma-separated PENDING, ACCEPTED, RESOLVED"),
                   Param("sources", {"type": "string"}, "comma-separated alert source ids"),
                   Param("from", INSTANT, "reportTime at or after"),
                   Param("until", INSTANT, "reportTime before"))),
        ("GET", incident): Operation("Read an incident", "Incidents", reply=views.INCIDENT),
        ("PUT", incident + "/accept"): Operation(
            "Accept an incident", "Incidents", reply=views.INCIDENT, errors=(409,),
            description="Escalation stops; pages not yet sent are cancelled. Takes no body."),
        ("PUT", incident + "/resolve"): Operation(
            "Resolve an incident", "Incidents", reply=views.INCIDENT, errors=(409,),
            description="Final. Takes no body."),
        ("PUT", incident + "/escalate"): Operation(
            "Escalate an incident", "Incidents", body=ESCALATE_BODY, body_optional=True,
            reply=views.INCIDENT, errors=(409,),
            description="To the next level, or to `level`; an ACCEPTED incident becomes PENDING again."),
        ("POST", incident + "/comments"): Operation(
            "Comment on an incident", "Incidents", body=COMMENT_BODY, reply=views.COMMENT, status=201,
            errors=(409,)),
        ("GET", incident + "/notifications"): Operation(
            "List an incident's notifications", "Incidents", reply=_list(views.NOTIFICATION), query=PAGED,
            description="Every page and status update, by dueAt."),
        ("GET", incident + "/log-entries"): Operation(
            "List an incident's log", "Incidents", reply=_list(views.LOG_ENTRY), query=PAGED,
            description="Oldest first."),
        # --- users and their tokens ---
        ("GET", "/api/users"): Operation("List users", "Users", reply=_list(views.USER), query=PAGED),
        ("POST", "/api/users"): Operation("Create a user", "Users", body=USER_BODY, creating=True,
                                          reply=views.USER, status=201, errors=(403, 409),
                                          description="ADMIN."),
        ("GET", "/api/users/current"): Operation("Read the token's user", "Users", reply=views.USER),
        ("GET", "/api/users/{id}"): Operation("Read a user", "Users", reply=views.USER),
        ("PUT", "/api/users/{id}"): Operation(
            "Change a user", "Users", body=USER_BODY, reply=views.USER, errors=(403, 409),
            description="Oneself or ADMIN; changes the fields given (mutedUntil null unmutes). Changing "
                        "a role needs ADMIN."),
        ("DELETE", "/api/users/{id}"): Operation(
            "Delete a user", "Users", status=204, errors=(403, 409),
            description="ADMIN; their tokens, contacts and preferences go with them. Not one's own."),
        ("POST", "/api/users/{id}/tokens"): Operation(
            "Create an API token", "Users", body=TOKEN_BODY, body_optional=True, reply=views.NEW_TOKEN,
            status=201, errors=(403,), description="Oneself or ADMIN; the token is shown once."),
        ("GET", "/api/users/{id}/tokens"): Operation(
            "List a user's API tokens", "Users", reply=_list(views.API_TOKEN), query=PAGED, errors=(403,),
            description="Oneself or ADMIN; never the tokens themselves."),
        ("DELETE", "/api/users/{id}/tokens/{tid}"): Operation(
            "Revoke an API token", "Users", status=204, errors=(403,), description="Oneself or ADMIN."),
        # --- contacts and notification preferences ---
        **_owned("/api/users/{id}/contacts", "Contacts", "contact", CONTACT_BODY, CONTACT, "cid"),
        ("POST", "/api/users/{id}/contacts/{cid}/test"): Operation(
            "Send a test notification", "Contacts", reply=views.TEST_PAGE, status=202, errors=(403,),
            description="Oneself or ADMIN; queued and sent at once, throttled like any page. Takes no body."),
        # --- alert sources, escalation policies ---
        **_crud("/api/alert-sources", "Alert sources", "alert source", SOURCE_BODY, views.ALERT_SOURCE, True,
                "A source that has incidents cannot be deleted (409 IN_USE)."),
        **_crud("/api/escalation-policies", "Escalation policies", "escalation policy", POLICY_BODY,
                views.ESCALATION_POLICY, True),
        # --- schedules ---
        **_crud("/api/schedules", "Schedules", "schedule", SCHEDULE_BODY, views.SCHEDULE, True,
                "A schedule an escalation policy names cannot be deleted (409 IN_USE)."),
        ("GET", "/api/schedules/{id:int}.ics"): Operation(
            "A schedule's calendar feed", "Schedules", reply=TEXT, media="text/calendar", auth="feed",
            description="iCalendar: the past 30 and the next 90 days; a bearer token or the feed's token."),
        ("GET", "/api/schedules/{id}/user-on-call"): Operation(
            "Who is on call", "Schedules", reply=views.SHIFT,
            query=(Param("at", INSTANT, "default now"),),
            also=((204, "Nobody is on call then.", None),),
            description="The whole merged shift around `at`."),
        ("GET", "/api/schedules/{id}/shifts"): Operation(
            "A schedule's shifts", "Schedules", reply=_list(views.SHIFT), query=WINDOW,
            description="The timeline clipped to the window; gaps are absent."),
        ("GET", "/api/schedules/{id}/overrides"): Operation(
            "List a schedule's overrides", "Schedules", reply=_list(views.OVERRIDE), description="By start."),
        ("POST", "/api/schedules/{id}/overrides"): Operation(
            "Add an override", "Schedules", body=OVERRIDE_BODY, reply=views.OVERRIDE, status=201,
            errors=(403,), description="ADMIN."),
        ("PUT", "/api/schedules/{id}/overrides"): Operation(
            "Add an override", "Schedules", body=OVERRIDE_BODY, reply=views.OVERRIDE, status=201,
            errors=(403,), description="ADMIN; the same as POST."),
        ("DELETE", "/api/schedules/{id}/overrides/{oid}"): Operation(
            "Take an override back", "Schedules", status=204, errors=(403, 409),
            description="ADMIN; one not yet begun is removed, a running one ends now, one over is 409."),
        ("GET", "/api/schedules/{id}/feed-url"): Operation(
            "A schedule's feed URL", "Schedules", reply=views.FEED_URL),
        ("GET", "/api/on-calls"): Operation(
            "Who is on call, per policy and level", "Schedules", reply=_list(views.ON_CALL),
            query=(Param("from", INSTANT, "default now"), Param("until", INSTANT, "absent: at `from`")),
        ),
        ("GET", "/api/users/{id:int}/shifts.ics"): Operation(
            "A user's calendar feed", "Schedules", reply=TEXT, media="text/calendar", auth="feed",
            errors=(403,), description="The user's shifts in every schedule; with a bearer token, oneself "
                                       "or ADMIN."),
        ("GET", "/api/users/{id}/feed-url"): Operation(
            "A user's feed URL", "Schedules", reply=views.FEED_URL, errors=(403,),
            description="Oneself or ADMIN."),
        # --- numbers ---
        ("GET", "/api/numbers"): Operation(
            "The numbers pages come from", "Numbers", reply=_list(views.NUMBER)),
        ("GET", "/api/numbers.vcf"): Operation(
            "The numbers as a vCard", "Numbers", reply=TEXT, media="text/vcard"),
        # --- heartbeats, maintenance windows ---
        **_crud("/api/heartbeat-monitors", "Heartbeat monitors", "heartbeat monitor", MONITOR_BODY,
                views.HEARTBEAT_MONITOR, True),
        **{(method, "/api/v1/heartbeats/{key}"): Operation(
            "Ping a heartbeat monitor", "Heartbeat monitors", reply=None if method == "HEAD" else views.PING,
            status=202, auth="none", description="The key authenticates; a body is not read.")
           for method in ("GET", "HEAD", "POST")},
        **_crud("/api/maintenance-windows", "Maintenance windows", "maintenance window", WINDOW_BODY,
                views.MAINTENANCE_WINDOW, True),
        # --- operations ---
        ("POST", "/api/_clock"): Operation(
            "Move the manual clock", "Operations", body=CLOCK_BODY, reply=views.CLOCK, errors=(403,),
            description="ADMIN; only under `serve --manual-clock` (else 404). Answers once every timer "
                        "due by then has fired."),
        ("GET", OPENAPI_PATH): Operation("This document", "Operations", reply=ANY_OBJECT, auth="none"),
        ("GET", DOCS_PATH): Operation("This document as a page", "Operations", reply=TEXT, media="text/html",
                                      auth="none"),
        # --- events in (the event_api plugin's), Twilio's webhooks (the sms and voice plugins') ---
        **{("POST", path): Operation(
            "Send an event", "Events", body=EVENT_BODY, reply=views.EVENT_REPLY, status=202, auth="none",
            errors=(429,), description="iLert's Event API; the integration key authenticates.")
           for path in ("/api/events", "/api/v1/events")},
        ("POST", "/api/v1/events/{type}/{key}"): Operation(
            "Send a tool's payload", "Events", body=TOOL_PAYLOAD, body_media="*/*",
            reply=_list(views.EVENT_REPLY), status=202, auth="none", errors=(401, 429),
            description="Mapped to events by the integration named {type}; one reply per event."),
        ("POST", "/api/v1/twilio/sms"): Operation(
            "Twilio's inbound SMS", "Twilio", body=TWILIO_SMS, body_media="application/x-www-form-urlencoded",
            reply=TEXT, media="application/xml", auth="none", errors=(403,),
            description="An alert on the SMS source the text went to, or a reply to a page; TwiML back."),
        **{(method, "/api/v1/twilio/voice/{id}"): Operation(
            "A voice page's TwiML", "Twilio", reply=TEXT, media="application/xml", auth="none", errors=(403,),
            description="Fetched by Twilio when the call connects; X-Twilio-Signature is checked.")
           for method in ("GET", "POST")},
        ("POST", "/api/v1/twilio/voice/{id}/gather"): Operation(
            "The key pressed in a voice page", "Twilio", body=TWILIO_DIGITS,
            body_media="application/x-www-form-urlencoded", reply=TEXT, media="application/xml",
            auth="none", errors=(403,)),
    }
    for kind in RULE_KINDS:
        ops.update(_owned(f"/api/users/{{id}}/notification-preferences/{kind.segment}",
                          "Notification preferences", kind.what, kind.body, kind.reply, "rid"))
    return ops


OPERATIONS = _operations()
# Not under /api, and described here all the same: what a load balancer or systemd probes.
EXTRA_OPERATIONS = {
    ("GET", "/healthz"): Operation(
        "Health", "Operations", reply=views.HEALTH, auth="none",
        also=((503, "The store or the supervisor does not answer.", views.HEALTH),),
        description="200 while the store and the supervisor answer."),
}
PLUGIN_ROUTE = Operation("A plugin's route", "Plugins", auth="none",
                         description="Served by an installed plugin, as its documentation says.")


def openapi_path(route_path: str) -> str:
    """Starlette's `{id:int}` is OpenAPI's `{id}`."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", route_path)


def mounted(routes: Iterable[BaseRoute]) -> list[tuple[str, str]]:
    """(method, path) of every `/api` route, HEAD only where a route declares it without GET."""
    found = []
    for route in routes:
        if not isinstance(route, Route) or not route.path.startswith("/api/"):
            continue
        methods = set(route.methods or ())
        if "GET" in methods and ("HEAD", route.path) not in OPERATIONS:
            methods.discard("HEAD")
        found.extend((method, route.path) for method in sorted(methods))
    return found


def undocumented(routes: Iterable[BaseRoute]) -> list[tuple[str, str]]:
    """The mounted `/api` routes that have no entry in OPERATIONS."""
    return [key for key in mounted(routes) if key not in OPERATIONS]


# --- the document -------------------------------------------------------------------------------


class Document:
    """Renders specs into one document, named objects into components/schemas (once each)."""

    def __init__(self, words: Vocabulary) -> None:
        self.words = words
        self.components: dict[str, JsonSchema] = {
            "Error": {
                "type": "object",
                "properties": {"status": {"type": "integer"}, "code": {"type": "string"},
                               "message": {"type": "string"}, "field": {"type": "string"}},
                "required": ["status", "code", "message"],
                "additionalProperties": False,
                "description": "Every refusal: status repeats the HTTP status, code is stable, field "
                               "names the field at fault.",
            },
        }

    def named(self, name: str, schema: JsonSchema) -> JsonSchema:
        known = self.components.setdefault(name, schema)
        if known != schema:
            raise ValueError(f"two different schemas are named {name!r}")
        return {"$ref": f"#/components/schemas/{name}"}

    def reply(self, spec: Spec) -> JsonSchema:
        if isinstance(spec, ObjectSpec) and spec.title:
            return self.named(spec.title, spec.schema(self.words))
        if isinstance(spec, ArrayOf) and isinstance(spec.item, ObjectSpec) and spec.item.title:
            return {"type": "array", "items": self.reply(spec.item)}
        return spec.schema(self.words)

    def request(self, spec: Spec, creating: bool) -> JsonSchema:
        if not isinstance(spec, ObjectSpec) or not spec.title:
            return spec.schema(self.words)
        # A body whose required fields differ between create and update is two schemas.
        base = spec.title.removesuffix("Body")
        name = (f"{base}Create" if creating else f"{base}Update") if spec.on_create else spec.title
        return self.named(name, spec.schema(self.words, creating))

    def operation(self, method: str, path: str, op: Operation) -> JsonSchema:
        params = [p.render() for p in (*path_params(path), *op.query)]
        rendered: JsonSchema = {"summary": op.summary, "tags": [op.tag],
                                "operationId": _operation_id(method, path)}
        if op.description:
            rendered["description"] = op.description
        if params:
            rendered["parameters"] = params
        if op.body is not None:
            schema = self.request(op.body, op.creating)
            rendered["requestBody"] = {"required": not op.body_optional,
                                       "content": {op.body_media: {"schema": schema}}}
        if op.auth == "none":
            rendered["security"] = []
        elif op.auth == "feed":
            rendered["security"] = [{"bearerAuth": []}, {"feedToken": []}]
        responses: dict[str, JsonSchema] = {str(op.status): self.success(op.status, op.reply, op.media)}
        for status, what, spec in op.also:
            responses[str(status)] = self.success(status, spec, op.media, what)
        errors = set(op.errors)
        if op.auth in ("token", "feed"):
            errors.add(401)
        if params and any(p.where == "path" for p in path_params(path)):
            errors.add(404)
        if op.body is not None or op.query:
            errors.add(400)
        if op.body is not None:
            errors.add(413)
        for status in sorted(errors):
            responses[str(status)] = {"$ref": f"#/components/responses/{status}"}
        responses["default"] = {"$ref": "#/components/responses/default"}
        rendered["responses"] = responses
        return rendered

    def success(self, status: int, spec: Spec | None, media: str, what: str = "") -> JsonSchema:
        described: JsonSchema = {"description": what or {200: "OK", 201: "Created", 202: "Accepted",
                                                         204: "Done: no body"}.get(status, "OK")}
        if spec is not None:
            described["content"] = {media: {"schema": self.reply(spec)}}
        return described

    def build(self, operations: Sequence[tuple[str, str, Operation]]) -> JsonSchema:
        paths: dict[str, dict[str, JsonSchema]] = {}
        for method, route_path, op in operations:
            path = openapi_path(route_path)
            paths.setdefault(path, {})[method.lower()] = self.operation(method, path, op)
        error = {"$ref": "#/components/schemas/Error"}
        responses = {str(status): {"description": text, "content": {JSON: {"schema": error}}}
                     for status, text in ERRORS.items()}
        responses["default"] = {"description": "Any other refusal, in the same envelope.",
                                "content": {JSON: {"schema": error}}}
        return {
            "openapi": "3.1.0",
            "info": {"title": "ilertd", "version": __version__,
                     "description": "The HTTP API of ilertd, a self-hosted on-call alerting daemon: "
                                    "docs/API.md is the contract in words."},
            "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
            "security": [{"bearerAuth": []}],
            "paths": paths,
            "components": {
                "schemas": dict(sorted(self.components.items())),
                "responses": responses,
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer",
                                   "description": "An API token (`Bearer` in any case)."},
                    "feedToken": {"type": "apiKey", "in": "query", "name": "token",
                                  "description": "A calendar feed's read-only token, from its feed-url."},
                },
            },
        }


def _operation_id(method: str, path: str) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", path.removeprefix("/api/")) if w]
    return method.lower() + "".join(w[:1].upper() + w[1:] for w in words)


def vocabulary(services: Services) -> dict[str, tuple[str, ...]]:
    """The run-time choices: the enabled channels' methods, the alert source types."""
    ctx = services.app.ctx
    return {"methods": ctx.methods(False), "reminder_methods": ctx.methods(True),
            "integration_types": services.app.sources.known_types()}


def document(routes: Iterable[BaseRoute], words: Vocabulary) -> JsonSchema:
    """The OpenAPI document of the mounted routes: every `/api` route (a plugin's without an entry as
    a plugin's route), then /healthz."""
    listed = [(method, path, OPERATIONS.get((method, path), PLUGIN_ROUTE))
              for method, path in mounted(routes)]
    listed += [(method, path, op) for (method, path), op in EXTRA_OPERATIONS.items()]
    return Document(words).build(listed)


# --- the page -----------------------------------------------------------------------------------


def _resolve(schema: Any, components: Mapping[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    """The schema with its $refs to components/schemas replaced by what they name, for reading."""
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name in seen:
                return {"$ref": ref}
            return _resolve(components[name], components, seen | {name})
        return {key: _resolve(value, components, seen) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_resolve(item, components, seen) for item in schema]
    return schema


def render_page(doc: Mapping[str, Any]) -> str:
    """Every operation with its parameters, body and answers, as one plain HTML page (no script, no
    asset from elsewhere)."""
    schemas = doc["components"]["schemas"]
    responses = doc["components"]["responses"]
    out = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{html.escape(doc['info']['title'])} API</title>",
        "<style>body{font-family:sans-serif;max-width:70rem;margin:auto;padding:1rem;color:#222}"
        "h2{border-bottom:1px solid #ccc;margin-top:2rem}section{margin:1rem 0 2rem}"
        "code,pre{background:#f4f4f4}pre{padding:.5rem;overflow-x:auto;font-size:.85rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}"
        ".method{font-weight:bold;text-transform:uppercase}</style></head><body>",
        f"<h1>{html.escape(doc['info']['title'])} {html.escape(doc['info']['version'])}</h1>",
        f"<p>{html.escape(doc['info']['description'])} The machine-readable document: "
        f"<a href=\"{OPENAPI_PATH}\">{OPENAPI_PATH}</a>.</p>",
        "<p>Every refusal (any 4xx or 5xx below) has this body:</p>",
        _pre(schemas["Error"], schemas),
    ]
    by_tag: dict[str, list[tuple[str, str, Mapping[str, Any]]]] = {}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            by_tag.setdefault(op["tags"][0], []).append((method, path, op))
    out.append("<ul>" + "".join(f"<li><a href=\"#{_anchor(tag)}\">{html.escape(tag)}</a></li>"
                                for tag in by_tag) + "</ul>")
    for tag, ops in by_tag.items():
        out.append(f"<h2 id=\"{_anchor(tag)}\">{html.escape(tag)}</h2>")
        for method, path, op in ops:
            out.append(_render_operation(method, path, op, schemas, responses))
    out.append("</body></html>")
    return "\n".join(out)


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _pre(schema: Any, components: Mapping[str, Any]) -> str:
    return f"<pre>{html.escape(json.dumps(_resolve(schema, components), indent=2))}</pre>"


def _render_operation(method: str, path: str, op: Mapping[str, Any], schemas: Mapping[str, Any],
                      responses: Mapping[str, Any]) -> str:
    auth = ("none" if op.get("security") == [] else
            "bearer token or the feed's token" if op.get("security") else "bearer token")
    parts = [f"<section id=\"{html.escape(op['operationId'])}\">",
             f"<h3><span class=\"method\">{method}</span> <code>{html.escape(path)}</code></h3>",
             f"<p>{html.escape(' '.join([op['summary'] + '.', op.get('description', '')]).strip())}</p>",
             f"<p>Auth: {auth}.</p>"]
    if op.get("parameters"):
        parts.append("<table><tr><th>parameter</th><th>in</th><th>schema</th><th></th></tr>")
        for param in op["parameters"]:
            parts.append(f"<tr><td><code>{html.escape(param['name'])}</code></td><td>{param['in']}</td>"
                         f"<td><code>{html.escape(json.dumps(param['schema']))}</code></td>"
                         f"<td>{html.escape(param.get('description', ''))}</td></tr>")
        parts.append("</table>")
    if "requestBody" in op:
        for media, content in op["requestBody"]["content"].items():
            optional = "" if op["requestBody"]["required"] else " (optional)"
            parts.append(f"<p>Body{optional}, <code>{html.escape(media)}</code>:</p>")
            parts.append(_pre(content["schema"], schemas))
    for status, answer in op["responses"].items():
        ref = answer.get("$ref", "")
        answer = responses[ref.rsplit("/", 1)[1]] if ref else answer
        parts.append(f"<p><b>{html.escape(status)}</b> {html.escape(answer['description'])}</p>")
        if not ref:
            for media, content in answer.get("content", {}).items():
                parts.append(f"<p><code>{html.escape(media)}</code>:</p>")
                parts.append(_pre(content["schema"], schemas))
    parts.append("</section>")
    return "\n".join(parts)


def routes(services: Services, mounted_routes: Callable[[], Sequence[BaseRoute]]) -> list[Route]:
    """The document and its page, built once (from `mounted_routes()`, the application's routes)."""
    built: dict[str, Any] = {}

    def current() -> dict[str, Any]:
        if not built:
            doc = document(mounted_routes(), vocabulary(services))
            built.update(doc=doc, page=render_page(doc))
        return built

    async def openapi_json(_request: Request) -> Response:
        return JSONResponse(current()["doc"])

    async def docs(_request: Request) -> Response:
        return HTMLResponse(current()["page"])

    return [
        Route(OPENAPI_PATH, openapi_json, methods=["GET"]),
        Route(DOCS_PATH, docs, methods=["GET"]),
    ]

