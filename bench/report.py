"""The figures, the targets and their PASS/MISS marks, and the plain-text tables a run prints."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench import sections

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
KEYS = {"distinct": "new keys", "repeated": "one repeated key"}
SCALE_SIZES = (1_000, 10_000, 100_000)
FULL_PAGING_COUNTS = {"latency": 200, "burst": 1_000, "deadlines": 10_000}
WEBHOOK_ALERTS_PER_S = 40_000
WEBHOOK_BATCH = 100
WEBHOOK_CONNECTIONS = 64
WEBHOOK_BATCHES = (1, WEBHOOK_BATCH)
WEBHOOK_SERVERS = {"ilertd": "ilertd webhook", "alertmanager": "alertmanager /api/v2/alerts"}


def plain(value: Any) -> Any:
    """NaN (an empty percentile) becomes None, for JSON, which has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


# --- marks --------------------------------------------------------------------------------------

def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


NOT_MEASURED = "n/a (not measured)"


def mark(value: Any, passes: Callable[[float], bool]) -> str:
    if _missing(value):
        return NOT_MEASURED
    return "PASS" if passes(float(value)) else "MISS"


def rate_mark(point: dict[str, Any], durable: bool) -> str:
    if not durable:
        return "MISS (durability check failed)"
    return mark(point.get("ok_rps"), lambda v: v >= EVENTS_PER_S)


def p99_mark(point: dict[str, Any]) -> str:
    return mark(point.get("p99_ms"), lambda v: v <= P99_MS)


def peak(point: dict[str, Any], name: str) -> Any:
    """The higher of a scale point's idle reading and its reading after the touch events."""
    values = [v for v in (point.get(name), point.get(f"{name}_after_touch")) if not _missing(v)]
    return max(values) if values else None


def rss_mark(point: dict[str, Any]) -> str:
    return mark(peak(point, "rss_mib"), lambda v: v <= RSS_MIB)


def threads_mark(point: dict[str, Any]) -> str:
    return mark(peak(point, "threads"), lambda v: v < THREADS)


def start_mark(point: dict[str, Any]) -> str:
    return mark(point.get("start_to_first_event_s"), lambda v: v <= START_S)


# --- figures: what a run measured, by name, for the targets and for --compare -------------------

Results = dict[str, Any]


@dataclass(frozen=True)
class Figure:
    key: str
    section: str
    label: str
    unit: str
    digits: int
    # "higher" or "lower": which way is better, for --compare's "change" column.
    better: str
    get: Callable[[Results], Any]


def _ingest(results: Results) -> dict[str, Any]:
    """The ingest points: from the ingest section, else from the points baselines measured."""
    ingest = results.get("ingest", {})
    if "points" not in ingest:
        ingest = results.get("baselines", {}).get("ilertd", {})
    return ingest


def _point(section: dict[str, Any], keys: str, connections: int) -> dict[str, Any]:
    for point in section.get("points", []):
        if point.get("keys") == keys and point.get("connections") == connections:
            return dict(point)
    return {}


def _scale_point(results: Results, count: int) -> dict[str, Any]:
    for point in results.get("scale", {}).get("points", []):
        if point.get("open_incidents") == count:
            return dict(point)
    return {}


def _dig(results: Results, *path: str) -> Any:
    value: Any = results
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def _ingest_figure(keys: str, connections: int, name: str) -> Callable[[Results], Any]:
    return lambda results: _point(_ingest(results), keys, connections).get(name)


def _ratio_figure(keys: str, connections: int, baseline: str) -> Callable[[Results], Any]:
    def get(results: Results) -> Any:
        for row in _dig(results, "baselines", "ratios") or []:
            if row["keys"] == keys and row["connections"] == connections:
                return row.get(baseline)
        return None
    return get


def _scale_figure(count: int, name: str) -> Callable[[Results], Any]:
    def get(results: Results) -> Any:
        point = _scale_point(results, count)
        return peak(point, name) if name in ("rss_mib", "threads") else point.get(name)
    return get


def _webhook_point(results: Results, server: str, alerts: int, connections: int) -> dict[str, Any]:
    for point in _dig(results, "webhook", server, "points") or []:
        if point.get("alerts_per_request") == alerts and point.get("connections") == connections:
            return dict(point)
    return {}


def _webhook_figure(alerts: int, connections: int, name: str) -> Callable[[Results], Any]:
    return lambda results: _webhook_point(results, "ilertd", alerts, connections).get(name)


def _webhook_ratio(alerts: int, connections: int) -> Callable[[Results], Any]:
    """ilertd's alerts/s over Alertmanager's own, at the same batch size and connections."""
    def get(results: Results) -> Any:
        ilertd = _webhook_point(results, "ilertd", alerts, connections).get("alerts_per_s")
        manager = _webhook_point(results, "alertmanager", alerts, connections).get("alerts_per_s")
        return None if _missing(ilertd) or not manager else ilertd / manager
    return get


def _path(*path: str) -> Callable[[Results], Any]:
    return lambda results: _dig(results, *path)


def _conns(connections: int) -> str:
    return f"{connections} conn{'s' if connections != 1 else ''}"


# --- section ui: each web UI page's render time with 10,000 incidents in the store ----------------
# Its figures (a p95 per page, and the slowest page's), its target, its table; bench/ui.py measures.

UI_P95_MS = 100.0
UI_INCIDENTS = 10_000
# Each page the section times, by key (bench/ui.py has their paths).
UI_PAGES = {
    "incidents": "incidents, open (first 50)", "incidents_last": "incidents, open, last page",
    "incidents_resolved": "incidents, resolved", "incident_rows": "incident rows (live refresh)",
    "incident_newest": "incident, newest (timeline)", "incident_oldest": "incident, oldest",
    "on_call": "on-call", "schedules": "schedules", "schedule": "schedule", "policies": "policies",
    "policy": "policy", "sources": "alert sources", "source": "alert source", "profile": "profile",
    "admin_users": "admin: users", "admin_user": "admin: one user", "admin_maintenance": "admin: maintenance",
}


def _ui_pages(results: Results, status: str = "ok") -> list[dict[str, Any]]:
    return [page for page in _dig(results, "ui", "pages") or [] if page.get("status") == status]


def _ui_page_p95(key: str) -> Callable[[Results], Any]:
    return lambda results: next((p.get("p95_ms") for p in _ui_pages(results) if p["key"] == key), None)


def _ui_slowest(results: Results) -> dict[str, Any] | None:
    pages = [page for page in _ui_pages(results) if not _missing(page.get("p95_ms"))]
    return max(pages, key=lambda page: page["p95_ms"]) if pages else None


