"""Body routes served as bare ASGI, in front of starlette: the one path taken per alert.

Starlette's request objects, routing and middleware cost more per request than the rest of
the HTTP handling of an event. The application says which handler serves each fixed-path
`BodyRoute` (the Event API plugin's `POST /api/events` and `/api/v1/events`), each at its path
with a trailing slash too (ilertd.web.slashes): one lookup either way. Such a POST is answered
here with that handler and the same envelope, and every other request goes on to the starlette
application.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from ilertd.errors import ApiError
from ilertd.web.http import body_reply, read_limited, unexpected_error
from ilertd.web.plugin_routes import BodyHandler

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

class ClientGone(Exception):
    """The client disconnected before its body arrived: nobody is left to answer."""


class BodyFastPath:
    def __init__(self, app: ASGIApp, handlers: Mapping[str, BodyHandler], max_body_bytes: int) -> None:
        self.app = app
        self.handlers = dict(handlers)
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = (self.handlers.get(scope["path"])
                   if scope["type"] == "http" and scope["method"] == "POST" else None)
        if handler is None:
            await self.app(scope, receive, send)
            return
        try:
            body = await self._body(scope, receive)
            # Checked here, a reply that is no answer (an object JSON cannot hold, a status given
            # as text, NaN) is the envelope's 500, not a dropped connection or invalid JSON.
            status, content, raw_headers = body_reply(await handler(body))
        except ClientGone:
            return
        except ApiError as error:
            status, content, raw_headers = body_reply((error.status, error.body(), error.headers))
        except Exception as unexpected:
            logger.exception("unhandled error on POST %s", scope["path"])
            error = unexpected_error(unexpected)
            status, content, raw_headers = body_reply((error.status, error.body(), error.headers))
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": content})

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        return await read_limited(request_chunks(receive), declared, self.limit)


async def request_chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return
