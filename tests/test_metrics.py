"""Prometheus metrics: what `GET /metrics` counts, its token, its settings, the example alerting rules
(checked by promtool), and a real Prometheus scraping a real `ilertd serve`."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import ilertd
from ilertd.config import Config, LimitsConfig, MetricsConfig, check_config, load_config, with_credentials
from tests.daemon import DaemonProcess
from tests.inprocess import InProcessDaemon
from tests.loopback import free_port
from tests.paging import Paging
from tests.test_integration_alertmanager import prometheus_source, send
from tests.test_replies import phone_of, sms_reply

RULES = Path(__file__).resolve().parent.parent / "integrations" / "prometheus"
TOKEN = "scrape-secret-7f3a"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition by (name, labels), read by prometheus_client's own parser."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def scrape(daemon: InProcessDaemon, headers: dict[str, str] | None = None) -> Samples:
    reply = daemon.client.get("/metrics", headers=headers or {})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(reply.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 for a labelled counter never incremented (it has no sample yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def events(samples: Samples) -> dict[tuple[str, str], float]:
    return {(dict(labels)["integration"], dict(labels)["outcome"]): v
            for (name, labels), v in samples.items() if name == "ilertd_events_total"}


# --- counted in process --------------------------------------------------------------------------


def test_events_are_counted_by_integration_and_outcome(app: InProcessDaemon) -> None:
    assert app.event(summary="db1 down", alertKey="db1").status_code == 202
    assert app.event(summary="db1 down", alertKey="db1").json()["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
    assert app.event(eventType="ACCEPT", alertKey="db1").json()["responseCode"] == "INCIDENT_ACCEPTED"
    assert app.event(eventType="RESOLVE", alertKey="nothing-open").status_code == 400
    assert app.event(key="no-such-key", summary="x").status_code == 404
    assert app.event(summary="db2 down", alertKey="db2").status_code == 202
    pagerduty = app.client.post("/v2/enqueue", json={
        "routing_key": app.integration_key, "event_action": "trigger", "dedup_key": "pd-1",
        "payload": {"summary": "disk 95%", "source": "db3", "severity": "critical"}})
    assert pagerduty.status_code == 202, pagerduty.text
    # A tool's batch: three alerts in one request, each counted.
    assert send(app, prometheus_source(app), "am_firing_group3").status_code == 202

    samples = scrape(app)  # no token configured: no Authorization header needed
    assert events(samples) == {
        ("api", "NEW_INCIDENT_CREATED"): 2,
        ("api", "EVENT_ADDED_TO_INCIDENT"): 1,
        ("api", "INCIDENT_ACCEPTED"): 1,
        ("api", "NO_OPEN_INCIDENT_WITH_KEY"): 1,
        ("api", "UNKNOWN_INTEGRATION_KEY"): 1,
        ("pagerduty", "NEW_INCIDENT_CREATED"): 1,
        ("prometheus", "NEW_INCIDENT_CREATED"): 3,  # the integration Alertmanager posts to
    }
    # Counted by the store at scrape time: db1 accepted; db2, the PagerDuty one and three alerts open.
    assert value(samples, "ilertd_incidents", status="ACCEPTED") == 1
    assert value(samples, "ilertd_incidents", status="PENDING") == 5
    assert value(samples, "ilertd_outbox_pending") == 0, "no policy on the sources: nobody is paged"
    assert value(samples, "ilertd_build_info", version=ilertd.__version__) == 1
    assert value(samples, "ilertd_leader") == 1
    commits = value(samples, "ilertd_event_commit_seconds_count")
    assert commits >= 1 and value(samples, "ilertd_event_commit_seconds_sum") > 0
    assert value(samples, "ilertd_event_commit_seconds_bucket", le="+Inf") == commits

    assert app.event(eventType="RESOLVE", alertKey="db1").status_code == 202
    again = scrape(app)
    assert value(again, "ilertd_incidents", status="ACCEPTED") == 0
    assert events(again)[("api", "INCIDENT_RESOLVED")] == 1
    assert value(again, "ilertd_event_commit_seconds_count") > commits


def test_requests_refused_before_ingestion_are_counted(app: InProcessDaemon) -> None:
    assert app.client.post("/api/events", content=b"{not json").status_code == 400
    assert app.event(summary="x", eventType="EXPLODE").status_code == 400
    assert app.client.post(f"/api/v1/events/alertmanager/{app.integration_key}",
                           content=b"[1, 2]").status_code in (400, 401)
    for word in ("no-such-tool", "another-word", "and-another"):
        assert app.client.post(f"/api/v1/events/{word}/abc", content=b"{}").status_code == 404
    counted = events(scrape(app))
    assert counted[("api", "INVALID_JSON")] == 1
    assert sum(n for (integration, code), n in counted.items() if integration == "api") == 2
    assert sum(n for (integration, _), n in counted.items() if integration == "prometheus") == 1
    # Under one label, not one per word sent: a new time series per word would grow without end.
    assert counted[("unknown", "UNKNOWN_INTEGRATION_TYPE")] == 3
    assert not any(integration.endswith(("tool", "word", "another")) for integration, _ in counted)


def test_a_plugin_that_failed_to_start_is_down_in_the_metrics(
        tmp_path: Path, make_app: Callable[..., InProcessDaemon]) -> None:
    """The SMTP listener could not bind its port: the daemon pages on without it, and only its log
    said so; `ilertd_plugin_up` lets an alerting rule see it."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = tmp_path / "ilertd.toml"
        settings.write_text(f'[smtp_in]\nenabled = true\nport = {taken.getsockname()[1]}\n'
                            'domain = "example.com"\n[plugins.links]\nenabled = false\n')
        app = make_app(config=settings).start()
        samples = scrape(app)
    assert value(samples, "ilertd_plugin_up", plugin="smtp_in") == 0
    assert value(samples, "ilertd_plugin_up", plugin="event_api") == 1
    # A plugin the config disabled is not listed: nothing is wrong with it.
    listed = {dict(labels)["plugin"] for name, labels in samples if name == "ilertd_plugin_up"}
    assert "links" not in listed and {"smtp_in", "event_api", "sms", "pagerduty"} <= listed


