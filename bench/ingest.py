"""Section ingest: events/s and 202 latency of `POST /api/events` on a real daemon, and durability."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from bench import client
from bench.context import WARM_UP_S, Context
from bench.daemon import Ilertd
from bench.spec import MARK, RequestSpec

CONNECTIONS = (1, 16, 64)
MODES = ("distinct", "repeated")
EVENTS_PATH = "/api/events"


class IlertdLoad:
    """Load points against one daemon, counting the 202s each mode got for the durability check."""

    def __init__(self, ctx: Context, daemon: Ilertd) -> None:
        self.ctx = ctx
        self.daemon = daemon
        self.accepted = {mode: 0 for mode in MODES}
        self.repeat_key = f"bench-repeat-{ctx.run_id}"
        self.repeat_incident: int | None = None

    def spec(self, mode: str) -> RequestSpec:
        if mode == "distinct":
            return RequestSpec(EVENTS_PATH, self.daemon.event_body(MARK), distinct=True,
                               prefix=self.ctx.prefix("ev"))
        return RequestSpec(EVENTS_PATH, self.daemon.event_body(self.repeat_key))

    def open_repeat_incident(self) -> None:
        # One event first, so the repeated-key points all join an incident whose id is known.
        status, body = client.request(self.daemon.url + EVENTS_PATH, "POST",
                                      json.loads(self.daemon.event_body(self.repeat_key)))
        if status != 202:
            raise RuntimeError(f"the first repeated-key event got {status}: {body[:200]!r}")
        self.repeat_incident = int(json.loads(body)["incidentId"])
        self.accepted["repeated"] += 1

    def warm_up(self) -> dict[str, Any]:
        result = self.ctx.load.run(self.daemon.url, self.spec("distinct"), 16, WARM_UP_S)
        self.accepted["distinct"] += result.ok
        return result.as_dict()

    def point(self, mode: str, connections: int) -> dict[str, Any]:
        if mode == "repeated" and self.repeat_incident is None:
            self.open_repeat_incident()
        result = self.ctx.load.run(self.daemon.url, self.spec(mode), connections, self.ctx.seconds)
        self.accepted[mode] += result.ok
        flag = f"  ERRORS: {result.non2xx} non-2xx, {result.socket_errors} socket" if result.errors else ""
        self.ctx.log(f"  {mode:<8} c={connections:<3} {result.rps:9.1f} req/s  p50 {result.p50_ms:.2f} ms"
                     f"  p99 {result.p99_ms:.2f} ms{flag}")
        return {"keys": mode, **result.as_dict()}

    def durability(self) -> dict[str, Any]:
        """Every 202 is a committed event: count what the store holds against what was acknowledged."""
        newest_id = self.daemon.newest_incident_id()
        check: dict[str, Any] = {
            "newest_incident_id": newest_id,
            "distinct_202s": self.accepted["distinct"],
            "incidents_ok": newest_id >= self.accepted["distinct"],
        }
        if self.repeat_incident is not None:
            incident = client.get_json(f"{self.daemon.url}/api/incidents/{self.repeat_incident}",
                                       self.daemon.admin_token)
            check["repeated_incident_event_count"] = int(incident["eventCount"])
            check["repeated_202s"] = self.accepted["repeated"]
            check["repeated_ok"] = int(incident["eventCount"]) >= self.accepted["repeated"]
        check["ok"] = bool(check["incidents_ok"] and check.get("repeated_ok", True))
        return check


def measure(ctx: Context, connections: tuple[int, ...], label: str) -> dict[str, Any]:
    """A fresh daemon, a warm-up, every (mode, connections) point, then the durability check."""
    with tempfile.TemporaryDirectory(prefix=f"{label}-", dir=ctx.scratch) as root:
        daemon = Ilertd(Path(root), label)
        try:
            daemon.start()
            ctx.log(f"{label}: ilertd serving on {daemon.url}; {WARM_UP_S:.0f} s warm-up")
            load = IlertdLoad(ctx, daemon)
            warm = load.warm_up()
            points = [load.point(mode, c) for mode in MODES for c in connections]
            durability = load.durability()
            ctx.log(f"{label}: durability {'ok' if durability['ok'] else 'FAILED'}: {durability}")
        finally:
            # Not 0 means the daemon did not shut down cleanly on SIGTERM (or needed SIGKILL).
            exit_status = daemon.stop()
    return {
        "generator": ctx.load.name,
        "daemon_exit_status": exit_status,
        "seconds_per_point": ctx.seconds,
        "warm_up": warm,
        "points": points,
        "durability": durability,
    }


def run(ctx: Context) -> dict[str, Any]:
    return {"ingest": measure(ctx, CONNECTIONS, "ingest")}
