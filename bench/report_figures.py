"""The figures: what a run measured, by key, section and unit, for the targets and for --compare."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.report_format import conns_text, is_missing

KEYS = {"distinct": "new keys", "repeated": "one repeated key"}
SCALE_SIZES = (1_000, 10_000, 100_000)
WEBHOOK_BATCH = 100
WEBHOOK_CONNECTIONS = 64
WEBHOOK_BATCHES = (1, WEBHOOK_BATCH)
WEBHOOK_SERVERS = {"ilertd": "ilertd webhook", "alertmanager": "alertmanager /api/v2/alerts"}


# Each page the section times, by key (bench/ui.py has their paths).
UI_PAGES = {
    "incidents": "incidents, open (first 50)", "incidents_last": "incidents, open, last page",
    "incidents_resolved": "incidents, resolved", "incident_rows": "incident rows (live refresh)",
    "incident_newest": "incident, newest (timeline)", "incident_oldest": "incident, oldest",
    "on_call": "on-call", "schedules": "schedules", "schedule": "schedule", "policies": "policies",
    "policy": "policy", "sources": "alert sources", "source": "alert source", "profile": "profile",
    "admin_users": "admin: users", "admin_user": "admin: one user", "admin_maintenance": "admin: maintenance",
}


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


def ingest_section(results: Results) -> dict[str, Any]:
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


def dig(results: Results, *path: str) -> Any:
    value: Any = results
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def _ingest_figure(keys: str, connections: int, name: str) -> Callable[[Results], Any]:
    return lambda results: _point(ingest_section(results), keys, connections).get(name)


def _ratio_figure(keys: str, connections: int, baseline: str) -> Callable[[Results], Any]:
    def get(results: Results) -> Any:
        for row in dig(results, "baselines", "ratios") or []:
            if row["keys"] == keys and row["connections"] == connections:
                return row.get(baseline)
        return None
    return get


def _scale_figure(count: int, name: str) -> Callable[[Results], Any]:
    def get(results: Results) -> Any:
        point = _scale_point(results, count)
        return peak(point, name) if name in ("rss_mib", "threads") else point.get(name)
    return get


def webhook_point(results: Results, server: str, alerts: int, connections: int) -> dict[str, Any]:
    for point in dig(results, "webhook", server, "points") or []:
        if point.get("alerts_per_request") == alerts and point.get("connections") == connections:
            return dict(point)
    return {}


def _webhook_figure(alerts: int, connections: int, name: str) -> Callable[[Results], Any]:
    return lambda results: webhook_point(results, "ilertd", alerts, connections).get(name)


def webhook_ratio(alerts: int, connections: int) -> Callable[[Results], Any]:
    """ilertd's alerts/s over Alertmanager's own, at the same batch size and connections."""
    def get(results: Results) -> Any:
        ilertd = webhook_point(results, "ilertd", alerts, connections).get("alerts_per_s")
        manager = webhook_point(results, "alertmanager", alerts, connections).get("alerts_per_s")
        return None if is_missing(ilertd) or not manager else ilertd / manager
    return get


def _path(*path: str) -> Callable[[Results], Any]:
    return lambda results: dig(results, *path)


def peak(point: dict[str, Any], name: str) -> Any:
    """The higher of a scale point's idle reading and its reading after the touch events."""
    values = [v for v in (point.get(name), point.get(f"{name}_after_touch")) if not is_missing(v)]
    return max(values) if values else None


def ui_pages(results: Results, status: str = "ok") -> list[dict[str, Any]]:
    return [page for page in dig(results, "ui", "pages") or [] if page.get("status") == status]


def _ui_page_p95(key: str) -> Callable[[Results], Any]:
    return lambda results: next((p.get("p95_ms") for p in ui_pages(results) if p["key"] == key), None)


def ui_slowest(results: Results) -> dict[str, Any] | None:
    pages = [page for page in ui_pages(results) if not is_missing(page.get("p95_ms"))]
    return max(pages, key=lambda page: page["p95_ms"]) if pages else None


def _ui_figures() -> list[Figure]:
    figures = [Figure(f"ui.{key}.p95_ms", "ui", f"GET {label} p95", "ms", 1, "lower", _ui_page_p95(key))
               for key, label in UI_PAGES.items()]
    slowest = Figure("ui.slowest.p95_ms", "ui", "slowest UI page p95", "ms", 1, "lower",
                     lambda results: (page := ui_slowest(results)) and page["p95_ms"])
    return [*figures, slowest]


def _figures() -> list[Figure]:
    figures = []
    for keys, label in KEYS.items():
        for connections in (1, 16, 64):
            figures.append(Figure(f"ingest.{keys}.c{connections}.ok_rps", "ingest",
                                  f"durable 202/s, {label}, {conns_text(connections)}", "/s", 0, "higher",
                                  _ingest_figure(keys, connections, "ok_rps")))
        figures.append(Figure(f"ingest.{keys}.c64.p50_ms", "ingest", f"202 p50, {label}, 64 conns",
                              "ms", 2, "lower", _ingest_figure(keys, 64, "p50_ms")))
        for connections in (1, 16, 64):
            figures.append(Figure(f"ingest.{keys}.c{connections}.p99_ms", "ingest",
                                  f"202 p99, {label}, {conns_text(connections)}", "ms", 2, "lower",
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
            at = f"{alerts} per POST, {conns_text(connections)}"
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
                              f" {conns_text(WEBHOOK_CONNECTIONS)}", "x", 2, "higher",
                              webhook_ratio(alerts, WEBHOOK_CONNECTIONS)))
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
