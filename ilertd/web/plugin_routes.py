"""What a route declares beyond starlette's: a `BodyRoute`, and whether a route takes events in.

A route that takes events is one a follower queues for the next leader while no node leads (a
takeover) and answers at once, since the tools that send events (Twilio, most webhooks) never send
again one answered 5xx; any other write is refused 503 NOT_LEADER then. The follower learns which
routes those are from this mark, the built-ins' as a third party's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from ilertd.web.http import body_reply, read_body

# (status, JSON value, extra headers): what a BodyRoute's handler answers.
BodyReply = tuple[int, Any, Mapping[str, str]]
BodyHandler = Callable[[bytes], Awaitable[BodyReply]]
# What a follower answers for a request to the route once it is queued while no node leads, given
# the request's body: the event is durable, not yet taken in (no incident to name).
QueuedReply = Callable[[bytes], Response]

_QUEUED_MARK = "ilertd_queued_reply"
RouteT = TypeVar("RouteT", bound=BaseRoute)


def queued_event(_body: bytes) -> Response:
    """The answer of a route that takes events and declares none of its own."""
    return JSONResponse({"responseCode": "EVENT_QUEUED",
                         "message": "the event is stored; the next node to lead takes it in"},
                        status_code=202)


def takes_events(route: RouteT, queued: QueuedReply | None = None) -> RouteT:
    """Mark `route` as one that takes events in: while no node leads, a follower queues a request
    to it for the next leader (durable) and answers `queued(body)` (by default 202 EVENT_QUEUED)."""
    setattr(route, _QUEUED_MARK, queued or queued_event)
    return route


def queued_reply(route: BaseRoute) -> QueuedReply | None:
    """The queued answer of a route that takes events; None for any other route."""
    reply = getattr(route, _QUEUED_MARK, None)
    return reply if callable(reply) else None


def takes_events_within(route: BaseRoute) -> bool:
    """Whether the route takes events, or is a `Mount` one of whose routes (at any depth) does."""
    if queued_reply(route) is not None:
        return True
    return isinstance(route, Mount) and any(takes_events_within(inner) for inner in route.routes)


class BodyRoute(Route):
    """A POST route whose handler needs only the body (within `server.max_body_bytes`) and
    answers JSON. At a path without parameters ilertd serves it in front of starlette, as bare
    ASGI: the Event API's `POST /api/events` is one. An ApiError it raises is the error envelope.
    It exists to take events: it does (see `takes_events`, `queued` its answer) unless `events`
    is False."""

    def __init__(self, path: str, handler: BodyHandler, name: str | None = None, *,
                 events: bool = True, queued: QueuedReply | None = None) -> None:
        self.handler = handler
        super().__init__(path, self._endpoint, methods=["POST"], name=name or path)
        if events:
            takes_events(self, queued)

    async def _endpoint(self, request: Request) -> Response:
        status, content, headers = body_reply(await self.handler(await read_body(request)))
        response = Response(content, status_code=status)
        response.raw_headers = headers
        return response


def body_handlers(routes: Iterable[BaseRoute]) -> dict[str, BodyHandler]:
    """Which handler answers a POST to each fixed path declared as a BodyRoute (the fast path)."""
    return {route.path: route.handler for route in routes
            if isinstance(route, BodyRoute) and "{" not in route.path}
