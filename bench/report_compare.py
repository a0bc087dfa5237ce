"""--compare's report: each figure and target on both sides, what the runs' checks found, its table."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from bench.report import header_lines
from bench.report_figures import FIGURE, FIGURES, WEBHOOK_SERVERS, Figure, Results, dig
from bench.report_format import is_missing, num, ratio_text, table
from bench.report_targets import FULL_PAGING_COUNTS, TARGETS, target_mark

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
    return [None if is_missing(v := figure.get(run)) else v for run in runs]


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
    reason = dig(results, "webhook", "ilertd", "skipped")
    scraping = dig(results, "ingest", "scraping", "skipped")
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


def _ui_not_measured(results: Results) -> list[str]:
    reason = dig(results, "ui", "not_built")
    return [f"ui: {reason}"] if reason else []


# --- the printed table ------------------------------------------------------------------------------

def _figure_text(value: Any, digits: int) -> str:
    return "-" if is_missing(value) else num(float(value), digits)


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
    lines = header_lines(results, "ilertd benchmark, before/after")
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
            ratio_text(row["after_over_before"]), row["change"],
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
            text = "-" if is_missing(figure) else f"{num(float(figure), d)} {t['unit']}".strip()
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
