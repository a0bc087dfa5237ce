"""The targets a run is judged on, and the PASS/MISS marks of its figures and of each section's table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.report_figures import (
    FIGURE,
    WEBHOOK_BATCH,
    WEBHOOK_CONNECTIONS,
    Results,
    dig,
    ingest_section,
    peak,
    ui_pages,
    ui_slowest,
    webhook_point,
)
from bench.report_format import is_missing, num

# The targets (what the next issue is judged on). Durable ingest is judged on new alert keys
# only: a repeated key's figures are printed, without a target.
EVENTS_PER_S = 6_000
RATE_CONNECTIONS = 64
P99_MS = 20.0
P99_CONNECTIONS = 64
SCALE_N = 100_000
RSS_MIB = 1024.0
THREADS = 100
START_N = 10_000
START_S = 5.0
PAGE_P99_MS = 20.0
# What scraping /metrics every second may cost the new-key ingest rate at 64 connections.
SCRAPE_COST_PCT = 2.0
BURST_S = 5.0
DEADLINES_S = 3.0
FULL_PAGING_COUNTS = {"latency": 200, "burst": 1_000, "deadlines": 10_000}
WEBHOOK_ALERTS_PER_S = 40_000
UI_P95_MS = 100.0
UI_INCIDENTS = 10_000


NOT_MEASURED = "n/a (not measured)"


def mark(value: Any, passes: Callable[[float], bool]) -> str:
    if is_missing(value):
        return NOT_MEASURED
    return "PASS" if passes(float(value)) else "MISS"


def rate_mark(point: dict[str, Any], durable: bool) -> str:
    if not durable:
        return "MISS (durability check failed)"
    return mark(point.get("ok_rps"), lambda v: v >= EVENTS_PER_S)


def p99_mark(point: dict[str, Any]) -> str:
    return mark(point.get("p99_ms"), lambda v: v <= P99_MS)


def rss_mark(point: dict[str, Any]) -> str:
    return mark(peak(point, "rss_mib"), lambda v: v <= RSS_MIB)


def threads_mark(point: dict[str, Any]) -> str:
    return mark(peak(point, "threads"), lambda v: v < THREADS)


def start_mark(point: dict[str, Any]) -> str:
    return mark(point.get("start_to_first_event_s"), lambda v: v <= START_S)


def paging_mark(section: dict[str, Any], name: str, value: Any, passes: Callable[[float], bool]) -> str:
    """PASS/MISS of one paging figure; a failed page check is a MISS, a quick count is said so."""
    part = section.get(name, {})
    if not part or "error" in part:
        return NOT_MEASURED
    if not part["check"]["ok"]:
        return "MISS (page check failed)"
    got = mark(value, passes)
    count, full = section["counts"][name], section["full_counts"][name]
    return got if count == full or got == NOT_MEASURED else f"{got} at {count:,} of {full:,} (quick)"


@dataclass(frozen=True)
class Target:
    figure: str
    label: str
    limit: str
    passes: Callable[[float], bool]
    # Why a run's figure cannot count (a failed check), None when it can.
    failed: Callable[[Results], str | None]
    # Said after the mark when the run measured fewer than the target speaks of (quick).
    scaled: Callable[[Results], str]
    # What the figure is shown beside (another tool's own figure), "" for nothing.
    beside: Callable[[Results], str] = lambda _results: ""


def _no_check(_results: Results) -> str | None:
    return None


def _full(_results: Results) -> str:
    return ""


def _durability(results: Results) -> str | None:
    return None if ingest_section(results).get("durability", {}).get("ok") else "durability check failed"


def _scrape_check(results: Results) -> str | None:
    part = dig(results, "ingest", "scraping") or {}
    if part.get("scrape_failures") or part.get("errors"):
        return "a scrape or a request failed"
    return _durability(results)


def _webhook_durability(results: Results) -> str | None:
    ok = dig(results, "webhook", "ilertd", "durability", "ok")
    return None if ok else "durability check failed"


def _webhook_alertmanager(results: Results) -> str:
    if "webhook" not in results:
        return ""
    manager = dig(results, "webhook", "alertmanager") or {}
    value = webhook_point(results, "alertmanager", WEBHOOK_BATCH, WEBHOOK_CONNECTIONS).get("alerts_per_s")
    if is_missing(value):
        reason = manager.get("skipped") or manager.get("error") or "not measured"
        return f"Alertmanager's own: {reason}"
    return f"Alertmanager's own /api/v2/alerts: {num(float(value), 0)} /s"


def _page_check(name: str) -> Callable[[Results], str | None]:
    def failed(results: Results) -> str | None:
        part = dig(results, "paging", name) or {}
        return None if part.get("check", {}).get("ok") else "page check failed"
    return failed


def _page_count(name: str) -> Callable[[Results], str]:
    def scaled(results: Results) -> str:
        section = results.get("paging", {})
        count = dig(section, "counts", name)
        full = dig(section, "full_counts", name) or FULL_PAGING_COUNTS[name]
        return "" if count is None or count == full else f" at {count:,} of {full:,} (quick)"
    return scaled


def _ui_failed(results: Results) -> str | None:
    errors = ui_pages(results, "error")
    return f"{len(errors)} page{'s' if len(errors) != 1 else ''} answered an error" if errors else None


def _ui_note(results: Results) -> str:
    """Said after the target's mark: which page set the figure, and how many are not built yet."""
    slowest = ui_slowest(results)
    notes = [f"slowest: {slowest['path']}"] if slowest else []
    if missing := len(ui_pages(results, "not built")):
        notes.append(f"{missing} page{'s' if missing != 1 else ''} not built")
    return f" ({'; '.join(notes)})" if notes else ""


