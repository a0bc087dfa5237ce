"""Paging measurement (a): event to SMS page at light load, each event paging a contact of its own."""

from __future__ import annotations

import time
from collections import Counter
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
    spread,
    wait_until,
)
from bench.paging_events import event_body, send_paced
from bench.sms_gateway import SmsGateway

LATENCY_RATE = 20.0
WARM_UP_NUMBER = "+15559999999"


def latency(ctx: Context, template: Ilertd, count: int) -> dict[str, Any]:
    numbers = [f"+1555{i:07d}" for i in range(count)]
    ctx.log(f"paging latency: {count} sources, an SMS rule each, one event per source at {LATENCY_RATE:g}/s")
    with SmsGateway() as gateway:
        daemon = measurement_daemon(ctx, template, "latency", f'[channels.sms]\nurl = "{gateway.url()}"\n')
        # One more source than measured: its page is the first after the start, which pays for
        # apprise loading its plugins (about 0.3 s); it is reported apart from the percentiles.
        pagers = seed.seed_pagers(daemon.data_dir, "latency", "SMS", [*numbers, WARM_UP_NUMBER], levels=1,
                                  timeout_min=60, sources=True)
        bodies = [event_body(p.integration_key, f"{ctx.run_id}-latency-{i}", f"latency probe {i}")
                  for i, p in enumerate(pagers)]
        try:
            daemon.start()
            assert daemon.service is not None
            warm = send_paced(daemon.url, bodies[-1:], LATENCY_RATE)
            wait_until(lambda: any(p.number == WARM_UP_NUMBER for p in gateway.pages), WAIT_S[ctx.quick],
                       daemon.service.check_alive)
            fired = send_paced(daemon.url, bodies[:-1], LATENCY_RATE)
            complete = wait_until(lambda: len(gateway.pages) >= count + 1, WAIT_S[ctx.quick],
                                  daemon.service.check_alive)
            time.sleep(SETTLE_S)
            pages = gateway.pages
        finally:
            exit_status = daemon.stop()
        unexpected = list(gateway.unexpected)
    warm_pages = [p for p in pages if p.number == WARM_UP_NUMBER]
    pages = [p for p in pages if p.number != WARM_UP_NUMBER]
    index = {number: i for i, number in enumerate(numbers)}
    per_number = Counter(page.number for page in pages)
    after_reply, after_send = [], []
    for page in pages:
        i = index.get(page.number)
        if i is None or per_number[page.number] > 1 or fired.statuses[i] != 202:
            continue
        after_reply.append((page.at - fired.replied_at[i]) * 1000.0)
        after_send.append((page.at - fired.sent_at[i]) * 1000.0)
    outbox = read_outbox(daemon.data_dir / seed.DB_NAME, level=0)
    errors = daemon.error_lines()
    warnings = daemon.warning_lines()
    check = {
        "events": count,
        "accepted": fired.accepted,
        "send_failures": warm.failures + fired.failures,
        "pages": len(pages),
        "numbers_paged": sum(1 for n in numbers if per_number[n] >= 1),
        "duplicates": sum(c - 1 for c in per_number.values() if c > 1) + max(0, len(warm_pages) - 1),
        "unknown_numbers": sum(1 for n in per_number if n not in index),
        "unexpected_requests": unexpected,
        "complete": complete,
        # The warm-up page is in the outbox too.
        "outbox": outbox,
        **daemon_log(errors, warnings),
    }
    check["ok"] = bool(
        fired.accepted == count and warm.accepted == 1 and not check["send_failures"]
        and check["numbers_paged"] == count and len(pages) == count and len(warm_pages) == 1
        and not check["unknown_numbers"] and not unexpected and outbox_ok(outbox, count + 1) and not errors
    )
    replies = [(r - s) * 1000.0 for s, r, st in zip(fired.sent_at, fired.replied_at, fired.statuses,
                                                   strict=True) if st == 202]
    result = {
        "sources": count,
        "rate_per_s": LATENCY_RATE,
        "send_s": fired.replied_at[-1] - fired.sent_at[0] if count else 0.0,
        "first_page_after_start_ms": (warm_pages[0].at - warm.sent_at[0]) * 1000.0 if warm_pages else None,
        "page_after_202_ms": spread(after_reply),
        "page_after_send_ms": spread(after_send),
        "reply_ms": spread(replies),
        "page_after_send_samples_ms": after_send,
        "check": check,
        "daemon_exit_status": exit_status,
    }
    ctx.log(f"  first page after start {_ms(result['first_page_after_start_ms'])}; page - 202 p50"
            f" {result['page_after_202_ms']['p50']:.2f} ms p99 {result['page_after_202_ms']['p99']:.2f} ms;"
            f" page - send p99 {result['page_after_send_ms']['p99']:.2f} ms;"
            f" check {'ok' if check['ok'] else 'FAILED'}")
    return result


def _ms(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} ms"
