"""The example plugin on its own: parsing real payload files, signatures, the sender, the route, the hooks."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ilertd.config import Config, PluginSections, declared_options
from ilertd.hookspecs import (
    ApiError,
    DeliveryError,
    Event,
    Integration,
    IntegrationRequest,
    Message,
    Outcome,
    PluginContext,
    SourceInfo,
)
from ilertd.plugins.manager import PluginManager
from ilertd.web.plugin_routes import queued_event, queued_reply
from starlette.applications import Starlette
from starlette.testclient import TestClient

import ilertd_example as example

FIXTURES = Path(__file__).parent / "fixtures"


def request(name: str, headers: dict[str, str] | None = None) -> IntegrationRequest:
    return IntegrationRequest(body=(FIXTURES / name).read_bytes(), headers=headers or {}, query={})


class FakeIntake:
    """Stands in for ilertd's ingestion: records what the plugin hands it."""

    def __init__(self) -> None:
        self.taken: list[tuple[str | SourceInfo, Sequence[Event], str, Any]] = []

    async def source(self, integration_key: str) -> SourceInfo:
        return SourceInfo(1, "tickets", "TICKET", "HIGH", None)

    async def ingest(self, source: str | SourceInfo, events: Sequence[Event], integration: str,
                     payload: Any) -> list[Outcome]:
        self.taken.append((source, events, integration, payload))
        return [Outcome(incident_id=7, alert_key="generated", response_code="NEW_INCIDENT_CREATED")]


class FakeHost:
    def __init__(self) -> None:
        self.intake_ = FakeIntake()

    def integration(self, name: str) -> Integration | None:
        return None

    def intake(self) -> FakeIntake:
        return self.intake_


def context(**config: Any) -> PluginContext:
    values = {"enabled": True, "secret": "", "webhook_url": "", "timeout": 10, **config}
    return PluginContext("example", values, Config(), FakeHost())


def test_an_open_ticket_alerts_and_a_closed_one_resolves() -> None:
    (opened,) = example.parse(request("open.json"))
    assert (opened.event_type, opened.alert_key) == ("ALERT", "T-1042")
    assert opened.summary == "checkout queue stuck"
    (closed,) = example.parse(request("closed.json"))
    assert (closed.event_type, closed.alert_key) == ("RESOLVE", "T-1042")


@pytest.mark.parametrize("body", [b'{"id": 7, "state": "open"}', b'{"id": "T-1", "state": "lost"}', b"[]",
                                  b"not json"])
def test_a_payload_it_cannot_read_is_a_400(body: bytes) -> None:
    with pytest.raises(ApiError) as refused:
        example.parse(IntegrationRequest(body=body, headers={}, query={}))
    assert refused.value.status == 400 and refused.value.code == "INVALID_PAYLOAD"


def test_with_a_secret_only_signed_webhooks_pass() -> None:
    assert example.verifier("") is None
    verify = example.verifier("s3cret")
    assert verify is not None
    body = (FIXTURES / "open.json").read_bytes()
    verify(request("open.json", {"x-ticket-signature": example.signature("s3cret", body)}))
    for headers in ({}, {"x-ticket-signature": example.signature("other", body)}):
        with pytest.raises(ApiError) as refused:
            verify(request("open.json", headers))
        assert refused.value.status == 401


def test_its_config_keys_are_well_declared() -> None:
    options = example.plugin_config()
    assert declared_options(options) == []
    assert {o.key for o in options} == {"secret", "webhook_url", "timeout"}
    timeout = next(o for o in options if o.key == "timeout")
    assert timeout.check is not None and timeout.check(0) is not None and timeout.check(5) is None


class Receiver:
    """A webhook on loopback: records each POST, answers `status`."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                receiver.posts.append((self.path, json.loads(self.rfile.read(length))))
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.server.shutdown()
    running.server.server_close()


def test_the_webhook_channel_posts_each_page_and_reports_a_refusal(receiver: Receiver) -> None:
    (channel,) = example.register_channels(context(webhook_url=f"http://127.0.0.1:{receiver.port}/p/{{contact}}"))
    assert channel.method == "WEBHOOK" and channel.sender is not None
    channel.sender.send("ops team", Message("db1 is down", "full text", "ilertd-n1", "short"))
    path, body = receiver.posts[0]
    assert path == "/p/ops%20team"
    assert body == {"target": "ops team", "title": "db1 is down", "body": "full text",
                    "reference": "ilertd-n1"}
    receiver.status = 500
    with pytest.raises(DeliveryError, match="500"):
        channel.sender.send("ops", Message("t", "b", "ilertd-n2", "s"))
    assert example.register_channels(context()) == [], "no URL, no channel"


def test_the_plain_text_route_ingests_its_body_as_the_summary() -> None:
    plugin = context()
    app = Starlette(routes=example.register_routes(plugin))
    app.state.max_body_bytes = 1024
    with TestClient(app) as client:
        reply = client.post("/example/alert/KEY?alertKey=disk", content=b"disk full on db1\n")
        assert reply.status_code == 202
        assert reply.json() == {"incidentId": 7, "alertKey": "generated",
                                "responseCode": "NEW_INCIDENT_CREATED"}
    ((source, events, integration, payload),) = plugin.host.intake().taken  # type: ignore[attr-defined]
    assert (source, integration, payload) == ("KEY", "example", "disk full on db1")
    assert events[0].summary == "disk full on db1" and events[0].alert_key == "disk"
    # It takes events: a follower queues one while no node leads, with the default answer.
    (route,) = example.register_routes(plugin)
    assert queued_reply(route) is queued_event


def test_startup_and_shutdown_say_where_it_listens(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ilertd_example"):
        example.startup(context(secret="s"))
        example.shutdown(context())
    assert "/example/alert/{key}" in caplog.text and "signed" in caplog.text and "stopped" in caplog.text


def test_ilertds_plugin_manager_takes_it_with_its_section() -> None:
    sections = PluginSections({"example": {"webhook_url": "http://127.0.0.1:9/{contact}", "secret": "s"}})
    plugins = PluginManager(Config(plugins=sections))
    status = plugins.register(example, "example")
    assert status.state == "enabled", status.error
    assert status.integrations == ("ticket",) and status.routes == ("POST /example/alert/{key}",)
    assert plugins.integration("TICKETS") is plugins.integration("ticket")
    assert "WEBHOOK" in plugins.methods() and "WEBHOOK" in plugins.methods(reminders=True)
    wrong = PluginManager(Config(plugins=PluginSections({"example": {"timeout": 0, "secert": "s"}})))
    refused = wrong.register(example, "example")
    assert refused.state == "config error"
    assert "did you mean 'secret'" in refused.error and "greater than 0" in refused.error