TARGETS = (
    Target("ingest.distinct.c64.ok_rps", f"durable events/s, new keys, {RATE_CONNECTIONS} conns",
           f">= {EVENTS_PER_S:,}", lambda v: v >= EVENTS_PER_S, _durability, _full),
    Target("ingest.distinct.c64.p99_ms", f"202 p99, new keys, {P99_CONNECTIONS} conns", f"<= {P99_MS:g} ms",
           lambda v: v <= P99_MS, _durability, _full),
    Target("ingest.scraping.cost_pct", "ingest cost of scraping /metrics every 1 s (CPU share, 64 conns)",
           f"< {SCRAPE_COST_PCT:g} %", lambda v: v < SCRAPE_COST_PCT, _scrape_check, _full),
    Target(f"scale.{SCALE_N}.rss_mib", f"RSS with {SCALE_N:,} open incidents (peak)", f"<= {RSS_MIB:g} MiB",
           lambda v: v <= RSS_MIB, _no_check, _full),
    Target(f"scale.{SCALE_N}.threads", f"threads with {SCALE_N:,} open incidents (peak)", f"< {THREADS}",
           lambda v: v < THREADS, _no_check, _full),
    Target(f"scale.{START_N}.start_to_first_event_s", f"start to first 202 with {START_N:,} open incidents",
           f"<= {START_S:g} s", lambda v: v <= START_S, _no_check, _full),
    Target("paging.latency.p99_ms",
           f"event -> SMS page p99, {FULL_PAGING_COUNTS['latency']} sources at 20/s",
           f"<= {PAGE_P99_MS:g} ms", lambda v: v <= PAGE_P99_MS, _page_check("latency"),
           _page_count("latency")),
    Target("paging.burst.last_email_s",
           f"{FULL_PAGING_COUNTS['burst']:,} e-mail pages at once -> last delivered",
           f"<= {BURST_S:g} s", lambda v: v <= BURST_S, _page_check("burst"), _page_count("burst")),
    Target("paging.deadlines.all_handed_s",
           f"{FULL_PAGING_COUNTS['deadlines']:,} escalations due at once -> all handed to channels",
           f"<= {DEADLINES_S:g} s", lambda v: v <= DEADLINES_S, _page_check("deadlines"),
           _page_count("deadlines")),
    Target(f"webhook.ilertd.a{WEBHOOK_BATCH}.c{WEBHOOK_CONNECTIONS}.alerts_per_s",
           f"alerts/s through the Alertmanager webhook, {WEBHOOK_BATCH} per POST,"
           f" {WEBHOOK_CONNECTIONS} conns",
           f">= {WEBHOOK_ALERTS_PER_S:,}", lambda v: v >= WEBHOOK_ALERTS_PER_S, _webhook_durability, _full,
           _webhook_alertmanager),
    Target("ui.slowest.p95_ms", f"every UI page p95 with {UI_INCIDENTS:,} incidents", f"< {UI_P95_MS:g} ms",
           lambda v: v < UI_P95_MS, _ui_failed, _ui_note),
)


def target_mark(target: Target, value: Any, runs: Sequence[Results]) -> str:
    """The mark of `value` (one run's figure, or the median of `runs`), failed if any run's check failed."""
    if is_missing(value) or not runs:
        return NOT_MEASURED
    failures = [reason for run in runs if (reason := target.failed(run))]
    if failures:
        return f"MISS ({failures[0]})"
    return mark(value, target.passes) + target.scaled(runs[0])


def evaluate(results: Results) -> list[dict[str, Any]]:
    """One entry per target: the figure it is judged on, the target, and PASS, MISS or n/a."""
    out = []
    for target in TARGETS:
        figure = FIGURE[target.figure]
        value = figure.get(results)
        out.append({"key": target.figure, "target": target.label, "figure": value, "unit": figure.unit,
                    "limit": target.limit, "mark": target_mark(target, value, [results]),
                    "beside": target.beside(results)})
    return out
