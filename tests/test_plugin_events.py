"""A third party's integration or route handing ingestion something other than a list of Event."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ilertd import hookimpl
from ilertd.actors.ask import TurnGather
from ilertd.actors.messages import IngestBatch, IngestEvent
from ilertd.hookspecs import Event, Integration, IntegrationRequest, PluginContext
from tests.inprocess import InProcessDaemon
from tests.test_plugins_and_cli import entry_point_installer

JUNK: dict[str, Any] = {
    "dicts": [{"event_type": "ALERT", "summary": "x"}],
    "text": "ALERT",
    "none": None,
    "mixed": [Event(event_type="ALERT", summary="first", alert_key="m1"), "junk"],
}


def _parse(request: IntegrationRequest) -> Any:
    mode = request.query.get("mode", "")
    return JUNK[mode] if mode in JUNK else [Event(event_type="ALERT", summary="fine", alert_key="ok")]


class Sloppy:
    @hookimpl
    def register_integrations(self) -> list[Integration]:
        return [Integration("sloppy", "SLOPPY", _parse)]

    @hookimpl
    def register_routes(self, context: PluginContext) -> list[BaseRoute]:
        async def ingest(request: Request) -> Response:
            events: Any = [Event(event_type="ALERT", summary="good", alert_key="g"), {"not": "an event"}]
            await context.ingest(request.path_params["key"], events, "sloppy", None)
            return JSONResponse({})

        return [Route("/sloppy/{key}", ingest, methods=["POST"])]


SLOPPY = Sloppy()


@pytest.fixture
def sloppy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
           make_app: Callable[..., InProcessDaemon]) -> InProcessDaemon:
    entry_point_installer(tmp_path, monkeypatch, request, __name__)(sloppy="SLOPPY")
    return make_app().start()


def test_a_parse_returning_no_list_of_event_is_that_requests_500(sloppy: InProcessDaemon) -> None:
    app = sloppy
    source = app.post("/api/alert-sources", {"name": "sloppy", "integrationType": "SLOPPY"}).json()
    key = source["integrationKey"]
    for mode in JUNK:
        answer = app.client.post(f"/api/v1/events/sloppy/{key}?mode={mode}", json={})
        assert answer.status_code == 500, (mode, answer.text)
        assert answer.json() == {"status": 500, "code": "INTERNAL_ERROR",
                                 "message": "an unexpected error; see the log"}
    assert "parse returned [{'event_type'" in app.log()
    route = app.client.post(f"/sloppy/{app.integration_key}")
    assert route.status_code == 500 and route.json()["code"] == "INTERNAL_ERROR"
    assert "events must be a list of Event, got a list holding Event, dict" in app.log()
    # Nothing of a refused request was taken, not even its one good event.
    assert app.get("/api/incidents").json() == []
    assert app.client.post(f"/api/v1/events/sloppy/{key}", json={}).status_code == 202
    assert app.event(summary="unaffected", alertKey="u").status_code == 202


def test_an_event_the_supervisor_cannot_route_fails_alone_in_its_batch(sloppy: InProcessDaemon) -> None:
    """The events of concurrent requests reach the supervisor as one IngestBatch: one it cannot
    route is refused by itself, and the others of the batch are taken."""
    app = sloppy
    daemon = app.daemon
    assert daemon.plugins is not None and daemon.supervisor is not None
    intake = daemon.plugins.intake()

    async def batch() -> list[Any]:
        source = await intake.source(app.integration_key)
        events: list[Any] = [Event(event_type="ALERT", summary="before", alert_key="b"),
                             {"event_type": "ALERT"},
                             Event(event_type="ALERT", summary="after", alert_key="a")]
        builds = [partial(IngestEvent, source, event, "api", {}) for event in events]
        return await TurnGather(IngestBatch).ask(daemon.supervisor, daemon.tracker, builds)

    before, bad, after = asyncio.run(batch())
    assert bad.error is not None and bad.error.code == "INTERNAL_ERROR"
    assert before.error is None and after.error is None
    summaries = sorted(i["summary"] for i in app.get("/api/incidents").json())
    assert summaries == ["after", "before"]
    assert "supervisor: an event could not be routed" in app.log()