def test_rate_limited_events_are_counted(make_app: Callable[..., InProcessDaemon]) -> None:
    app = make_app(config=Config(limits=LimitsConfig(events_per_minute_per_key=2))).start()
    codes = [app.event(summary="flapping", alertKey="k").status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    assert events(scrape(app)) == {("api", "NEW_INCIDENT_CREATED"): 1, ("api", "EVENT_ADDED_TO_INCIDENT"): 1,
                                   ("api", "RATE_LIMITED"): 1}


def test_a_restart_counts_from_zero_as_a_new_process_would(app: InProcessDaemon) -> None:
    """Each daemon has a registry of its own: counts of an earlier daemon in the process stay there."""
    app.event(summary="one", alertKey="one")
    assert events(scrape(app)) == {("api", "NEW_INCIDENT_CREATED"): 1}
    app.stop()
    app.start()
    samples = scrape(app)
    assert events(samples) == {}
    assert value(samples, "ilertd_incidents", status="PENDING") == 1, "the store still holds it"


def test_pages_sent_failed_and_refused_are_counted(app_paging: Paging) -> None:
    daemon = app_paging.daemon
    assert isinstance(daemon, InProcessDaemon)
    dave = app_paging.user("dave", [("SMS", 0, "HIGH_PRIORITY"), ("EMAIL", 5, "HIGH_PRIORITY")])
    app_paging.policy([(30, [dave])])

    app_paging.http.failing = True  # the SMS gateway answers 503
    first = app_paging.alert("db1")
    daemon.advance("PT0S")
    samples = scrape(daemon)
    assert value(samples, "ilertd_notifications_total", channel="sms", outcome="failed") == 1
    assert value(samples, "ilertd_notifications_total", channel="sms", outcome="sent") == 0
    # The SMS waits for its retry in 30 s, the e-mail for its delay of 5 minutes.
    assert value(samples, "ilertd_outbox_pending") == 2
    assert value(samples, "ilertd_notification_delay_seconds_count") == 1

    app_paging.http.failing = False
    daemon.advance("PT5M")
    samples = scrape(daemon)
    assert value(samples, "ilertd_notifications_total", channel="sms", outcome="sent") == 1
    assert value(samples, "ilertd_notifications_total", channel="sms", outcome="failed") == 1
    assert value(samples, "ilertd_notifications_total", channel="email", outcome="sent") == 1
    assert len(app_paging.mails_to("dave.pager@example.com")) == 1
    assert value(samples, "ilertd_outbox_pending") == 0
    # Measured from each row's due time, by the daemon's (manual) clock, which stood still while
    # the providers answered: the e-mail, written 5 minutes before it was due, took no time.
    assert value(samples, "ilertd_notification_delay_seconds_count") == 3
    assert value(samples, "ilertd_notification_delay_seconds_sum") < 1.0
    assert value(samples, "ilertd_notification_delay_seconds_bucket", le="0.01") == 3

    # A page planned before its number replied STOP is refused, never sent: db3's SMS waits for
    # the throttle window db2's opened.
    assert daemon.event(eventType="RESOLVE", alertKey="db1").json()["incidentId"] == first
    app_paging.alert("db2")
    daemon.advance("PT0S")
    app_paging.alert("db3")
    daemon.advance("PT0S")
    assert "no more SMS" in (sms_reply(app_paging, phone_of(app_paging, dave), "STOP") or "")
    daemon.advance("PT1M")
    samples = scrape(daemon)
    assert value(samples, "ilertd_notifications_total", channel="sms", outcome="refused") == 1
    assert value(samples, "ilertd_notifications_total", channel="sms", outcome="sent") == 2
    assert value(samples, "ilertd_incidents", status="PENDING") == 2


def test_pages_a_mute_kept_from_being_planned_are_counted_muted(app_paging: Paging) -> None:
    daemon = app_paging.daemon
    assert isinstance(daemon, InProcessDaemon)
    eli = app_paging.user("eli", [("SMS", 0, "HIGH_PRIORITY"), ("EMAIL", 5, "HIGH_PRIORITY")],
                          muted_until="2026-02-01T00:00:00Z")
    app_paging.policy([(30, [eli])])
    app_paging.alert("db1")
    daemon.advance("PT0S")
    samples = scrape(daemon)
    assert value(samples, "ilertd_notifications_total", channel="sms", outcome="muted") == 1
    assert value(samples, "ilertd_notifications_total", channel="email", outcome="muted") == 1
    assert value(samples, "ilertd_outbox_pending") == 0


# --- the token ------------------------------------------------------------------------------------


def test_a_metrics_token_is_required_once_set(make_app: Callable[..., InProcessDaemon]) -> None:
    app = make_app(config=Config(metrics=MetricsConfig(token=TOKEN))).start()
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {app.admin_token}"}, {"Authorization": "Bearer"}):
        refused = app.client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.json() == {"status": 401, "code": "UNAUTHORIZED",
                                  "message": "metrics.token is set: Authorization: Bearer <metrics.token>"
                                             " is required"}
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "ilertd_" not in refused.text
    assert "ilertd_build_info" in str(scrape(app, {"Authorization": f"Bearer {TOKEN}"}))
    # The scheme is matched case-insensitively, as for API tokens.
    assert scrape(app, {"Authorization": f"bearer {TOKEN}"})
    # The token guards /metrics only: health stays open.
    assert app.client.get("/healthz").status_code == 200


def test_a_metrics_token_beyond_ascii_takes_prometheus_utf_8(
        make_app: Callable[..., InProcessDaemon]) -> None:
    """The header's Latin-1 reading was compared with the token's UTF-8: Prometheus, which sends
    UTF-8, was refused 401 with the right token, and never scraped."""
    app = make_app(config=Config(metrics=MetricsConfig(token="tökén-sécret"))).start()
    sent = app.client.get("/metrics", headers={"Authorization": "Bearer tökén-sécret".encode()})
    assert sent.status_code == 200 and "ilertd_build_info" in sent.text
    latin = app.client.get("/metrics", headers={"Authorization": "Bearer tökén-sécret".encode("latin-1")})
    assert latin.status_code == 401


# --- settings -------------------------------------------------------------------------------------


def test_metrics_and_log_settings_load_from_file_environment_and_credentials(tmp_path: Path) -> None:
    path = tmp_path / "ilertd.toml"
    path.write_text('[log]\nformat = "json"\nlevel = "WARNING"\n[metrics]\ntoken = "from-file"\n')
    config = load_config(path, {})
    assert (config.log.format, config.log.level, config.metrics.token) == ("json", "WARNING", "from-file")
    assert "from-file" not in repr(config), "a credential stays out of repr"
    assert load_config(path, {"ILERTD_METRICS_TOKEN": "from-env"}).metrics.token == "from-env"
    defaults = load_config(None, {})
    assert (defaults.log.format, defaults.log.level, defaults.metrics.token) == ("text", "INFO", "")
    # systemd's LoadCredential=metrics.token:/etc/credstore/... sets it too.
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "metrics.token").write_text("from-credential\n")
    assert load_config(None, with_credentials({}, credentials)).metrics.token == "from-credential"


