"""Section baselines: uvicorn, bare SQLite group commit and Alertmanager, and ilertd as a ratio of each."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import client, ingest, sqlite_commit
from bench.context import WARM_UP_S, Context
from bench.procs import Service, environment, free_port
from bench.spec import MARK, LoadResult, RequestSpec

CONNECTIONS = (16, 64)
REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 30.0
ALERTMANAGER_NAMES = ("prometheus-alertmanager", "alertmanager")
ALERTMANAGER_MISSING = "prometheus-alertmanager is not on PATH"
ALERTMANAGER_CONFIG = """\
route:
  receiver: "null"
receivers:
  - name: "null"
"""
ALERTMANAGER_BODY = json.dumps(
    [{"labels": {"alertname": "bench", "instance": MARK}, "annotations": {"summary": "bench"}}]
)
TRIVIAL_BODY = json.dumps(
    {"integrationKey": "0" * 32, "eventType": "ALERT", "summary": "bench", "alertKey": "bench"}
)


def logged_point(ctx: Context, label: str, result: LoadResult,
                 alerts_per_request: int | None = None) -> dict[str, Any]:
    """A point's figures, logged; `alerts_per_request` (requests that are batches of alerts) adds
    its alerts/s: 2xx/s times that."""
    point = result.as_dict()
    alerts = ""
    if alerts_per_request is not None:
        point["alerts_per_request"] = alerts_per_request
        point["alerts_per_s"] = result.ok_rps * alerts_per_request
        alerts = f" {point['alerts_per_s']:10.1f} alerts/s"
    flag = f"  ERRORS: {result.errors}" if result.errors else ""
    ctx.log(f"  {label} c={result.connections:<3} {result.rps:9.1f} req/s{alerts}  p50 {result.p50_ms:.2f} ms"
            f"  p99 {result.p99_ms:.2f} ms{flag}")
    return point


def load_points(ctx: Context, label: str, url: str, spec: RequestSpec) -> dict[str, Any]:
    """A warm-up, then a logged point at each connection count."""
    ctx.load.run(url, spec, CONNECTIONS[0], WARM_UP_S)
    points = [logged_point(ctx, label, ctx.load.run(url, spec, count, ctx.seconds)) for count in CONNECTIONS]
    return {"points": points}


def uvicorn_trivial(ctx: Context) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "uvicorn", "bench.trivial_app:app", "--host", "127.0.0.1",
            "--port", str(port), "--no-access-log", "--loop", "uvloop", "--http", "httptools",
            "--workers", "1"]
    with Service("uvicorn-trivial", argv, ctx.scratch / "logs", cwd=REPO_ROOT, env=environment()) as app:
        client.wait_for_status(url + "/", 202, READY_TIMEOUT_S, "POST", json.loads(TRIVIAL_BODY),
                               interval=0.05, alive=app.check_alive)
        ctx.log(f"baselines: uvicorn trivial app on {url}")
        measured = load_points(ctx, "uvicorn", url, RequestSpec("/", TRIVIAL_BODY))
    return {"app": "bench.trivial_app:app", **measured}


def alertmanager_binary() -> str | None:
    return next((found for name in ALERTMANAGER_NAMES if (found := shutil.which(name))), None)


@dataclass(frozen=True)
class Alertmanager:
    """A running Alertmanager: where it answers, its process, what it is."""

    url: str
    pid: int
    # binary and version
    facts: dict[str, str]


@contextlib.contextmanager
def running_alertmanager(ctx: Context, binary: str, label: str) -> Iterator[Alertmanager]:
    """A fresh Alertmanager (its own data directory, no cluster, a receiver that sends nothing),
    ready, until the block ends."""
    root = Path(tempfile.mkdtemp(prefix="alertmanager-", dir=ctx.scratch))
    (root / "data").mkdir()
    config = root / "alertmanager.yml"
    config.write_text(ALERTMANAGER_CONFIG)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [binary, f"--config.file={config}", f"--storage.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    first = (version.stdout or version.stderr).splitlines()
    facts = {"binary": binary, "version": first[0] if first else "unknown"}
    with Service(root.name, argv, ctx.scratch / "logs", cwd=root, env=environment()) as manager:
        client.wait_for_status(url + "/-/ready", 200, READY_TIMEOUT_S, interval=0.05,
                               alive=manager.check_alive)
        ctx.log(f"{label}: alertmanager on {url}")
        yield Alertmanager(url, manager.pid, facts)


def alertmanager(ctx: Context) -> dict[str, Any]:
    binary = alertmanager_binary()
    if binary is None:
        ctx.log(f"baselines: {ALERTMANAGER_MISSING}; skipped")
        return {"skipped": ALERTMANAGER_MISSING}
    with running_alertmanager(ctx, binary, "baselines") as manager:
        spec = RequestSpec("/api/v2/alerts", ALERTMANAGER_BODY, distinct=True, prefix=ctx.prefix("am"))
        measured = load_points(ctx, "alertmanager", manager.url, spec)
    return {**manager.facts, **measured}


def _ilertd_rates(ctx: Context) -> dict[str, Any]:
    """ilertd at 16 and 64 connections: from this run's ingest section, else measured here."""
    done = ctx.results.get("ingest", {})
    if "points" in done:
        return ilertd_from_ingest(done)
    measured = ingest.measure(ctx, CONNECTIONS, "baseline-ilertd")
    return {"source": "a fresh daemon measured in this section", "points": measured["points"],
            "durability": measured["durability"]}


