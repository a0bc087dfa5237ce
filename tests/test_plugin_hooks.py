"""Every hook of the contract through throw-away plugins, registered by entry point as a third party's.

The entry points name objects of this module (`tests.test_plugin_hooks:RECORDER`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ilertd import hookimpl
from ilertd.config import Config, PluginSections, check_plugin_section, load_config, with_credentials
from ilertd.hookspecs import (
    ApiError,
    BodyReply,
    BodyRoute,
    Channel,
    ConfigOption,
    DeliveryError,
    Event,
    Integration,
    IntegrationRequest,
    Message,
    PluginContext,
)
from ilertd.plugins.manager import PluginManager
from tests.inprocess import InProcessDaemon
from tests.test_plugins_and_cli import install_fake_distribution, on_path


def _positive(value: int) -> str | None:
    return None if value > 0 else f"must be greater than 0, got {value}"


class RecordingSender:
    name = "recorder"

    def __init__(self, plugin: Recorder) -> None:
        self.plugin = plugin

    def send(self, target: str, message: Message) -> None:
        if self.plugin.failures:
            self.plugin.failures -= 1
            raise RuntimeError("the recorder's provider fell over")
        self.plugin.sent.append((target, message))


class Recorder:
    """A plugin implementing every hook; it records what ilertd hands it."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.calls: list[tuple[str, PluginContext | None]] = []
        self.sent: list[tuple[str, Message]] = []
        self.failures = 0

    @property
    def context(self) -> PluginContext:
        return next(c for name, c in self.calls if name == "startup" and c is not None)

    @hookimpl
    def plugin_config(self) -> list[ConfigOption]:
        self.calls.append(("plugin_config", None))
        return [ConfigOption("greeting", str, "hello", "what GET /recorder/hello answers"),
                ConfigOption("signature", str, "", "the X-Recorded header the integration wants"),
                ConfigOption("limit", int, 3, "a number that must be positive", check=_positive)]

    @staticmethod
    def parse(request: IntegrationRequest) -> list[Event]:
        body = request.json()
        if body.get("explode"):
            raise RuntimeError("the recorder's parser has a bug")
        return [Event(event_type="ALERT", alert_key=body["key"],
                      summary=f"recorded from {request.source_name}")]

    @hookimpl
    def register_integrations(self, context: PluginContext) -> list[Integration]:
        self.calls.append(("register_integrations", context))

        def verify(request: IntegrationRequest) -> None:
            if request.headers.get("x-recorded") != context.config["signature"]:
                raise ApiError(401, "INVALID_SIGNATURE", "X-Recorded does not match")

        return [Integration("recorded", "RECORDED", self.parse, aliases=("rec",), verify=verify)]

    @hookimpl
    def register_channels(self, context: PluginContext) -> list[Channel]:
        self.calls.append(("register_channels", context))
        return [Channel("RECORD", sender=RecordingSender(self), reminders=False)]

    @hookimpl
    def register_routes(self, context: PluginContext) -> list[BaseRoute]:
        self.calls.append(("register_routes", context))

        def hello(_request: Request) -> Response:
            return PlainTextResponse(context.config["greeting"])

        def broken(_request: Request) -> Response:
            raise RuntimeError("the recorder's route has a bug")

        async def fast(body: bytes) -> BodyReply:
            return 201, {"length": len(body)}, {"X-Recorder": "fast"}

        async def ingest(request: Request) -> Response:
            event = Event(event_type="ALERT", alert_key="from-route", summary="posted to the recorder")
            (outcome,) = await context.ingest(request.path_params["key"], [event], "recorder", None)
            return JSONResponse({"incidentId": outcome.incident_id}, status_code=202)

        return [Route("/recorder/hello", hello), Route("/recorder/broken", broken),
                Route("/recorder/ingest/{key}", ingest, methods=["POST"]), BodyRoute("/recorder/fast", fast)]

    @hookimpl
    def startup(self, context: PluginContext) -> None:
        self.calls.append(("startup", context))

    @hookimpl
    def shutdown(self, context: PluginContext) -> None:
        self.calls.append(("shutdown", context))