def _ui_figures() -> list[Figure]:
    figures = [Figure(f"ui.{key}.p95_ms", "ui", f"GET {label} p95", "ms", 1, "lower", _ui_page_p95(key))
               for key, label in UI_PAGES.items()]
    slowest = Figure("ui.slowest.p95_ms", "ui", "slowest UI page p95", "ms", 1, "lower",
                     lambda results: (page := _ui_slowest(results)) and page["p95_ms"])
    return [*figures, slowest]


def _ui_failed(results: Results) -> str | None:
    errors = _ui_pages(results, "error")
    return f"{len(errors)} page{'s' if len(errors) != 1 else ''} answered an error" if errors else None


def _ui_note(results: Results) -> str:
    """Said after the target's mark: which page set the figure, and how many are not built yet."""
    slowest = _ui_slowest(results)
    notes = [f"slowest: {slowest['path']}"] if slowest else []
    if missing := len(_ui_pages(results, "not built")):
        notes.append(f"{missing} page{'s' if missing != 1 else ''} not built")
    return f" ({'; '.join(notes)})" if notes else ""


def _ui_not_measured(results: Results) -> list[str]:
    reason = _dig(results, "ui", "not_built")
    return [f"ui: {reason}"] if reason else []


def _render_ui(section: dict[str, Any]) -> list[str]:
    if "error" in section:
        return [f"ui: FAILED: {section['error']}"]
    if "not_built" in section:
        return [f"ui: not built: {section['not_built']}"]
    rows = []
    for p in section["pages"]:
        if p["status"] == "ok":
            target = f"< {UI_P95_MS:g} ms {mark(p['p95_ms'], lambda v: v < UI_P95_MS)}"
            rows.append([p["label"], p["path"], num(p["bytes"]), num(p["p50_ms"]), num(p["p95_ms"]),
                         num(p["max_ms"]), target])
        else:
            state = "not built (404)" if p["status"] == "not built" else f"ERROR {p.get('http_status')}"
            rows.append([p["label"], p["path"], "-", "-", "-", "-", state])
    setup = section["setup"]
    return [
        f"ui: GET of each web UI page as admin (session from the login form), {section['warm_up_gets']}"
        f" warm-up + {section['timed_gets']} timed GETs a page, one at a time on one keep-alive connection,"
        f" request to last byte; {section['seeded_incidents']:,} incidents seeded ({setup['resolved']}"
        f" resolved), one opened by an event (paged, {setup['comments']} comments, accepted), a schedule,"
        f" a policy, a maintenance window; a page answering 404 is not built",
        table(["page", "path", "bytes", "p50 ms", "p95 ms", "max ms", "target"], rows, left=2),
        *(f"  ERROR: {error}" for error in section.get("errors", [])),
    ]


# --- end of section ui ----------------------------------------------------------------------------


def _figures() -> list[Figure]:
    figures = []
    for keys, label in KEYS.items():
        for connections in (1, 16, 64):
            figures.append(Figure(f"ingest.{keys}.c{connections}.ok_rps", "ingest",
                                  f"durable 202/s, {label}, {_conns(connections)}", "/s", 0, "higher",
                                  _ingest_figure(keys, connections, "ok_rps")))
        figures.append(Figure(f"ingest.{keys}.c64.p50_ms", "ingest", f"202 p50, {label}, 64 conns",
                              "ms", 2, "lower", _ingest_figure(keys, 64, "p50_ms")))
        for connections in (1, 16, 64):
            figures.append(Figure(f"ingest.{keys}.c{connections}.p99_ms", "ingest",
                                  f"202 p99, {label}, {_conns(connections)}", "ms", 2, "lower",
                                  _ingest_figure(keys, connections, "p99_ms")))
    figures += [
        Figure("ingest.scraping.without_rps", "ingest", "202/s, new keys, 64 conns, not scraped", "/s", 0,
               "higher", _path("ingest", "scraping", "without_mean_rps")),
        Figure("ingest.scraping.with_rps", "ingest", "202/s, new keys, 64 conns, /metrics every 1 s", "/s",
               0, "higher", _path("ingest", "scraping", "with_mean_rps")),
        Figure("ingest.scraping.cost_pct", "ingest", "daemon CPU share of a 1 s /metrics scrape under load",
               "%", 2, "lower", _path("ingest", "scraping", "cost_pct")),
        Figure("ingest.scraping.scrape_cpu_ms", "ingest", "CPU of one /metrics scrape", "ms", 2, "lower",
               _path("ingest", "scraping", "scrape_cpu_ms")),
    ]
    for baseline in ("uvicorn", "sqlite", "alertmanager"):
        figures.append(Figure(f"baselines.distinct.c64.{baseline}", "baselines",
                              f"ilertd / {baseline}, new keys, 64 conns", "x", 2, "higher",
                              _ratio_figure("distinct", 64, baseline)))
    for alerts in WEBHOOK_BATCHES:
        for connections in (16, 64):
            at = f"{alerts} per POST, {_conns(connections)}"
            key = f"webhook.ilertd.a{alerts}.c{connections}"
            figures += [
                Figure(f"{key}.alerts_per_s", "webhook", f"alerts/s, {at}", "/s", 0, "higher",
                       _webhook_figure(alerts, connections, "alerts_per_s")),
                Figure(f"{key}.posts_per_s", "webhook", f"2xx POSTs/s, {at}", "/s", 1, "higher",
                       _webhook_figure(alerts, connections, "ok_rps")),
                Figure(f"{key}.p50_ms", "webhook", f"POST p50, {at}", "ms", 2, "lower",
                       _webhook_figure(alerts, connections, "p50_ms")),
                Figure(f"{key}.p99_ms", "webhook", f"POST p99, {at}", "ms", 2, "lower",
                       _webhook_figure(alerts, connections, "p99_ms")),
            ]
        figures.append(Figure(f"webhook.a{alerts}.c{WEBHOOK_CONNECTIONS}.alertmanager", "webhook",
                              f"ilertd / alertmanager alerts/s, {alerts} per POST,"
                              f" {_conns(WEBHOOK_CONNECTIONS)}", "x", 2, "higher",
                              _webhook_ratio(alerts, WEBHOOK_CONNECTIONS)))
    for count in SCALE_SIZES:
        figures.append(Figure(f"scale.{count}.start_to_first_event_s", "scale",
                              f"start -> first 202, {count:,} open", "s", 2, "lower",
                              _scale_figure(count, "start_to_first_event_s")))
        figures.append(Figure(f"scale.{count}.rss_mib", "scale", f"RSS (peak), {count:,} open", "MiB", 1,
                              "lower", _scale_figure(count, "rss_mib")))
        figures.append(Figure(f"scale.{count}.threads", "scale", f"threads (peak), {count:,} open", "", 0,
                              "lower", _scale_figure(count, "threads")))
    figures += [
        Figure("paging.latency.p50_ms", "paging", "event -> SMS page p50", "ms", 2, "lower",
               _path("paging", "latency", "page_after_send_ms", "p50")),
        Figure("paging.latency.p99_ms", "paging", "event -> SMS page p99", "ms", 2, "lower",
               _path("paging", "latency", "page_after_send_ms", "p99")),
        Figure("paging.latency.first_page_ms", "paging", "first SMS page after start", "ms", 1, "lower",
               _path("paging", "latency", "first_page_after_start_ms")),
        Figure("paging.burst.last_202_s", "paging", "e-mail burst: first request -> last 202", "s", 2,
               "lower", _path("paging", "burst", "first_request_to_last_202_s")),
        Figure("paging.burst.last_email_s", "paging", "e-mail burst: first request -> last e-mail", "s", 2,
               "lower", _path("paging", "burst", "first_request_to_last_email_s")),
        Figure("paging.burst.emails_per_s", "paging", "e-mail burst: e-mails/s", "/s", 1, "higher",
               _path("paging", "burst", "emails_per_s")),
        Figure("paging.deadlines.all_rows_s", "paging", "deadlines: all level-1 rows written", "s", 2,
               "lower", _path("paging", "deadlines", "deadline_to_all_rows_s")),
        Figure("paging.deadlines.all_handed_s", "paging", "deadlines: all pages handed over", "s", 2,
               "lower", _path("paging", "deadlines", "deadline_to_all_handed_s")),
        Figure("paging.deadlines.handed_per_s", "paging", "deadlines: pages handed over/s", "/s", 0,
               "higher", _path("paging", "deadlines", "handed_per_s")),
        Figure("schedules.on_call.p50_us", "schedules", "on_call() p50", "µs", 1, "lower",
               _path("schedules", "on_call", "us", "p50")),
        Figure("schedules.on_call.p99_us", "schedules", "on_call() p99", "µs", 1, "lower",
               _path("schedules", "on_call", "us", "p99")),
        Figure("schedules.shifts.p50_ms", "schedules", "shifts(), 90 days, p50", "ms", 2, "lower",
               _path("schedules", "shifts", "ms", "p50")),
        Figure("schedules.on_call_shift.p50_us", "schedules", "on_call_shift() p50", "µs", 1, "lower",
               _path("schedules", "on_call_shift", "us", "p50")),
    ]
    return figures + _ui_figures()


