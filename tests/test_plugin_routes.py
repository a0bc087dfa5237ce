"""A third party's routes beside ilertd's own: none takes a core route's path or an earlier plugin's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from ilertd import hookimpl
from ilertd.hookspecs import BodyReply, BodyRoute
from ilertd.plugins.manager import PluginManager
from tests.inprocess import InProcessDaemon
from tests.test_plugins_and_cli import entry_point_installer


async def _hijack(_body: bytes) -> BodyReply:
    return 200, {"hijacked": True}, {}


async def _hijack_request(_request: Request) -> Response:
    return JSONResponse({"hijacked": True})


class Hijacker:
    """Declares routes on core paths (and one of its own): each but its own is refused."""

    @hookimpl
    def register_routes(self) -> list[BaseRoute]:
        return [
            BodyRoute("/api/users", _hijack),
            BodyRoute("/api/_clock", _hijack),
            BodyRoute("/api/incidents/1/comments", _hijack),
            # The Event API plugin's `/api/v1/events/{type}/{key}`, loaded first, matches it.
            BodyRoute("/api/v1/events/hijack/x", _hijack),
            # A method the core path lacks: the core answers 405, never the plugin without a token.
            Route("/api/users", _hijack_request, methods=["DELETE"]),
            Route("/api/{anything}", _hijack_request, methods=["PATCH"]),
            Mount("/ui/static/hijacked", routes=[]),
            BodyRoute("/hijacker/own", _hijack),
        ]


HIJACKER = Hijacker()


@pytest.fixture
def hijacked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
             make_app: Callable[..., InProcessDaemon]) -> InProcessDaemon:
    entry_point_installer(tmp_path, monkeypatch, request, __name__)(hijacker="HIJACKER")
    return make_app().start()


def test_a_plugin_route_on_a_core_path_is_refused_and_listed_as_ignored(hijacked: InProcessDaemon) -> None:
    app = hijacked
    user = {"username": "bob", "email": "bob@example.com", "role": "USER"}
    assert app.client.post("/api/users", json=user).status_code == 401
    assert app.post("/api/users", user).status_code == 201
    assert app.client.post("/api/_clock", json={"advance": "PT1M"}).status_code == 401
    assert app.client.post("/api/incidents/1/comments", json={"comment": "x"}).status_code == 401
    tool = app.client.post("/api/v1/events/hijack/x", json={})
    assert tool.status_code == 404 and "hijacked" not in tool.json()
    assert app.client.delete("/api/users").status_code == 405
    assert app.client.patch("/api/users").status_code == 405
    own = app.client.post("/hijacker/own", content=b"x")
    assert own.status_code == 200 and own.json() == {"hijacked": True}
    assert app.daemon.plugins is not None
    status = app.daemon.plugins.status("hijacker")
    assert status is not None and status.state == "enabled"
    assert status.routes == ("POST /hijacker/own",)
    assert len(status.ignored) == 7, status.ignored
    assert "route POST /api/users (a core route: GET /api/users)" in status.ignored
    served = "route POST /api/v1/events/hijack/x (already served by POST /api/v1/events/{type}"
    assert any(i.startswith(served) for i in status.ignored), status.ignored
    assert "overlaps ilertd's" in app.log()
    # ilertd's own plugins overlap nothing of the core's.
    assert all(not s.ignored for s in app.daemon.plugins.statuses if s.name != "hijacker")


class Twin:
    """Declares what the first twin loaded already has: the later one's declarations are ignored."""

    @hookimpl
    def register_routes(self) -> list[BaseRoute]:
        return [BodyRoute("/twin/hook", _hijack), Route("/twin/{id}", _hijack_request)]


def test_a_later_plugins_duplicate_declaration_is_listed_as_ignored_not_provided() -> None:
    manager = PluginManager()
    first = manager.register(Twin(), "first")
    second = manager.register(Twin(), "second")
    assert first.routes == ("POST /twin/hook", "GET /twin/{id}") and first.ignored == ()
    assert second.routes == () and second.state == "enabled"
    assert second.ignored == ("route POST /twin/hook (already served by POST /twin/hook)",
                              "route GET /twin/{id} (already served by GET /twin/{id})")
    assert list(manager.body_handlers()) == ["/twin/hook"]


class FailsToStart:
    """Serves routes, and its startup fails: they are withdrawn with its integrations."""

    @hookimpl
    def register_routes(self) -> list[BaseRoute]:
        return [Route("/fails/hello", _hijack_request), BodyRoute("/fails/fast", _hijack)]

    @hookimpl
    def startup(self) -> None:
        raise RuntimeError("cannot start")


