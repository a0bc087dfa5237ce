"""Section webhook: alerts/s through Alertmanager's webhook into ilertd, beside Alertmanager's own ingest.

ilertd: a fresh daemon, a PROMETHEUS alert source, and `POST /api/v1/events/alertmanager/{key}`
with Alertmanager webhook (version 4) bodies of 1 and of 100 firing alerts, each alert with a
fingerprint and labels of its own, so each opens an incident; then the durability check (the
newest incident id covers every alert acknowledged). Alertmanager: the real binary, `POST
/api/v2/alerts` with arrays of as many alerts, each with a label set of its own. Under
`--compare` Alertmanager does not run ilertd and is measured once for both sides (`shared`);
a revision whose daemon has no `prometheus` integration is not measured there.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import baselines, client
from bench.context import WARM_UP_S, Context
from bench.daemon import Ilertd
from bench.procs import wait_until_idle
from bench.spec import MARK, RequestSpec

ALERTS_PER_POST = (1, 100)
CONNECTIONS = (16, 64)
# Quick: only the connection count the target is read at, and the shorter points of every section.
QUICK_CONNECTIONS = (64,)
# The `prometheus` integration by its alias: the path Alertmanager's webhook_configs are given.
INTEGRATION_SEGMENT = "alertmanager"
SOURCE_TYPE = "PROMETHEUS"
UNKNOWN_INTEGRATION = "UNKNOWN_INTEGRATION_TYPE"
ALERTNAME = "BenchWebhook"
STARTS_AT = "2026-11-27T07:17:31.749Z"
# Go's zero time: Alertmanager's `endsAt` of an alert that has not ended.
NO_END = "0001-01-01T00:00:00Z"
GENERATOR_URL = "http://prometheus.example.com/graph?g0.expr=up%3D%3D0"
ALONE_POSTS = 3
ROUND_TRIPS = 10
# Longest point, by ctx.quick.
MAX_POINT_S = {True: 15.0, False: 60.0}
# A POST of 100 alerts among 64 may wait seconds for its reply: it counts, it is no timeout.
REPLY_TIMEOUT_S = 60.0


def connections(ctx: Context) -> tuple[int, ...]:
    return QUICK_CONNECTIONS if ctx.quick else CONNECTIONS


def _alert_labels(index: int) -> dict[str, str]:
    """A label set no other alert of the run has: MARK is the request's token, `index` its alert."""
    return {"alertname": ALERTNAME, "instance": f"host-{MARK}-{index}", "job": "bench", "severity": "warning"}


def webhook_body(alerts: int) -> str:
    """Alertmanager's webhook (version 4) for one group of `alerts` firing alerts; the fingerprint
    of alert i is "<MARK>-i", MARK being replaced per request."""
    items = [{
        "status": "firing",
        "labels": _alert_labels(index),
        "annotations": {"summary": f"{ALERTNAME} on host-{MARK}-{index}",
                        "description": f"Alert {index + 1} of {alerts} from the benchmark",
                        "runbook_url": "https://runbooks.example.com/BenchWebhook"},
        "startsAt": STARTS_AT,
        "endsAt": NO_END,
        "generatorURL": GENERATOR_URL,
        "fingerprint": f"{MARK}-{index}",
    } for index in range(alerts)]
    return json.dumps({
        "receiver": "ilertd-webhook",
        "status": "firing",
        "alerts": items,
        "groupLabels": {"alertname": ALERTNAME},
        "commonLabels": {"alertname": ALERTNAME, "job": "bench", "severity": "warning"},
        "commonAnnotations": {"runbook_url": "https://runbooks.example.com/BenchWebhook"},
        "externalURL": "http://127.0.0.1:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{ALERTNAME}"}}',
        "truncatedAlerts": 0,
    }, separators=(",", ":"))


