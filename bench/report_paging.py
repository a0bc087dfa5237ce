"""The paging section's printed tables: latency, burst and deadlines, each with its page check."""

from __future__ import annotations

from typing import Any

from bench.report_format import num, table
from bench.report_targets import BURST_S, DEADLINES_S, PAGE_P99_MS, paging_mark


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


def _failure(part: dict[str, Any], head: str) -> list[str] | None:
    """A measurement's head and why it has no figures, when it failed or did not run."""
    if "error" in part or not part:
        return [head, f"  FAILED: {part.get('error', 'did not run')}"]
    return None


def _render_latency(section: dict[str, Any], count_note: str) -> list[str]:
    part = section.get("latency", {})
    head = f"  (a) event -> SMS page at light load: {section['counts']['latency']} sources{count_note}"
    if (failed := _failure(part, head)) is not None:
        return failed
    check = part["check"]
    p99 = part["page_after_send_ms"]["p99"]
    target = f"<= {PAGE_P99_MS:g} ms {paging_mark(section, 'latency', p99, lambda v: v <= PAGE_P99_MS)}"
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
    if (failed := _failure(part, head)) is not None:
        return failed
    check = part["check"]
    last = part["first_request_to_last_email_s"]
    rows = [
        ["first request -> last 202", num(part["first_request_to_last_202_s"], 2), "-"],
        ["first request -> first e-mail", num(part["first_request_to_first_email_s"], 2), "-"],
        ["first request -> last e-mail", num(last, 2),
         f"<= {BURST_S:g} s {paging_mark(section, 'burst', last, lambda v: v <= BURST_S)}"],
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
    if (failed := _failure(part, head)) is not None:
        return failed
    check = part["check"]
    handed = part["deadline_to_all_handed_s"]
    rows = [
        ["deadline -> first level-1 row written", num(part["deadline_to_first_row_s"], 2), "-"],
        ["deadline -> all level-1 rows written", num(part["deadline_to_all_rows_s"], 2), "-"],
        ["deadline -> first page handed over", num(part["deadline_to_first_handed_s"], 2), "-"],
        ["deadline -> all pages handed over", num(handed, 2),
         f"<= {DEADLINES_S:g} s {paging_mark(section, 'deadlines', handed, lambda v: v <= DEADLINES_S)}"],
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


def render_paging(section: dict[str, Any]) -> list[str]:
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
