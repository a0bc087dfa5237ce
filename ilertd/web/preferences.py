"""A user's contacts and notification preferences over HTTP: parse, call the application layer, render."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ilertd.app.preferences import (
    RULE_KINDS,
    RuleKind,
    contact_json,
    contacts_json,
    owned_or_404,
    user_or_404,
)
from ilertd.store import models as m
from ilertd.store.people import owned_rows
from ilertd.web.auth import authenticate
from ilertd.web.http import owner_document, paging, path_id, threaded
from ilertd.web.services import Services


def routes(services: Services) -> list[Route]:
    preferences = services.app.preferences

    def readable_user(request: Request) -> int:
        user_id = path_id(request)
        user_or_404(user_id)
        return user_id

    # --- contacts ------------------------------------------------------------------------------

    def list_contacts(request: Request, _body: bytes) -> Response:
        user_id = readable_user(request)
        start, size = paging(request)
        return JSONResponse(contacts_json(owned_rows(m.Contact, user_id, start, size)))

    def get_contact(request: Request, _body: bytes) -> Response:
        user_id = readable_user(request)
        return JSONResponse(contact_json(owned_or_404(m.Contact, "contact", user_id,
                                                      path_id(request, "cid"))))

    def create_contact(request: Request, body: bytes) -> Response:
        user_id = path_id(request)
        caller, document = owner_document(request, body, user_id)
        row = preferences.create_contact(caller, user_id, document)
        return JSONResponse(contact_json(row), status_code=201)

    def update_contact(request: Request, body: bytes) -> Response:
        user_id = path_id(request)
        caller, document = owner_document(request, body, user_id)
        row = preferences.update_contact(caller, user_id, path_id(request, "cid"), document)
        return JSONResponse(contact_json(row))

    def test_contact(request: Request, _body: bytes) -> Response:
        caller = authenticate(request)
        notification_id = preferences.send_test(caller, path_id(request), path_id(request, "cid"))
        return JSONResponse({"id": notification_id, "status": "SCHEDULED"}, status_code=202)

    def delete_contact(request: Request, _body: bytes) -> Response:
        preferences.delete_contact(authenticate(request), path_id(request), path_id(request, "cid"))
        return Response(status_code=204)

    # --- rules ---------------------------------------------------------------------------------

    def rule_handlers(kind: RuleKind) -> list[Route]:
        model: Any = kind.model

        def list_rules(request: Request, _body: bytes) -> Response:
            user_id = readable_user(request)
            start, size = paging(request)
            return JSONResponse([kind.json(r) for r in owned_rows(model, user_id, start, size)])

        def get_rule(request: Request, _body: bytes) -> Response:
            user_id = readable_user(request)
            return JSONResponse(kind.json(owned_or_404(model, kind.what, user_id, path_id(request, "rid"))))

        def create_rule(request: Request, body: bytes) -> Response:
            user_id = path_id(request)
            caller, document = owner_document(request, body, user_id)
            row = preferences.create_rule(caller, kind, user_id, document)
            return JSONResponse(kind.json(row), status_code=201)

        def update_rule(request: Request, body: bytes) -> Response:
            user_id = path_id(request)
            caller, document = owner_document(request, body, user_id)
            row = preferences.update_rule(caller, kind, user_id, path_id(request, "rid"), document)
            return JSONResponse(kind.json(row))

        def delete_rule(request: Request, _body: bytes) -> Response:
            preferences.delete_rule(authenticate(request), kind, path_id(request), path_id(request, "rid"))
            return Response(status_code=204)

        base = f"/api/users/{{id}}/notification-preferences/{kind.segment}"
        return [
            Route(base, threaded(list_rules), methods=["GET"]),
            Route(base, threaded(create_rule), methods=["POST"]),
            Route(base + "/{rid}", threaded(get_rule), methods=["GET"]),
            Route(base + "/{rid}", threaded(update_rule), methods=["PUT"]),
            Route(base + "/{rid}", threaded(delete_rule), methods=["DELETE"]),
        ]

    contacts = "/api/users/{id}/contacts"
    return [
        Route(contacts, threaded(list_contacts), methods=["GET"]),
        Route(contacts, threaded(create_contact), methods=["POST"]),
        Route(contacts + "/{cid}", threaded(get_contact), methods=["GET"]),
        Route(contacts + "/{cid}", threaded(update_contact), methods=["PUT"]),
        Route(contacts + "/{cid}", threaded(delete_contact), methods=["DELETE"]),
        Route(contacts + "/{cid}/test", threaded(test_contact), methods=["POST"]),
        *(route for kind in RULE_KINDS for route in rule_handlers(kind)),
    ]