FIGURES = _figures()
FIGURE = {figure.key: figure for figure in FIGURES}


# --- targets ---------------------------------------------------------------------------------------

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
    return None if _ingest(results).get("durability", {}).get("ok") else "durability check failed"


def _scrape_check(results: Results) -> str | None:
    part = _dig(results, "ingest", "scraping") or {}
    if part.get("scrape_failures") or part.get("errors"):
        return "a scrape or a request failed"
    return _durability(results)


def _webhook_durability(results: Results) -> str | None:
    ok = _dig(results, "webhook", "ilertd", "durability", "ok")
    return None if ok else "durability check failed"


def _webhook_alertmanager(results: Results) -> str:
    if "webhook" not in results:
        return ""
    manager = _dig(results, "webhook", "alertmanager") or {}
    value = _webhook_point(results, "alertmanager", WEBHOOK_BATCH, WEBHOOK_CONNECTIONS).get("alerts_per_s")
    if _missing(value):
        reason = manager.get("skipped") or manager.get("error") or "not measured"
        return f"Alertmanager's own: {reason}"
    return f"Alertmanager's own /api/v2/alerts: {num(float(value), 0)} /s"


def _page_check(name: str) -> Callable[[Results], str | None]:
    def failed(results: Results) -> str | None:
        part = _dig(results, "paging", name) or {}
        return None if part.get("check", {}).get("ok") else "page check failed"
    return failed


def _page_count(name: str) -> Callable[[Results], str]:
    def scaled(results: Results) -> str:
        section = results.get("paging", {})
        count = _dig(section, "counts", name)
        full = _dig(section, "full_counts", name) or FULL_PAGING_COUNTS[name]
        return "" if count is None or count == full else f" at {count:,} of {full:,} (quick)"
    return scaled


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
    if _missing(value) or not runs:
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


def _paging_mark(section: dict[str, Any], name: str, value: Any, passes: Callable[[float], bool]) -> str:
    """PASS/MISS of one paging figure; a failed page check is a MISS, a quick count is said so."""
    part = section.get(name, {})
    if not part or "error" in part:
        return NOT_MEASURED
    if not part["check"]["ok"]:
        return "MISS (page check failed)"
    got = mark(value, passes)
    count, full = section["counts"][name], section["full_counts"][name]
    return got if count == full or got == NOT_MEASURED else f"{got} at {count:,} of {full:,} (quick)"


# --- --compare: both sides' runs, figure by figure -------------------------------------------------

# Medians closer than this (relatively) are the same figure.
SAME = 0.01


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _change(better: str, before: Sequence[float], after: Sequence[float]) -> str:
    """better / worse only when the medians differ by more than either side's own spread over its
    runs (so the two sides' runs do not overlap either) and by 1 % or more."""
    if not before or not after:
        return "-"
    low, high = statistics.median(before), statistics.median(after)
    if len({*before, *after}) == 1:
        return "same"
    spread = max(max(before) - min(before), max(after) - min(after))
    overlap = min(after) <= max(before) and min(before) <= max(after)
    if overlap or abs(high - low) <= spread:
        return "within noise"
    if low and abs(high / low - 1) < SAME:
        return "same"
    return "better" if (high > low) == (better == "higher") else "worse"


def _values(figure: Figure, runs: Sequence[Results]) -> list[Any]:
    return [None if _missing(v := figure.get(run)) else v for run in runs]


def compare_figures(before: Sequence[Results], after: Sequence[Results]) -> list[dict[str, Any]]:
    """Every figure either side measured: each run's value, the median of each side, their ratio."""
    rows = []
    for figure in FIGURES:
        runs = {"before": _values(figure, before), "after": _values(figure, after)}
        got = {side: [float(v) for v in values if v is not None] for side, values in runs.items()}
        if not got["before"] and not got["after"]:
            continue
        medians = {side: _median(values) for side, values in got.items()}
        low = medians["before"]
        rows.append({
            "key": figure.key, "section": figure.section, "figure": figure.label, "unit": figure.unit,
            "better": figure.better,
            "before": {"median": low, "runs": runs["before"]},
            "after": {"median": medians["after"], "runs": runs["after"]},
            "after_over_before": medians["after"] / low if low and medians["after"] is not None else None,
            "change": _change(figure.better, got["before"], got["after"]),
        })
    return rows