def alertmanager_body(alerts: int) -> str:
    """What Prometheus posts to Alertmanager's `/api/v2/alerts`: an array of `alerts` alerts."""
    return json.dumps([{
        "labels": _alert_labels(index),
        "annotations": {"summary": f"{ALERTNAME} on host-{MARK}-{index}"},
        "generatorURL": GENERATOR_URL,
    } for index in range(alerts)], separators=(",", ":"))


class NotServed(Exception):
    """The daemon has no integration for Alertmanager's webhook (a revision from before it)."""


@dataclass(frozen=True)
class Server:
    """Where a batch is posted: the server's URL, the path, its body of n alerts, its process."""

    label: str
    url: str
    path: str
    body: Callable[[int], str]
    pid: int


def point_seconds(ctx: Context, count: int, one_post_s: float) -> float:
    """The section's point length, or ROUND_TRIPS round trips of `count` connections' POSTs each taking
    `one_post_s` in turn (a server that does one at a time answers c of them in c times that),
    whichever is longer, at most MAX_POINT_S: no reply comes back in a point's first round trip,
    which then weighs at most 1/ROUND_TRIPS of its rate."""
    longest = MAX_POINT_S[ctx.quick]
    return min(longest, max(ctx.seconds, ROUND_TRIPS * count * one_post_s))


def _alone(server: Server, spec: RequestSpec, index: int) -> float:
    """One POST of the batch with nothing else in flight; how long its reply took."""
    body = json.loads(spec.body.replace(MARK, f"{spec.prefix}-alone-{index}"))
    began = time.monotonic()
    status, reply = client.request(server.url + server.path, "POST", body, timeout=REPLY_TIMEOUT_S)
    took = time.monotonic() - began
    if status == 404 and UNKNOWN_INTEGRATION.encode() in reply:
        raise NotServed(f"this daemon has no prometheus integration (404 {UNKNOWN_INTEGRATION})")
    if not 200 <= status < 300:
        raise RuntimeError(f"{server.label}: a POST of {server.path} got {status}: {reply[:200]!r}")
    return took


def _spec(ctx: Context, server: Server, alerts: int) -> RequestSpec:
    """A batch of `alerts` for one load run: a prefix of its own, since each run of the load
    generator counts its requests from 1 again (the same token twice would be the same alert)."""
    return RequestSpec(server.path, server.body(alerts), distinct=True,
                       prefix=ctx.prefix(f"{server.label}{alerts}"), timeout_s=REPLY_TIMEOUT_S)


def measure_batches(ctx: Context, server: Server) -> dict[str, Any]:
    """Per batch size: POSTs alone (their time sets the point lengths), a warm-up, a point per
    connection count; after each, the server is let finish what the load generator gave up on."""
    batches, points = [], []
    for alerts in ALERTS_PER_POST:
        alone = _spec(ctx, server, alerts)
        one_post_s = min(_alone(server, alone, index) for index in range(ALONE_POSTS))
        warm_up = ctx.load.run(server.url, _spec(ctx, server, alerts), connections(ctx)[0], WARM_UP_S)
        wait_until_idle(server.pid)
        batches.append({"alerts_per_post": alerts, "one_post_alone_ms": one_post_s * 1000.0,
                        "alone_posts": ALONE_POSTS, "warm_up": warm_up.as_dict()})
        for count in connections(ctx):
            spec = _spec(ctx, server, alerts)
            result = ctx.load.run(server.url, spec, count, point_seconds(ctx, count, one_post_s))
            points.append(baselines.logged_point(ctx, f"{server.label} {alerts:>3}/POST", result, alerts))
            wait_until_idle(server.pid)
    return {"batches": batches, "points": points}


def acknowledged_alerts(measured: dict[str, Any]) -> int:
    """Every alert of every 2xx: the POSTs alone, the warm-ups' and the points'."""
    before = sum((b["alone_posts"] + b["warm_up"]["ok"]) * b["alerts_per_post"] for b in measured["batches"])
    return before + sum(p["ok"] * p["alerts_per_request"] for p in measured["points"])


