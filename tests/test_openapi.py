"""The OpenAPI document: valid OpenAPI 3.1, an entry for every mounted /api route, the request
schemas the validators' own specs, and a page that lists every operation without outside assets."""

from __future__ import annotations

import html
import re
from typing import Any

import jsonschema_rs
from starlette.responses import Response
from starlette.routing import Route

from ilertd.app.people import USER_BODY
from ilertd.app.schema import ObjectSpec, Text
from ilertd.app.sources import POLICY_BODY, SOURCE_BODY
from ilertd.web.app import build_app
from ilertd.web.openapi import DOCS_PATH, OPENAPI_PATH, mounted, openapi_path, undocumented
from tests.inprocess import InProcessDaemon

HTTP_METHODS = {"get", "put", "post", "delete", "head", "patch", "options"}


def document(app: InProcessDaemon) -> dict[str, Any]:
    reply = app.client.get(OPENAPI_PATH)  # no token: the document is public
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    return reply.json()  # type: ignore[no-any-return]


def operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item
            if method in HTTP_METHODS}


def test_every_mounted_api_route_has_an_entry_and_is_in_the_document(app: InProcessDaemon) -> None:
    assert app.daemon.services is not None
    routes = build_app(app.daemon.services).app.app.routes
    assert undocumented(routes) == []
    api = {(method, openapi_path(path)) for method, path in mounted(routes)}
    assert len(api) > 80
    assert ("GET", "/api/openapi.json") in api and ("GET", "/api/docs") in api
    assert operations(document(app)) == api | {("GET", "/healthz")}


def test_a_route_without_an_entry_is_reported(app: InProcessDaemon) -> None:
    assert app.daemon.services is not None

    async def endpoint(_request: Any) -> Response:
        return Response()

    routes = [*build_app(app.daemon.services).app.app.routes,
              Route("/api/not-described", endpoint, methods=["GET", "POST"]),
              Route("/outside-the-api", endpoint, methods=["GET"])]
    assert undocumented(routes) == [("GET", "/api/not-described"), ("POST", "/api/not-described")]


def test_the_document_is_valid_openapi_3_1_and_every_schema_compiles(app: InProcessDaemon) -> None:
    import schemathesis  # here, not at collection: see tests/test_openapi_fuzz.py

    doc = document(app)
    assert doc["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(doc)
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    loaded = [result.ok() for result in schema.get_all_operations()]
    assert len(loaded) == len(operations(doc))
    for name, component in doc["components"]["schemas"].items():
        jsonschema_rs.validator_for(component)  # a bad pattern or keyword raises
        assert name == re.sub(r"[^A-Za-z0-9._-]", "", name)
    # Every operation says who may call it: the token, or nothing (a key, a signature), or a feed token.
    assert doc["security"] == [{"bearerAuth": []}]
    public = {(m.upper(), p) for p, item in doc["paths"].items() for m, op in item.items()
              if op.get("security") == []}
    assert ("POST", "/api/events") in public and ("POST", "/api/v1/events/{type}/{key}") in public
    assert ("GET", "/healthz") in public and ("GET", "/api/users") not in public
    feed = doc["paths"]["/api/schedules/{id}.ics"]["get"]
    assert feed["security"] == [{"bearerAuth": []}, {"feedToken": []}]


def test_request_schemas_are_the_specs_the_validators_read(app: InProcessDaemon) -> None:
    doc = document(app)
    schemas = doc["components"]["schemas"]
    assert schemas["UserCreate"]["required"] == ["username"]
    assert "required" not in schemas["UserUpdate"]
    assert schemas["UserCreate"]["properties"]["firstName"]["maxLength"] == USER_BODY["firstName"].max_length
    assert schemas["EscalationPolicyCreate"]["properties"]["escalationRules"]["maxItems"] == 20
    # Run-time choices: the methods of the channels this daemon registered.
    contact = schemas["ContactCreate"]["properties"]["method"]["enum"]
    assert {"EMAIL", "SMS", "VOICE", "PUSH"} <= set(contact)
    duty = schemas["DutyRuleCreate"]["properties"]["method"]["enum"]
    assert "VOICE" not in duty and "SMS" in duty
    event = schemas["Event"]
    assert event["anyOf"] == [{"required": ["integrationKey"]}, {"required": ["apiKey"]}]
    assert event["properties"]["summary"]["maxLength"] == 1024

    # What the document says is what the validator does: one character over a limit is refused,
    # naming the field; at the limit it is taken.
    def longest(spec: ObjectSpec, name: str) -> int:
        field = spec[name]
        assert isinstance(field, Text) and field.max_length is not None
        return field.max_length

    for path, body, spec, name in [
        ("/api/users", {"username": "lim"}, USER_BODY, "lastName"),
        ("/api/alert-sources", {}, SOURCE_BODY, "name"),
        ("/api/alert-sources", {"name": "s"}, SOURCE_BODY, "signingSecret"),
        ("/api/escalation-policies", {"escalationRules": [{"escalationTimeout": 1, "users": [{"id": 1}]}]},
         POLICY_BODY, "name"),
    ]:
        limit = longest(spec, name)
        documented = schemas[path_schema(doc, path)]["properties"][name]["maxLength"]
        assert documented == limit
        refused = app.post(path, {**body, name: "x" * (limit + 1)})
        assert refused.status_code == 400 and refused.json()["field"] == name, refused.text
        taken = app.post(path, {**body, name: "x" * limit})
        assert taken.status_code == 201, taken.text


def path_schema(doc: dict[str, Any], path: str) -> str:
    ref = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return str(ref).rsplit("/", 1)[1]


def test_answers_are_closed_objects_with_every_field(app: InProcessDaemon) -> None:
    schemas = document(app)["components"]["schemas"]
    for name in ("Incident", "User", "AlertSource", "EscalationPolicy", "Schedule", "Notification",
                 "LogEntry", "HeartbeatMonitor", "MaintenanceWindow", "Contact", "AlertRule"):
        schema = schemas[name]
        assert schema["additionalProperties"] is False
        assert schema["required"] == list(schema["properties"])
    user = app.get("/api/users/current").json()
    jsonschema_rs.validator_for(schemas["User"]).validate(user)
    assert set(user) == set(schemas["User"]["properties"])


def test_the_page_lists_every_operation_and_loads_nothing_from_elsewhere(app: InProcessDaemon) -> None:
    doc = document(app)
    page = app.client.get(DOCS_PATH)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert f'id="{op["operationId"]}"' in text, (method, path)
    assert '<code>/api/users/{id}/contacts/{cid}</code>' in text
    assert html.escape('"maxLength": 64') in text  # the schemas are written out, not only named
    assert "<script" not in text and "<link" not in text and "src=" not in text
    assert re.findall(r'href="([^"#][^"]*)"', text) == [OPENAPI_PATH]