def compare_targets(before: Sequence[Results], after: Sequence[Results]) -> list[dict[str, Any]]:
    """Each target marked on each side's median, and failed on a side if any of its runs' checks failed."""
    out = []
    for target in TARGETS:
        figure = FIGURE[target.figure]
        entry: dict[str, Any] = {"key": target.figure, "target": target.label, "unit": figure.unit,
                                 "limit": target.limit, "beside": target.beside(before[0]) if before else ""}
        for side, runs in (("before", before), ("after", after)):
            value = _median([float(v) for v in _values(figure, runs) if v is not None])
            entry[side] = {"figure": value, "mark": target_mark(target, value, runs)}
        out.append(entry)
    return out


def problems(results: Results) -> list[str]:
    """What a run's own checks found wrong, one line each (empty when every check passed)."""
    found = []
    for name in results.get("sections", []):
        section = results.get(name, {})
        if "error" in section:
            found.append(f"{name}: {section['error']}")
        for error in section.get("errors", []):
            found.append(f"{name}: {error}")
        if section.get("daemon_exit_status") not in (None, 0):
            found.append(f"{name}: daemon exited with status {section['daemon_exit_status']}")
    ingest = results.get("ingest", {})
    for failure in ingest.get("scraping", {}).get("scrape_failures", []):
        found.append(f"ingest: a /metrics scrape failed: {failure}")
    if ingest.get("scraping", {}).get("errors"):
        found.append(f"ingest: {ingest['scraping']['errors']} errors while measuring the scraping cost")
    if "durability" in ingest and not ingest["durability"].get("ok"):
        found.append(f"ingest: durability check failed: {ingest['durability']}")
    for point in ingest.get("points", []):
        if point.get("errors"):
            found.append(f"ingest: {point['errors']} errors at {point['keys']} keys,"
                         f" c={point['connections']}")
    for point in results.get("scale", {}).get("points", []):
        touch = point.get("touch", {})
        if touch.get("errors") or not touch.get("joined_existing", True):
            found.append(f"scale: N={point['open_incidents']:,}: touch {touch.get('errors')} errors,"
                         f" joined existing incidents: {touch.get('joined_existing')}")
        if point.get("daemon_exit_status") not in (None, 0):
            found.append(f"scale: N={point['open_incidents']:,}: daemon exited with status"
                         f" {point['daemon_exit_status']}")
    paging = results.get("paging", {})
    for name in FULL_PAGING_COUNTS:
        part = paging.get(name)
        if not part:
            continue
        if "error" in part:
            found.append(f"paging {name}: {part['error']}")
        elif not part["check"]["ok"]:
            found.append(f"paging {name}: page check failed")
    if "check" in results.get("schedules", {}) and not results["schedules"]["check"]["ok"]:
        found.append("schedules: check failed")
    return found + _webhook_problems(results.get("webhook", {}))


def not_measured(results: Results) -> list[str]:
    """What a run could not measure on its daemon and why: no failure (a revision from before the
    feature), its figures are n/a."""
    reason = _dig(results, "webhook", "ilertd", "skipped")
    scraping = _dig(results, "ingest", "scraping", "skipped")
    return ([f"webhook ilertd: {reason}"] if reason else []) + (
        [f"ingest scraping: {scraping}"] if scraping else []) + _ui_not_measured(results)


def _webhook_problems(section: dict[str, Any]) -> list[str]:
    found = []
    for server in WEBHOOK_SERVERS:
        part = section.get(server, {})
        if "error" in part:
            found.append(f"webhook {server}: {part['error']}")
        if part.get("daemon_exit_status") not in (None, 0):
            found.append(f"webhook {server}: daemon exited with status {part['daemon_exit_status']}")
        if "durability" in part and not part["durability"].get("ok"):
            found.append(f"webhook {server}: durability check failed: {part['durability']}")
        for point in part.get("points", []):
            if point.get("errors"):
                found.append(f"webhook {server}: {point['errors']} errors at {point['alerts_per_request']}"
                             f" per POST, c={point['connections']}")
    return found


# --- tables -------------------------------------------------------------------------------------

