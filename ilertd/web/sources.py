"""Alert sources and escalation policies over HTTP: parse, authorise, call the application layer, render."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ilertd.app.sources import policy_or_404, source_or_404
from ilertd.store.sources import policies_page, sources_page
from ilertd.web.auth import authenticate
from ilertd.web.http import admin_document, paging, path_id, threaded
from ilertd.web.services import Services
from ilertd.web.views import alert_source_json, escalation_policy_json


def routes(services: Services) -> list[Route]:
    sources = services.app.sources

    def list_sources(request: Request, _body: bytes) -> Response:
        start, size = paging(request)
        shown = authenticate(request).is_admin
        return JSONResponse([alert_source_json(r, shown) for r in sources_page(start, size)])

    def get_source(request: Request, _body: bytes) -> Response:
        row = source_or_404(path_id(request))
        return JSONResponse(alert_source_json(row, authenticate(request).is_admin))

    def create_source(request: Request, body: bytes) -> Response:
        row = sources.create_source(*admin_document(request, body))
        return JSONResponse(alert_source_json(row), status_code=201)

    def update_source(request: Request, body: bytes) -> Response:
        caller, document = admin_document(request, body)
        row = sources.update_source(caller, path_id(request), document)
        return JSONResponse(alert_source_json(row))

    def delete_source(request: Request, _body: bytes) -> Response:
        sources.delete_source(authenticate(request), path_id(request))
        return Response(status_code=204)

    def list_policies(request: Request, _body: bytes) -> Response:
        start, size = paging(request)
        return JSONResponse([escalation_policy_json(r) for r in policies_page(start, size)])

    def get_policy(request: Request, _body: bytes) -> Response:
        return JSONResponse(escalation_policy_json(policy_or_404(path_id(request))))

    def create_policy(request: Request, body: bytes) -> Response:
        row = sources.create_policy(*admin_document(request, body))
        return JSONResponse(escalation_policy_json(row), status_code=201)

    def update_policy(request: Request, body: bytes) -> Response:
        caller, document = admin_document(request, body)
        row = sources.update_policy(caller, path_id(request), document)
        return JSONResponse(escalation_policy_json(row))

    def delete_policy(request: Request, _body: bytes) -> Response:
        sources.delete_policy(authenticate(request), path_id(request))
        return Response(status_code=204)

    return [
        Route("/api/alert-sources", threaded(list_sources), methods=["GET"]),
        Route("/api/alert-sources", threaded(create_source), methods=["POST"]),
        Route("/api/alert-sources/{id}", threaded(get_source), methods=["GET"]),
        Route("/api/alert-sources/{id}", threaded(update_source), methods=["PUT"]),
        Route("/api/alert-sources/{id}", threaded(delete_source), methods=["DELETE"]),
        Route("/api/escalation-policies", threaded(list_policies), methods=["GET"]),
        Route("/api/escalation-policies", threaded(create_policy), methods=["POST"]),
        Route("/api/escalation-policies/{id}", threaded(get_policy), methods=["GET"]),
        Route("/api/escalation-policies/{id}", threaded(update_policy), methods=["PUT"]),
        Route("/api/escalation-policies/{id}", threaded(delete_policy), methods=["DELETE"]),
    ]
