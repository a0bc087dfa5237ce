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

import contextlib
import http.client
import json
import re
import socket
import sqlite3
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import seed
from bench.context import Context
from bench.daemon import Ilertd
from bench.daemon import template as daemon_template
from bench.procs import Service, environment, free_port
from bench.sms_gateway import SmsGateway
from bench.smtp_sink import READY as SMTP_READY
from bench.smtp_sink import read_arrivals
from bench.spec import percentile

REPO_ROOT = Path(__file__).resolve().parent.parent
EVENTS_PATH = "/api/events"

# Full counts are what the targets speak of; quick runs scale them down to stay within a minute.
FULL_COUNTS = {"latency": 200, "burst": 1_000, "deadlines": 10_000}
# Quick counts are small because the e-mail channel once managed about 35 e-mails/s and an
# escalation cost about 5 ms of the daemon's one interpreter lock: 50 / 200 / 2,000 took
# 26 s alone, and the whole quick run (about 46 s without this section) must stay under a minute.
# (Batched, an escalated page now costs about 0.45 ms of CPU in all, 200 e-mails/s go out.)
QUICK_COUNTS = {"latency": 30, "burst": 40, "deadlines": 250}
LATENCY_RATE = 20.0
WARM_UP_NUMBER = "+15559999999"
BURST_CONNECTIONS = 64
# The deadline lies this far after the store is closed; the daemon starts within it (about
# 0.6 s with 10,000 open incidents), so every timer is armed before it is due.
DEADLINE_LEAD_S = {True: 1.0, False: 2.5}
POLL_S = 0.05
# After the last expected page: how long a duplicate is given to show up.
SETTLE_S = 0.2
# How long pages are awaited before the check gives up: far beyond the targets, so a slow run
# still yields its figure.
WAIT_S = {True: 30.0, False: 180.0}
SMTP_READY_S = 30.0


# --- shared helpers -----------------------------------------------------------------------------

def _spread(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": percentile(ordered, 0.50),
        "p99": percentile(ordered, 0.99),
        "min": ordered[0] if ordered else float("nan"),
        "max": ordered[-1] if ordered else float("nan"),
    }


def _wait_until(done: Callable[[], bool], timeout: float, alive: Callable[[], None] | None = None,
                interval: float = POLL_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        if alive is not None:
            alive()
        time.sleep(interval)
    return done()


def _read_only(db_path: Path) -> sqlite3.Connection:
    # Read-only: the measurement never takes a lock the daemon's writer could wait on.
    return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)


def _outbox(db_path: Path, level: int) -> dict[str, Any]:
    """What the store says of the alert pages of one escalation level, read after the daemon stopped."""
    with contextlib.closing(_read_only(db_path)) as db:
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


def _daemon_log(errors: Sequence[str], warnings: Sequence[str]) -> dict[str, Any]:
    """What the daemon's stderr says, as every measurement reports it."""
    return {
        "daemon_error_lines": list(errors[:20]),
        "daemon_error_count": len(errors),
        "daemon_warning_lines": list(warnings[:20]),
        "daemon_warning_count": len(warnings),
        "daemon_warning_kinds": _kinds(warnings),
    }


def _outbox_ok(outbox: dict[str, Any], expected: int) -> bool:
    return (outbox["rows"] == expected and outbox["success"] == expected and outbox["retried"] == 0
            and outbox["distinct_targets"] == expected and outbox["other_rows"] == 0)


def _daemon(ctx: Context, template: Ilertd, name: str, config_text: str | None) -> Ilertd:
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


def _event(integration_key: str, alert_key: str, summary: str) -> bytes:
    return json.dumps({"integrationKey": integration_key, "eventType": "ALERT", "summary": summary,
                       "alertKey": alert_key}).encode()