def table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1, indent: str = "  ") -> str:
    """Columns padded to their widest cell; the first `left` columns left-aligned, the rest right."""
    cells = [list(header), *[list(row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        parts = [cell.ljust(widths[i]) if i < left else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append((indent + "  ".join(parts)).rstrip())
    return "\n".join(lines)


def num(value: Any, digits: int = 1) -> str:
    if _missing(value):
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _ratio(value: Any) -> str:
    return "-" if _missing(value) else f"{value:.2f}x"


def _errors_notes(label: str, points: Sequence[dict[str, Any]]) -> list[str]:
    notes = []
    for p in points:
        if p.get("errors"):
            where = f"{label} {p.get('keys', '')}".strip()
            notes.append(f"  ERRORS in {where} c={p['connections']}: {p['non2xx']} non-2xx,"
                         f" {p['socket_errors']} socket errors (connect/read/write/timeout)")
    return notes


def _render_ingest(section: dict[str, Any]) -> list[str]:
    if "error" in section:
        return [f"ingest: FAILED: {section['error']}"]
    durable = bool(section["durability"].get("ok"))
    rows = []
    for p in section["points"]:
        # Only new keys have targets: a repeated key's rate and p99 are printed for comparison.
        at_rate = p["connections"] == RATE_CONNECTIONS and p["keys"] == "distinct"
        at_p99 = p["connections"] == P99_CONNECTIONS and p["keys"] == "distinct"
        rows.append([
            p["keys"], str(p["connections"]), num(p["rps"]), num(p["ok_rps"]), num(p["p50_ms"], 2),
            num(p["p99_ms"], 2), num(p["errors"]),
            f">= {EVENTS_PER_S:,} {rate_mark(p, durable)}" if at_rate else "-",
            f"<= {P99_MS:g} ms {p99_mark(p)}" if at_p99 else "-",
        ])
    head = ["keys", "conns", "req/s", "202/s", "p50 ms", "p99 ms", "errors", "202/s target", "p99 target"]
    d = section["durability"]
    check = (f"newest incident id {d['newest_incident_id']:,} >= {d['distinct_202s']:,} distinct-key 202s"
             f" ({'ok' if d['incidents_ok'] else 'FAILED'})")
    if "repeated_ok" in d:
        check += (f";\n    repeated-key incident eventCount {d['repeated_incident_event_count']:,}"
                  f" >= {d['repeated_202s']:,} repeated-key 202s ({'ok' if d['repeated_ok'] else 'FAILED'})")
    return [
        f"ingest: POST /api/events on a fresh daemon, 202 only after commit"
        f" ({section['generator']}, {section['seconds_per_point']:g} s per point, 1 s warm-up)",
        table(head, rows),
        *_errors_notes("ingest", section["points"]),
        *_render_scraping(section.get("scraping")),
        f"  durability {'ok' if durable else 'FAILED'}: {check}",
    ]


def _render_scraping(part: dict[str, Any] | None) -> list[str]:
    if not part:
        return []
    if "skipped" in part:
        return [f"  scraping /metrics: not measured ({part['skipped']})"]
    cost = part.get("cost_pct")
    slices = len(part["without_rps"]) + len(part["with_rps"])
    return [f"  scraping /metrics every {part['interval_s']:g} s, new keys, {part['connections']} conns:"
            f" {num(part['scrape_cpu_ms'], 2)} ms of daemon CPU a scrape"
            f" ({part['scrapes_timed']} timed idle),"
            f" {num(part['load_cpu_per_s'], 2)} CPU-s/s under the load: cost {num(cost, 2)} %"
            f" (< {SCRAPE_COST_PCT:g} % {mark(cost, lambda v: v < SCRAPE_COST_PCT)})",
            f"    rates in {slices} alternated slices of {part['slice_s']:g} s:"
            f" {num(part['without_mean_rps'], 0)} 202/s without a scraper, {num(part['with_mean_rps'], 0)}"
            f" with ({num(part['rate_change_pct'], 1)} %; slices without: "
            + ", ".join(num(r, 0) for r in part["without_rps"]) + f"); {part['scrapes']} scrapes under load,"
            f" p50 {num(part['scrape_p50_ms'], 2)} ms, max {num(part['scrape_max_ms'], 2)} ms"]


def _render_baselines(section: dict[str, Any]) -> list[str]:
    if "error" in section:
        return [f"baselines: FAILED: {section['error']}"]
    rows = []
    notes: list[str] = []
    for name, label in (("uvicorn", "uvicorn trivial JSON POST"),
                        ("alertmanager", "alertmanager POST /api/v2/alerts")):
        part = section.get(name, {})
        if "skipped" in part:
            rows.append([label, "-", "skipped", "-", "-", "-", "-"])
            notes.append(f"  {label}: skipped, {part['skipped']}")
            continue
        for p in part.get("points", []):
            rows.append([label, str(p["connections"]), num(p["rps"]), num(p["ok_rps"]), num(p["p50_ms"], 2),
                         num(p["p99_ms"], 2), num(p["errors"])])
        notes.extend(_errors_notes(label, part.get("points", [])))
    sqlite = section["sqlite"]
    rows.append([f"sqlite group commit, {sqlite['producers']} threads", "-", num(sqlite["rows_per_s"]),
                 num(sqlite["rows_per_s"]), "-", "-", "-"])
    notes.append(f"  sqlite: {sqlite['rows_per_commit']:.1f} rows per commit,"
                 f" {sqlite['commits_per_s']:,.0f} commits/s (WAL, synchronous=NORMAL, one writer)")
    ratio_rows = [[r["keys"], str(r["connections"]), num(r["ilertd_rps"]), _ratio(r["uvicorn"]),
                   _ratio(r["sqlite"]), _ratio(r["alertmanager"])] for r in section["ratios"]]
    return [
        f"baselines ({section['generator']}, {section['seconds_per_point']:g} s per point)",
        table(["baseline", "conns", "req/s", "2xx/s", "p50 ms", "p99 ms", "errors"], rows),
        *notes,
        f"  ilertd as a share of each baseline (202/s over its 2xx/s; ilertd figures:"
        f" {section['ilertd']['source']})",
        table(["keys", "conns", "ilertd 202/s", "vs uvicorn", "vs sqlite", "vs alertmanager"], ratio_rows),
    ]


def _render_scale(section: dict[str, Any]) -> list[str]:
    if "error" in section:
        return [f"scale: FAILED: {section['error']}"]
    rows = []
    notes = []
    for p in section["points"]:
        n = p["open_incidents"]
        rows.append([
            f"{n:,}", num(p["start_to_healthz_s"], 2), num(p["start_to_first_event_s"], 2),
            num(p["rss_mib"]), num(p["threads"]),
            num(p["rss_mib_after_touch"]), num(p["threads_after_touch"]),
            f"<= {RSS_MIB:g} {rss_mark(p)}" if n == SCALE_N else "-",
            f"< {THREADS} {threads_mark(p)}" if n == SCALE_N else "-",
            f"<= {START_S:g} s {start_mark(p)}" if n == START_N else "-",
        ])
        touch = p["touch"]
        if touch["errors"] or not touch["joined_existing"] or touch["ok"] != section["touch_events"]:
            notes.append(f"  N={n:,}: touch got {touch['ok']:,} 2xx of {section['touch_events']:,},"
                         f" {touch['errors']} errors, joined existing incidents: {touch['joined_existing']}")
        if p.get("open_at_start") is not None and p["open_at_start"] != n:
            notes.append(f"  N={n:,}: the daemon reported {p['open_at_start']:,} open incidents at start")
    sizes = ", ".join(f"{n:,}" for n in section["sizes"])
    head = ["open", "start->healthz s", "start->202 s", "RSS MiB", "threads", "RSS after touch",
            "threads after", "RSS target (peak)", "threads target (peak)", "start target"]
    return [
        f"scale: {sizes} open incidents seeded into the store, then a start; touch ="
        f" {section['touch_events']:,} events joining seeded incidents, 16 conns",
        table(head, rows),
        *notes,
    ]


def _ms_row(label: str, spread: dict[str, Any], target: str) -> list[str]:
    return [label, num(spread.get("p50"), 2), num(spread.get("p99"), 2), num(spread.get("max"), 2), target]


def _check_line(check: dict[str, Any], found: str) -> str:
    outbox = check["outbox"]
    line = (f"  check {'ok' if check['ok'] else 'FAILED'}: {found}; outbox {outbox['success']:,} SUCCESS"
            f" of {outbox['rows']:,} rows, {outbox['error']} ERROR, {outbox['aggregated']} AGGREGATED,"
            f" {outbox['retried']} retried, {outbox['distinct_targets']:,} distinct contacts;"
            f" daemon log: {check['daemon_error_count']} ERROR lines,"
            f" {check['daemon_warning_count']:,} WARNING lines (log-channel pages aside)")
    lines = [line]
    lines.extend(f"    daemon: {text}" for text in check["daemon_error_lines"][:5])
    lines.extend(f"    daemon: {count:,} x {kind}" for kind, count in check["daemon_warning_kinds"].items())
    lines.extend(f"    send failure: {text}" for text in check.get("send_failures", [])[:5])
    return "\n".join(lines)


def _render_latency(section: dict[str, Any], count_note: str) -> list[str]:
    part = section.get("latency", {})
    head = f"  (a) event -> SMS page at light load: {section['counts']['latency']} sources{count_note}"
    if "error" in part or not part:
        return [head, f"  FAILED: {part.get('error', 'did not run')}"]
    check = part["check"]
    p99 = part["page_after_send_ms"]["p99"]
    target = f"<= {PAGE_P99_MS:g} ms {_paging_mark(section, 'latency', p99, lambda v: v <= PAGE_P99_MS)}"
    first = part["first_page_after_start_ms"]
    rows = [
        _ms_row("page arrival - request sent", part["page_after_send_ms"], target),
        _ms_row("page arrival - 202 arrival", part["page_after_202_ms"], "-"),
        _ms_row("202 reply (request sent -> 202)", part["reply_ms"], "-"),
    ]
    found = (f"{check['accepted']}/{check['events']} events 202, {check['numbers_paged']}/{check['events']}"
             f" numbers paged, {check['pages']} pages, {check['duplicates']} duplicates,"
             f" {check['unknown_numbers'] + len(check['unexpected_requests'])} unexpected")
    return [
        head + f", one event each, one at a time at {part['rate_per_s']:g}/s on one connection;"
               " each source's policy pages its own user, SMS rule at delay 0, to a JSON gateway in"
               " the bench process",
        table(["figure", "p50 ms", "p99 ms", "max ms", "target"], rows),
        f"  first page after the start (a warm-up source, not in the percentiles): {num(first, 1)} ms"
        " from request sent",
        _check_line(check, found),
        "  context: Alertmanager new alert -> webhook p99 here is 2 ms; GoAlert's engine tick alone is 5 s",
    ]


def _projection(count_note: str, full: int, what: str, rate: float | None, offset: float = 0.0) -> list[str]:
    """A straight line from the measured rate, printed only where the full count was not run."""
    if not count_note or not rate:
        return []
    return [f"  at that rate {full:,} {what} would take about {offset + full / rate:.1f} s"
            " (linear projection, not measured)"]


def _render_burst(section: dict[str, Any], count_note: str) -> list[str]:
    part = section.get("burst", {})
    head = f"  (b) {section['counts']['burst']:,} incidents opened at once{count_note}"
    if "error" in part or not part:
        return [head, f"  FAILED: {part.get('error', 'did not run')}"]
    check = part["check"]
    last = part["first_request_to_last_email_s"]
    rows = [
        ["first request -> last 202", num(part["first_request_to_last_202_s"], 2), "-"],
        ["first request -> first e-mail", num(part["first_request_to_first_email_s"], 2), "-"],
        ["first request -> last e-mail", num(last, 2),
         f"<= {BURST_S:g} s {_paging_mark(section, 'burst', last, lambda v: v <= BURST_S)}"],
        ["e-mails/s (first to last e-mail)", num(part["emails_per_s"]), "-"],
    ]
    rate = part["emails_per_s"]
    full = section["full_counts"]["burst"]
    first = part["first_request_to_first_email_s"]
    projection = _projection(count_note, full, "e-mails", rate, first if first is not None else 0.0)
    found = (f"{check['accepted']:,}/{check['events']:,} events 202, {check['addresses_mailed']:,}"
             f"/{check['events']:,} addresses mailed, {check['emails']:,} e-mails, {check['duplicates']}"
             f" duplicates, {check['unknown_recipients']} unknown recipients")
    return [
        head + f", {part['connections']} connections, each paging a different user by e-mail to an"
               " SMTP server (aiosmtpd) in its own process",
        table(["figure", "s", "target"], rows),
        *projection,
        _check_line(check, found),
    ]


def _render_deadlines(section: dict[str, Any], count_note: str) -> list[str]:
    part = section.get("deadlines", {})
    head = f"  (c) {section['counts']['deadlines']:,} PENDING incidents, deadlines in one instant{count_note}"
    if "error" in part or not part:
        return [head, f"  FAILED: {part.get('error', 'did not run')}"]
    check = part["check"]
    handed = part["deadline_to_all_handed_s"]
    rows = [
        ["deadline -> first level-1 row written", num(part["deadline_to_first_row_s"], 2), "-"],
        ["deadline -> all level-1 rows written", num(part["deadline_to_all_rows_s"], 2), "-"],
        ["deadline -> first page handed over", num(part["deadline_to_first_handed_s"], 2), "-"],
        ["deadline -> all pages handed over", num(handed, 2),
         f"<= {DEADLINES_S:g} s {_paging_mark(section, 'deadlines', handed, lambda v: v <= DEADLINES_S)}"],
        ["pages handed over/s (from the deadline)", num(part["handed_per_s"]), "-"],
    ]
    full = section["full_counts"]["deadlines"]
    projection = _projection(count_note, full, "deadlines", part["handed_per_s"])
    found = (f"{check['escalated_to_level_1']:,}/{check['incidents']:,} incidents at level 1,"
             f" {check['log_channel_pages']:,} pages in the log channel"
             f" ({check['distinct_references']:,} distinct)")
    lead = part["serving_before_deadline_s"]
    # A daemon still starting at the deadline would count its own start in the figure.
    started = (f"daemon serving {lead:.2f} s before the deadline" if lead > 0
               else f"daemon serving only {-lead:.2f} s AFTER the deadline (its start is in the figure)")
    return [
        head + f"; each level 1 pages its own contact by e-mail, no channel configured (log channel);"
               f" {started}; outbox polled read-only every {part['poll_interval_s'] * 1000:.0f} ms",
        table(["figure", "s", "target"], rows),
        *projection,
        _check_line(check, found),
        "  context: LinkedIn's Iris message processor: 6,000 escalations in < 10 s",
    ]


def _render_paging(section: dict[str, Any]) -> list[str]:
    if "error" in section:
        return [f"paging: FAILED: {section['error']}"]
    quick = section["counts"] != section["full_counts"]
    counts = section["counts"]
    full = section["full_counts"]
    scaled = (f" (quick: {counts['latency']} / {counts['burst']:,} / {counts['deadlines']:,} instead of"
              f" {full['latency']} / {full['burst']:,} / {full['deadlines']:,}; marks at the quick counts)"
              if quick else "")
    note = ", quick count" if quick else ""
    return [
        f"paging: from event or deadline to the page handed to its channel, each page to its own"
        f" contact (per-contact throttle){scaled}",
        *_render_latency(section, note),
        *_render_burst(section, note),
        *_render_deadlines(section, note),
    ]


def _render_schedules(section: dict[str, Any]) -> list[str]:
    if "error" in section:
        return [f"schedules: FAILED: {section['error']}"]
    layers = ", ".join(
        f"{layer['rotation']} x{layer['users']}"
        + (f" in {layer['restrictions']} weekly windows" if layer["restrictions"] else "")
        + (f" until {layer['ends_on'][:10]}" if layer["ends_on"] else "")
        for layer in section["schedule"]["layers"]
    )
    counts = section["counts"]
    quick = " (quick: fewer calls)" if counts != section["full_counts"] else ""

    def row(label: str, calls: int, spread: dict[str, Any], unit: str) -> list[str]:
        digits = 2 if unit == "ms" else 1
        figures = (num(spread.get(key), digits) for key in ("mean", "p50", "p99", "max"))
        return [label, f"{calls:,}", *figures, unit]

    on_call = section["on_call"]
    window = section["window_days"]
    dst_calls = round(counts["on_call"] * section["dst_share"])
    rows = [
        row("on_call(at)", counts["on_call"], on_call["us"], "µs"),
        row("  at instants on the DST days", dst_calls, on_call["dst_days_us"], "µs"),
        row("  at instants on other days", counts["on_call"] - dst_calls, on_call["other_days_us"], "µs"),
        row(f"shifts(), {window}-day window", counts["shifts"], section["shifts"]["ms"], "ms"),
        row("on_call_shift(at)", counts["on_call_shift"], section["on_call_shift"]["us"], "µs"),
    ]
    check = section["check"]
    return [
        f"schedules: ilertd.domain.schedules in-process on a RECURRING schedule in"
        f" {section['schedule']['timezone']} ({layers}; {section['schedule']['overrides']} overrides),"
        f" instants over {section['year']}, {section['dst_share']:.0%} on its DST days{quick}",
        table(["call", "calls", "mean", "p50", "p99", "max", "unit"], rows),
        f"  {section['shifts']['shifts_per_window']:.0f} shifts per {window}-day timeline;"
        f" on_call_shift's shift p50 {num(section['on_call_shift']['hours']['p50'])} h;"
        f" {on_call['gaps']:,} instants in a gap",
        f"  check {'ok' if check['ok'] else 'FAILED'}: on_call_shift agrees with on_call at"
        f" {check['compared'] - check['disagreements']:,}/{check['compared']:,} instants;"
        f" {check['timelines'] - check['malformed_timelines']:,}/{check['timelines']:,} timelines sorted,"
        f" non-overlapping and merged",
    ]


def _webhook_rows(section: dict[str, Any]) -> tuple[list[list[str]], list[str]]:
    """A row per point of each server; the notes: what was not measured, and errors."""
    rows: list[list[str]] = []
    notes: list[str] = []
    for server, label in WEBHOOK_SERVERS.items():
        part = section.get(server, {})
        reason = part.get("skipped") or part.get("error")
        if reason or not part.get("points"):
            rows.append([label, "-", "-", "-", "-", "-", "-", "-", "-", NOT_MEASURED])
            state = "FAILED" if "error" in part else "not measured"
            notes.append(f"  {label}: {state}: {reason or 'no points'}")
            continue
        for p in part["points"]:
            at_target = p["alerts_per_request"] == WEBHOOK_BATCH and p["connections"] == WEBHOOK_CONNECTIONS
            target = "-"
            if at_target and server == "ilertd":
                durable = bool(part.get("durability", {}).get("ok"))
                target = (f">= {WEBHOOK_ALERTS_PER_S:,} "
                          + (mark(p["alerts_per_s"], lambda v: v >= WEBHOOK_ALERTS_PER_S) if durable
                             else "MISS (durability check failed)"))
            rows.append([label, str(p["alerts_per_request"]), str(p["connections"]), num(p["seconds"], 0),
                         num(p["ok_rps"]), num(p["alerts_per_s"], 0), num(p["p50_ms"], 2),
                         num(p["p99_ms"], 2), num(p["errors"]), target])
        notes.extend(_errors_notes(label, part["points"]))
    return rows, notes


def _render_webhook(section: dict[str, Any]) -> list[str]:
    if "error" in section:
        return [f"webhook: FAILED: {section['error']}"]
    rows, notes = _webhook_rows(section)
    alone = []
    for server in WEBHOOK_SERVERS:
        for batch in section.get(server, {}).get("batches", []):
            count = batch["alerts_per_post"]
            noun = "alert" if count == 1 else "alerts"
            alone.append(f"{server} {num(batch['one_post_alone_ms'], 1)} ms for {count} {noun}")
    ratios = [f"{alerts} per POST {_ratio(_webhook_ratio(alerts, WEBHOOK_CONNECTIONS)({'webhook': section}))}"
              for alerts in WEBHOOK_BATCHES]
    lines = [
        f"webhook: Alertmanager webhook v4 bodies of 1 and 100 firing alerts, each with a fingerprint and"
        f" labels of its own (an incident each), into POST /api/v1/events/alertmanager/{{key}} of a"
        f" PROMETHEUS source on a fresh daemon; beside it Alertmanager's own POST /api/v2/alerts with as"
        f" many alerts ({section['generator']}, {section['seconds_per_point']:g} s per point or 10 round"
        f" trips of its connections if longer; 1 s warm-up)",
        table(["server", "alerts/POST", "conns", "s", "2xx POSTs/s", "alerts/s", "p50 ms", "p99 ms",
               "errors", "alerts/s target"], rows),
        *notes,
        "  one POST alone (sets the point lengths): " + ", ".join(alone) if alone else "",
        f"  ilertd / alertmanager alerts/s at {_conns(WEBHOOK_CONNECTIONS)}: " + ", ".join(ratios),
    ]
    durability = section.get("ilertd", {}).get("durability")
    if durability:
        lines.append(f"  durability {'ok' if durability['ok'] else 'FAILED'}: newest incident id"
                     f" {durability['newest_incident_id']:,} >= {durability['alerts_acknowledged']:,} alerts"
                     " acknowledged")
    return [line for line in lines if line]


def _render_targets(targets: Sequence[dict[str, Any]]) -> list[str]:
    rows = []
    for t in targets:
        if _missing(t["figure"]):
            figure = "-"
        else:
            figure = f"{num(t['figure'], 2 if t['unit'] in ('s', 'ms') else 1)} {t['unit']}".strip()
        rows.append([t["target"], figure, t["limit"], t["mark"], t.get("beside") or "-"])
    return ["targets", table(["target", "figure", "target", "mark", "beside it"], rows, left=1)]


def _header(results: dict[str, Any], title: str) -> list[str]:
    machine = results["machine"]
    versions = machine["versions"]
    return [
        f"{title} ({results['mode']}), {machine['date']}, {results['elapsed_s']:.0f} s",
        f"machine: {machine['cpu_model']}, {machine['cores']} cores, Linux {machine['kernel']},"
        f" {machine['python']}, SQLite {machine['sqlite']}, scratch on {machine['scratch_filesystem']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
        f"load generator: {results['load_generator']}",
    ]


def render(results: dict[str, Any]) -> str:
    lines = _header(results, "ilertd benchmark")
    renderers = {"ingest": _render_ingest, "baselines": _render_baselines, "webhook": _render_webhook,
                 "scale": _render_scale, "paging": _render_paging, "schedules": _render_schedules,
                 "ui": _render_ui}
    for name in results["sections"]:
        lines.append("")
        # A section not named here prints its own table (`render` in its module).
        render_section = renderers.get(name) or sections.module(name).render
        lines.extend(render_section(results.get(name, {"error": "did not run"})))
    lines.append("")
    lines.extend(_render_targets(results["targets"]))
    return "\n".join(lines)


# --- --compare -------------------------------------------------------------------------------------

def _figure_text(value: Any, digits: int) -> str:
    return "-" if _missing(value) else num(float(value), digits)


def _runs_text(values: Sequence[Any], digits: int) -> str:
    return " / ".join(_figure_text(v, digits) for v in values)


def _shared_lines(shared: dict[str, Any]) -> list[str]:
    """What does not run ilertd, measured once for both sides."""
    return _shared_baselines(shared.get("baselines")) + _shared_webhook(shared.get("webhook"))


def _shared_webhook(webhook: dict[str, Any] | None) -> list[str]:
    if not webhook:
        return []
    manager = webhook.get("alertmanager", {})
    if "skipped" in manager or "error" in manager:
        return [f"  webhook's Alertmanager, measured once for both sides: not measured"
                f" ({manager.get('skipped') or manager.get('error')})"]
    rates = "; ".join(f"{p['alerts_per_request']} per POST at {p['connections']} conns:"
                      f" {num(p['alerts_per_s'], 0)} alerts/s" for p in manager.get("points", []))
    return [f"  webhook's Alertmanager /api/v2/alerts, measured once for both sides: {rates}"]


def _shared_baselines(baselines: dict[str, Any] | None) -> list[str]:
    if not baselines:
        return []
    if "error" in baselines:
        return [f"  baselines measured once for both sides: FAILED: {baselines['error']}"]
    parts = []
    for name, label in (("uvicorn", "uvicorn trivial JSON POST"), ("alertmanager", "Alertmanager")):
        part = baselines.get(name, {})
        if "skipped" in part:
            parts.append(f"{label}: skipped ({part['skipped']})")
        elif part.get("points"):
            rates = " / ".join(num(p["ok_rps"], 0) for p in part["points"])
            conns = " / ".join(str(p["connections"]) for p in part["points"])
            parts.append(f"{label} {rates} req/s at {conns} conns")
    sqlite = baselines.get("sqlite", {})
    if sqlite:
        parts.append(f"SQLite group commit {num(sqlite['rows_per_s'], 0)} rows/s")
    return ["  baselines measured once for both sides: " + "; ".join(parts)]


def _noise_lines(results: dict[str, Any]) -> list[str]:
    """How much CPU the machine's other processes took while each side was measured."""
    lines = []
    for side in ("before", "after"):
        shares = [w["other_cpu_share"] for w in results.get("workers", [])
                  if w["side"] == side and "other_cpu_share" in w]
        if shares:
            lines.append(f"other processes on the machine took {statistics.fmean(shares):.1%} of its CPU on"
                         f" average while the {side} side was measured (at most {max(shares):.1%} in one"
                         f" measurement of {len(shares)})")
    return lines


def render_compare(results: dict[str, Any]) -> str:
    compare = results["compare"]
    before, after = compare["before"], compare["after"]
    lines = _header(results, "ilertd benchmark, before/after")
    lines += [
        f"before: {before['describe']}",
        f"after:  {after['describe']}",
        f"each measurement ran {compare['repeat']} times per side, interleaved"
        f" ({', '.join(compare['order'])}, ...) on fresh daemons; a side's figure is the median of its"
        " runs, and its runs are listed (the spread between them is this machine's noise);",
        "change: better/worse when the medians differ by more than either side's spread over its runs"
        " and by 1 % or more (less: same); within noise otherwise",
        *_noise_lines(results),
        "",
    ]
    digits = {figure.key: figure.digits for figure in FIGURES}
    rows = []
    for row in results["figures"]:
        d = digits.get(row["key"], 1)
        unit = f" {row['unit']}" if row["unit"] and row["unit"] != "x" else ""
        label = row["figure"] + (f" ({row['unit']})" if unit else "")
        rows.append([
            row["section"], label,
            _figure_text(row["before"]["median"], d), _runs_text(row["before"]["runs"], d),
            _figure_text(row["after"]["median"], d), _runs_text(row["after"]["runs"], d),
            _ratio(row["after_over_before"]), row["change"],
        ])
    lines.append(table(["section", "figure", "before", "before runs", "after", "after runs", "after/before",
                        "change"], rows, left=2))
    lines += _shared_lines(results.get("shared", {}))
    lines += ["", "targets (on each side's median; a failed check in any run of a side fails it there)"]
    target_rows = []
    for t in results["targets"]:
        d = 2 if t["unit"] in ("s", "ms") else (0 if t["unit"] in ("", "/s") else 1)
        cells = [t["target"], t["limit"]]
        for side in ("before", "after"):
            figure = t[side]["figure"]
            text = "-" if _missing(figure) else f"{num(float(figure), d)} {t['unit']}".strip()
            cells += [text, t[side]["mark"]]
        target_rows.append([*cells, t.get("beside") or "-"])
    lines.append(table(["target", "limit", "before", "mark", "after", "mark", "beside it"], target_rows,
                       left=2))
    notes = [f"  {side} run {index + 1}: {text}"
             for side in ("before", "after")
             for index, found in enumerate(results[side]["problems"]) for text in found]
    if notes:
        lines += ["", "problems the runs' own checks found:", *notes]
    skipped = [f"  {side} run {index + 1}: {text}"
               for side in ("before", "after")
               for index, run in enumerate(results[side]["runs"]) for text in not_measured(run)]
    if skipped:
        lines += ["", "not measured on a side's daemon:", *skipped]
    return "\n".join(lines)
