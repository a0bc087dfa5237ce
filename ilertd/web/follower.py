"""What a follower serves: reads; a write it refuses NOT_LEADER, since only the leader's actors and
caches may see the store change (a follower's write would leave the leader's caches stale)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ilertd.errors import NOT_LEADER
from ilertd.web.http import error_response
from ilertd.web.services import Services

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Writes a follower may take: its own manual clock (tests), and a UI login and logout (a signed
# cookie; nothing of the leader's changes), so the UI pages can be read on any node.
FOLLOWER_WRITES = frozenset({("POST", "/api/_clock"), ("POST", "/ui/login"), ("POST", "/ui/logout")})


class FollowerGate:
    """ASGI middleware: on a follower (no supervisor), a request that is not a read is refused."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and self.services.supervisor is None
                and scope["method"] not in READ_METHODS
                and (scope["method"], scope["path"]) not in FOLLOWER_WRITES):
            await error_response(NOT_LEADER)(scope, receive, send)
            return
        await self.app(scope, receive, send)
