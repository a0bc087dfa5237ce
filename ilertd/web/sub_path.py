"""Serving under the path of `server.public_url` (a proxy's sub-path such as /ilertd): requests may
come with it (a proxy that passes the whole path) or without it (one that strips it), and the
redirects the application answers begin with it."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def under(app: ASGIApp, prefix: str) -> ASGIApp:
    """`app` served under `prefix` ("" or "/a/b"): without one, `app` itself (nothing in the way)."""
    return SubPath(app, prefix) if prefix else app


class SubPath:
    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix
        self.location_prefix = prefix.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == self.prefix or path.startswith(self.prefix + "/"):
            raw: bytes = scope.get("raw_path") or b""
            if raw.startswith(self.location_prefix):
                raw = raw[len(self.location_prefix):] or b"/"
            # As a proxy that strips it would have sent it: inside, every path is ilertd's own.
            scope = {**scope, "path": path[len(self.prefix):] or "/", "raw_path": raw or None}

        async def send_located(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [self._located(name, value)
                                                  for name, value in message.get("headers", [])]}
            await send(message)

        await self.app(scope, receive, send_located)

    def _located(self, name: bytes, value: bytes) -> tuple[bytes, bytes]:
        """A redirect to a path of ilertd's ("/ui/incidents") is one to that path under the prefix."""
        if name.lower() == b"location" and value.startswith(b"/") and not value.startswith(b"//") \
                and not value.startswith(self.location_prefix + b"/"):
            return name, self.location_prefix + value
        return name, value