def measure_ilertd(ctx: Context) -> dict[str, Any]:
    """A fresh daemon and a PROMETHEUS source; every point; then the durability check."""
    with tempfile.TemporaryDirectory(prefix="webhook-", dir=ctx.scratch) as root:
        daemon = Ilertd(Path(root), "webhook")
        try:
            daemon.start()
            key = daemon.create_alert_source("bench alertmanager", SOURCE_TYPE)["integrationKey"]
            path = f"/api/v1/events/{INTEGRATION_SEGMENT}/{key}"
            ctx.log(f"webhook: ilertd serving on {daemon.url}, a PROMETHEUS source; POST {path}")
            try:
                measured = measure_batches(ctx, Server("ilertd", daemon.url, path, webhook_body, daemon.pid))
            except NotServed as reason:
                ctx.log(f"webhook: ilertd not measured: {reason}")
                return {"skipped": str(reason)}
            # Each alert had a fingerprint of its own, so each acknowledged one opened an incident.
            acknowledged = acknowledged_alerts(measured)
            newest = daemon.newest_incident_id()
            durability = {"newest_incident_id": newest, "alerts_acknowledged": acknowledged,
                          "ok": newest >= acknowledged}
            ctx.log(f"webhook: durability {'ok' if durability['ok'] else 'FAILED'}: {durability}")
        finally:
            # Not 0 means the daemon did not shut down cleanly on SIGTERM (or needed SIGKILL).
            exit_status = daemon.stop()
    return {"daemon_exit_status": exit_status, "path": f"/api/v1/events/{INTEGRATION_SEGMENT}/{{key}}",
            **measured, "durability": durability}


def measure_alertmanager(ctx: Context) -> dict[str, Any]:
    binary = baselines.alertmanager_binary()
    if binary is None:
        ctx.log(f"webhook: {baselines.ALERTMANAGER_MISSING}; Alertmanager skipped")
        return {"skipped": baselines.ALERTMANAGER_MISSING}
    with baselines.running_alertmanager(ctx, binary, "webhook") as manager:
        server = Server("alertmanager", manager.url, "/api/v2/alerts", alertmanager_body, manager.pid)
        measured = measure_batches(ctx, server)
    return {**manager.facts, "path": server.path, **measured}


def _guarded(name: str, measure: Callable[[Context], dict[str, Any]], ctx: Context) -> dict[str, Any]:
    """One side's figures, or its error: the other side's figures stand either way."""
    try:
        return measure(ctx)
    except Exception as error:
        traceback.print_exc(file=sys.stderr)
        ctx.log(f"webhook: {name} FAILED: {error}")
        return {"error": f"{type(error).__name__}: {error}"}


def shared(ctx: Context) -> dict[str, Any]:
    """What does not run ilertd: under `--compare` measured once, for both sides."""
    return {"generator": ctx.load.name, "seconds_per_point": ctx.seconds,
            "connections": list(connections(ctx)), "alerts_per_post": list(ALERTS_PER_POST),
            "alertmanager": _guarded("alertmanager", measure_alertmanager, ctx)}


def _failed(parts: dict[str, Any]) -> list[str]:
    return [name for name in ("ilertd", "alertmanager") if "error" in parts.get(name, {})]


def combine(shared_part: dict[str, Any], ilertd: dict[str, Any]) -> dict[str, Any]:
    """The section's result: Alertmanager's figures and ilertd's."""
    out = {**shared_part, "ilertd": ilertd}
    out["failed_measurements"] = _failed(out)
    return out


def run(ctx: Context, units: Sequence[str] | None = None) -> dict[str, Any]:
    """The whole section; `units=["ilertd"]`: only ilertd's points (a side of `--compare`)."""
    ilertd = _guarded("ilertd", measure_ilertd, ctx)
    if units == ["ilertd"]:
        return {"webhook": {"ilertd": ilertd, "failed_measurements": _failed({"ilertd": ilertd})}}
    return {"webhook": combine(shared(ctx), ilertd)}
