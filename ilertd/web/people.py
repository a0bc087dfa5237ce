"""Users and their API tokens."""

from __future__ import annotations

from typing import Any

import peewee
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ilertd.errors import ApiError, not_found
from ilertd.store import models as m
from ilertd.store.db import write_transaction
from ilertd.web import validate as v
from ilertd.web.auth import authenticate, create_token, require_admin, require_self_or_admin
from ilertd.web.http import json_object, paging, path_id, threaded
from ilertd.web.services import Services
from ilertd.web.views import user_json

ROLES = ("ADMIN", "USER")


def user_fields(body: dict[str, Any], creating: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "username": v.username(body, required=creating),
        "first_name": v.text(body, "firstName", max_length=128),
        "last_name": v.text(body, "lastName", max_length=128),
        "email": v.email(body),
        "timezone": v.timezone(body),
        "role": v.choice(body, "role", ROLES),
    }
    present, muted = v.instant_or_null(body, "mutedUntil")
    if present:
        fields["muted_until"] = muted
    return {k: value for k, value in fields.items() if value is not None or k == "muted_until"}


def routes(services: Services) -> list[Route]:
    def user_or_404(user_id: int) -> m.User:
        row = m.User.get_or_none(m.User.id == user_id)
        if row is None:
            raise not_found("user", user_id)
        return row

    def list_users(request: Request, _body: bytes) -> Response:
        authenticate(request)
        start, size = paging(request)
        rows = m.User.select().order_by(m.User.id).offset(start).limit(size)
        return JSONResponse([user_json(r) for r in rows])

    def current(request: Request, _body: bytes) -> Response:
        principal = authenticate(request)
        return JSONResponse(user_json(user_or_404(principal.user_id)))

    def get_user(request: Request, _body: bytes) -> Response:
        authenticate(request)
        return JSONResponse(user_json(user_or_404(path_id(request))))

    def create_user(request: Request, body: bytes) -> Response:
        require_admin(authenticate(request))
        fields = user_fields(json_object(body), creating=True)
        fields.setdefault("role", "USER")
        try:
            with write_transaction(services.db):
                row = m.User.create(created_at=services.clock.now(), **fields)
        except peewee.IntegrityError:
            raise ApiError(409, "ALREADY_EXISTS", f"username {fields['username']!r} is taken",
                           field="username") from None
        return JSONResponse(user_json(row), status_code=201)

    def update_user(request: Request, body: bytes) -> Response:
        principal = authenticate(request)
        user_id = path_id(request)
        require_self_or_admin(principal, user_id)
        current_row = user_or_404(user_id)
        fields = user_fields(json_object(body), creating=False)
        if "role" in fields and not principal.is_admin:
            # A client's GET-modify-PUT carries the role back unchanged: only a change needs ADMIN.
            if fields["role"] != current_row.role:
                raise ApiError(403, "FORBIDDEN", "only an ADMIN may change a role", field="role")
            del fields["role"]
        if fields:
            try:
                with write_transaction(services.db):
                    m.User.update(**fields).where(m.User.id == user_id).execute()
            except peewee.IntegrityError:
                raise ApiError(409, "ALREADY_EXISTS", "username is taken", field="username") from None
            # After the COMMIT: the next page sees the new e-mail or mutedUntil.
            services.user_changed(user_id)
        return JSONResponse(user_json(user_or_404(user_id)))

    def delete_user(request: Request, _body: bytes) -> Response:
        principal = authenticate(request)
        require_admin(principal)
        user_id = path_id(request)
        user_or_404(user_id)
        if user_id == principal.user_id:
            raise ApiError(409, "CONFLICT", "an admin cannot delete their own account")
        with write_transaction(services.db):
            m.User.delete().where(m.User.id == user_id).execute()
        # Their duty rules went with them.
        services.user_changed(user_id, duties=True)
        return Response(status_code=204)

    def create_user_token(request: Request, body: bytes) -> Response:
        principal = authenticate(request)
        user_id = path_id(request)
        require_self_or_admin(principal, user_id)
        user_or_404(user_id)
        name = v.text(json_object(body, required=False), "name", max_length=128) or ""
        with write_transaction(services.db):
            token = create_token(user_id, name, services.clock.now())
        return JSONResponse({"token": token}, status_code=201)

    return [
        Route("/api/users", threaded(list_users), methods=["GET"]),
        Route("/api/users", threaded(create_user), methods=["POST"]),
        Route("/api/users/current", threaded(current), methods=["GET"]),
        Route("/api/users/{id}", threaded(get_user), methods=["GET"]),
        Route("/api/users/{id}", threaded(update_user), methods=["PUT"]),
        Route("/api/users/{id}", threaded(delete_user), methods=["DELETE"]),
        Route("/api/users/{id}/tokens", threaded(create_user_token), methods=["POST"]),
    ]
