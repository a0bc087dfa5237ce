"""Instants and durations as the API writes them: ISO-8601 with offsets (UTC `Z` out), `PT30M` durations."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


# The instants the API accepts: anything beyond cannot be computed with (a window or a shift
# past year 9999 overflows), and "until further notice" is 2999-12-31T23:59:59Z.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
RANGE = "from 1970-01-01T00:00:00Z to 2999-12-31T23:59:59Z"
# The longest duration accepted: a century.
LONGEST = timedelta(days=36525)


def parse_duration(text: str) -> timedelta:
    """`PT30M`, `P1D`, `P1DT2H`, `P2W` → timedelta (a day is 24 hours here), at most a century.
    ValueError otherwise."""
    match = _DURATION.match(text.strip().upper()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{str(text)[:40]!r} is not an ISO-8601 duration such as PT30M or P1D")
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    try:
        value = timedelta(
            weeks=parts.get("weeks", 0), days=parts.get("days", 0), hours=parts.get("hours", 0),
            minutes=parts.get("minutes", 0), seconds=parts.get("seconds", 0),
        )
    except OverflowError:
        value = LONGEST * 2
    if value > LONGEST:
        raise ValueError(f"{text[:40]!r} is longer than a century")
    return value


def in_range(value: datetime) -> datetime:
    """`value` if the API accepts it (RANGE), else ValueError saying the range."""
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"an instant must lie {RANGE}")
    return value


def parse_instant(text: str) -> datetime:
    """ISO-8601 instant within RANGE; without an offset it is UTC (API.md). ValueError otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("an instant must be an ISO-8601 string")
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"an instant must lie {RANGE}") from None
    return in_range(value)


def format_instant(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
