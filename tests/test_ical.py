"""Tests of ilertd.domain.ical: exact feed text, TEXT escaping, folding at 75 octets, aware instants only."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ilertd.domain.ical import CalendarEvent, escape_text, fold_line, render_calendar, shift_uid

BERLIN = ZoneInfo("Europe/Berlin")
GENERATED = datetime(2026, 1, 2, 8, 30, 15, tzinfo=UTC)
NAIVE = datetime(2026, 1, 5, 9, 0)
AWARE = NAIVE.replace(tzinfo=UTC)
HOUR = timedelta(hours=1)
# A TEXT value in which every backslash starts a valid escape and no comma or semicolon is bare.
ESCAPED_TEXT = re.compile(r"(?:\\[\\;,nN]|[^\\;,\r\n])*")


def z(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def crlf(*lines: str) -> str:
    return "".join(line + "\r\n" for line in lines)


def unfold(text: str) -> list[str]:
    """Content lines of a feed, folds undone as RFC 5545 3.1 says: a CRLF followed by one space or tab."""
    assert text.endswith("\r\n")
    return re.sub(r"\r\n[ \t]", "", text).split("\r\n")[:-1]


def unescape(value: str) -> str:
    assert ESCAPED_TEXT.fullmatch(value), value
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def components(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The calendar's own properties and each VEVENT's, as name -> raw value, checking BEGIN/END nesting."""
    calendar: dict[str, str] = {}
    events: list[dict[str, str]] = []
    stack: list[str] = []
    for line in unfold(text):
        name, sep, value = line.partition(":")
        assert sep and re.fullmatch(r"[A-Z-]+", name), line
        if name == "BEGIN":
            stack.append(value)
            if value == "VEVENT":
                events.append({})
        elif name == "END":
            assert stack.pop() == value
        elif stack == ["VCALENDAR"]:
            calendar[name] = value
        else:
            assert stack == ["VCALENDAR", "VEVENT"], line
            assert name not in events[-1], f"{name} twice in one event"
            events[-1][name] = value
    assert stack == []
    return calendar, events


def test_small_calendar_has_exact_text() -> None:
    start = datetime(2026, 1, 5, 10, 0, tzinfo=BERLIN)
    events = [
        CalendarEvent(shift_uid(3, 7, start), start, start + timedelta(days=7), "On call: Ada Lovelace"),
        CalendarEvent(
            "schedule-3-user-8-20260112T090000Z@ilertd",
            z("2026-01-12T09:00"),
            z("2026-01-12T21:30"),
            "Handover; bring laptop, charger",
            "Line one\nC:\\oncall\\runbook.txt, page 2;\r\nend",
        ),
    ]
    assert render_calendar("Platform, primary", events, GENERATED) == crlf(
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//ilertd//on-call//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        r"X-WR-CALNAME:Platform\, primary",
        "BEGIN:VEVENT",
        "UID:schedule-3-user-7-20260105T090000Z@ilertd",
        "DTSTAMP:20260102T083015Z",
        "DTSTART:20260105T090000Z",
        "DTEND:20260112T090000Z",
        "SUMMARY:On call: Ada Lovelace",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:schedule-3-user-8-20260112T090000Z@ilertd",
        "DTSTAMP:20260102T083015Z",
        "DTSTART:20260112T090000Z",
        "DTEND:20260112T213000Z",
        r"SUMMARY:Handover\; bring laptop\, charger",
        r"DESCRIPTION:Line one\nC:\\oncall\\runbook.txt\, page 2\;\nend",
        "END:VEVENT",
        "END:VCALENDAR",
    )


def test_empty_calendar_is_just_the_envelope() -> None:
    calendar, events = components(render_calendar("nobody", [], GENERATED))
    assert events == []
    assert calendar["X-WR-CALNAME"] == "nobody"


