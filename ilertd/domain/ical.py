"""iCalendar (RFC 5545) feeds of on-call shifts: the VCALENDAR text, its TEXT escaping and line folding."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

PRODID = "-//ilertd//on-call//EN"
CRLF = "\r\n"
# RFC 5545 3.1: a content line longer than this many octets, its CRLF aside, is folded.
LINE_OCTETS = 75

# TEXT has no way to carry control characters other than HTAB (RFC 5545 3.3.11); newlines are
# escaped before this runs, so whatever it still matches would only make the feed invalid.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_NEWLINE = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class CalendarEvent:
    """One VEVENT: [start, end), both aware; `uid` identifies it across refreshes of the feed."""

    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""


def shift_uid(schedule_id: int, user_id: int, start: datetime) -> str:
    """A UID naming a shift by schedule, user and start, so a refreshed feed updates the same event."""
    return f"schedule-{schedule_id}-user-{user_id}-{_utc_stamp(start, 'shift start')}@ilertd"


def render_calendar(name: str, events: Sequence[CalendarEvent], generated_at: datetime) -> str:
    """The feed as RFC 5545 text: CRLF line endings, TEXT escaped, lines folded at 75 octets."""
    stamp = _utc_stamp(generated_at, "generated_at")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
    ]
    for event in events:
        lines.extend(_event_lines(event, stamp))
    lines.append("END:VCALENDAR")
    return "".join(folded + CRLF for line in lines for folded in fold_line(line))


def escape_text(value: str) -> str:
    """A TEXT value escaped per RFC 5545 3.3.11: backslash, semicolon, comma, and newlines as `\\n`."""
    escaped = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return _CONTROL.sub("", _NEWLINE.sub("\\\\n", escaped))


def fold_line(line: str) -> Iterator[str]:
    """The physical lines of one content line: each at most 75 UTF-8 octets, continuations led by a space.

    Folds only between characters, so a multi-byte character is never split across two lines.
    """
    limit = LINE_OCTETS
    piece: list[str] = []
    size = 0
    for char in line:
        octets = len(char.encode("utf-8"))
        if size + octets > limit:
            yield "".join(piece)
            # The leading space of a continuation line counts towards its 75 octets.
            piece, size, limit = [" "], 1, LINE_OCTETS
        piece.append(char)
        size += octets
    yield "".join(piece)


def _event_lines(event: CalendarEvent, stamp: str) -> list[str]:
    start = _utc_stamp(event.start, "event start")
    end = _utc_stamp(event.end, "event end")
    if not event.uid:
        raise ValueError("an event needs a UID, which calendar apps use to recognise it on refresh")
    if event.end <= event.start:
        raise ValueError(
            f"event {event.uid!r} ends at {event.end.isoformat()}, not after its start "
            f"{event.start.isoformat()}"
        )
    lines = [
        "BEGIN:VEVENT",
        f"UID:{escape_text(event.uid)}",
        f"DTSTAMP:{stamp}",
        f"DTSTART:{start}",
        f"DTEND:{end}",
        f"SUMMARY:{escape_text(event.summary)}",
    ]
    if event.description:
        lines.append(f"DESCRIPTION:{escape_text(event.description)}")
    lines.append("END:VEVENT")
    return lines


def _utc_stamp(value: datetime, label: str) -> str:
    """An aware instant as an RFC 5545 UTC DATE-TIME (`20260105T090000Z`); fractions of a second dropped."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{label} must be an aware date-time, got {value!r}")
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