def _ratios(ilertd: dict[str, Any], baselines: dict[str, Any]) -> list[dict[str, Any]]:
    """ilertd's 202 rate over each baseline's success rate, at the same connection count."""
    sqlite_rate = baselines["sqlite"]["rows_per_s"]
    rows = []
    for point in ilertd["points"]:
        row: dict[str, Any] = {"keys": point["keys"], "connections": point["connections"],
                               "ilertd_rps": point["ok_rps"]}
        for name in ("uvicorn", "alertmanager"):
            same = [p for p in baselines[name].get("points", []) if p["connections"] == point["connections"]]
            row[name] = point["ok_rps"] / same[0]["ok_rps"] if same and same[0]["ok_rps"] else None
        row["sqlite"] = point["ok_rps"] / sqlite_rate if sqlite_rate else None
        rows.append(row)
    return rows


def shared(ctx: Context) -> dict[str, Any]:
    """What does not run ilertd: under `--compare` measured once, for both sides."""
    out: dict[str, Any] = {"generator": ctx.load.name, "seconds_per_point": ctx.seconds}
    out["uvicorn"] = uvicorn_trivial(ctx)
    ctx.log(f"baselines: sqlite group commit, {sqlite_commit.PRODUCERS} producers, {ctx.seconds:.0f} s")
    out["sqlite"] = sqlite_commit.measure(ctx.seconds)
    ctx.log(f"  sqlite {out['sqlite']['rows_per_s']:.0f} rows/s,"
            f" {out['sqlite']['rows_per_commit']:.1f} rows per commit")
    out["alertmanager"] = alertmanager(ctx)
    return out


def combine(baselines: dict[str, Any], ilertd: dict[str, Any]) -> dict[str, Any]:
    """The section's result: the baselines, ilertd's 16/64-connection points and the ratios."""
    return {**baselines, "ilertd": ilertd, "ratios": _ratios(ilertd, baselines)}


def ilertd_from_ingest(ingest_section: dict[str, Any]) -> dict[str, Any]:
    points = [p for p in ingest_section["points"] if p["connections"] in CONNECTIONS]
    return {"source": "ingest section of this run", "points": points,
            "durability": ingest_section.get("durability", {})}


def run(ctx: Context, units: Sequence[str] | None = None) -> dict[str, Any]:
    """The whole section; `units=["ilertd"]`: only ilertd's points (a side of `--compare`)."""
    if units == ["ilertd"]:
        return {"baselines": {"ilertd": _ilertd_rates(ctx)}}
    return {"baselines": combine(shared(ctx), _ilertd_rates(ctx))}