def test_long_utf8_summary_folds_at_75_octets_without_splitting_characters() -> None:
    # One-, two-, three- and four-octet characters, so folds land at every offset within a character.
    summary = "Bereitschaft für Jürgen, Straße 東京 🚒; " * 12
    start = z("2026-03-29T00:00")
    event = CalendarEvent(shift_uid(1, 2, start), start, start + timedelta(hours=12), summary, summary)
    text = render_calendar("Ops ☎", [event], GENERATED)

    physical = text.encode("utf-8").split(b"\r\n")
    assert physical[-1] == b""
    for line in physical[:-1]:
        assert len(line) <= 75, line
        # Each physical line decodes alone: no character was cut in two by a fold.
        line.decode("utf-8")
    continuations = [line for line in physical if line.startswith(b" ")]
    assert len(continuations) >= 2 * len(summary.encode("utf-8")) // 75
    _, [parsed] = components(text)
    assert unescape(parsed["SUMMARY"]) == summary
    assert unescape(parsed["DESCRIPTION"]) == summary


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param("x" * 75, ["x" * 75], id="75-octets-stay-whole"),
        pytest.param("x" * 76, ["x" * 75, " x"], id="76-octets-fold"),
        pytest.param("x" * 74 + "é", ["x" * 74, " é"], id="two-octet-character-moves-whole"),
        pytest.param("x" * 73 + "é", ["x" * 73 + "é"], id="two-octet-character-ends-exactly"),
        pytest.param("x" * 72 + "🚒", ["x" * 72, " 🚒"], id="four-octet-character-moves-whole"),
        pytest.param("x" * 75 + "y" * 74 + "z", ["x" * 75, " " + "y" * 74, " z"],
                     id="continuation-counts-its-space"),
        pytest.param("", [""], id="empty"),
    ],
)
def test_fold_line(line: str, expected: list[str]) -> None:
    assert list(fold_line(line)) == expected


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a\\b", "a\\\\b"),
        ("a;b,c", "a\\;b\\,c"),
        ("one\ntwo\r\nthree\rfour", "one\\ntwo\\nthree\\nfour"),
        ("\\n is not a newline", "\\\\n is not a newline"),
        ("tab\tstays, bell\x07 and escape\x1b go", "tab\tstays\\, bell and escape go"),
        ("colon: fine", "colon: fine"),
    ],
)
def test_escape_text(raw: str, escaped: str) -> None:
    assert escape_text(raw) == escaped


def test_every_value_survives_unfold_and_unescape() -> None:
    tricky = ["plain", "a;b,c\\d", "multi\nline\ntext", "ünïcödé ✓ " * 20, "ends with backslash\\", ",;\\"]
    start = z("2026-10-25T00:00")
    events = [
        CalendarEvent(shift_uid(9, n, start + timedelta(hours=n)), start + timedelta(hours=n),
                      start + timedelta(hours=n + 1), summary, description)
        for n, (summary, description) in enumerate(zip(tricky, reversed(tricky), strict=True))
    ]
    calendar, parsed = components(render_calendar("a;b,c\\d ✓", events, GENERATED))
    assert calendar == {
        "VERSION": "2.0",
        "PRODID": "-//ilertd//on-call//EN",
        "CALSCALE": "GREGORIAN",
        "METHOD": "PUBLISH",
        "X-WR-CALNAME": "a\\;b\\,c\\\\d ✓",
    }
    assert len(parsed) == len(events)
    for event, props in zip(events, parsed, strict=True):
        assert unescape(props["UID"]) == event.uid
        assert props["DTSTAMP"] == "20260102T083015Z"
        assert datetime.strptime(props["DTSTART"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) == event.start
        assert datetime.strptime(props["DTEND"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) == event.end
        assert unescape(props["SUMMARY"]) == event.summary
        assert unescape(props["DESCRIPTION"]) == event.description


def test_instants_are_written_in_utc_whatever_their_zone() -> None:
    # 2026-10-25 02:30 happens twice in Berlin; fold=1 is the second time, at 01:30Z.
    start = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)
    end = datetime(2026, 10, 25, 12, 0, tzinfo=timezone(timedelta(hours=-4)))
    generated = datetime(2026, 10, 24, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    _, [props] = components(render_calendar("x", [CalendarEvent("u", start, end, "s")], generated))
    assert (props["DTSTART"], props["DTEND"], props["DTSTAMP"]) == (
        "20261025T013000Z", "20261025T160000Z", "20261024T182959Z",
    )
    assert "DESCRIPTION" not in props


def test_shift_uid_names_the_instant_not_the_zone() -> None:
    berlin = datetime(2026, 1, 5, 10, 0, tzinfo=BERLIN)
    assert shift_uid(3, 7, berlin) == "schedule-3-user-7-20260105T090000Z@ilertd"
    assert shift_uid(3, 7, berlin.astimezone(UTC)) == shift_uid(3, 7, berlin)
    assert shift_uid(3, 8, berlin) != shift_uid(3, 7, berlin)
    assert shift_uid(4, 7, berlin) != shift_uid(3, 7, berlin)


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: render_calendar("x", [], NAIVE), id="generated_at"),
        pytest.param(lambda: render_calendar("x", [CalendarEvent("u", NAIVE, AWARE + HOUR, "s")], AWARE),
                     id="event-start"),
        pytest.param(lambda: render_calendar("x", [CalendarEvent("u", AWARE, NAIVE + HOUR, "s")], AWARE),
                     id="event-end"),
        pytest.param(lambda: shift_uid(1, 2, NAIVE), id="shift-uid-start"),
    ],
)
def test_naive_datetimes_are_rejected(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="must be an aware date-time"):
        build()


@pytest.mark.parametrize("hours", [0, -1])
def test_event_must_end_after_it_starts(hours: int) -> None:
    event = CalendarEvent("u", AWARE, AWARE + timedelta(hours=hours), "s")
    with pytest.raises(ValueError, match="not after its start"):
        render_calendar("x", [event], AWARE)


def test_event_needs_a_uid() -> None:
    with pytest.raises(ValueError, match="UID"):
        render_calendar("x", [CalendarEvent("", AWARE, AWARE + timedelta(hours=1), "s")], AWARE)
