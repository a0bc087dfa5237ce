"""Users and their API tokens over HTTP: parse, authorise, call the application layer, render."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ilertd.app.auth import require_admin, require_self_or_admin
from ilertd.app.offboarding import remove_user
from ilertd.app.people import user_or_404
from ilertd.store import models as m
from ilertd.store.people import owned_rows, users_page
from ilertd.web.auth import authenticate
from ilertd.web.http import admin_document, flag, owner_document, paging, path_id, threaded
from ilertd.web.services import Services
from ilertd.web.views import token_json, user_json


def routes(services: Services) -> list[Route]:
    people = services.app.people

    def list_users(request: Request, _body: bytes) -> Response:
        start, size = paging(request)
        return JSONResponse([user_json(r) for r in users_page(start, size)])

    def current(request: Request, _body: bytes) -> Response:
        return JSONResponse(user_json(user_or_404(authenticate(request).user_id)))

    def get_user(request: Request, _body: bytes) -> Response:
        return JSONResponse(user_json(user_or_404(path_id(request))))

    def create_user(request: Request, body: bytes) -> Response:
        row = people.create_user(*admin_document(request, body))
        return JSONResponse(user_json(row), status_code=201)

    def update_user(request: Request, body: bytes) -> Response:
        user_id = path_id(request)
        caller, document = owner_document(request, body, user_id)
        row = people.update_user(caller, user_id, document)
        return JSONResponse(user_json(row))

    def delete_user(request: Request, _body: bytes) -> Response:
        caller = authenticate(request)
        require_admin(caller)
        force = flag(request, "force")
        remove_user(services.app, caller, path_id(request), force,
                    "add ?force=true to take them off there now")
        return Response(status_code=204)

    def create_user_token(request: Request, body: bytes) -> Response:
        user_id = path_id(request)
        caller, document = owner_document(request, body, user_id, required=False)
        token = people.create_token(caller, user_id, document)
        return JSONResponse({"token": token}, status_code=201)

    def list_user_tokens(request: Request, _body: bytes) -> Response:
        caller = authenticate(request)
        user_id = path_id(request)
        require_self_or_admin(caller, user_id)
        user_or_404(user_id)
        start, size = paging(request)
        return JSONResponse([token_json(t) for t in owned_rows(m.ApiToken, user_id, start, size)])

    def revoke_user_token(request: Request, _body: bytes) -> Response:
        people.revoke_token(authenticate(request), path_id(request), path_id(request, "tid"))
        return Response(status_code=204)

    return [
        Route("/api/users", threaded(list_users), methods=["GET"]),
        Route("/api/users", threaded(create_user), methods=["POST"]),
        Route("/api/users/current", threaded(current), methods=["GET"]),
        Route("/api/users/{id}", threaded(get_user), methods=["GET"]),
        Route("/api/users/{id}", threaded(update_user), methods=["PUT"]),
        Route("/api/users/{id}", threaded(delete_user), methods=["DELETE"]),
        Route("/api/users/{id}/tokens", threaded(create_user_token), methods=["POST"]),
        Route("/api/users/{id}/tokens", threaded(list_user_tokens), methods=["GET"]),
        Route("/api/users/{id}/tokens/{tid}", threaded(revoke_user_token), methods=["DELETE"]),
    ]
