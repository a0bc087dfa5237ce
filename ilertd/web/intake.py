"""Heartbeat monitors, their pings, and maintenance windows over HTTP: parse, authorise, call the
application layer, render."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ilertd.app.heartbeats import monitor_or_404
from ilertd.app.quiet_times import window_or_404
from ilertd.domain.timeutil import format_instant
from ilertd.store import models as m
from ilertd.store.heartbeats import monitors_page
from ilertd.store.quiet_times import windows_page
from ilertd.web.auth import authenticate
from ilertd.web.http import admin_document, paging, path_id, threaded
from ilertd.web.plugin_routes import takes_events
from ilertd.web.services import Services


def heartbeat_monitor_json(row: m.HeartbeatMonitor, secrets: bool = True) -> dict[str, Any]:
    """A monitor as the API shows it; to a USER without its key (whoever holds it pings it)."""
    return {
        "id": row.id,
        "name": row.name,
        "intervalSec": row.interval_sec,
        "alertSource": {"id": row.alert_source_id},
        "integrationKey": row.integration_key if secrets else None,
        "lastPingAt": format_instant(row.last_ping_at),
        "status": row.status,
    }


def maintenance_window_json(row: m.MaintenanceWindow) -> dict[str, Any]:
    return {
        "id": row.id,
        "summary": row.summary,
        "start": format_instant(row.starts_at),
        "end": format_instant(row.ends_at),
        "alertSources": [{"id": i} for i in row.alert_source_ids],
    }


def queued_ping(_body: bytes) -> Response:
    """What a follower answers for a ping it queued while no node leads (the next leader takes it)."""
    return JSONResponse({"status": "QUEUED"}, status_code=202)


def routes(services: Services) -> list[Route]:
    heartbeats, windows = services.app.heartbeats, services.app.maintenance

    def list_monitors(request: Request, _body: bytes) -> Response:
        start, size = paging(request)
        shown = authenticate(request).is_admin
        return JSONResponse([heartbeat_monitor_json(r, shown) for r in monitors_page(start, size)])

    def get_monitor(request: Request, _body: bytes) -> Response:
        row = monitor_or_404(path_id(request))
        return JSONResponse(heartbeat_monitor_json(row, authenticate(request).is_admin))

    def create_monitor(request: Request, body: bytes) -> Response:
        row = heartbeats.create(*admin_document(request, body))
        return JSONResponse(heartbeat_monitor_json(row), status_code=201)

    def update_monitor(request: Request, body: bytes) -> Response:
        caller, document = admin_document(request, body)
        row = heartbeats.update(caller, path_id(request), document)
        return JSONResponse(heartbeat_monitor_json(row))

    def delete_monitor(request: Request, _body: bytes) -> Response:
        heartbeats.delete(authenticate(request), path_id(request))
        return Response(status_code=204)

    def ping(request: Request, _body: bytes) -> Response:
        # The key in the URL authenticates, as for events; a HEAD answers without a body.
        heartbeats.ping(str(request.path_params["key"]))
        if request.method == "HEAD":
            return Response(status_code=202)
        return JSONResponse({"status": "OK"}, status_code=202)

    def list_windows(request: Request, _body: bytes) -> Response:
        start, size = paging(request)
        return JSONResponse([maintenance_window_json(r) for r in windows_page(start, size)])

    def get_window(request: Request, _body: bytes) -> Response:
        return JSONResponse(maintenance_window_json(window_or_404(path_id(request))))

    def create_window(request: Request, body: bytes) -> Response:
        row = windows.create(*admin_document(request, body))
        return JSONResponse(maintenance_window_json(row), status_code=201)

    def update_window(request: Request, body: bytes) -> Response:
        caller, document = admin_document(request, body)
        row = windows.update(caller, path_id(request), document)
        return JSONResponse(maintenance_window_json(row))

    def delete_window(request: Request, _body: bytes) -> Response:
        windows.delete(authenticate(request), path_id(request))
        return Response(status_code=204)

    return [
        Route("/api/heartbeat-monitors", threaded(list_monitors), methods=["GET"]),
        Route("/api/heartbeat-monitors", threaded(create_monitor), methods=["POST"]),
        Route("/api/heartbeat-monitors/{id}", threaded(get_monitor), methods=["GET"]),
        Route("/api/heartbeat-monitors/{id}", threaded(update_monitor), methods=["PUT"]),
        Route("/api/heartbeat-monitors/{id}", threaded(delete_monitor), methods=["DELETE"]),
        takes_events(Route("/api/v1/heartbeats/{key}", threaded(ping, access="public"),
                           methods=["GET", "HEAD", "POST"]), queued_ping),
        # The ping with a trailing slash too: its redirect (307) was the answer to `curl -fsS URL/`
        # in a cron job, which exits 0 without following it, so a healthy job went OVERDUE.
        takes_events(Route("/api/v1/heartbeats/{key}/", threaded(ping, access="public"),
                           methods=["GET", "HEAD", "POST"]), queued_ping),
        Route("/api/maintenance-windows", threaded(list_windows), methods=["GET"]),
        Route("/api/maintenance-windows", threaded(create_window), methods=["POST"]),
        Route("/api/maintenance-windows/{id}", threaded(get_window), methods=["GET"]),
        Route("/api/maintenance-windows/{id}", threaded(update_window), methods=["PUT"]),
        Route("/api/maintenance-windows/{id}", threaded(delete_window), methods=["DELETE"]),
    ]
