"""The plain-text table each section but paging prints: ingest, baselines, webhook, scale, schedules, ui."""

from __future__ import annotations

from typing import Any

from bench.report_figures import (
    WEBHOOK_BATCH,
    WEBHOOK_BATCHES,
    WEBHOOK_CONNECTIONS,
    WEBHOOK_SERVERS,
    webhook_ratio,
)
from bench.report_format import conns_text, errors_notes, num, ratio_text, table
from bench.report_targets import (
    EVENTS_PER_S,
    NOT_MEASURED,
    P99_CONNECTIONS,
    P99_MS,
    RATE_CONNECTIONS,
    RSS_MIB,
    SCALE_N,
    SCRAPE_COST_PCT,
    START_N,
    START_S,
    THREADS,
    UI_P95_MS,
    WEBHOOK_ALERTS_PER_S,
    mark,
    p99_mark,
    rate_mark,
    rss_mark,
    start_mark,
    threads_mark,
)


def render_ingest(section: dict[str, Any]) -> list[str]:
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
            num(p["p99_ms"], 2), num(p["errors"]), num(p.get("daemon_cpu_us_per_request"), 0),
            num(p.get("machine_idle_cores"), 2),
            f">= {EVENTS_PER_S:,} {rate_mark(p, durable)}" if at_rate else "-",
            f"<= {P99_MS:g} ms {p99_mark(p)}" if at_p99 else "-",
        ])
    head = ["keys", "conns", "req/s", "202/s", "p50 ms", "p99 ms", "errors", "CPU us/req", "idle cores",
            "202/s target", "p99 target"]
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
        "  CPU us/req: the daemon's CPU time per request; idle cores: what the whole machine left idle"
        " meanwhile (the load generator shares it)",
        *errors_notes("ingest", section["points"]),
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


def render_baselines(section: dict[str, Any]) -> list[str]:
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
        notes.extend(errors_notes(label, part.get("points", [])))
    sqlite = section["sqlite"]
    rows.append([f"sqlite group commit, {sqlite['producers']} threads", "-", num(sqlite["rows_per_s"]),
                 num(sqlite["rows_per_s"]), "-", "-", "-"])
    notes.append(f"  sqlite: {sqlite['rows_per_commit']:.1f} rows per commit,"
                 f" {sqlite['commits_per_s']:,.0f} commits/s (WAL, synchronous=NORMAL, one writer)")
    ratio_rows = [[r["keys"], str(r["connections"]), num(r["ilertd_rps"]), ratio_text(r["uvicorn"]),
                   ratio_text(r["sqlite"]), ratio_text(r["alertmanager"])] for r in section["ratios"]]
    return [
        f"baselines ({section['generator']}, {section['seconds_per_point']:g} s per point)",
        table(["baseline", "conns", "req/s", "2xx/s", "p50 ms", "p99 ms", "errors"], rows),
        *notes,
        f"  ilertd as a share of each baseline (202/s over its 2xx/s; ilertd figures:"
        f" {section['ilertd']['source']})",
        table(["keys", "conns", "ilertd 202/s", "vs uvicorn", "vs sqlite", "vs alertmanager"], ratio_rows),
    ]


def render_scale(section: dict[str, Any]) -> list[str]:
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


def render_schedules(section: dict[str, Any]) -> list[str]:
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
        notes.extend(errors_notes(label, part["points"]))
    return rows, notes


def render_webhook(section: dict[str, Any]) -> list[str]:
    if "error" in section:
        return [f"webhook: FAILED: {section['error']}"]
    rows, notes = _webhook_rows(section)
    alone = []
    for server in WEBHOOK_SERVERS:
        for batch in section.get(server, {}).get("batches", []):
            count = batch["alerts_per_post"]
            noun = "alert" if count == 1 else "alerts"
            alone.append(f"{server} {num(batch['one_post_alone_ms'], 1)} ms for {count} {noun}")
    ratios = [f"{alerts} per POST"
              f" {ratio_text(webhook_ratio(alerts, WEBHOOK_CONNECTIONS)({'webhook': section}))}"
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
        f"  ilertd / alertmanager alerts/s at {conns_text(WEBHOOK_CONNECTIONS)}: " + ", ".join(ratios),
    ]
    durability = section.get("ilertd", {}).get("durability")
    if durability:
        lines.append(f"  durability {'ok' if durability['ok'] else 'FAILED'}: newest incident id"
                     f" {durability['newest_incident_id']:,} >= {durability['alerts_acknowledged']:,} alerts"
                     " acknowledged")
    return [line for line in lines if line]


def render_ui(section: dict[str, Any]) -> list[str]:
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
