"""Section paging: how soon a page leaves ilertd and reaches its channel.

Three measurements, each on a fresh daemon whose store was seeded from an empty template:

- latency: one event per alert source at a light rate, each source's policy paging its own user
  by SMS at delay 0; a JSON gateway in this process records when each page arrives.
- burst: many incidents opened at once (64 connections), each paging a different user by
  e-mail through a real SMTP server in a process of its own.
- deadlines: many PENDING incidents whose escalation deadlines fall in the same instant; with
  no channel configured the level-1 pages go to the log channel, and the outbox rows are
  polled until none of them is still SCHEDULED.

Every page goes to a contact of its own: ilertd throttles each contact (one SMS a minute, one
e-mail per 10 s), and a second page to one contact would wait for the window, not be measured.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from bench import seed
from bench.context import Context
from bench.daemon import Ilertd
from bench.daemon import template as daemon_template
from bench.paging_burst import burst
from bench.paging_deadlines import deadlines
from bench.paging_latency import latency

# Full counts are what the targets speak of; quick runs scale them down to stay within a minute.
FULL_COUNTS = {"latency": 200, "burst": 1_000, "deadlines": 10_000}
# Quick counts are small because the e-mail channel once managed about 35 e-mails/s and an
# escalation cost about 5 ms of the daemon's one interpreter lock: 50 / 200 / 2,000 took
# 26 s alone, and the whole quick run (about 46 s without this section) must stay under a minute.
# (Batched, an escalated page now costs about 0.45 ms of CPU in all, 200 e-mails/s go out.)
QUICK_COUNTS = {"latency": 30, "burst": 40, "deadlines": 250}


MEASUREMENTS: dict[str, Callable[[Context, Ilertd, int], dict[str, Any]]] = {
    "latency": latency,
    "burst": burst,
    "deadlines": deadlines,
}


def units(ctx: Context) -> list[str]:
    """Under `--compare` each measurement runs on its own, interleaved between the sides."""
    return list(MEASUREMENTS)


def run(ctx: Context, units: Sequence[str] | None = None) -> dict[str, Any]:
    counts = QUICK_COUNTS if ctx.quick else FULL_COUNTS
    out: dict[str, Any] = {"quick": ctx.quick, "counts": dict(counts), "full_counts": dict(FULL_COUNTS)}
    template = daemon_template(ctx.scratch / "paging-template", "paging-template")
    failed = []
    for name, measure in MEASUREMENTS.items():
        if units and name not in units:
            continue
        try:
            out[name] = measure(ctx, template, counts[name])
        except Exception as error:
            # One measurement failing leaves the others' figures standing; the run still fails.
            traceback.print_exc(file=sys.stderr)
            out[name] = {"error": f"{type(error).__name__}: {error}"}
            failed.append(name)
        finally:
            for leftover in (ctx.scratch / f"paging-{name}" / "data").glob(f"{seed.DB_NAME}*"):
                leftover.unlink()
    out["failed_measurements"] = failed
    return {"paging": out}


def merge(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The measurements run apart, as one run of the section."""
    out = {key: value for key, value in parts[0].items() if key not in MEASUREMENTS}
    for part in parts:
        out.update({name: part[name] for name in MEASUREMENTS if name in part})
        if "error" in part:
            out.setdefault("errors", []).append(part["error"])
    out["failed_measurements"] = [name for part in parts for name in part.get("failed_measurements", [])]
    return out