class Breaker:
    """A plugin whose hooks raise where `breaks` says."""

    def __init__(self, breaks: str) -> None:
        self.breaks = breaks

    @hookimpl
    def register_integrations(self) -> list[Integration]:
        if self.breaks == "register_integrations":
            raise RuntimeError("no integrations today")
        return [Integration("breakable", "API", Recorder.parse, accepts_any_source=True)]

    @hookimpl
    def register_routes(self) -> list[Any]:
        if self.breaks == "register_routes":
            return ["/not-a-route"]
        return []

    @hookimpl
    def startup(self) -> None:
        if self.breaks == "startup":
            raise RuntimeError("cannot start")


RECORDER = Recorder()
BREAKS_ON_ROUTES = Breaker("register_routes")
BREAKS_ON_STARTUP = Breaker("startup")


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              request: pytest.FixtureRequest) -> Iterator[Callable[..., None]]:
    """Install entry points naming objects of this module (`recorder = tests.test_plugin_hooks:RECORDER`)."""
    site = tmp_path / "site"
    site.mkdir()
    on_path(site, monkeypatch, request)
    RECORDER.reset()

    def install(**entry_points: str) -> None:
        for name, target in entry_points.items():
            install_fake_distribution(site, f"ilertd-{name}", name,
                                      entry_point=f"tests.test_plugin_hooks:{target}")

    yield install
    RECORDER.reset()


@pytest.fixture
def recorder_app(installed: Callable[..., None], tmp_path: Path,
                 make_app: Callable[..., InProcessDaemon]) -> InProcessDaemon:
    installed(recorder="RECORDER")
    config = tmp_path / "ilertd.toml"
    config.write_text('[plugins.recorder]\ngreeting = "hi there"\nsignature = "s3cret"\n')
    return make_app(config=config).start()


def test_plugin_config_declares_a_section_checked_like_the_others() -> None:
    def status(section: dict[str, Any], environ: dict[str, str] | None = None) -> Any:
        config = Config(plugins=PluginSections({"recorder": section}, environ or {}))
        return PluginManager(config).register(Recorder(), "recorder")

    assert status({"greeting": "hi"}).state == "enabled"
    misspelt = status({"greting": "hi"})
    assert misspelt.state == "config error"
    assert "plugins.recorder.greting: unknown key; did you mean 'greeting'?" in misspelt.error
    assert "must be an integer, got the string" in status({"limit": "3"}).error
    assert "must be greater than 0, got 0" in status({"limit": 0}).error
    assert "ILERTD_PLUGINS_RECORDER_LIMIT: must be an integer" in status({}, {
        "ILERTD_PLUGINS_RECORDER_LIMIT": "lots"}).error
    assert status({"enabled": False}).state == "disabled by config"
    assert status({}, {"ILERTD_PLUGINS_RECORDER_ENABLED": "no"}).state == "disabled by config"


def test_a_plugin_key_may_come_from_a_systemd_credential(tmp_path: Path) -> None:
    (tmp_path / "plugins.recorder.signature").write_text("from-a-credential\n")
    environ = with_credentials({"ILERTD_PLUGINS_RECORDER_GREETING": "env"}, tmp_path)
    assert environ["ILERTD_PLUGINS_RECORDER_SIGNATURE"] == "from-a-credential"
    config = load_config(None, environ)
    values, problems = check_plugin_section(config.plugins, "recorder", Recorder().plugin_config())
    assert problems == []
    assert values == {"enabled": True, "greeting": "env", "signature": "from-a-credential", "limit": 3}


