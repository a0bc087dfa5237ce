"""The built-ins are plugins like any other: reached through the manager, reading their settings, removable.

Nothing outside ilertd/plugins/ imports one; the channels read [channels.*] and [twilio].
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

from ilertd.channels.apprise_channel import AppriseChannel
from ilertd.channels.log_channel import LogChannel
from ilertd.channels.setup import channels_from_config
from ilertd.channels.twilio_voice import TwilioVoiceChannel
from ilertd.config import ChannelConfig, ChannelsConfig, Config, PluginSections, TwilioConfig
from ilertd.plugins import email
from ilertd.plugins.manager import PluginManager
from tests.inprocess import InProcessDaemon

PACKAGE = Path(__file__).resolve().parent.parent / "ilertd"
BUILT_IN_MODULES = {"event_api", "pagerduty", "email", "sms", "voice", "push", "alertmanager", "grafana",
                    "datadog", "uptimerobot", "webhook", "sentry", "cloudwatch", "zabbix", "nagios", "icinga",
                    "smtp_in"}


def imported_modules(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_nothing_outside_the_plugins_package_imports_a_built_in_plugin() -> None:
    built_ins = {f"ilertd.plugins.{name}" for name in BUILT_IN_MODULES}
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "plugins":
            continue
        hits = imported_modules(path.read_text(encoding="utf-8")) & built_ins
        if hits:
            offenders.append(f"{path.relative_to(PACKAGE.parent)}: {sorted(hits)}")
    assert offenders == []


def loaded(config: Config) -> PluginManager:
    plugins = PluginManager(config)
    plugins.load_entry_points()
    return plugins


def test_the_channel_plugins_read_the_documented_settings() -> None:
    unconfigured = channels_from_config(Config())
    assert set(unconfigured) == {"EMAIL", "SMS", "VOICE", "PUSH"}
    assert all(isinstance(sender, LogChannel) for sender in unconfigured.values())
    config = Config(
        channels=ChannelsConfig(email=ChannelConfig("mailto://localhost?to={contact}"),
                                sms=ChannelConfig("json://127.0.0.1:9/sms/{contact}")),
        twilio=TwilioConfig(account_sid="AC1", auth_token="t", from_number="+15550001111"),
    )
    plugins = loaded(config)
    senders = channels_from_config(config, plugins)
    assert isinstance(senders["EMAIL"], AppriseChannel) and senders["EMAIL"].name == "email"
    assert isinstance(senders["SMS"], AppriseChannel) and senders["SMS"].short_messages
    assert isinstance(senders["VOICE"], TwilioVoiceChannel) and senders["VOICE"].name == "voice"
    assert isinstance(senders["PUSH"], LogChannel)
    # Each call builds fresh apprise senders (they hold per-send state); one per channel actor.
    assert channels_from_config(config, plugins)["EMAIL"] is not senders["EMAIL"]
    # A shift reminder by phone would be a false page: voice says so, and the API follows.
    assert plugins.methods() == ("EMAIL", "SMS", "VOICE", "PUSH")
    assert plugins.methods(reminders=True) == ("EMAIL", "SMS", "PUSH")


def test_a_disabled_channel_plugin_takes_its_method_away() -> None:
    plugins = loaded(Config(plugins=PluginSections({"sms": {"enabled": False}})))
    assert plugins.methods() == ("EMAIL", "VOICE", "PUSH")
    status = plugins.status("sms")
    assert status is not None and status.state == "disabled by config" and status.channels == ()


def test_with_the_sms_plugin_disabled_the_api_refuses_sms_contacts(
    make_app: Callable[..., InProcessDaemon],
) -> None:
    app = make_app(env={"ILERTD_PLUGINS_SMS_ENABLED": "false"}).start()
    user = app.post("/api/users", {"username": "sam"}).json()["id"]
    refused = app.post(f"/api/users/{user}/contacts", {"method": "SMS", "target": "+4915112345678"})
    assert refused.status_code == 400 and refused.json()["field"] == "method"
    assert "EMAIL, VOICE, PUSH" in refused.json()["message"]
    accepted = app.post(f"/api/users/{user}/contacts", {"method": "VOICE", "target": "+4915112345678"})
    assert accepted.status_code == 201


def test_the_event_api_is_served_by_the_fast_path_the_manager_names(app: InProcessDaemon) -> None:
    assert app.daemon.plugins is not None
    handlers = app.daemon.plugins.body_handlers()
    assert set(handlers) == {"/api/events", "/api/v1/events"}
    reply = app.client.post("/api/events", json={"integrationKey": app.integration_key, "eventType": "ALERT",
                                                 "summary": "fast", "alertKey": "f"})
    assert reply.status_code == 202 and reply.json()["responseCode"] == "NEW_INCIDENT_CREATED"


def test_a_second_plugin_of_the_same_name_is_refused_and_the_first_stays() -> None:
    plugins = loaded(Config())
    second = plugins.register(email, "email")
    assert second.state == "load error" and "already loaded" in second.error
    first = plugins.status("email")
    assert first is not None and first.state == "enabled" and first.origin == "built-in"
    assert [s.name for s in plugins.statuses].count("email") == 2
