"""Section ingest: events/s and 202 latency of `POST /api/events` on a real daemon, and durability;
then what scraping `GET /metrics` every second beside the load costs it."""

from __future__ import annotations

import json
import math
import multiprocessing
import statistics
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from bench import client
from bench.context import WARM_UP_S, Context
from bench.daemon import Ilertd
from bench.procs import cpu_seconds, machine_idle_seconds, wait_until_idle
from bench.spec import MARK, RequestSpec, percentile

CONNECTIONS = (1, 16, 64)
MODES = ("distinct", "repeated")
EVENTS_PATH = "/api/events"
METRICS_PATH = "/metrics"
SCRAPE_INTERVAL_S = 1.0
SCRAPE_CONNECTIONS = 64
# Slices of new-key load without (False) and with (True) the scraper, alternated so that a drift
# of the daemon's rate (its store grows) falls on both sides alike.
SCRAPE_ORDER = (False, True, True, False, True, False, False, True)
# Scrapes timed back to back for their CPU (/proc counts in 10 ms ticks).
SCRAPES_TIMED = 100


class Scraper:
    """A Prometheus stand-in: GET /metrics every second, timing each scrape. A process of its own,
    forked before the load: the Python load generator forks its workers from this process, and a
    fork beside a running thread can copy a lock that thread held."""

    def __init__(self, url: str) -> None:
        self.url = url + METRICS_PATH
        self.seconds: list[float] = []
        self.failures: list[str] = []
        context = multiprocessing.get_context("fork")
        self._stop = context.Event()
        self._results, sender = context.Pipe(duplex=False)
        self._process = context.Process(target=_scrape, args=(self.url, self._stop, sender), daemon=True)

    def __enter__(self) -> Scraper:
        self._process.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._results.poll(30.0):
            self.seconds, self.failures = self._results.recv()
        else:
            self.failures.append("the scraper did not report")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


