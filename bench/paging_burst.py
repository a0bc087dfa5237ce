"""Paging measurement (b): many incidents opened at once, each paging its own contact by e-mail over SMTP."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import seed
from bench.context import Context
from bench.daemon import Ilertd
from bench.paging_common import (
    SETTLE_S,
    WAIT_S,
    daemon_log,
    measurement_daemon,
    outbox_ok,
    read_outbox,
    seconds_text,
    wait_until,
)
from bench.paging_events import event_body, send_at_once
from bench.procs import Service, environment, free_port
from bench.smtp_sink import READY as SMTP_READY
from bench.smtp_sink import read_arrivals

REPO_ROOT = Path(__file__).resolve().parent.parent
BURST_CONNECTIONS = 64
SMTP_READY_S = 30.0


def burst(ctx: Context, template: Ilertd, count: int) -> dict[str, Any]:
    addresses = [f"pager-{i}@example.com" for i in range(count)]
    smtp_port = free_port()
    url = f"mailto://127.0.0.1:{smtp_port}?from=ilertd@example.com&to={{contact}}&mode=insecure"
    daemon = measurement_daemon(ctx, template, "burst", f'[channels.email]\nurl = "{url}"\n')
    arrivals_path = daemon.root / "smtp-arrivals.tsv"
    ctx.log(f"paging burst: {count} incidents at once over {BURST_CONNECTIONS} connections,"
            f" e-mail to an SMTP server process on port {smtp_port}")
    pagers = seed.seed_pagers(daemon.data_dir, "burst", "EMAIL", addresses, levels=1, timeout_min=60,
                              sources=True)
    bodies = [event_body(p.integration_key, f"{ctx.run_id}-burst-{i}", f"burst incident {i}")
              for i, p in enumerate(pagers)]
    sink = Service("smtp-sink", [sys.executable, "-m", "bench.smtp_sink", str(smtp_port), str(arrivals_path)],
                   daemon.root / "logs", cwd=REPO_ROOT, env=environment())
    try:
        sink.start()
        daemon.start()
        sink.wait_for_stdout(SMTP_READY, SMTP_READY_S)

        def alive() -> None:
            sink.check_alive()
            if daemon.service is not None:
                daemon.service.check_alive()

        fired = send_at_once(daemon.url, bodies, BURST_CONNECTIONS)
        complete = wait_until(lambda: len(read_arrivals(arrivals_path)) >= count, WAIT_S[ctx.quick], alive)
        time.sleep(SETTLE_S)
        arrivals = read_arrivals(arrivals_path)
    finally:
        try:
            exit_status = daemon.stop()
        finally:
            sink_status = sink.stop()
    wanted = set(addresses)
    per_address = Counter(r for a in arrivals for r in a.recipients)
    references = Counter(a.reference for a in arrivals)
    outbox = read_outbox(daemon.data_dir / seed.DB_NAME, level=0)
    errors = daemon.error_lines()
    warnings = daemon.warning_lines()
    first = min(fired.sent_at) if count else 0.0
    times = sorted(a.at for a in arrivals)
    check = {
        "events": count,
        "accepted": fired.accepted,
        "send_failures": fired.failures[:20],
        "emails": len(arrivals),
        "addresses_mailed": sum(1 for a in addresses if per_address[a] >= 1),
        "duplicates": sum(c - 1 for c in per_address.values() if c > 1),
        "unknown_recipients": sum(1 for a in per_address if a not in wanted),
        "distinct_references": len(references),
        "complete": complete,
        "outbox": outbox,
        **daemon_log(errors, warnings),
        "smtp_sink_exit_status": sink_status,
    }
    check["ok"] = bool(
        fired.accepted == count and not fired.failures and check["addresses_mailed"] == count
        and len(arrivals) == count and not check["unknown_recipients"] and len(references) == count
        and outbox_ok(outbox, count) and not errors
    )
    result = {
        "incidents": count,
        "connections": BURST_CONNECTIONS,
        "first_request_to_last_202_s": max(fired.replied_at) - first if count else None,
        "first_request_to_first_email_s": times[0] - first if times else None,
        "first_request_to_last_email_s": times[-1] - first if complete and times else None,
        "emails_per_s": (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else None,
        "check": check,
        "daemon_exit_status": exit_status,
    }
    ctx.log(f"  last 202 at {result['first_request_to_last_202_s']:.2f} s, last e-mail at"
            f" {seconds_text(result['first_request_to_last_email_s'])};"
            f" check {'ok' if check['ok'] else 'FAILED'}")
    return result
