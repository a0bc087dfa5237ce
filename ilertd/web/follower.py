"""What a follower does with a request: a read it serves from the shared store; a write it hands to
the leader through the database (the forwarded-request table) and answers with the leader's answer.

Only the leader's actors and caches may see the store change, so a follower never writes itself.
An event is the exception that must not wait for a leader: once queued it is durable, and while
no node leads (a takeover) the follower answers at once (202 EVENT_QUEUED, or the answer its route
declares) and the next leader takes it. Which routes take events is what the routes declare
(ilertd.web.plugin_routes): the built-ins' as any plugin's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount

from ilertd.errors import NOT_LEADER, ApiError, StoreUnavailable
from ilertd.store import forwarded
from ilertd.store.db import store_failed
from ilertd.store.forwarded import Answer
from ilertd.web.fastpath import ASGIApp, ClientGone, Receive, Scope, Send, request_chunks
from ilertd.web.http import read_limited
from ilertd.web.plugin_routes import QueuedReply, queued_event, queued_reply, takes_events_within

logger = logging.getLogger(__name__)

# What the API writes with. Any other method (WebDAV's MKCALENDAR, PROPPATCH ...) is answered
# here, 405 as on the leader: handed on, it was a row the store refused (a method is at most 8
# characters there) and a 503 that asked the client to retry.
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
# Served by any node itself: the UI's login and logout (a signed cookie; the store does not change).
LOCAL_WRITES = frozenset({("POST", "/ui/login"), ("POST", "/ui/logout")})
CLOCK_PATH = "/api/_clock"
# The scope key of a request a leader runs for a follower: never handed on a second time.
FORWARDED = "ilertd.forwarded"
# The leader claims a queued request within milliseconds (NOTIFY) or a second (its poll): one
# still unclaimed after this means that no node leads, a takeover is under way.
CLAIM_SECONDS = 3.0
# How long a claimed request may take before the follower stops waiting for its answer.
ANSWER_SECONDS = 30.0
NO_ANSWER = ApiError(503, "NO_ANSWER_FROM_LEADER",
                     f"the leader took this request and did not answer within {ANSWER_SECONDS:.0f} s;"
                     " it may have been carried out: look before retrying")
# The store did not take the request (it is down or refused the row): nothing was handed on.
UNHANDED = StoreUnavailable("the request could not be stored for the leader; retry")
JSON_HEADERS = [("content-type", "application/json")]


def needs_leader(scope: Scope, takes_events: bool) -> bool:
    """Whether the request writes: an event (a heartbeat ping's GET too), a write of the API."""
    if takes_events:
        return True
    method, path = scope["method"], scope["path"]
    return method in WRITE_METHODS and (method, path) not in LOCAL_WRITES


def event_route_of(scope: Scope, routes: Sequence[BaseRoute]) -> QueuedReply | None:
    """The queued answer of the first of `routes` that serves this request, if it takes events: a
    request to it is an event whatever its method (a heartbeat ping's GET). A `Mount` not marked
    itself answers as the route within it that serves the request would (starlette's way down)."""
    for route in routes:
        try:
            match, child_scope = route.matches(scope)
        except Exception:
            # A plugin's own route class that cannot say what it matches takes nothing here.
            logger.warning("follower: route %r could not say whether it matches", route, exc_info=True)
            continue
        if match is not Match.FULL:
            continue
        reply = queued_reply(route)
        if reply is None and isinstance(route, Mount):
            within = [inner for inner in route.routes if takes_events_within(inner)]
            return event_route_of({**scope, **child_scope}, within)
        return reply
    return None


def queued_answer(reply: QueuedReply, body: bytes) -> Answer:
    """What a route that takes events answers for one queued while no node leads; the default 202
    when its own answer fails: the event is durable by now, and a 5xx would not be sent again."""
    try:
        response = reply(body)
        if not isinstance(response, Response):
            raise TypeError(f"a queued answer must be a starlette Response, not {response!r:.80}")
    except Exception:
        logger.exception("follower: a route's queued answer failed; answered EVENT_QUEUED")
        response = queued_event(body)
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers]
    return Answer(response.status_code, headers, bytes(response.body))


def error_answer(error: ApiError) -> Answer:
    headers = JSON_HEADERS + [(k.lower(), v) for k, v in error.headers.items()]
    return Answer(error.status, headers, json.dumps(error.body(), separators=(",", ":")).encode())