def test_plugin_config_values_reach_the_plugin_from_file_and_environment(
    installed: Callable[..., None], tmp_path: Path, make_app: Callable[..., InProcessDaemon]
) -> None:
    installed(recorder="RECORDER")
    config = tmp_path / "ilertd.toml"
    config.write_text('[plugins.recorder]\ngreeting = "from the file"\nlimit = 5\n')
    app = make_app(config=config, env={"ILERTD_PLUGINS_RECORDER_GREETING": "from the environment"}).start()
    assert app.client.get("/recorder/hello").text == "from the environment"
    assert RECORDER.context.config == {"enabled": True, "greeting": "from the environment", "signature": "",
                                       "limit": 5}


def test_register_integrations_serves_a_tool_payload_with_its_signature_check(
    recorder_app: InProcessDaemon,
) -> None:
    app = recorder_app
    source = app.post("/api/alert-sources", {"name": "recorded tool", "integrationType": "RECORDED"}).json()
    url = f"/api/v1/events/REC/{source['integrationKey']}"
    opened = app.client.post(url, json={"key": "r1"}, headers={"X-Recorded": "s3cret"})
    assert opened.status_code == 202, opened.text
    incident = app.get(f"/api/incidents/{opened.json()[0]['incidentId']}").json()
    assert incident["summary"] == "recorded from recorded tool"
    unsigned = app.client.post(url, json={"key": "r2"})
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "INVALID_SIGNATURE"
    # A parser that raises something unexpected is a 500 for that request; the daemon serves on.
    exploded = app.client.post(url, json={"explode": True}, headers={"X-Recorded": "s3cret"})
    assert exploded.status_code == 500 and exploded.json()["code"] == "INTERNAL_ERROR"
    assert "the recorder's parser has a bug" in app.log()
    assert app.client.post(url, json={"key": "r3"}, headers={"X-Recorded": "s3cret"}).status_code == 202
    assert app.event(summary="the Event API is unaffected", alertKey="e").status_code == 202


def test_register_channels_adds_a_contact_method_that_pages(recorder_app: InProcessDaemon) -> None:
    app = recorder_app
    assert app.daemon.plugins is not None
    assert app.daemon.plugins.methods() == ("EMAIL", "SMS", "VOICE", "PUSH", "RECORD")
    assert app.daemon.plugins.methods(reminders=True) == ("EMAIL", "SMS", "PUSH")
    user = app.post("/api/users", {"username": "rita", "email": "rita@example.com"}).json()["id"]
    contact = app.post(f"/api/users/{user}/contacts", {"method": "RECORD", "target": "rita-desk"})
    assert contact.status_code == 201, contact.text
    refused = app.post(f"/api/users/{user}/contacts", {"method": "FAX", "target": "x"})
    assert refused.status_code == 400 and "EMAIL, SMS, VOICE, PUSH, RECORD" in refused.json()["message"]
    base = f"/api/users/{user}/notification-preferences"
    rule = app.post(f"{base}/alerts", {"method": "RECORD", "contact": {"id": contact.json()["id"]},
                                       "delayMin": 0, "type": "HIGH_PRIORITY"})
    assert rule.status_code == 201, rule.text
    duty = app.post(f"{base}/duties", {"method": "RECORD", "contact": {"id": contact.json()["id"]}})
    assert duty.status_code == 400 and duty.json()["field"] == "method", "it declared reminders=False"
    policy = app.post("/api/escalation-policies", {
        "name": "recorded", "repeating": False, "frequency": 0,
        "escalationRules": [{"escalationTimeout": 30, "users": [{"id": user}]}]}).json()
    assert app.put("/api/alert-sources/1", {"escalationPolicy": {"id": policy["id"]}}).status_code == 200
    # The provider fails once: the page is retried after 30 s, the channel actor lives on.
    RECORDER.failures = 1
    incident_id = app.event(summary="db1 is down", alertKey="db1").json()["incidentId"]
    app.advance("PT0S")
    assert RECORDER.sent == []
    assert "NOTIFICATION_FAILED" in app.log_types(incident_id)
    app.advance("PT30S")
    ((target, message),) = RECORDER.sent
    assert target == "rita-desk" and "db1 is down" in message.title
    assert message.reference.startswith("ilertd-n")
    rows = app.get(f"/api/incidents/{incident_id}/notifications").json()
    assert [(r["method"], r["status"], r["attempts"]) for r in rows] == [("RECORD", "SUCCESS", 2)]