def _scrape(url: str, stop: Any, results: Any) -> None:
    seconds: list[float] = []
    failures: list[str] = []
    while True:
        began = time.monotonic()
        try:
            status, body = client.request(url, timeout=5.0)
            if status != 200 or b"ilertd_events_total" not in body:
                failures.append(f"{status} {body[:100]!r}")
        except OSError as error:
            failures.append(f"{type(error).__name__}: {error}")
        seconds.append(time.monotonic() - began)
        if stop.wait(max(0.0, SCRAPE_INTERVAL_S - (time.monotonic() - began))):
            results.send((seconds, failures))
            return


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
        # Where the CPU goes: the daemon's per request, and what the machine left idle meanwhile
        # (the interpreter lock holds the daemon near one core however many there are).
        pid = self.daemon.pid
        cpu, idle, began = cpu_seconds(pid), machine_idle_seconds(), time.monotonic()
        result = self.ctx.load.run(self.daemon.url, self.spec(mode), connections, self.ctx.seconds)
        elapsed = time.monotonic() - began
        cpu_us = (cpu_seconds(pid) - cpu) / result.requests * 1e6 if result.requests else math.nan
        idle_cores = (machine_idle_seconds() - idle) / elapsed
        self.accepted[mode] += result.ok
        flag = f"  ERRORS: {result.non2xx} non-2xx, {result.socket_errors} socket" if result.errors else ""
        self.ctx.log(f"  {mode:<8} c={connections:<3} {result.rps:9.1f} req/s  p50 {result.p50_ms:.2f} ms"
                     f"  p99 {result.p99_ms:.2f} ms  daemon {cpu_us:.0f} us CPU/req, {idle_cores:.2f} cores"
                     f" idle{flag}")
        return {"keys": mode, **result.as_dict(), "daemon_cpu_us_per_request": cpu_us,
                "machine_idle_cores": idle_cores}

    def scraping(self) -> dict[str, Any]:
        """What a 1 s scrape costs the new-key load at 64 connections. Judged on CPU: the daemon's
        CPU time per scrape (timed idle afterwards, on the store the load grew) over its CPU per
        second under the load, which the interpreter lock holds to about a core, so that share is
        the rate it loses. Beside it, the rates without and with a scraper in alternated slices:
        the direct measure, but its noise between slices is far above 2 % on a shared machine."""
        status, _body = client.request(self.daemon.url + METRICS_PATH)
        if status != 200:
            return {"skipped": f"GET {METRICS_PATH} answered {status}: this daemon has no metrics"}
        pid = self.daemon.pid
        rates: dict[bool, list[float]] = {False: [], True: []}
        load_cpu: list[float] = []
        scrapes: list[float] = []
        failures: list[str] = []
        errors = 0
        for scraped in SCRAPE_ORDER:
            scraper = Scraper(self.daemon.url) if scraped else None
            guard: AbstractContextManager[Any] = scraper if scraper is not None else nullcontext()
            cpu, began = cpu_seconds(pid), time.monotonic()
            with guard:
                result = self.ctx.load.run(self.daemon.url, self.spec("distinct"), SCRAPE_CONNECTIONS,
                                           self.ctx.seconds / 2)
            if not scraped:
                load_cpu.append((cpu_seconds(pid) - cpu) / (time.monotonic() - began))
            self.accepted["distinct"] += result.ok
            rates[scraped].append(result.ok_rps)
            errors += result.errors
            if scraper is not None:
                scrapes += scraper.seconds
                failures += scraper.failures
        wait_until_idle(pid)
        cpu = cpu_seconds(pid)
        for _ in range(SCRAPES_TIMED):
            got, body = client.request(self.daemon.url + METRICS_PATH)
            if got != 200:
                failures.append(f"{got} {body[:100]!r}")
        scrape_cpu_s = (cpu_seconds(pid) - cpu) / SCRAPES_TIMED
        load_cpu_s = statistics.fmean(load_cpu)
        cost = 100.0 * scrape_cpu_s / SCRAPE_INTERVAL_S / load_cpu_s if load_cpu_s else math.nan
        without, with_scraper = statistics.fmean(rates[False]), statistics.fmean(rates[True])
        self.ctx.log(f"  scraping  c={SCRAPE_CONNECTIONS:<3} {scrape_cpu_s * 1000:.2f} ms of CPU a scrape,"
                     f" {load_cpu_s:.2f} CPU-s/s under load: cost {cost:.2f} %;"
                     f" {without:.1f} req/s without a scraper, {with_scraper:.1f} with")
        ordered = sorted(scrapes)
        return {"connections": SCRAPE_CONNECTIONS, "slice_s": self.ctx.seconds / 2,
                "interval_s": SCRAPE_INTERVAL_S, "scrape_cpu_ms": scrape_cpu_s * 1000,
                "scrapes_timed": SCRAPES_TIMED, "load_cpu_per_s": load_cpu_s, "cost_pct": cost,
                "without_rps": rates[False], "with_rps": rates[True], "without_mean_rps": without,
                "with_mean_rps": with_scraper, "rate_change_pct": 100.0 * (with_scraper / without - 1.0),
                "scrapes": len(scrapes), "scrape_p50_ms": percentile(ordered, 0.5) * 1000,
                "scrape_max_ms": ordered[-1] * 1000 if ordered else None,
                "scrape_failures": failures[:5], "errors": errors}

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


def measure(ctx: Context, connections: tuple[int, ...], label: str, scraping: bool = False
            ) -> dict[str, Any]:
    """A fresh daemon, a warm-up, every (mode, connections) point, with `scraping` the cost of a
    scraper beside the load, then the durability check."""
    with tempfile.TemporaryDirectory(prefix=f"{label}-", dir=ctx.scratch) as root:
        daemon = Ilertd(Path(root), label)
        try:
            daemon.start()
            ctx.log(f"{label}: ilertd serving on {daemon.url}; {WARM_UP_S:.0f} s warm-up")
            load = IlertdLoad(ctx, daemon)
            warm = load.warm_up()
            points = [load.point(mode, c) for mode in MODES for c in connections]
            scraped = load.scraping() if scraping else None
            durability = load.durability()
            ctx.log(f"{label}: durability {'ok' if durability['ok'] else 'FAILED'}: {durability}")
        finally:
            # Not 0 means the daemon did not shut down cleanly on SIGTERM (or needed SIGKILL).
            exit_status = daemon.stop()
    extra = {"scraping": scraped} if scraped is not None else {}
    return {
        **extra,
        "generator": ctx.load.name,
        "daemon_exit_status": exit_status,
        "seconds_per_point": ctx.seconds,
        "warm_up": warm,
        "points": points,
        "durability": durability,
    }


def run(ctx: Context) -> dict[str, Any]:
    return {"ingest": measure(ctx, CONNECTIONS, "ingest", scraping=True)}
