"""Operations endpoints: health, Prometheus metrics, and the manual clock that end-to-end tests drive."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ilertd.actors.messages import Ping
from ilertd.app.auth import require_admin
from ilertd.domain.text_input import header_bytes
from ilertd.domain.timeutil import RANGE, format_instant, in_range, parse_duration, parse_instant
from ilertd.errors import ApiError, invalid
from ilertd.metrics import CONTENT_TYPE, Metrics
from ilertd.plugins.status import PluginStatus
from ilertd.store.counts import scrape_counts
from ilertd.store.db import ping
from ilertd.web.auth import authenticate
from ilertd.web.http import json_object, threaded
from ilertd.web.services import Services

PING_TIMEOUT = 5.0
METRICS_UNAUTHORIZED = ApiError(
    401, "UNAUTHORIZED", "metrics.token is set: Authorization: Bearer <metrics.token> is required",
    headers={"WWW-Authenticate": "Bearer"},
)


def bearer_matches(header: str, token: str) -> bool:
    """Whether an Authorization header carries `token` (scheme case-insensitive, as for API
    tokens), compared in constant time so the answer's timing tells nothing about the token."""
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(header_bytes(given.strip()), token.encode())


def exposition(metrics: Metrics, plugins: Sequence[PluginStatus]) -> bytes:
    """The metrics with this scrape's counts from the store (blocking: run in a worker thread), and
    whether each plugin the config did not disable runs: one that failed at start is only logged
    otherwise, while the daemon pages on without it (its mail listener, say)."""
    counts = scrape_counts()
    up = {s.name: s.runs for s in plugins if s.state != "disabled by config"}
    return metrics.exposition(counts.open_incidents, counts.outbox_pending, up)


def routes(services: Services) -> list[Route]:
    async def healthz(_request: Request) -> Response:
        role = services.role()
        try:
            await run_in_threadpool(ping, services.db)
        except Exception as error:
            return JSONResponse({"status": "unavailable", "role": role, "reason": f"store: {error}"}, 503)
        supervisor = services.supervisor
        if supervisor is not None:  # a follower runs none: the store answering is its health
            try:
                future = supervisor.ask(Ping(), block=False)
                await asyncio.to_thread(lambda: future.get(timeout=PING_TIMEOUT))
            except Exception as error:
                reason = f"supervisor did not answer: {type(error).__name__}"
                return JSONResponse({"status": "unavailable", "role": role, "reason": reason}, 503)
        return JSONResponse({"status": "ok", "role": role})

    async def metrics(request: Request) -> Response:
        token = services.config.metrics.token
        if token and not bearer_matches(request.headers.get("authorization", ""), token):
            raise METRICS_UNAUTHORIZED
        content = await run_in_threadpool(exposition, services.metrics, services.plugins.statuses)
        return Response(content, headers={"Content-Type": CONTENT_TYPE})

    def clock(request: Request, body: bytes) -> Response:
        require_admin(authenticate(request))
        manual = services.manual_clock
        if manual is None:
            raise ApiError(404, "NOT_FOUND", "the clock is manual only under serve --manual-clock")
        document = json_object(body)
        if ("advance" in document) == ("set" in document):
            raise ApiError(400, "INVALID_BODY", 'give exactly one of "advance" or "set"')
        if "advance" in document:
            try:
                target = in_range(manual.now() + parse_duration(document["advance"]))
            except ValueError as error:
                raise invalid("advance", str(error)) from None
        else:
            try:
                target = parse_instant(document["set"])
            except (ValueError, TypeError):
                raise invalid("set", f"set must be an ISO-8601 instant {RANGE}") from None
        try:
            now = manual.set(target)
        except ValueError as error:
            raise ApiError(400, "CLOCK_BACKWARDS", str(error)) from None
        return JSONResponse({"now": format_instant(now)})

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/api/_clock", threaded(clock), methods=["POST"]),
    ]
