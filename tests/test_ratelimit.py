"""The per-key event limit: counted per clock minute, a payload's events all count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ilertd.actors.clock import ManualClock
from ilertd.errors import ApiError
from ilertd.tracker import WorkTracker
from ilertd.web.ratelimit import RateLimiter


def limiter(per_minute: int) -> tuple[RateLimiter, ManualClock]:
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, 30, tzinfo=UTC), WorkTracker())
    return RateLimiter(per_minute, clock), clock


def test_a_payloads_events_all_count_and_a_refused_one_takes_none() -> None:
    limits, clock = limiter(10)
    limits.check("source-1", 6)
    with pytest.raises(ApiError) as refused:
        limits.check("source-1", 5)
    assert (refused.value.status, refused.value.code) == (429, "RATE_LIMITED")
    assert refused.value.headers["Retry-After"] == "30"
    limits.check("source-1", 4)  # the refused five were not counted
    with pytest.raises(ApiError):
        limits.check("source-1")
    limits.check("source-2", 10)  # another key has its own count
    clock.advance(timedelta(seconds=30))  # a new minute
    limits.check("source-1", 10)


def test_a_first_payload_over_the_whole_limit_is_taken_not_refused_for_ever() -> None:
    limits, _clock = limiter(10)
    limits.check("source-1", 100)
    with pytest.raises(ApiError):
        limits.check("source-1")


def test_zero_is_no_limit() -> None:
    limits, _clock = limiter(0)
    for _ in range(1000):
        limits.check("source-1", 100)
