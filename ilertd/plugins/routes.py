"""Which plugin routes may be served: none that takes a core route's path or an earlier plugin's route."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

from starlette.convertors import Convertor, FloatConvertor, IntegerConvertor, UUIDConvertor
from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute

_PARAMETER = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-zA-Z_][a-zA-Z0-9_]*)?}")


def route_labels(route: BaseRoute) -> list[str]:
    """`POST /api/events`-style labels of a route, for listings and clash checks."""
    if isinstance(route, Route):
        methods = sorted((route.methods or {"ANY"}) - {"HEAD"}) or ["GET"]
        return [f"{method} {route.path}" for method in methods]
    if isinstance(route, WebSocketRoute):
        return [f"WEBSOCKET {route.path}"]
    if isinstance(route, Mount):
        return [f"MOUNT {route.path}"]
    return [type(route).__name__]


def _sample(convertor: Convertor[Any]) -> str:
    if isinstance(convertor, IntegerConvertor):
        return "1"
    if isinstance(convertor, FloatConvertor):
        return "1.0"
    if isinstance(convertor, UUIDConvertor):
        return str(uuid.UUID(int=1))
    return "1"


def _scopes(route: BaseRoute) -> list[dict[str, Any]]:
    """A request each of the route's methods would answer (one per method), as an ASGI scope; none
    for a route of a kind whose path is unknown (a Host, a plugin's own BaseRoute)."""
    if not isinstance(route, Route | WebSocketRoute | Mount):
        return []
    convertors = route.param_convertors
    path = _PARAMETER.sub(lambda m: _sample(convertors[m[1]]) if m[1] in convertors else "1", route.path)
    if isinstance(route, Mount):
        path += "/"
    if isinstance(route, WebSocketRoute):
        return [{"type": "websocket", "path": path, "root_path": ""}]
    methods = sorted(route.methods or {"GET"}) if isinstance(route, Route) else ["GET", "POST"]
    return [{"type": "http", "path": path, "root_path": "", "method": method} for method in methods]


def _matches(route: BaseRoute, scope: dict[str, Any], partly: bool) -> bool:
    try:
        match, _ = route.matches(scope)
    except Exception:
        # A plugin's own route class that cannot say what it matches is taken to match.
        return True
    return match is Match.FULL or (partly and match is Match.PARTIAL)


def answered_by(route: BaseRoute, earlier: Iterable[BaseRoute]) -> BaseRoute | None:
    """The earlier plugin route that already answers a request of `route` (its path and one of its
    methods): the first plugin loaded keeps it. Without this a later BodyRoute at a fixed path, served
    in front of starlette, would take requests an earlier route's pattern matches."""
    return next((other for other in earlier for scope in _scopes(route) if _matches(other, scope, False)),
                None)


class CoreRoutes:
    """The core routes with the requests each would answer, worked out once: every plugin route is
    checked against all of them (at each start, about 150 core routes for each plugin route)."""

    def __init__(self, core: Iterable[BaseRoute]) -> None:
        self.routes = [(route, _scopes(route)) for route in core]


def core_overlap(route: BaseRoute, core: CoreRoutes) -> BaseRoute | None:
    """The core route whose path `route`'s overlaps, whatever the methods: a plugin route may serve
    no request of a core path (not even a method the core route does not allow, which is a 405 and
    never an unauthenticated answer), and no pattern of it may cover a core path."""
    scopes = _scopes(route)
    for other, other_scopes in core.routes:
        if any(_matches(other, scope, True) for scope in scopes):
            return other
        if any(_matches(route, scope, True) for scope in other_scopes):
            return other
    return None


def served_after_all(shadowed: list[BaseRoute], core: CoreRoutes, served: list[BaseRoute]
                     ) -> list[BaseRoute]:
    """Those of `shadowed` (routes ignored for an earlier plugin's) that neither a core route nor
    a route of `served` answers now, in order, each one taken counting for the next."""
    back: list[BaseRoute] = []
    for route in shadowed:
        if core_overlap(route, core) is None and answered_by(route, [*served, *back]) is None:
            back.append(route)
    return back
