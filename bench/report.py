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
    return targets


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
    renderers = {"ingest": _render_ingest, "baselines": _render_baselines, "scale": _render_scale}
    for name in results["sections"]:
        lines.append("")
        lines.extend(renderers[name](results.get(name, {"error": "did not run"})))
    lines.append("")
    lines.extend(_render_targets(results["targets"]))
    return "\n".join(lines)
