"""The soak section's accounting, read from the store and the SMTP sink once the system is quiet:
acknowledged events without an incident, incidents paged never or twice, resends the incident log
owns up to.

A page is matched by its reference `ilertd-n<outbox row id>` (the sink records the message's
`X-Ilertd-Notification` header). A reference received twice is "resent and logged" when one of
the incident's NOTIFICATION_* log entries says the row is sent again, else "doubled".
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import postgres
from bench.smtp_sink import Arrival, read_arrivals
from bench.soak_load import SenderCounts
from bench.spec import percentile

REFERENCE = re.compile(r"ilertd-n(\d+)")
# How the incident log says that a page in flight when its node died goes out again.
RESEND_WORDS = re.compile(r"sending it again|sent again|send(?:ing)? again|resen[dt]", re.IGNORECASE)
# ...and that one in flight a second time is not sent a third time (no resend follows it).
NOT_AGAIN_WORDS = re.compile(r"not sen(?:t|ding it) a third time", re.IGNORECASE)
# How many keys, incidents or references each list of evidence keeps.
SAMPLE = 20


def _rows(connection: Any, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(query, args)
        return list(cursor.fetchall())


def wait_until_quiet(database_url: str, arrivals_path: Path, quiet_s: float,
                     limit_s: float) -> dict[str, Any]:
    """Until no forwarded request waits for an answer, no outbox row is SCHEDULED, and no page has
    arrived for `quiet_s`; at most `limit_s`."""
    began = time.monotonic()
    connection = postgres.connect(database_url)
    seen, changed_at = -1, began
    last: dict[str, Any] = {}
    try:
        while True:
            now = time.monotonic()
            arrived = len(read_arrivals(arrivals_path))
            if arrived != seen:
                seen, changed_at = arrived, now
            waiting = _rows(connection, "SELECT count(*) FROM forwarded_request WHERE status IS NULL")[0][0]
            scheduled = _rows(connection,
                              "SELECT count(*) FROM notification WHERE status = 'SCHEDULED'")[0][0]
            last = {"forwarded_waiting": waiting, "outbox_scheduled": scheduled, "pages_arrived": arrived,
                    "quiet_for_s": now - changed_at}
            if waiting == 0 and scheduled == 0 and now - changed_at >= quiet_s:
                return {"reached": True, "waited_s": now - began, "last": last}
            if now - began >= limit_s:
                return {"reached": False, "waited_s": now - began, "last": last}
            time.sleep(0.25)
    finally:
        connection.close()


def spread(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": percentile(ordered, 0.50), "p99": percentile(ordered, 0.99),
            "max": ordered[-1] if ordered else float("nan")}


def _log_mentions(log_dirs: Sequence[Path], needles: Sequence[str]) -> dict[str, list[str]]:
    """The node log lines that name each needle (at most 5 each), for evidence."""
    found: dict[str, list[str]] = {needle: [] for needle in needles}
    if not needles:
        return found
    pattern = re.compile("|".join(re.escape(n) + r"\b" for n in needles))
    for directory in log_dirs:
        for path in sorted(directory.glob("*.stderr")):
            for line in path.read_text(errors="replace").splitlines():
                for match in pattern.finditer(line):
                    lines = found[match.group(0)]
                    if len(lines) < 5:
                        lines.append(f"{path.stem}: {line[:300]}")
    return found


def account(database_url: str, prefix: str, counts: SenderCounts, arrivals: Sequence[Arrival], t0: float,
            log_dirs: Sequence[Path]) -> dict[str, Any]:
    connection = postgres.connect(database_url)
    try:
        incidents = _rows(connection, "SELECT id, alert_key FROM incident WHERE starts_with(alert_key, %s)",
                          f"{prefix}-")
        ids = [row[0] for row in incidents]
        outbox = _rows(connection, "SELECT id, incident_id, status, attempts, error_message, target, sent_at"
                                   " FROM notification WHERE kind = 'ALERT' AND incident_id = ANY(%s)", ids)
        logged = _rows(connection, "SELECT incident_id, log_entry_type, text, timestamp FROM log_entry"
                                   " WHERE log_entry_type LIKE 'NOTIFICATION_%%' AND incident_id = ANY(%s)"
                                   " ORDER BY id", ids)
        other_rows = _rows(connection, "SELECT count(*) FROM notification WHERE kind <> 'ALERT'")[0][0]
    finally:
        connection.close()
    events, errors = _events(counts, incidents, t0)
    pages, page_errors = _pages(incidents, outbox, logged, arrivals, t0, log_dirs)
    pages["other_outbox_rows"] = other_rows
    return {"events": events, "pages": pages, "errors": errors + page_errors}


def _events(counts: SenderCounts, incidents: Sequence[tuple[Any, ...]],
            t0: float) -> tuple[dict[str, Any], list[str]]:
    by_key: defaultdict[str, list[int]] = defaultdict(list)
    for incident_id, key in incidents:
        by_key[key].append(incident_id)
    acks = counts.acks
    lost = sorted((key for key in acks if key not in by_key), key=lambda k: acks[k].acked_at)
    twice = {key: ids for key, ids in by_key.items() if len(ids) > 1}
    load_s = counts.last_scheduled_at - counts.first_at
    last_ack = max((a.acked_at for a in acks.values()), default=counts.first_at)
    events = {
        "offered": counts.offered,
        "acknowledged": len(acks),
        "unacknowledged": len(counts.unacknowledged),
        "refused": len(counts.refused),
        "refused_sample": dict(list(counts.refused.items())[:SAMPLE]),
        "retries": counts.retries,
        "failures": dict(counts.failures.most_common()),
        "response_codes": dict(counts.response_codes.most_common()),
        "ack_s": spread([a.acked_at - a.scheduled_at for a in acks.values()]),
        "offered_per_s": counts.offered / load_s if load_s > 0 else None,
        "acked_per_s": len(acks) / (last_ack - counts.first_at) if last_ack > counts.first_at else None,
        "incidents_found": len(incidents),
        "incidents_for_acknowledged": sum(1 for key in acks if key in by_key),
        "incidents_for_unacknowledged": sum(1 for key in counts.unacknowledged if key in by_key),
        "lost": len(lost),
        "lost_sample": [{"key": key, "node": acks[key].node, "response_code": acks[key].response_code,
                         "incident_id": acks[key].incident_id, "acked_at_s": acks[key].acked_at - t0,
                         "tries": acks[key].tries} for key in lost[:SAMPLE]],
        "keys_with_two_incidents": len(twice),
        "keys_with_two_incidents_sample": dict(list(twice.items())[:SAMPLE]),
    }
    errors = []
    if lost:
        errors.append(f"{len(lost)} acknowledged events have no incident (first: {lost[0]})")
    if twice:
        errors.append(f"{len(twice)} keys have more than one incident")
    return events, errors


def _pages(incidents: Sequence[tuple[Any, ...]], outbox: Sequence[tuple[Any, ...]],
           logged: Sequence[tuple[Any, ...]], arrivals: Sequence[Arrival], t0: float,
           log_dirs: Sequence[Path]) -> tuple[dict[str, Any], list[str]]:
    received = Counter(arrival.reference for arrival in arrivals)
    arrived_at: defaultdict[str, list[float]] = defaultdict(list)
    for arrival in arrivals:
        arrived_at[arrival.reference].append(round(arrival.at - t0, 3))
    rows_of: defaultdict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in outbox:
        rows_of[row[1]].append(row)
    reference_of = {row[0]: f"ilertd-n{row[0]}" for row in outbox}
    # References the incident log says were sent again (or, found in flight twice, not again).
    resent: set[str] = set()
    not_again: set[str] = set()
    entries_of: defaultdict[int, list[str]] = defaultdict(list)
    for incident_id, kind, text, at in logged:
        entries_of[incident_id].append(f"{at} {kind}: {text}")
        named = {f"ilertd-n{n}" for n in REFERENCE.findall(text)} or {
            reference_of[row[0]] for row in rows_of[incident_id]}
        if NOT_AGAIN_WORDS.search(text):
            not_again |= named
        elif RESEND_WORDS.search(text) or kind == "NOTIFICATION_RESENT":
            resent |= named
    lost = [incident_id for incident_id, _ in incidents
            if not any(received[reference_of[row[0]]] for row in rows_of[incident_id])]
    ours = set(reference_of.values())
    doubled = sorted(ref for ref in ours if received[ref] > 1 and ref not in resent)
    statuses = Counter(row[2] for row in outbox)
    mentions = _log_mentions(log_dirs, doubled[:SAMPLE])
    by_id = {row[0]: row for row in outbox}

    def evidence(ref: str) -> dict[str, Any]:
        row = by_id[int(ref.removeprefix("ilertd-n"))]
        return {"reference": ref, "incident_id": row[1], "status": row[2], "attempts": row[3],
                "error": row[4], "target": row[5], "arrived_at_s": arrived_at[ref],
                "incident_log": entries_of[row[1]], "node_log": mentions.get(ref, [])}

    pages = {
        "expected": len(incidents),
        "outbox_rows": len(outbox),
        "incidents_without_row": sum(1 for incident_id, _ in incidents if not rows_of[incident_id]),
        "incidents_with_two_rows": sum(1 for rows in rows_of.values() if len(rows) > 1),
        "row_statuses": dict(statuses.most_common()),
        "aggregated_rows": statuses.get("AGGREGATED", 0),
        "received_messages": sum(received[ref] for ref in ours),
        "received_distinct": sum(1 for ref in ours if received[ref]),
        "unknown_messages": sum(n for ref, n in received.items() if ref not in ours),
        "lost": len(lost),
        "lost_sample": [{"incident_id": i, "rows": [evidence(reference_of[row[0]]) for row in rows_of[i]]}
                        for i in lost[:SAMPLE]],
        "doubled": len(doubled),
        "doubled_sample": [evidence(ref) for ref in doubled[:SAMPLE]],
        "resent_logged": len(resent & ours),
        "resent_logged_arrived_twice": sum(1 for ref in resent & ours if received[ref] > 1),
        "resent_logged_arrived_never": sum(1 for ref in resent & ours if not received[ref]),
        "resent_logged_sample": [evidence(ref) for ref in sorted(resent & ours)[:SAMPLE]],
        "in_flight_twice_logged": len(not_again & ours),
    }
    errors = []
    if lost:
        errors.append(f"{len(lost)} incidents were never paged (first: incident {lost[0]})")
    if doubled:
        errors.append(f"{len(doubled)} pages arrived twice without a resend in the incident log"
                      f" (first: {doubled[0]})")
    if statuses.get("AGGREGATED"):
        errors.append(f"{statuses['AGGREGATED']} pages went out inside a summary (one contact paged twice"
                      " within its throttle window): their references cannot be matched")
    return pages, errors
