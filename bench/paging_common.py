"""What the paging measurements share: their daemon, waiting for pages, the outbox and daemon-log checks."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import seed
from bench.context import Context
from bench.daemon import Ilertd
from bench.spec import percentile

POLL_S = 0.05
# After the last expected page: how long a duplicate is given to show up.
SETTLE_S = 0.2
# How long pages are awaited before the check gives up: far beyond the targets, so a slow run
# still yields its figure.
WAIT_S = {True: 30.0, False: 180.0}


def spread(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": percentile(ordered, 0.50),
        "p99": percentile(ordered, 0.99),
        "min": ordered[0] if ordered else float("nan"),
        "max": ordered[-1] if ordered else float("nan"),
    }


def wait_until(done: Callable[[], bool], timeout: float, alive: Callable[[], None] | None = None,
               interval: float = POLL_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        if alive is not None:
            alive()
        time.sleep(interval)
    return done()


def read_only(db_path: Path) -> sqlite3.Connection:
    # Read-only: the measurement never takes a lock the daemon's writer could wait on.
    return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)


def read_outbox(db_path: Path, level: int) -> dict[str, Any]:
    """What the store says of the alert pages of one escalation level, read after the daemon stopped."""
    with contextlib.closing(read_only(db_path)) as db:
        where = "kind = 'ALERT' AND level = ?"
        statuses = dict(db.execute(f"SELECT status, count(*) FROM notification WHERE {where}"
                                   " GROUP BY status", (level,)).fetchall())
        retried = db.execute(f"SELECT count(*) FROM notification WHERE {where} AND attempts > 1",
                             (level,)).fetchone()[0]
        targets = db.execute(f"SELECT count(DISTINCT target) FROM notification WHERE {where}",
                             (level,)).fetchone()[0]
        # Status updates carry no level: coalesce keeps them from vanishing into NULL.
        others = db.execute("SELECT count(*) FROM notification WHERE NOT (kind = 'ALERT'"
                            " AND coalesce(level, -1) = ?)", (level,)).fetchone()[0]
    return {
        "rows": sum(statuses.values()),
        "statuses": statuses,
        "success": statuses.get("SUCCESS", 0),
        "error": statuses.get("ERROR", 0),
        "aggregated": statuses.get("AGGREGATED", 0),
        "retried": retried,
        "distinct_targets": targets,
        "other_rows": others,
    }


def _kinds(lines: Sequence[str]) -> dict[str, int]:
    """Log lines counted by logger and message with the numbers blanked: thousands of one warning
    read as one line with its count."""
    kinds: Counter[str] = Counter()
    for line in lines:
        # "<date> <time> <LEVEL> <logger>: <message>": the timestamp goes, the rest is the kind.
        message = line.split(" ", 3)[-1]
        kinds[re.sub(r"\d+", "N", message)] += 1
    return dict(kinds.most_common())


def daemon_log(errors: Sequence[str], warnings: Sequence[str]) -> dict[str, Any]:
    """What the daemon's stderr says, as every measurement reports it."""
    return {
        "daemon_error_lines": list(errors[:20]),
        "daemon_error_count": len(errors),
        "daemon_warning_lines": list(warnings[:20]),
        "daemon_warning_count": len(warnings),
        "daemon_warning_kinds": _kinds(warnings),
    }


def outbox_ok(outbox: dict[str, Any], expected: int) -> bool:
    return (outbox["rows"] == expected and outbox["success"] == expected and outbox["retried"] == 0
            and outbox["distinct_targets"] == expected and outbox["other_rows"] == 0)


def measurement_daemon(ctx: Context, template: Ilertd, name: str, config_text: str | None) -> Ilertd:
    """A daemon in its own directory with a copy of the template's store (not started)."""
    root = ctx.scratch / f"paging-{name}"
    config = None
    if config_text is not None:
        root.mkdir(parents=True, exist_ok=True)
        config = root / "ilertd.toml"
        config.write_text(config_text)
    daemon = Ilertd(root, f"paging-{name}", config)
    seed.copy_store(template.data_dir, daemon.data_dir)
    return daemon


def seconds_text(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"