FAILS_TO_START = FailsToStart()


def test_the_routes_of_a_plugin_whose_startup_failed_are_not_served(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
        make_app: Callable[..., InProcessDaemon]) -> None:
    entry_point_installer(tmp_path, monkeypatch, request, __name__)(fails="FAILS_TO_START")
    app = make_app().start()
    assert app.daemon.plugins is not None
    status = app.daemon.plugins.status("fails")
    assert status is not None and status.state == "hook error" and status.routes == ()
    for answer in (app.client.get("/fails/hello"), app.client.post("/fails/fast", content=b"x")):
        assert answer.status_code == 404 and answer.json()["code"] == "NOT_FOUND"


BAD_REPLIES: dict[str, Any] = {
    "unserializable": (200, {"x": object()}, {}),
    "nan": (200, {"x": float("nan")}, {}),
    "status-as-text": ("200", {"ok": 1}, {}),
    "header-not-text": (200, {"ok": 1}, {"X-N": 5}),
    "header-two-lines": (200, {"ok": 1}, {"X-N": "1\r\nSet-Cookie: a=b"}),
    "header-not-latin-1": (200, {"ok": 1}, {"X-N": "\u2603"}),
    "no-tuple": {"just": "json"},
    "status-out-of-range": (1000, {"ok": 1}, {}),
}


class BadReplies:
    """BodyRoutes whose handlers answer what is no answer, at fixed paths (served in front of
    starlette) and at a path with a parameter (served by starlette)."""

    @hookimpl
    def register_routes(self) -> list[BaseRoute]:
        def answering(kind: str) -> Callable[[bytes], Any]:
            async def handler(_body: bytes) -> Any:
                return BAD_REPLIES[kind]
            return handler

        async def by_kind(body: bytes) -> Any:
            return BAD_REPLIES[body.decode()]

        return [*(BodyRoute(f"/bad/{kind}", answering(kind)) for kind in BAD_REPLIES),
                BodyRoute("/bad-by-kind/{anything}", by_kind)]


BAD_REPLIES_PLUGIN = BadReplies()


def test_a_body_routes_reply_that_is_no_answer_is_the_envelopes_500(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
        make_app: Callable[..., InProcessDaemon]) -> None:
    entry_point_installer(tmp_path, monkeypatch, request, __name__)(bad_replies="BAD_REPLIES_PLUGIN")
    app = make_app().start()
    envelope = {"status": 500, "code": "INTERNAL_ERROR", "message": "an unexpected error; see the log"}
    for kind in BAD_REPLIES:
        for answer in (app.client.post(f"/bad/{kind}", content=b""),
                       app.client.post("/bad-by-kind/x", content=kind.encode())):
            assert answer.status_code == 500, (kind, answer.text)
            assert answer.headers["content-type"] == "application/json", kind
            assert answer.json() == envelope, kind
            assert "set-cookie" not in answer.headers
    assert app.event(summary="unaffected", alertKey="u").status_code == 202


async def _greedy(_request: Request) -> Response:
    return JSONResponse({"greedy": True})


async def _mine(_body: bytes) -> BodyReply:
    return 200, {"mine": True}, {}


class Greedy:
    """A pattern that covers core paths too: refused as a whole."""

    @hookimpl
    def register_routes(self) -> list[BaseRoute]:
        return [Route("/{first}/{rest:path}", _greedy, methods=["POST"])]


class Mine:
    @hookimpl
    def register_routes(self) -> list[BaseRoute]:
        return [BodyRoute("/mine/hook", _mine)]


GREEDY, MINE = Greedy(), Mine()


def test_a_route_ignored_for_one_refused_later_is_served_after_all(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
        make_app: Callable[..., InProcessDaemon]) -> None:
    """Ignored as "already served" by an earlier plugin's greedy pattern, which was then refused
    as a core overlap: neither was served (404)."""
    entry_point_installer(tmp_path, monkeypatch, request, __name__)(aaa_greedy="GREEDY", zzz_mine="MINE")
    app = make_app().start()
    assert app.daemon.plugins is not None
    mine = app.daemon.plugins.status("zzz_mine")
    assert mine is not None and mine.routes == ("POST /mine/hook",) and mine.ignored == ()
    answer = app.client.post("/mine/hook", content=b"x")
    assert (answer.status_code, answer.json()) == (200, {"mine": True})
    greedy = app.daemon.plugins.status("aaa_greedy")
    assert greedy is not None and greedy.routes == () and "a core route" in greedy.ignored[0]
