"""Section schedules: in-process cost of on_call(), shifts() and on_call_shift() on a realistic schedule."""

from __future__ import annotations

import gc
import itertools
import random
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from bench.context import Context
from bench.spec import percentile
from ilertd.domain.schedules import (
    Layer,
    Override,
    Restriction,
    Schedule,
    Shift,
    Weekday,
    on_call,
    on_call_shift,
    shifts,
)

ZONE = "Europe/Berlin"
YEAR = 2026
# Berlin's clock changes of YEAR: 02:00 -> 03:00 on the first, 03:00 -> 02:00 on the second.
DST_DAYS = (date(YEAR, 3, 29), date(YEAR, 10, 25))
# The share of sampled instants put on the DST days: enough for their own percentiles, which a
# uniform spread (2 days in 365) would leave to a handful of calls.
DST_SHARE = 0.1
WINDOW = timedelta(days=90)
QUICK_COUNTS = {"on_call": 3_000, "shifts": 120, "on_call_shift": 800}
FULL_COUNTS = {"on_call": 15_000, "shifts": 800, "on_call_shift": 4_000}
WARM_UP_CALLS = 20
# A fixed seed: every run times the same instants, so runs compare.
SEED = 20260105

T = TypeVar("T")


def schedule() -> Schedule:
    """Three layers of thirteen people and two overrides, as a platform team might set itself up."""
    weekdays = (Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY, Weekday.FRIDAY)
    business_hours = tuple(Restriction(day, clock_time(8), day, clock_time(18)) for day in weekdays)
    return Schedule(
        id=1,
        name="platform",
        type="RECURRING",
        timezone=ZONE,
        layers=(
            # Top: the weekly primary, handing off Monday 09:00, covers whatever the others leave.
            Layer("primary weekly", (1, 2, 3, 4, 5, 6), "P1W", datetime(YEAR - 1, 12, 29, 9, 0)),
            # Middle: a daily business-hours desk, rotating among four people.
            Layer("business-hours desk", (11, 12, 13, 14), "P1D", datetime(YEAR - 1, 12, 29, 8, 0),
                  restrictions=business_hours),
            # Bottom: a day/night split for a launch period, PT12H at 07:00 and 19:00, ending mid-year.
            Layer("launch 12h", (21, 22, 23), "PT12H", datetime(YEAR, 1, 5, 7, 0),
                  ends_on=datetime(YEAR, 7, 6, 7, 0)),
        ),
        overrides=(
            # A holiday swap over Easter, and cover over the autumn clock change that overlaps it.
            Override(1, 31, datetime(YEAR, 4, 2, 16, 0, tzinfo=UTC), datetime(YEAR, 4, 6, 16, 0, tzinfo=UTC)),
            Override(2, 32, datetime(YEAR, 10, 24, 16, 0, tzinfo=UTC),
                     datetime(YEAR, 10, 26, 8, 0, tzinfo=UTC)),
        ),
    )


