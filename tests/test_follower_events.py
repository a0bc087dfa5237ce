"""Which requests a follower queues as events while no node leads: those to a route that declares it
takes events (a BodyRoute unless it says not, a route marked `takes_events`), a third party's as the
built-ins', each answered as its route declares. In this process: a follower's gate in front of the
application of a node on PostgreSQL whose relay is stopped (nothing claims what is queued), as
during a takeover; tests/test_ha_plugin_events.py does it on two real nodes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from ilertd import hookimpl
from ilertd.hookspecs import BodyReply, BodyRoute, takes_events
from ilertd.store import models as m
from ilertd.web import follower
from ilertd.web.follower import FollowerGate, event_route_of, queued_answer
from tests.asgi_client import EventLoopThread, asgi_client
from tests.inprocess import InProcessDaemon
from tests.test_plugins_and_cli import entry_point_installer

GENERIC = {"responseCode": "EVENT_QUEUED",
           "message": "the event is stored; the next node to lead takes it in"}


async def _taken(_body: bytes) -> BodyReply:
    return 202, {"taken": True}, {}


async def _routed(_request: Request) -> Response:
    return JSONResponse({"taken": True}, status_code=202)


def _broken_answer(_body: bytes) -> Response:
    raise RuntimeError("a bug in the plugin's queued answer")


class ThirdParty:
    """A tool's ways in, and writes that take no events."""

    @hookimpl
    def register_routes(self) -> list[BaseRoute]:
        return [
            BodyRoute("/thirdparty/events", _taken),
            takes_events(Route("/thirdparty/alert/{key}", _routed, methods=["POST"])),
            takes_events(Route("/thirdparty/texts", _routed, methods=["POST"]),
                         lambda body: Response(b"<ok/>", status_code=200, media_type="application/xml")),
            takes_events(Route("/thirdparty/broken", _routed, methods=["POST"]), _broken_answer),
            BodyRoute("/thirdparty/settings", _taken, events=False),
            Route("/thirdparty/note", _routed, methods=["POST"]),
            # Marked within a Mount that is not: a route there takes events as at the top level.
            Mount("/thirdparty/mounted", routes=[
                takes_events(Route("/alert/{key}", _routed, methods=["POST"])),
                Mount("/deeper", routes=[BodyRoute("/events", _taken)]),
                Route("/note", _routed, methods=["POST"]),
            ]),
        ]


THIRD_PARTY = ThirdParty()


def leader_gate(app: InProcessDaemon) -> FollowerGate:
    gate = app.daemon.web_app
    assert isinstance(gate, FollowerGate)
    return gate


def test_a_third_partys_event_routes_are_queued_while_no_node_leads_and_its_other_writes_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
    make_app: Callable[..., InProcessDaemon], postgres_url: str,
) -> None:
    """It was 503 NOT_LEADER for every route of a plugin's (the follower knew the built-ins' paths
    only), the request taken back: a webhook answered 5xx is often never sent again."""
    entry_point_installer(tmp_path, monkeypatch, request, __name__)(thirdparty="THIRD_PARTY")
    monkeypatch.setattr(follower, "CLAIM_SECONDS", 0.05)
    app = make_app(env={"ILERTD_DATABASE_URL": postgres_url}).start()
    # No node leads: nothing claims what the follower queues (its claim time shortened).
    assert app.daemon.relay is not None
    app.daemon.relay.stop()
    loop = EventLoopThread()
    try:
        inner = leader_gate(app)
        gate = FollowerGate(inner, lambda: False, "follower:1", 1 << 20, event_routes=inner.event_routes)
        client = asgi_client(gate, loop, app.url)
        for path in ("/thirdparty/events", "/thirdparty/alert/k1"):
            queued = client.post(path, content=b"disk full")
            assert (queued.status_code, queued.json()) == (202, GENERIC), (path, queued.text)
        # A route's own queued answer, as it declared it; one that fails is the generic 202.
        texts = client.post("/thirdparty/texts", content=b"Body=fire")
        assert (texts.status_code, texts.headers["content-type"], texts.content) == (
            200, "application/xml", b"<ok/>")
        broken = client.post("/thirdparty/broken", content=b"x")
        assert (broken.status_code, broken.json()) == (202, GENERIC)
        assert "a route's queued answer failed" in app.log()
        # Writes that take no events: taken back unseen, refused as any other write.
        for path in ("/thirdparty/settings", "/thirdparty/note"):
            refused = client.post(path, content=b"{}")
            assert refused.status_code == 503 and refused.json()["code"] == "NOT_LEADER", (path, refused.text)
        stored = sorted((r.path, r.is_event) for r in m.ForwardedRequest.select())
        assert stored == [("/thirdparty/alert/k1", True), ("/thirdparty/broken", True),
                          ("/thirdparty/events", True), ("/thirdparty/texts", True)]
    finally:
        loop.close()


def test_the_built_ins_declare_their_event_routes_and_answers_through_the_same_contract(
    app: InProcessDaemon,
) -> None:
    routes = leader_gate(app).event_routes

    def queued(method: str, path: str, body: bytes = b"") -> tuple[int, str, bytes] | None:
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
        reply = event_route_of(scope, routes)
        if reply is None:
            return None
        answer = queued_answer(reply, body)
        return answer.status, dict(answer.headers)["content-type"], answer.body

    def queued_json(method: str, path: str, body: bytes = b"") -> tuple[int, object]:
        found = queued(method, path, body)
        assert found is not None, path
        status, kind, content = found
        assert kind == "application/json", path
        return status, json.loads(content)

    event = {"alertKey": "disk", "alertUrl": None, "incidentId": None, "responseCode": "EVENT_QUEUED"}
    for path in ("/api/events", "/api/v1/events", "/api/v1/events/grafana/k1"):
        assert queued_json("POST", path, b'{"alertKey": "disk"}') == (202, event), path
    assert queued_json("POST", "/api/events", b'{"incidentKey": "disk"}') == (202, event)
    assert queued_json("POST", "/api/events", b"not json") == (202, {**event, "alertKey": None})
    assert queued_json("POST", "/v2/enqueue", b'{"dedup_key": "d1"}') == (
        202, {"status": "success", "message": "Event queued", "dedup_key": "d1"})
    for method in ("GET", "HEAD", "POST"):
        for path in ("/api/v1/heartbeats/k1", "/api/v1/heartbeats/k1/"):
            assert queued_json(method, path) == (202, {"status": "QUEUED"}), (method, path)
    assert queued("POST", "/api/v1/twilio/sms", b"From=%2B4915199999998&Body=fire") == (
        200, "application/xml", b'<?xml version="1.0" encoding="UTF-8"?><Response/>')
    # Not events: writes of the API, a page's answers, a method the route does not take.
    for method, path in (("POST", "/api/users"), ("POST", "/api/v1/twilio/voice/12"), ("POST", "/r/token"),
                         ("GET", "/api/v1/events/grafana/k1"), ("POST", "/api/v1/events/a/b/c")):
        assert queued(method, path) is None, (method, path)
