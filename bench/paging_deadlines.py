"""Paging measurement (c): many escalation deadlines falling in one instant, paged to the log channel."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import seed
from bench.context import Context
from bench.daemon import Ilertd
from bench.paging_common import (
    POLL_S,
    SETTLE_S,
    WAIT_S,
    daemon_log,
    measurement_daemon,
    outbox_ok,
    read_only,
    read_outbox,
    seconds_text,
)

# The deadline lies this far after the store is closed; the daemon starts within it (about
# 0.6 s with 10,000 open incidents), so every timer is armed before it is due.
DEADLINE_LEAD_S = {True: 1.0, False: 2.5}


@dataclass
class _Progress:
    """Poll results, each at the wall-clock time (epoch seconds) the query ran."""

    first_written: float | None = None
    all_written: float | None = None
    first_handed: float | None = None
    all_handed: float | None = None
    last_counts: tuple[int, int] = (0, 0)


def _poll(db_path: Path, count: int, until: float, alive: Callable[[], None]) -> _Progress:
    progress = _Progress()
    with contextlib.closing(read_only(db_path)) as db:
        while time.time() < until:
            at = time.time()
            written, handed = db.execute(
                "SELECT count(*), coalesce(sum(status != 'SCHEDULED'), 0) FROM notification WHERE level = 1"
            ).fetchone()
            progress.last_counts = (written, handed)
            if written and progress.first_written is None:
                progress.first_written = at
            if written >= count and progress.all_written is None:
                progress.all_written = at
            if handed and progress.first_handed is None:
                progress.first_handed = at
            if handed >= count:
                progress.all_handed = at
                break
            alive()
            time.sleep(max(0.0, at + POLL_S - time.time()))
    return progress


def deadlines(ctx: Context, template: Ilertd, count: int) -> dict[str, Any]:
    addresses = [f"oncall-{i}@example.com" for i in range(count)]
    # No settings file: with no channel configured, e-mail pages go to the log channel.
    daemon = measurement_daemon(ctx, template, "deadlines", None)
    ctx.log(f"paging deadlines: {count:,} PENDING incidents escalating in the same instant")
    began = time.monotonic()
    pagers = seed.seed_pagers(daemon.data_dir, "deadline", "EMAIL", addresses, levels=2, timeout_min=60,
                              sources=False)
    seed.seed_escalating(daemon.data_dir, pagers, datetime.now(UTC) + timedelta(days=1))
    seed_s = time.monotonic() - began
    due = datetime.now(UTC) + timedelta(seconds=DEADLINE_LEAD_S[ctx.quick])
    seed.move_deadlines(daemon.data_dir, due)
    deadline = due.timestamp()
    try:
        daemon.start()
        serving = time.time()
        assert daemon.service is not None
        progress = _poll(daemon.data_dir / seed.DB_NAME, count, deadline + WAIT_S[ctx.quick],
                         daemon.service.check_alive)
        if progress.all_handed is not None:
            time.sleep(SETTLE_S)
    finally:
        exit_status = daemon.stop()
    stderr = daemon.service.stderr_text() if daemon.service else ""
    page_lines = [line for line in stderr.splitlines() if " PAGE EMAIL to " in line]
    references = Counter(line.rsplit("[", 1)[-1].rstrip("]") for line in page_lines)
    outbox = read_outbox(daemon.data_dir / seed.DB_NAME, level=1)
    with contextlib.closing(read_only(daemon.data_dir / seed.DB_NAME)) as db:
        escalated = db.execute("SELECT count(*) FROM incident WHERE escalation_level = 1").fetchone()[0]
    errors = daemon.error_lines()
    warnings = daemon.warning_lines()
    check = {
        "incidents": count,
        "escalated_to_level_1": escalated,
        "log_channel_pages": len(page_lines),
        "distinct_references": len(references),
        "complete": progress.all_handed is not None,
        "handed_when_stopped_waiting": progress.last_counts[1],
        "outbox": outbox,
        **daemon_log(errors, warnings),
    }
    check["ok"] = bool(
        escalated == count and len(page_lines) == count and len(references) == count
        and check["complete"] and outbox_ok(outbox, count) and not errors
    )

    def since(at: float | None) -> float | None:
        return None if at is None else at - deadline

    result = {
        "incidents": count,
        "seed_s": seed_s,
        "serving_before_deadline_s": deadline - serving,
        "deadline_to_first_row_s": since(progress.first_written),
        "deadline_to_all_rows_s": since(progress.all_written),
        "deadline_to_first_handed_s": since(progress.first_handed),
        "deadline_to_all_handed_s": since(progress.all_handed),
        "handed_per_s": count / since(progress.all_handed) if progress.all_handed else None,
        "poll_interval_s": POLL_S,
        "check": check,
        "daemon_exit_status": exit_status,
    }
    ctx.log(f"  serving {result['serving_before_deadline_s']:.2f} s before the deadline; all level-1"
            f" rows at {seconds_text(result['deadline_to_all_rows_s'])}, all handed over at"
            f" {seconds_text(result['deadline_to_all_handed_s'])}; check {'ok' if check['ok'] else 'FAILED'}")
    return result
