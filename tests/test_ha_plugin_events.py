"""A third party's event routes on a follower while no node leads (a takeover): queued and answered
202 as the built-ins' are, not refused 503 NOT_LEADER (a webhook answered 5xx is often never sent
again). The follower learns which routes take events from what the plugins declare.

The plugin is a third party's, found through its entry point: a module and its distribution's
metadata written here, on the path of both nodes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.daemon import DaemonProcess
from tests.loopback import SmtpServer
from tests.test_ha import (
    POSTGRES_URL,
    TAKEOVER_SECONDS,
    freeze,
    queued_events_taken,
    start_two_nodes,
    wait_for_role,
)
from tests.test_ha import smtp as smtp  # the fixture

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs ILERTD_TEST_POSTGRES_URL (see .ci/run)")

PLUGIN = '''"""A third party's ways in: a BodyRoute, a route it marks as taking events, a plain write."""

from ilertd import hookimpl
from ilertd.hookspecs import BodyRoute, Event, PluginContext, takes_events
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route


@hookimpl
def register_routes(context: PluginContext) -> list[BaseRoute]:
    async def alert(key: str, alert_key: str, summary: str) -> int | None:
        event = Event(event_type="ALERT", alert_key=alert_key, summary=summary)
        (outcome,) = await context.ingest(key, [event], "probe", {"summary": summary})
        if outcome.error is not None:
            raise outcome.error
        return outcome.incident_id

    async def bodied(body: bytes) -> tuple[int, object, dict[str, str]]:
        key, alert_key, summary = body.decode().split(" ", 2)
        return 202, {"incidentId": await alert(key, alert_key, summary)}, {}

    async def routed(request: Request) -> Response:
        summary = (await context.read_body(request)).decode()
        incident = await alert(request.path_params["key"], request.query_params["alertKey"], summary)
        return JSONResponse({"incidentId": incident}, status_code=202)

    async def note(request: Request) -> Response:
        return JSONResponse({"noted": True})

    return [
        BodyRoute("/probe/events", bodied),
        takes_events(Route("/probe/alert/{key}", routed, methods=["POST"])),
        Route("/probe/note", note, methods=["POST"]),
    ]
'''


def third_party_site(directory: Path) -> Path:
    """The plugin installed as pip would: its module and its distribution's entry point."""
    directory.mkdir(parents=True)
    (directory / "ilertd_probe.py").write_text(PLUGIN)
    metadata = directory / "ilertd_probe-1.0.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text("Metadata-Version: 2.1\nName: ilertd-probe\nVersion: 1.0\n")
    (metadata / "entry_points.txt").write_text("[ilertd.plugins]\nprobe = ilertd_probe\n")
    return directory


def test_a_third_partys_event_routes_are_queued_by_a_follower_while_no_node_leads(
    make_daemon: Callable[..., DaemonProcess], postgres_url: str, smtp: SmtpServer, tmp_path: Path,
) -> None:
    site = third_party_site(tmp_path / "site")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    first, second = start_two_nodes(make_daemon, postgres_url, smtp, tmp_path, env={"PYTHONPATH": path})
    key = second.integration_key
    # Led: the follower hands each to the leader and answers with the leader's answer.
    led = second.client.post("/probe/events", content=f"{key} disk disk full".encode())
    assert led.status_code == 202 and isinstance(led.json()["incidentId"], int), led.text

    freeze(first, postgres_url)
    # Nobody leads: each waits for a leader to claim it first; sent together, they wait together.
    with ThreadPoolExecutor(3) as pool:
        sent = [pool.submit(second.client.post, "/probe/events", content=f"{key} disk disk full again"),
                pool.submit(second.client.post, f"/probe/alert/{key}?alertKey=cpu", content=b"cpu hot"),
                pool.submit(second.client.post, "/probe/note", json={})]
        bodied, routed, plain = (future.result() for future in sent)
    queued = {"responseCode": "EVENT_QUEUED",
              "message": "the event is stored; the next node to lead takes it in"}
    assert (bodied.status_code, bodied.json()) == (202, queued), bodied.text
    assert (routed.status_code, routed.json()) == (202, queued), routed.text
    # A route the plugin did not declare as taking events is any other write: taken back, unseen.
    assert plain.status_code == 503 and plain.json()["code"] == "NOT_LEADER", plain.text

    assert first.process is not None
    first.kill()
    wait_for_role(second, "leader", TAKEOVER_SECONDS)
    # The next leader takes in what was queued, through the plugin's own handlers.
    incidents = queued_events_taken(second, {"disk": 2, "cpu": 1})
    assert incidents["cpu"]["summary"] == "cpu hot"
    second.stop()
