"""The targets, their PASS/MISS marks, and the plain-text tables a run prints."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

EVENTS_PER_S = 10_000
RATE_CONNECTIONS = 64
P99_MS = 20.0
P99_CONNECTIONS = 64
SCALE_N = 100_000
RSS_MIB = 1024.0
THREADS = 100
START_N = 10_000
START_S = 5.0
PAGE_P99_MS = 20.0
BURST_S = 5.0
DEADLINES_S = 3.0


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


def rss_mark(point: dict[str, Any]) -> str:
    return mark(point.get("rss_mib"), lambda v: v < RSS_MIB)


def threads_mark(point: dict[str, Any]) -> str:
    return mark(point.get("threads"), lambda v: v < THREADS)


def start_mark(point: dict[str, Any]) -> str:
    return mark(point.get("start_to_first_event_s"), lambda v: v <= START_S)


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per target: the figure it is judged on, the target, and PASS, MISS or n/a."""
    targets: list[dict[str, Any]] = []
    ingest = results.get("ingest", {})
    if "points" not in ingest:
        # Under --only baselines, ilertd's 16/64-connection points were measured there.
        ingest = results.get("baselines", {}).get("ilertd", {})
    durable = bool(ingest.get("durability", {}).get("ok", False))
    for keys in ("distinct", "repeated"):
        point = _point(ingest, keys, RATE_CONNECTIONS)
        targets.append({
            "target": f"durable events/s, {keys} keys, {RATE_CONNECTIONS} conns",
            "figure": point.get("ok_rps"), "unit": "/s", "limit": f">= {EVENTS_PER_S:,}",
            "mark": rate_mark(point, durable) if point else NOT_MEASURED,
        })
    for keys in ("distinct", "repeated"):
        point = _point(ingest, keys, P99_CONNECTIONS)
        targets.append({
            "target": f"202 p99, {keys} keys, {P99_CONNECTIONS} conns",
            "figure": point.get("p99_ms"), "unit": "ms", "limit": f"<= {P99_MS:g} ms",
            "mark": p99_mark(point) if point else NOT_MEASURED,
        })
    scale = _scale_point(results, SCALE_N)
    targets.append({
        "target": f"RSS with {SCALE_N:,} open incidents", "figure": scale.get("rss_mib"),
        "unit": "MiB", "limit": f"< {RSS_MIB:g} MiB", "mark": rss_mark(scale) if scale else NOT_MEASURED,
    })
    targets.append({
        "target": f"threads with {SCALE_N:,} open incidents", "figure": scale.get("threads"),
        "unit": "", "limit": f"< {THREADS}", "mark": threads_mark(scale) if scale else NOT_MEASURED,
    })
    start = _scale_point(results, START_N)
    targets.append({
        "target": f"start to first 202 with {START_N:,} open incidents",
        "figure": start.get("start_to_first_event_s"), "unit": "s", "limit": f"<= {START_S:g} s",
        "mark": start_mark(start) if start else NOT_MEASURED,
    })
    targets.extend(_paging_targets(results.get("paging", {})))
    return targets


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


def _paging_targets(section: dict[str, Any]) -> list[dict[str, Any]]:
    full = section.get("full_counts", {"latency": 200, "burst": 1_000, "deadlines": 10_000})
    latency = section.get("latency", {})
    burst = section.get("burst", {})
    deadlines = section.get("deadlines", {})
    p99 = latency.get("page_after_send_ms", {}).get("p99")
    return [
        {"target": f"event -> SMS page p99, {full['latency']} sources at 20/s", "figure": p99,
         "unit": "ms", "limit": f"<= {PAGE_P99_MS:g} ms",
         "mark": _paging_mark(section, "latency", p99, lambda v: v <= PAGE_P99_MS)},
        {"target": f"{full['burst']:,} incidents at once -> last e-mail",
         "figure": burst.get("first_request_to_last_email_s"), "unit": "s", "limit": f"<= {BURST_S:g} s",
         "mark": _paging_mark(section, "burst", burst.get("first_request_to_last_email_s"),
                              lambda v: v <= BURST_S)},
        {"target": f"{full['deadlines']:,} deadlines at once -> all pages handed over",
         "figure": deadlines.get("deadline_to_all_handed_s"), "unit": "s", "limit": f"<= {DEADLINES_S:g} s",
         "mark": _paging_mark(section, "deadlines", deadlines.get("deadline_to_all_handed_s"),
                              lambda v: v <= DEADLINES_S)},
    ]


def _point(section: dict[str, Any], keys: str, connections: int) -> dict[str, Any]:
    for point in section.get("points", []):
        if point.get("keys") == keys and point.get("connections") == connections:
            return dict(point)
    return {}


def _scale_point(results: dict[str, Any], count: int) -> dict[str, Any]:
    for point in results.get("scale", {}).get("points", []):
        if point.get("open_incidents") == count:
            return dict(point)
    return {}


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
        at_rate = p["connections"] == RATE_CONNECTIONS
        at_p99 = p["connections"] == P99_CONNECTIONS
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
        f"  durability {'ok' if durable else 'FAILED'}: {check}",
    ]


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
            f"< {RSS_MIB:g} {rss_mark(p)}" if n == SCALE_N else "-",
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
            "threads after", "RSS target", "threads target", "start target"]
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


def _render_targets(targets: Sequence[dict[str, Any]]) -> list[str]:
    rows = []
    for t in targets:
        if _missing(t["figure"]):
            figure = "-"
        else:
            figure = f"{num(t['figure'], 2 if t['unit'] in ('s', 'ms') else 1)} {t['unit']}".strip()
        rows.append([t["target"], figure, t["limit"], t["mark"]])
    return ["targets", table(["target", "figure", "target", "mark"], rows, left=1)]


def render(results: dict[str, Any]) -> str:
    machine = results["machine"]
    versions = machine["versions"]
    lines = [
        f"ilertd benchmark ({results['mode']}), {machine['date']}, {results['elapsed_s']:.0f} s",
        f"machine: {machine['cpu_model']}, {machine['cores']} cores, Linux {machine['kernel']},"
        f" {machine['python']}, SQLite {machine['sqlite']}, scratch on {machine['scratch_filesystem']}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
        f"load generator: {results['load_generator']}",
    ]
    renderers = {"ingest": _render_ingest, "baselines": _render_baselines, "scale": _render_scale,
                 "paging": _render_paging, "schedules": _render_schedules}
    for name in results["sections"]:
        lines.append("")
        lines.extend(renderers[name](results.get(name, {"error": "did not run"})))
    lines.append("")
    lines.extend(_render_targets(results["targets"]))
    return "\n".join(lines)
