"""The starlette application: the core routes and the plugins' routes, errors as API.md's envelope."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp

from ilertd.errors import ApiError
from ilertd.web import incidents, intake, numbers, openapi, ops, people, preferences, schedules, sources, ui
from ilertd.web.fastpath import BodyFastPath
from ilertd.web.follower import FollowerGate
from ilertd.web.http import error_response, unexpected_error
from ilertd.web.plugin_routes import body_handlers
from ilertd.web.services import Services
from ilertd.web.slashes import NotFound, not_found_message, slash_twins
from ilertd.web.sub_path import under

logger = logging.getLogger(__name__)

HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 400: "BAD_REQUEST"}


async def _api_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error_response(error)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code = HTTP_CODES.get(error.status_code, "HTTP_ERROR")
    message = not_found_message(request) if error.status_code == 404 else str(error.detail)
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = _allowed(request)
    return JSONResponse(
        {"status": error.status_code, "code": code, "message": message},
        status_code=error.status_code,
        headers=headers,
    )


def _allowed(request: Request) -> str:
    """Every method the path answers to. Starlette names those of the first route of the path
    only, and one path is often several routes (GET, PUT and DELETE of `/api/users/{id}`): a
    405 for PATCH said `Allow: HEAD, GET`."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


async def _client_gone(_request: Request, _error: Exception) -> Response:
    # The client left before its body arrived: nobody reads this answer, and nothing went wrong here.
    return Response(status_code=400)


async def _unexpected(request: Request, error: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return error_response(unexpected_error(error))


def build_app(services: Services) -> ASGIApp:
    plugins = services.plugins
    core = [
        *incidents.routes(services),
        *people.routes(services),
        *preferences.routes(services),
        *sources.routes(services),
        *schedules.routes(services),
        *numbers.routes(services),
        *ui.routes(services),
        *intake.routes(services),
        *ops.routes(services),
        # The document of every route mounted here, read once the application is built.
        *openapi.routes(services, lambda: app.routes),
    ]
    # A plugin route on a core route's path is withdrawn first: starlette would match the core one
    # first, but a BodyRoute is answered in front of starlette, with no token.
    plugins.admit_routes(core)
    # After the core routes: the Event API, PagerDuty, the voice plugin's TwiML, a third party's webhook.
    routes = [*core, *plugins.routes]
    # Last, so that no route of a path with a trailing slash is taken from anyone.
    twins = slash_twins(routes)
    routes += twins
    app = Starlette(
        routes=routes,
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            Exception: _unexpected,
        },
    )
    # Starlette's redirect to the other slash form named the Host header's host, dropped public_url's
    # path and scheme, and lost the alert of a sender that did not follow it.
    app.router.redirect_slashes = False
    app.router.default = NotFound(app.router, services.config.server.public_path)
    limit = services.config.server.max_body_bytes
    app.state.max_body_bytes = limit
    # On a follower every write, the fast path's events too, is handed to the leader, and an event
    # (a request to a route that declares it takes events) is queued while no node leads;
    # outermost, the path of public_url, which a proxy may or may not strip.
    fast = {**plugins.body_handlers(), **body_handlers(twins)}
    gate = FollowerGate(BodyFastPath(app, fast, limit),
                        lambda: services.supervisor is not None, services.node, limit, services.follow_clock,
                        event_routes=routes)
    return under(gate, services.config.server.public_path)
