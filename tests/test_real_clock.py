"""Tests of ilertd.actors.clock's RealClock: timers on the wall clock, in a thread of its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ilertd.actors.clock import RealClock
from ilertd.tracker import WorkTracker


@pytest.fixture
def real_clock() -> Iterator[RealClock]:
    clock = RealClock()
    clock.start()
    yield clock
    clock.stop()


def test_real_clock_now_is_aware_utc(real_clock: RealClock) -> None:
    before = datetime.now(UTC)
    now = real_clock.now()
    after = datetime.now(UTC)
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after


def test_real_clock_fires_a_timer_when_due(real_clock: RealClock) -> None:
    done = threading.Event()
    seen: list[tuple[datetime, datetime, str]] = []

    def callback(when: datetime) -> None:
        seen.append((when, datetime.now(UTC), threading.current_thread().name))
        done.set()

    when = real_clock.now() + timedelta(milliseconds=50)
    real_clock.arm("soon", when, callback)
    assert done.wait(2.0)
    assert len(seen) == 1
    given, fired_at, thread_name = seen[0]
    assert given == when
    assert fired_at >= when  # never early
    assert thread_name == "clock"
    assert real_clock.armed_at("soon") is None


def test_real_clock_fires_timers_in_time_order(real_clock: RealClock) -> None:
    done = threading.Event()
    order: list[str] = []

    def note(name: str) -> Callable[[datetime], None]:
        def callback(when: datetime) -> None:
            order.append(name)
            if len(order) == 2:
                done.set()

        return callback

    now = real_clock.now()
    real_clock.arm("later", now + timedelta(milliseconds=120), note("later"))
    real_clock.arm("sooner", now + timedelta(milliseconds=40), note("sooner"))
    assert done.wait(2.0)
    assert order == ["sooner", "later"]


def test_real_clock_does_not_fire_a_disarmed_timer(real_clock: RealClock) -> None:
    fired = threading.Event()
    canary = threading.Event()
    real_clock.arm("gone", real_clock.now() + timedelta(milliseconds=50), lambda when: fired.set())
    real_clock.disarm("gone")
    assert real_clock.armed_at("gone") is None
    # A live timer due later proves the clock thread was running past the disarmed one's time.
    real_clock.arm("canary", real_clock.now() + timedelta(milliseconds=100), lambda when: canary.set())
    assert not fired.wait(0.2)
    assert canary.is_set()
    assert not fired.is_set()


def test_real_clock_armed_at_reflects_the_key(real_clock: RealClock) -> None:
    first = real_clock.now() + timedelta(hours=1)
    second = first + timedelta(minutes=5)
    assert real_clock.armed_at(("escalation", 1)) is None
    real_clock.arm(("escalation", 1), first, lambda when: None)
    real_clock.arm(("escalation", 2), second, lambda when: None)
    assert real_clock.armed_at(("escalation", 1)) == first
    assert real_clock.armed_at(("escalation", 2)) == second
    real_clock.arm(("escalation", 1), second, lambda when: None)
    assert real_clock.armed_at(("escalation", 1)) == second
    assert real_clock.armed_count == 2
    real_clock.disarm(("escalation", 2))
    assert real_clock.armed_at(("escalation", 2)) is None
    assert real_clock.armed_count == 1


def test_real_clock_stop_ends_its_thread_promptly() -> None:
    clock = RealClock()
    clock.start()
    ran = threading.Event()
    fired = threading.Event()
    # The thread sleeps towards a far timer; stop() must wake it rather than wait for it.
    clock.arm("near", clock.now() + timedelta(milliseconds=20), lambda when: ran.set())
    clock.arm("far", clock.now() + timedelta(hours=1), lambda when: fired.set())
    assert ran.wait(2.0)
    time.sleep(0.05)  # let the thread settle into its (bounded, 60 s) wait for the far timer
    thread = clock._thread
    assert thread.is_alive()
    started = time.monotonic()
    clock.stop()
    assert time.monotonic() - started < 1.0
    assert not thread.is_alive()
    assert not fired.is_set()


def test_real_clock_keeps_firing_after_a_timer_fails(real_clock: RealClock) -> None:
    done = threading.Event()

    def boom(when: datetime) -> None:
        raise RuntimeError("boom")

    now = real_clock.now()
    real_clock.arm("boom", now + timedelta(milliseconds=20), boom)
    real_clock.arm("after", now + timedelta(milliseconds=60), lambda when: done.set())
    assert done.wait(2.0)


def test_a_tracker_that_does_not_count_never_makes_anyone_wait() -> None:
    """Under the real clock nobody waits for quiet: the daemon's tracker then counts nothing."""
    tracker = WorkTracker(counting=False)
    tracker.begin()
    tracker.begin()
    assert tracker.in_flight == 0
    assert tracker.wait_idle(timeout=0.01)
    tracker.end()
    assert tracker.in_flight == 0