def test_check_config_names_bad_log_and_metrics_values(tmp_path: Path) -> None:
    path = tmp_path / "ilertd.toml"
    path.write_text('[log]\nformat = "yaml"\nlevel = "info"\n\n[metrics]\ntoken = "two words"\n')
    problems = [str(p) for p in check_config(path, {})]
    assert problems == [
        f"{path}:2: log.format: must be one of text, json, got 'yaml'",
        f"{path}:3: log.level: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'info'"
        " (did you mean 'INFO'?)",
        f"{path}:6: metrics.token: must not contain spaces or control characters",
    ]
    (env_problem,) = check_config(tmp_path / "absent.toml", {"ILERTD_LOG_LEVEL": "LOUD"})[1:]
    assert str(env_problem) == ("environment: log.level: ILERTD_LOG_LEVEL: must be one of DEBUG, INFO,"
                                " WARNING, ERROR, CRITICAL, got 'LOUD'")


# --- the example alerting rules -------------------------------------------------------------------


def test_the_example_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: prometheus); the example rules were not checked")
    checked = subprocess.run([promtool, "check", "rules", "ilertd-rules.yml"], cwd=RULES,
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout
    # Each alert fires on series shaped like ilertd's, and stays quiet on healthy ones.
    tested = subprocess.run([promtool, "test", "rules", "ilertd-rules.test.yml"], cwd=RULES,
                            capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr


# --- a real Prometheus scraping a real daemon -----------------------------------------------------


class Prometheus:
    """Debian's `prometheus` on a free loopback port with its storage in a temporary directory."""

    def __init__(self, binary: str, directory: Path, target: str, token: str) -> None:
        directory.mkdir(parents=True)
        self.config = directory / "prometheus.yml"
        self.config.write_text(json.dumps({  # JSON is YAML
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES / "ilertd-rules.yml")],
            "scrape_configs": [{"job_name": "ilertd", "authorization": {"credentials": token},
                                "static_configs": [{"targets": [target]}]}],
        }))
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = directory / "prometheus.log"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [binary, f"--config.file={self.config}", f"--storage.tsdb.path={directory / 'data'}",
                 f"--web.listen-address={urlsplit(self.url).netloc}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT)

    def get(self, path: str, **params: str) -> Any:
        reply = httpx.get(self.url + path, params=params, timeout=5.0)
        reply.raise_for_status()
        return reply.json()

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"prometheus exited:\n{self.log.read_text()}"
            try:
                if httpx.get(self.url + "/-/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"prometheus was not ready in {timeout:.0f} s:\n{self.log.read_text()}")

    def query_until(self, query: str, expected: str, timeout: float = 30.0) -> list[Any]:
        """Poll an instant query until its one result's value is `expected`; its results."""
        deadline = time.monotonic() + timeout
        result: list[Any] = []
        while time.monotonic() < deadline:
            result = self.get("/api/v1/query", query=query)["data"]["result"]
            if len(result) == 1 and result[0]["value"][1] == expected:
                return result
            time.sleep(0.25)
        raise AssertionError(f"{query} did not become {expected} in {timeout:.0f} s: {result}\n"
                             f"{self.log.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (Debian: prometheus; .ci/run installs it):"
                    " no real scrape of /metrics was tested")
    return binary


@pytest.fixture
def scraped_daemon(make_daemon: Callable[..., DaemonProcess], prometheus_binary: str,
                   tmp_path: Path) -> Iterator[tuple[DaemonProcess, Prometheus]]:
    daemon = make_daemon(env={"ILERTD_METRICS_TOKEN": TOKEN}).start()
    prometheus = Prometheus(prometheus_binary, tmp_path / "prometheus", urlsplit(daemon.url).netloc, TOKEN)
    try:
        prometheus.wait_ready()
        yield daemon, prometheus
    finally:
        prometheus.stop()
        daemon.stop()


def test_a_real_prometheus_scrapes_the_events_posted(
        scraped_daemon: tuple[DaemonProcess, Prometheus]) -> None:
    daemon, prometheus = scraped_daemon
    assert daemon.client.get("/metrics").status_code == 401, "the token is set: Prometheus sends it"
    posted = 0
    for key in ("db1", "db2", "db1", "web1", "db2"):
        assert daemon.event(summary=f"{key} down", alertKey=key).status_code == 202
        posted += 1
    assert daemon.event(eventType="RESOLVE", alertKey="web1").status_code == 202
    posted += 1

    prometheus.query_until('sum(ilertd_events_total{job="ilertd"})', str(posted))
    (target,) = prometheus.get("/api/v1/targets")["data"]["activeTargets"]
    assert target["health"] == "up" and target["labels"]["job"] == "ilertd", target
    prometheus.query_until('up{job="ilertd"}', "1")
    by_outcome = {r["metric"]["outcome"]: r["value"][1] for r in prometheus.get(
        "/api/v1/query", query='ilertd_events_total{job="ilertd"}')["data"]["result"]}
    assert by_outcome == {"NEW_INCIDENT_CREATED": "3", "EVENT_ADDED_TO_INCIDENT": "2",
                          "INCIDENT_RESOLVED": "1"}
    prometheus.query_until('ilertd_incidents{job="ilertd", status="PENDING"}', "2")
    # The example rules load into a real Prometheus, and nothing fires for a healthy daemon.
    (group,) = prometheus.get("/api/v1/rules")["data"]["groups"]
    assert {rule["name"] for rule in group["rules"]} == {
        "IlertdDown", "IlertdPagesLate", "IlertdOutboxBacklog", "IlertdChannelFailing", "IlertdPluginDown"}
    prometheus.query_until('min(ilertd_plugin_up{job="ilertd"})', "1")
    assert all(rule["health"] == "ok" and rule["state"] == "inactive" for rule in group["rules"]), group
