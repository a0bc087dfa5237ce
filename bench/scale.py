"""Section scale: memory, threads and start time of a daemon holding many open incidents."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any

from bench import client, seed
from bench.context import Context
from bench.daemon import Ilertd
from bench.daemon import template as daemon_template
from bench.procs import free_port, proc_status
from bench.spec import MARK, RequestSpec

QUICK_SIZES = (1_000, 10_000)
FULL_SIZES = (1_000, 10_000, 100_000)
TOUCH_EVENTS = 2_000
TOUCH_CONNECTIONS = 16
START_TIMEOUT_S = 120.0
OPEN_AT_START = re.compile(r"supervisor: (\d+) open incidents; (\d+) deadlines and \d+ pages re-armed")


def _touch_keys(count: int) -> tuple[str, ...]:
    """TOUCH_EVENTS keys of seeded incidents spread over 1..count (each used twice below 2,000)."""
    if count >= TOUCH_EVENTS:
        return tuple(f"seed-{1 + (j * count) // TOUCH_EVENTS}" for j in range(TOUCH_EVENTS))
    return tuple(f"seed-{1 + j % count}" for j in range(TOUCH_EVENTS))


def _one_size(ctx: Context, template: Ilertd, count: int) -> dict[str, Any]:
    daemon = Ilertd(ctx.scratch / f"scale-{count}", f"scale-{count}")
    seed.copy_store(template.data_dir, daemon.data_dir)
    began = time.monotonic()
    seed.seed_incidents(daemon.data_dir, count)
    seed_s = time.monotonic() - began
    daemon.read_secrets()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        service = daemon.launch(port)
        healthz_at = client.wait_for_status(url + "/healthz", 200, START_TIMEOUT_S, alive=service.check_alive)
        probe = json.loads(daemon.event_body(f"scale-probe-{ctx.run_id}"))
        event_at = client.wait_for_status(url + "/api/events", 202, START_TIMEOUT_S, "POST", probe,
                                          alive=service.check_alive)
        before = proc_status(daemon.pid)
        spec = RequestSpec("/api/events", daemon.event_body(MARK), keys=_touch_keys(count))
        # wrk runs for a time, not a count: a list of keys always goes through the Python client.
        touch = ctx.load.run(url, spec, TOUCH_CONNECTIONS, None)
        after = proc_status(daemon.pid)
        newest = client.get_json(f"{url}/api/incidents?max-results=1", daemon.admin_token)
        newest_id = int(newest[0]["id"]) if newest else 0
        opened = OPEN_AT_START.search(service.stderr_text())
    finally:
        exit_status = daemon.stop()
    result = {
        "open_incidents": count,
        "daemon_exit_status": exit_status,
        "seed_s": seed_s,
        "open_at_start": int(opened.group(1)) if opened else None,
        "deadlines_at_start": int(opened.group(2)) if opened else None,
        "start_to_healthz_s": healthz_at - service.started_at,
        "start_to_first_event_s": event_at - service.started_at,
        "rss_mib": before["rss_mib"],
        "threads": int(before["threads"]),
        "rss_mib_after_touch": after["rss_mib"],
        "threads_after_touch": int(after["threads"]),
        "touch": {
            "events": touch.requests, "ok": touch.ok, "errors": touch.errors, "seconds": touch.seconds,
            "rps": touch.rps, "p99_ms": touch.p99_ms, "connections": TOUCH_CONNECTIONS,
            # Only the probe event may open an incident: touches must join seeded ones.
            "joined_existing": newest_id == count + 1,
            "newest_incident_id": newest_id,
        },
    }
    ctx.log(f"  N={count:<7} healthz {result['start_to_healthz_s']:.2f} s  event"
            f" {result['start_to_first_event_s']:.2f} s  rss {before['rss_mib']:.0f} MiB"
            f"  threads {result['threads']}  after touch {after['rss_mib']:.0f} MiB,"
            f" {result['threads_after_touch']} threads")
    return result


def units(ctx: Context) -> list[str]:
    """Under `--compare` each size is a measurement of its own, interleaved between the sides."""
    return [str(count) for count in (QUICK_SIZES if ctx.quick else FULL_SIZES)]


def run(ctx: Context, units: Sequence[str] | None = None) -> dict[str, Any]:
    sizes = tuple(int(unit) for unit in units) if units else (QUICK_SIZES if ctx.quick else FULL_SIZES)
    ctx.log(f"scale: template daemon, then {', '.join(f'{n:,}' for n in sizes)} open incidents")
    template = daemon_template(ctx.scratch / "scale-template", "scale-template")
    points = []
    for count in sizes:
        points.append(_one_size(ctx, template, count))
        # Each size's store is only needed while it runs; 100k incidents are not small.
        for leftover in (ctx.scratch / f"scale-{count}" / "data").glob(f"{seed.DB_NAME}*"):
            leftover.unlink()
    return {"scale": {"sizes": list(sizes), "touch_events": TOUCH_EVENTS, "points": points}}


def merge(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The sizes measured apart, as one run of the section."""
    return {
        "sizes": [count for part in parts for count in part.get("sizes", [])],
        "touch_events": TOUCH_EVENTS,
        "points": [point for part in parts for point in part.get("points", [])],
        **({"error": "; ".join(part["error"] for part in parts if "error" in part)}
           if any("error" in part for part in parts) else {}),
    }