def _connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    connection.connect()
    assert connection.sock is not None
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def _post(connection: http.client.HTTPConnection, body: bytes) -> int:
    # http.client sends a small body in the same write as the headers: one segment per event.
    connection.request("POST", EVENTS_PATH, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    return response.status


@dataclass
class Fired:
    """When each event went out and its reply came back (monotonic seconds), and its status."""

    sent_at: list[float]
    replied_at: list[float]
    statuses: list[int]
    failures: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(1 for s in self.statuses if s == 202)


_NO_LOCK = contextlib.nullcontext()


def _post_timed(fired: Fired, i: int, connection: http.client.HTTPConnection, url: str, body: bytes,
                lock: Any) -> http.client.HTTPConnection:
    """Send event `i`, keeping its times; a failure is recorded and answered with a new connection."""
    fired.sent_at[i] = time.monotonic()
    try:
        fired.statuses[i] = _post(connection, body)
    except (OSError, http.client.HTTPException) as error:
        with lock:
            fired.failures.append(f"event {i}: {type(error).__name__}: {error}")
        connection.close()
        connection = _connect(url)
    fired.replied_at[i] = time.monotonic()
    return connection


def _send_paced(url: str, bodies: Sequence[bytes], rate: float) -> Fired:
    """One event at a time on one keep-alive connection, the i-th sent no earlier than i/rate s in."""
    fired = Fired([0.0] * len(bodies), [0.0] * len(bodies), [0] * len(bodies))
    connection = _connect(url)
    try:
        began = time.monotonic()
        for i, body in enumerate(bodies):
            pause = began + i / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            connection = _post_timed(fired, i, connection, url, body, _NO_LOCK)
    finally:
        connection.close()
    return fired


def _send_at_once(url: str, bodies: Sequence[bytes], connections: int) -> Fired:
    """Every event as fast as `connections` keep-alive connections allow, all opened beforehand.

    Threads in this process, not the load generator: the time of the very first request is
    the start of the measurement, and each request's times are kept.
    """
    fired = Fired([0.0] * len(bodies), [0.0] * len(bodies), [0] * len(bodies))
    queue = iter(range(len(bodies)))
    lock = threading.Lock()
    start = threading.Barrier(connections + 1)

    def work() -> None:
        try:
            connection = _connect(url)
        except OSError as error:
            with lock:
                fired.failures.append(f"connect: {type(error).__name__}: {error}")
            # Everyone waiting at the barrier is released with an error instead of hanging.
            start.abort()
            return
        try:
            start.wait()
            while True:
                with lock:
                    i = next(queue, None)
                if i is None:
                    return
                connection = _post_timed(fired, i, connection, url, bodies[i], lock)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, name=f"burst-{n}", daemon=True) for n in range(connections)]
    for thread in threads:
        thread.start()
    try:
        start.wait(timeout=30)
    finally:
        for thread in threads:
            thread.join(120)
    return fired


# --- (a) event to page at light load -----------------------------------------------------------