def _local_day(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC bounds of a local day (23 or 25 hours long on a DST day)."""
    start = datetime.combine(day, clock_time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), clock_time(), zone).astimezone(UTC)
    return start, end


def instants(count: int, rng: random.Random) -> tuple[list[datetime], list[bool]]:
    """`count` instants in random order, most anywhere in YEAR, DST_SHARE on its DST days; and which are."""
    zone = ZoneInfo(ZONE)
    year_start, _ = _local_day(date(YEAR, 1, 1), zone)
    _, year_end = _local_day(date(YEAR, 12, 31), zone)
    on_dst = round(count * DST_SHARE)
    sampled: list[tuple[datetime, bool]] = []
    for _ in range(count - on_dst):
        sampled.append((_between(year_start, year_end, rng), False))
    for n in range(on_dst):
        low, high = _local_day(DST_DAYS[n % len(DST_DAYS)], zone)
        sampled.append((_between(low, high, rng), True))
    rng.shuffle(sampled)
    return [at for at, _ in sampled], [dst for _, dst in sampled]


def _between(low: datetime, high: datetime, rng: random.Random) -> datetime:
    # Whole seconds, as instants from the API are.
    return low + timedelta(seconds=rng.randrange(int((high - low).total_seconds())))


def _timed(call: Callable[[datetime], T], args: Sequence[datetime]) -> tuple[list[float], list[T]]:
    """Seconds each call took, and what it returned."""
    for at in args[:WARM_UP_CALLS]:
        call(at)
    # Garbage left by an earlier measurement would otherwise be collected inside this one.
    gc.collect()
    seconds: list[float] = []
    results: list[T] = []
    for at in args:
        began = time.perf_counter_ns()
        result = call(at)
        seconds.append((time.perf_counter_ns() - began) / 1e9)
        results.append(result)
    return seconds, results


def _spread(seconds: Sequence[float], scale: float) -> dict[str, float]:
    """Mean and nearest-rank percentiles, in seconds times `scale` (1e6 for µs, 1e3 for ms)."""
    ordered = sorted(s * scale for s in seconds)
    return {
        "mean": statistics.fmean(ordered) if ordered else float("nan"),
        "p50": percentile(ordered, 0.50),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else float("nan"),
    }


def _well_formed(timeline: Sequence[Shift], start: datetime, end: datetime) -> bool:
    """Sorted, non-overlapping, inside [start, end), and adjacent pieces of one user merged."""
    for shift in timeline:
        if not start <= shift.start < shift.end <= end:
            return False
    for before, after in itertools.pairwise(timeline):
        if after.start < before.end or (after.start == before.end and after.user == before.user):
            return False
    return True


def _describe(subject: Schedule) -> dict[str, Any]:
    return {
        "timezone": subject.timezone,
        "layers": [
            {"name": layer.name, "users": len(layer.users), "rotation": layer.rotation,
             "starts_on": layer.starts_on.isoformat(),
             "ends_on": layer.ends_on.isoformat() if layer.ends_on else None,
             "restrictions": len(layer.restrictions)}
            for layer in subject.layers
        ],
        "overrides": len(subject.overrides),
    }


def run(ctx: Context) -> dict[str, Any]:
    counts = QUICK_COUNTS if ctx.quick else FULL_COUNTS
    subject = schedule()
    rng = random.Random(SEED)
    out: dict[str, Any] = {
        "quick": ctx.quick, "counts": dict(counts), "full_counts": dict(FULL_COUNTS),
        "schedule": _describe(subject), "year": YEAR, "dst_days": [day.isoformat() for day in DST_DAYS],
        "dst_share": DST_SHARE, "window_days": WINDOW.days, "seed": SEED,
    }

    ats, on_dst = instants(counts["on_call"], rng)
    ctx.log(f"schedules: on_call() at {len(ats):,} instants over {YEAR}")
    seconds, users = _timed(lambda at: on_call(subject, at), ats)
    out["on_call"] = {
        "us": _spread(seconds, 1e6),
        "dst_days_us": _spread([s for s, dst in zip(seconds, on_dst, strict=True) if dst], 1e6),
        "other_days_us": _spread([s for s, dst in zip(seconds, on_dst, strict=True) if not dst], 1e6),
        "gaps": sum(1 for user in users if user is None),
    }

    starts, _ = instants(counts["shifts"], rng)
    ctx.log(f"schedules: shifts() over {len(starts):,} windows of {WINDOW.days} days")
    seconds, timelines = _timed(lambda at: shifts(subject, at, at + WINDOW), starts)
    out["shifts"] = {
        "ms": _spread(seconds, 1e3),
        "shifts_per_window": statistics.fmean(len(timeline) for timeline in timelines),
    }

    # The first instants of the on_call() sample, so each answer can be checked against on_call()'s.
    probe = ats[: counts["on_call_shift"]]
    ctx.log(f"schedules: on_call_shift() at {len(probe):,} instants")
    seconds, found = _timed(lambda at: on_call_shift(subject, at), probe)
    out["on_call_shift"] = {
        "us": _spread(seconds, 1e6),
        "hours": _spread([(shift.end - shift.start).total_seconds() for shift in found if shift], 1 / 3600),
    }

    disagreements = sum(
        1 for at, user, shift in zip(probe, users, found, strict=False)
        if (shift.user if shift else None) != user or (shift and not shift.start <= at < shift.end)
    )
    malformed = sum(
        1 for at, timeline in zip(starts, timelines, strict=True)
        if not _well_formed(timeline, at, at + WINDOW)
    )
    out["check"] = {
        "ok": disagreements == 0 and malformed == 0,
        "compared": len(probe), "disagreements": disagreements,
        "timelines": len(timelines), "malformed_timelines": malformed,
        "users_on_call": sorted({user for user in users if user is not None}),
    }
    out["failed_measurements"] = [] if out["check"]["ok"] else ["check"]
    ctx.log(f"schedules: on_call p50 {out['on_call']['us']['p50']:.0f} µs,"
            f" shifts({WINDOW.days} d) p50 {out['shifts']['ms']['p50']:.2f} ms,"
            f" on_call_shift p50 {out['on_call_shift']['us']['p50']:.0f} µs,"
            f" check {'ok' if out['check']['ok'] else 'FAILED'}")
    return {"schedules": out}
