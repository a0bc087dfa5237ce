"""A path with a trailing slash: an event route's is that route itself, a UI page's a redirect within
public_url's path, any other a 404; never starlette's redirect, whose Location the Host header made."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Match, Mount, Route, Router, compile_path
from starlette.types import Receive, Scope, Send

from ilertd.plugins.routes import answered_by
from ilertd.web.plugin_routes import queued_reply

UI_PAGES = "/ui/"


def slash_twins(routes: Sequence[BaseRoute]) -> list[Route]:
    """For each route of `routes` that takes events at a path without a trailing slash, the same
    route (endpoint, methods, queued answer) at that path with one, unless a route of `routes`
    answers there already (the heartbeat ping's own). Tools are configured with URLs pasted by
    hand: a redirect for `URL/` is an alert `curl -f` reports sent and Go's clients lose.

    The routes of a `Mount` (at any depth) get theirs inside it, among its own routes, where its
    middleware and root path reach them as they reach the route itself; they are not returned."""
    twins: list[Route] = []
    for route in routes:
        if isinstance(route, Mount):
            _twin_within(route)
            continue
        if not isinstance(route, Route) or queued_reply(route) is None or route.path.endswith("/"):
            continue
        # A copy, not a new Route: a plugin's subclass keeps its own matching and its BodyRoute handler.
        twin = copy.copy(route)
        twin.path = route.path + "/"
        twin.path_regex, twin.path_format, twin.param_convertors = compile_path(twin.path)
        twin.include_in_schema = False  # the route's own entry in the OpenAPI document says it
        if answered_by(twin, routes) is None:
            twins.append(twin)
    return twins


def _twin_within(mount: Mount) -> None:
    """The twins of the mount's routes, added to them (a mount of a bare ASGI app has none); and
    its router answers a path none of them serves 404, as ilertd's own does, never with starlette's
    redirect to the other slash form, whose Location the Host header made."""
    inner = mount.routes  # the router's own list (starlette's Router, or a Starlette app's)
    if not inner:
        return
    inner.extend(slash_twins(inner))
    # Starlette keeps the mount's router, under any middleware, as `_base_app` only.
    base = getattr(mount, "_base_app", None)
    router = getattr(base, "router", base)
    if isinstance(router, Router):
        router.redirect_slashes = False


def routed(routes: Iterable[BaseRoute], scope: Scope, method_too: bool = False) -> bool:
    """Whether a route of `routes` serves the path of `scope` (in its method too, if `method_too`)."""
    least = Match.FULL if method_too else Match.PARTIAL
    for route in routes:
        try:
            if route.matches(scope)[0].value >= least.value:
                return True
        except Exception:  # a plugin's own route class that cannot say: it serves nothing here
            continue
    return False


def without_slash(scope: Scope) -> str | None:
    """The path of the request without its trailing slashes, if it has any."""
    path: str = scope["path"]
    return path.rstrip("/") if len(path) > 1 and path.endswith("/") else None


def not_found_message(request: Request) -> str:
    """The 404's message: a path that is a route's but for its trailing slash says so."""
    bare = without_slash(request.scope)
    if bare and routed(request.app.routes, {**request.scope, "path": bare}):
        return f"no such path; without the trailing slash it is one: {bare}"
    return "no such path"


class NotFound:
    """The router's answer to a request no route serves (in place of starlette's redirect to the
    other slash form): a UI page's path with a trailing slash is redirected to the page, the
    Location a path under public_url's; anything else is the error envelope's 404."""

    def __init__(self, router: Router, public_path: str) -> None:
        self.router = router
        self.public_path = public_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        page = self.page(scope)
        if page is None:
            await self.router.not_found(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        # A path, never a URL: the browser keeps the scheme and host it came by, the Host header
        # (anyone's to set) names nothing, and a proxy's sub-path stays in front.
        location = self.public_path + page + (f"?{query}" if query else "")
        await RedirectResponse(location, status_code=307)(scope, receive, send)

    def page(self, scope: Scope) -> str | None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return None
        bare = without_slash(scope) if scope["path"].startswith(UI_PAGES) else None
        return bare if bare and routed(self.router.routes, {**scope, "path": bare}, method_too=True) else None