def latency(ctx: Context, template: Ilertd, count: int) -> dict[str, Any]:
    numbers = [f"+1555{i:07d}" for i in range(count)]
    ctx.log(f"paging latency: {count} sources, an SMS rule each, one event per source at {LATENCY_RATE:g}/s")
    with SmsGateway() as gateway:
        daemon = _daemon(ctx, template, "latency", f'[channels.sms]\nurl = "{gateway.url()}"\n')
        # One more source than measured: its page is the first after the start, which pays for
        # apprise loading its plugins (about 0.3 s); it is reported apart from the percentiles.
        pagers = seed.seed_pagers(daemon.data_dir, "latency", "SMS", [*numbers, WARM_UP_NUMBER], levels=1,
                                  timeout_min=60, sources=True)
        bodies = [_event(p.integration_key, f"{ctx.run_id}-latency-{i}", f"latency probe {i}")
                  for i, p in enumerate(pagers)]
        try:
            daemon.start()
            assert daemon.service is not None
            warm = _send_paced(daemon.url, bodies[-1:], LATENCY_RATE)
            _wait_until(lambda: any(p.number == WARM_UP_NUMBER for p in gateway.pages), WAIT_S[ctx.quick],
                        daemon.service.check_alive)
            fired = _send_paced(daemon.url, bodies[:-1], LATENCY_RATE)
            complete = _wait_until(lambda: len(gateway.pages) >= count + 1, WAIT_S[ctx.quick],
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
    outbox = _outbox(daemon.data_dir / seed.DB_NAME, level=0)
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
        **_daemon_log(errors, warnings),
    }
    check["ok"] = bool(
        fired.accepted == count and warm.accepted == 1 and not check["send_failures"]
        and check["numbers_paged"] == count and len(pages) == count and len(warm_pages) == 1
        and not check["unknown_numbers"] and not unexpected and _outbox_ok(outbox, count + 1) and not errors
    )
    replies = [(r - s) * 1000.0 for s, r, st in zip(fired.sent_at, fired.replied_at, fired.statuses,
                                                   strict=True) if st == 202]
    result = {
        "sources": count,
        "rate_per_s": LATENCY_RATE,
        "send_s": fired.replied_at[-1] - fired.sent_at[0] if count else 0.0,
        "first_page_after_start_ms": (warm_pages[0].at - warm.sent_at[0]) * 1000.0 if warm_pages else None,
        "page_after_202_ms": _spread(after_reply),
        "page_after_send_ms": _spread(after_send),
        "reply_ms": _spread(replies),
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


# --- (b) many incidents at once, each paging by e-mail ---------------------------------------

def burst(ctx: Context, template: Ilertd, count: int) -> dict[str, Any]:
    addresses = [f"pager-{i}@example.com" for i in range(count)]
    smtp_port = free_port()
    url = f"mailto://127.0.0.1:{smtp_port}?from=ilertd@example.com&to={{contact}}&mode=insecure"
    daemon = _daemon(ctx, template, "burst", f'[channels.email]\nurl = "{url}"\n')
    arrivals_path = daemon.root / "smtp-arrivals.tsv"
    ctx.log(f"paging burst: {count} incidents at once over {BURST_CONNECTIONS} connections,"
            f" e-mail to an SMTP server process on port {smtp_port}")
    pagers = seed.seed_pagers(daemon.data_dir, "burst", "EMAIL", addresses, levels=1, timeout_min=60,
                              sources=True)
    bodies = [_event(p.integration_key, f"{ctx.run_id}-burst-{i}", f"burst incident {i}")
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

        fired = _send_at_once(daemon.url, bodies, BURST_CONNECTIONS)
        complete = _wait_until(lambda: len(read_arrivals(arrivals_path)) >= count, WAIT_S[ctx.quick], alive)
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
    outbox = _outbox(daemon.data_dir / seed.DB_NAME, level=0)
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
        **_daemon_log(errors, warnings),
        "smtp_sink_exit_status": sink_status,
    }
    check["ok"] = bool(
        fired.accepted == count and not fired.failures and check["addresses_mailed"] == count
        and len(arrivals) == count and not check["unknown_recipients"] and len(references) == count
        and _outbox_ok(outbox, count) and not errors
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
            f" {_seconds(result['first_request_to_last_email_s'])};"
            f" check {'ok' if check['ok'] else 'FAILED'}")
    return result


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


# --- (c) deadlines falling in the same second --------------------------------------------------

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
    with contextlib.closing(_read_only(db_path)) as db:
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
    daemon = _daemon(ctx, template, "deadlines", None)
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
    outbox = _outbox(daemon.data_dir / seed.DB_NAME, level=1)
    with contextlib.closing(_read_only(daemon.data_dir / seed.DB_NAME)) as db:
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
        **_daemon_log(errors, warnings),
    }
    check["ok"] = bool(
        escalated == count and len(page_lines) == count and len(references) == count
        and check["complete"] and _outbox_ok(outbox, count) and not errors
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
            f" rows at {_seconds(result['deadline_to_all_rows_s'])}, all handed over at"
            f" {_seconds(result['deadline_to_all_handed_s'])}; check {'ok' if check['ok'] else 'FAILED'}")
    return result


# --- the section -----------------------------------------------------------------------------------

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