def test_register_routes_serves_a_plugins_routes(recorder_app: InProcessDaemon) -> None:
    app = recorder_app
    assert app.client.get("/recorder/hello").text == "hi there"
    fast = app.client.post("/recorder/fast", content=b"12345")
    assert fast.status_code == 201 and fast.json() == {"length": 5} and fast.headers["x-recorder"] == "fast"
    assert app.daemon.plugins is not None and "/recorder/fast" in app.daemon.plugins.body_handlers()
    ingested = app.client.post(f"/recorder/ingest/{app.integration_key}")
    assert ingested.status_code == 202
    incident = app.get(f"/api/incidents/{ingested.json()['incidentId']}").json()
    assert incident["summary"] == "posted to the recorder"
    unknown = app.client.post("/recorder/ingest/no-such-key")
    assert unknown.status_code == 404 and unknown.json()["code"] == "UNKNOWN_INTEGRATION_KEY"
    broken = app.client.get("/recorder/broken")
    assert broken.status_code == 500 and broken.json()["code"] == "INTERNAL_ERROR"
    assert app.client.get("/recorder/hello").status_code == 200


def test_startup_gives_a_context_that_ingests_and_shutdown_follows_http(
    recorder_app: InProcessDaemon,
) -> None:
    app = recorder_app
    names = [name for name, _ in RECORDER.calls]
    assert names == ["plugin_config", "register_integrations", "register_channels", "register_routes",
                     "startup"]
    context = RECORDER.context
    assert context.name == "recorder" and context.public_url == app.daemon.config.public_url
    assert context.integration("rec") is context.integration("recorded") is not None
    # From a thread of the plugin's own (here the test's), with an event loop of its own.
    event = Event(event_type="ALERT", alert_key="own-thread", summary="from the plugin's thread")
    (outcome,) = asyncio.run(context.ingest(app.integration_key, [event], "recorder", {"raw": 1}))
    assert outcome.error is None and outcome.response_code == "NEW_INCIDENT_CREATED"
    incident = app.get(f"/api/incidents/{outcome.incident_id}").json()
    assert incident["summary"] == "from the plugin's thread"
    app.stop()
    assert [name for name, _ in RECORDER.calls][-1] == "shutdown"
    with pytest.raises(ApiError) as refused:
        asyncio.run(context.ingest(app.integration_key, [event], "recorder", None))
    assert refused.value.status == 503 and refused.value.code == "NOT_READY"


def test_a_hook_that_raises_or_misdeclares_is_reported_and_skipped(
    installed: Callable[..., None], make_app: Callable[..., InProcessDaemon]
) -> None:
    installed(bad_routes="BREAKS_ON_ROUTES", bad_start="BREAKS_ON_STARTUP", recorder="RECORDER")
    app = make_app().start()
    assert app.daemon.plugins is not None
    statuses = {s.name: s for s in app.daemon.plugins.statuses}
    assert statuses["bad_routes"].state == "hook error"
    assert "register_routes returned '/not-a-route', not a BaseRoute" in statuses["bad_routes"].error
    assert statuses["bad_start"].state == "hook error" and "startup: RuntimeError: cannot start" in (
        statuses["bad_start"].error)
    assert statuses["recorder"].state == "enabled"
    # The one whose startup failed took its integration with it.
    gone = app.client.post(f"/api/v1/events/breakable/{app.integration_key}", json={"key": "k"})
    assert gone.status_code == 404
    assert app.client.get("/recorder/hello").text == "hello"
    assert app.event(summary="serving", alertKey="k").status_code == 202


class Unfit:
    """Asks for an argument the hook does not have: pluggy refuses it at registration."""

    @hookimpl
    def register_integrations(self, context: PluginContext, extra: str) -> list[Integration]:
        return []