def wall_now() -> datetime:
    return datetime.now(UTC)


class FollowerGate:
    """ASGI middleware, outermost: on a follower (no supervisor), a request that needs the leader is
    queued for it and answered with what the leader answered."""

    def __init__(self, app: ASGIApp, is_leader: Callable[[], bool], node: str, max_body_bytes: int,
                 follow_clock: Callable[[], None] | None = None,
                 event_routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.is_leader = is_leader
        self.node = node
        self.limit = max_body_bytes
        # A manual clock on a shared store: a follower takes the stored time before it answers.
        self.follow_clock = follow_clock
        # The routes that take events (a plugin's, a core heartbeat's), as they declared it.
        self.event_routes = [route for route in event_routes if takes_events_within(route)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.is_leader():
            await self.app(scope, receive, send)
            return
        if self.follow_clock is not None:
            try:
                await asyncio.to_thread(self.follow_clock)
            except Exception as error:
                if not store_failed(error):
                    raise
                # The store is down: the request goes on at this node's time, finds the store down
                # as well and is answered as on a real clock (503 STORE_UNAVAILABLE, /healthz's
                # reason), not a plain-text 500 from here.
                logger.warning("follower: the shared clock could not be read: %s", error)
        queued = event_route_of(scope, self.event_routes)
        if not needs_leader(scope, queued is not None):
            await self.app(scope, receive, send)
            return
        if scope.get(FORWARDED):
            # Run here for a follower while this node stopped leading: never handed on again.
            await send_answer(send, error_answer(NOT_LEADER))
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        try:
            body = await read_limited(request_chunks(receive), declared, self.limit)
        except ClientGone:
            return
        except ApiError as error:
            await send_answer(send, error_answer(error))
            return
        answer = await self.forward(scope, body, queued)
        if answer is not None:
            await send_answer(send, answer)
        elif scope["path"] == CLOCK_PATH:
            # No node leads: the follower moves the shared clock itself; the next leader takes it.
            await self.app(scope, replay(body), send)
        else:
            await send_answer(send, error_answer(NOT_LEADER))

    async def forward(self, scope: Scope, body: bytes, queued: QueuedReply | None) -> Answer | None:
        """The leader's answer; None when no leader claimed the request and it was taken back
        (`queued`, the answer of a route that takes events: such a request is never taken back)."""
        path = scope["path"]
        event = queued is not None
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        client = scope.get("client")
        query = scope.get("query_string", b"").decode("latin-1")
        try:
            request_id = await asyncio.to_thread(
                forwarded.enqueue, self.node, scope["method"], path, query, headers,
                client[0] if client else "", body, event, wall_now())
        except Exception:
            logger.exception("follower: %s %s could not be stored for the leader", scope["method"], path)
            return error_answer(UNHANDED)
        started = time.monotonic()
        answer_deadline: float | None = None
        delay = 0.002
        while True:
            try:
                claimed, answer = await asyncio.to_thread(forwarded.answer_of, request_id)
                if answer is not None:
                    with contextlib.suppress(Exception):  # the leader prunes what is left
                        await asyncio.to_thread(forwarded.forget, request_id)
                    return answer
                now = time.monotonic()
                if not claimed and now - started >= CLAIM_SECONDS:
                    if queued is not None:
                        return queued_answer(queued, body)
                    if await asyncio.to_thread(forwarded.withdraw, request_id):
                        return None
                    claimed = True  # a leader took it just now
            except Exception:
                # Stored, so possibly carried out: keep looking until the deadline says otherwise.
                logger.warning("follower: reading the answer to request %s failed", request_id, exc_info=True)
                now, claimed = time.monotonic(), True
            if claimed and answer_deadline is None:
                answer_deadline = now + ANSWER_SECONDS
            if answer_deadline is not None and now >= answer_deadline:
                return error_answer(NO_ANSWER)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.05)


async def send_answer(send: Send, answer: Answer) -> None:
    hop_by_hop = {"connection", "transfer-encoding", "content-length", "keep-alive"}
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers
               if k.lower() not in hop_by_hop]
    headers.append((b"content-length", str(len(answer.body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


def replay(body: bytes, answered: asyncio.Event | None = None) -> Receive:
    """A `receive` that hands the already-read body over once, then waits like a quiet client
    (one that has read its answer and gone once `answered` is set)."""
    sent = False
    done = answered if answered is not None else asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    return receive  # type: ignore[return-value]
