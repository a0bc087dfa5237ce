"""Every /api route's entry in the OpenAPI document: its summary, who may call it, its parameters and
status codes, and which body and answer specs it reads (the validators' own specs; see openapi.py).

A mounted `/api` route without an entry fails tests/test_openapi.py, so the document cannot drift.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from starlette.routing import BaseRoute, Route

from ilertd.app.event_schema import event_body
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
)
from ilertd.app.sources import POLICY_BODY, SOURCE_BODY
from ilertd.domain.events import NATIVE_BODY
from ilertd.domain.timeutil import RANGE
from ilertd.domain.wording import plural
from ilertd.web import views
from ilertd.web.http import DEFAULT_PAGE, MAX_PAGE

OPENAPI_PATH = "/api/openapi.json"
DOCS_PATH = "/api/docs"
PING_SLASH = "/api/v1/heartbeats/{key}/"  # the ping with a trailing slash, not a redirect

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
                                                  "5 escalate, 0 the next incident of a summary call, any "
                                                  "other the menu again")})
TEXT = Text(max_length=None)
ANY_OBJECT = Anything(kind="object")


def _list(spec: Spec) -> ArrayOf:
    return ArrayOf(item=spec)


def _crud(base: str, tag: str, what: str, body: ObjectSpec, reply: ObjectSpec, admin_writes: bool,
          delete_conflict: str = "", unique_name: bool = False) -> dict[tuple[str, str], Operation]:
    """The five routes of a collection: list (paged), create, read, update (fields given), delete."""
    who = "ADMIN" if admin_writes else "Oneself or ADMIN"
    forbidden = (403,)
    writes = (403, 409) if unique_name else forbidden
    named = f" A name another {what} holds is 409 ALREADY_EXISTS." if unique_name else ""
    return {
        ("GET", base): Operation(f"List {plural(what)}", tag, reply=_list(reply), query=PAGED),
        ("POST", base): Operation(f"Create a {what}", tag, body=body, creating=True, reply=reply, status=201,
                                  errors=writes, description=f"{who}.{named}"),
        ("GET", base + "/{id}"): Operation(f"Read a {what}", tag, reply=reply),
        ("PUT", base + "/{id}"): Operation(f"Change a {what}", tag, body=body, reply=reply, errors=writes,
                                           description=f"{who}; changes the fields given.{named}"),
        ("DELETE", base + "/{id}"): Operation(
            f"Delete a {what}", tag, status=204, errors=(*forbidden, *((409,) if delete_conflict else ())),
            description=f"{who}. {delete_conflict}".strip()),
    }


def _owned(base: str, tag: str, what: str, body: ObjectSpec, reply: ObjectSpec, key: str,
           duplicate: str = "") -> dict[tuple[str, str], Operation]:
    """A user's own collection (contacts, each kind of rule): anyone reads, oneself or ADMIN writes."""
    item = f"{base}/{{{key}}}"
    writes = (403, 409) if duplicate else (403,)
    return {
        ("GET", base): Operation(f"List a user's {plural(what)}", tag, reply=_list(reply), query=PAGED),
        ("POST", base): Operation(f"Add a {what}", tag, body=body, creating=True, reply=reply, status=201,
                                  errors=writes, description=f"Oneself or ADMIN. {duplicate}".strip()),
        ("GET", item): Operation(f"Read a {what}", tag, reply=reply),
        ("PUT", item): Operation(
            f"Change a {what}", tag, body=body, reply=reply, errors=writes,
            description=f"Oneself or ADMIN; changes the fields given. {duplicate}".strip()),
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
            "Delete a user", "Users", status=204, errors=(400, 403, 409),
            query=(Param("force", {"type": "string", "enum": ["true", "false"], "default": "false"},
                         "take them off every escalation level, schedule layer, shift and override first"),),
            description="ADMIN; their tokens, contacts and preferences go with them. Not one's own. "
                        "While they are on duty: 409 IN_USE naming each place, unless force=true; a "
                        "level or layer they would leave empty, or an incident they accepted still open: "
                        "409 IN_USE even then."),
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
            "Send a test notification", "Contacts", reply=views.TEST_PAGE, status=202, errors=(403, 409),
            description="Oneself or ADMIN; queued and sent at once, throttled like any page. Takes no body."
                        " An SMS number that replied STOP: 409 CONFLICT."),
        # --- alert sources, escalation policies ---
        **_crud("/api/alert-sources", "Alert sources", "alert source", SOURCE_BODY, views.ALERT_SOURCE, True,
                "A source that has incidents, or that a heartbeat monitor names, cannot be deleted "
                "(409 IN_USE).",
                unique_name=True),
        **_crud("/api/escalation-policies", "Escalation policies", "escalation policy", POLICY_BODY,
                views.ESCALATION_POLICY, True,
                "A policy an alert source or an open incident escalates by cannot be deleted (409 IN_USE).",
                unique_name=True),
        # --- schedules ---
        **_crud("/api/schedules", "Schedules", "schedule", SCHEDULE_BODY, views.SCHEDULE, True,
                "A schedule an escalation policy names cannot be deleted (409 IN_USE).", unique_name=True),
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
        ("GET", "/api/schedules/{id}/overrides/{oid}"): Operation(
            "One override", "Schedules", reply=views.OVERRIDE, description="404 when not this schedule's."),
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
                views.HEARTBEAT_MONITOR, True,
                "A monitor whose incident is open cannot be deleted (409 IN_USE)."),
        **{(method, path): Operation(
            "Ping a heartbeat monitor", "Heartbeat monitors", reply=None if method == "HEAD" else views.PING,
            status=202, auth="none", description="The key authenticates; a body is not read.")
           for method in ("GET", "HEAD", "POST") for path in ("/api/v1/heartbeats/{key}", PING_SLASH)},
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
                          "Notification preferences", kind.what, kind.body, kind.reply, "rid",
                          f"A copy of another of the user's {plural(kind.what)} (the same method, contact "
                          "and other fields) is 409 ALREADY_EXISTS."))
    return ops


OPERATIONS = _operations()
# Not under /api, and described here all the same: what a load balancer or systemd probes.
EXTRA_OPERATIONS = {
    ("GET", "/healthz"): Operation(
        "Health", "Operations", reply=views.HEALTH, auth="none",
        also=((503, "The store or the supervisor does not answer.", views.HEALTH),),
        description="200 while the store answers and, on the leader, the supervisor; `role` says "
                    "whether this node leads (runs the actors) or follows."),
}
PLUGIN_ROUTE = Operation("A plugin's route", "Plugins", auth="none",
                         description="Served by an installed plugin, as its documentation says.")


def openapi_path(route_path: str) -> str:
    """Starlette's `{id:int}` is OpenAPI's `{id}`."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", route_path)


def mounted(routes: Iterable[BaseRoute]) -> list[tuple[str, str]]:
    """(method, path) of every `/api` route in the schema, HEAD only where one declares it without GET."""
    found = []
    for route in routes:
        if not isinstance(route, Route) or not route.path.startswith("/api/") or not route.include_in_schema:
            continue
        methods = set(route.methods or ())
        if "GET" in methods and ("HEAD", route.path) not in OPERATIONS:
            methods.discard("HEAD")
        found.extend((method, route.path) for method in sorted(methods))
    return found


def undocumented(routes: Iterable[BaseRoute]) -> list[tuple[str, str]]:
    """The mounted `/api` routes that have no entry in OPERATIONS."""
    return [key for key in mounted(routes) if key not in OPERATIONS]