def test_a_plugin_that_does_not_fit_the_contract_is_a_load_error() -> None:
    status = PluginManager().register(Unfit(), "unfit")
    assert status.state == "load error" and "extra" in status.error


class Misspelt:
    """A hook name with a letter missing: pluggy would keep it for a spec that never comes."""

    @hookimpl
    def register_integration(self) -> list[Integration]:
        return [Integration("misspelt", "API", Recorder.parse, accepts_any_source=True)]


def test_a_hookimpl_naming_no_hook_is_a_load_error_and_leaves_nothing_behind() -> None:
    manager = PluginManager()
    status = manager.register(Misspelt(), "misspelt")
    assert status.state == "load error", status
    assert "unknown hook 'register_integration'" in status.error
    assert manager.pm.get_plugin("misspelt") is None
    module = _module_plugin(MODULE_PLUGIN.replace("def register_routes", "def register_route"))
    assert manager.register(module, "module_misspelt").state == "load error"
    # The next plugin is not blamed for the one before.
    assert manager.register(Recorder(), "recorder").state == "enabled"


def _module_plugin(source: str) -> ModuleType:
    module = ModuleType("module_plugin")
    exec(compile(source, "module_plugin.py", "exec"), module.__dict__)
    return module


MODULE_PLUGIN = """
import json, logging
from pathlib import Path
from ilertd import hookimpl
from ilertd.hookspecs import ConfigOption, Integration

LIMIT = 3
logger = logging.getLogger(__name__)

def helper(value):
    return value

@hookimpl
def plugin_config():
    return [ConfigOption("threshold", int, 3, "how many")]

@hookimpl
def register_routes(context):
    return []
"""


def test_a_module_is_a_plugin_through_its_marked_functions_only() -> None:
    """A module names much besides its hooks (imports, helpers, constants): only its marked
    functions are hooks, and one that does not fit its hook's arguments is still a load error."""
    manager = PluginManager()
    status = manager.register(_module_plugin(MODULE_PLUGIN), "module_plugin")
    assert status.state == "enabled", status
    hooks = {impl.function.__name__ for name in ("plugin_config", "register_routes", "register_channels")
             for impl in getattr(manager.pm.hook, name).get_hookimpls()}
    assert hooks == {"plugin_config", "register_routes"}
    assert [option.key for option in manager.options["module_plugin"] or ()] == ["threshold"]
    unfit = _module_plugin(MODULE_PLUGIN.replace("(context)", "(context, extra)"))
    status = PluginManager().register(unfit, "module_unfit")
    assert status.state == "load error" and "extra" in status.error, status


def test_an_integration_declaration_is_checked_where_it_is_made() -> None:
    """Its name is a URL segment and, in upper case, its log entries' channel: both fit 32 characters,
    the columns that hold them (PostgreSQL refuses longer text, so every event would fail there)."""
    parse = Recorder.parse
    for bad in ({"name": "x" * 33}, {"name": "a/b"}, {"name": ""}, {"name": "ok", "aliases": ("-x",)},
                {"integration_type": "lower"}, {"integration_type": "T" * 33}):
        with pytest.raises(ValueError):
            Integration(**{"name": "ok", "integration_type": "OK", "parse": parse, **bad})
    assert Integration("a" * 32, "T" * 32, parse, aliases=("zabbix-mt", "v1.2_x")).name == "a" * 32


def test_a_channel_declaration_is_checked_where_it_is_made() -> None:
    for bad in ({"method": "email"}, {"method": "MUCHTOOLONG"}, {"method": "OK", "url": "json://x",
                                                                  "sender": RecordingSender(RECORDER)}):
        with pytest.raises(ValueError):
            Channel(**bad)
    with pytest.raises(ValueError, match="name"):
        Channel("X", sender=object())  # type: ignore[arg-type]
    assert Channel("X").how == "the log (not configured)"
    assert Channel("X", url="mailto://user:password@host?to={contact}").how == "apprise mailto://"
    with pytest.raises(DeliveryError):
        raise DeliveryError("the type plugins raise")
