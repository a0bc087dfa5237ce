"""Tests of ilertd.actors.clock: keyed timers on the ManualClock, with a WorkTracker (the RealClock:
test_real_clock.py)."""

from __future__ import annotations

import gc
import threading
import time
import tracemalloc
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta

import pytest

from ilertd.actors.clock import ManualClock
from ilertd.tracker import WorkTracker

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
Fired = list[tuple[Hashable, datetime, datetime]]


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def manual(on_change: Callable[[datetime], None] | None = None) -> tuple[ManualClock, WorkTracker]:
    tracker = WorkTracker()
    return ManualClock(T0, tracker, on_change), tracker


def recorder(clock: ManualClock, fired: Fired, key: Hashable) -> Callable[[datetime], None]:
    """A callback noting (key, the instant it was given, the clock's now() while it runs)."""

    def callback(when: datetime) -> None:
        fired.append((key, when, clock.now()))

    return callback


# --- ManualClock ---------------------------------------------------------------------------------


def test_manual_clock_stands_still_until_advanced() -> None:
    clock, _ = manual()
    fired: Fired = []
    clock.arm("a", T0 + minutes(1), recorder(clock, fired, "a"))
    clock.start()
    assert clock.now() == T0
    assert fired == []
    assert clock.advance(minutes(2)) == T0 + minutes(2)
    assert clock.now() == T0 + minutes(2)
    assert [key for key, _, _ in fired] == ["a"]


def test_timers_fire_in_time_order_each_at_its_own_due_time() -> None:
    clock, _ = manual()
    fired: Fired = []
    due = {"third": minutes(3), "first": minutes(1), "second": minutes(2), "later": minutes(6)}
    for key, offset in due.items():
        clock.arm(key, T0 + offset, recorder(clock, fired, key))
    clock.advance(minutes(5))
    assert fired == [
        ("first", T0 + minutes(1), T0 + minutes(1)),
        ("second", T0 + minutes(2), T0 + minutes(2)),
        ("third", T0 + minutes(3), T0 + minutes(3)),
    ]
    assert clock.now() == T0 + minutes(5)
    assert clock.armed_at("later") == T0 + minutes(6)
    assert clock.armed_at("first") is None
    assert clock.armed_count == 1


def test_timers_due_at_the_same_instant_fire_in_arming_order() -> None:
    clock, _ = manual()
    fired: Fired = []
    for key in ("x", "y", "z"):
        clock.arm(key, T0 + minutes(1), recorder(clock, fired, key))
    clock.advance(minutes(1))
    assert [key for key, _, _ in fired] == ["x", "y", "z"]


def test_a_timer_due_exactly_at_the_target_fires() -> None:
    clock, _ = manual()
    fired: Fired = []
    clock.arm("edge", T0 + minutes(5), recorder(clock, fired, "edge"))
    clock.advance(minutes(5) - timedelta(microseconds=1))
    assert fired == []
    clock.advance(timedelta(microseconds=1))
    assert fired == [("edge", T0 + minutes(5), T0 + minutes(5))]


def test_a_timer_armed_during_advance_fires_if_due_by_the_target() -> None:
    clock, _ = manual()
    fired: Fired = []

    def first(when: datetime) -> None:
        fired.append(("first", when, clock.now()))
        clock.arm("chained", when + minutes(2), recorder(clock, fired, "chained"))
        clock.arm("beyond", when + minutes(9), recorder(clock, fired, "beyond"))

    clock.arm("first", T0 + minutes(1), first)
    clock.arm("last", T0 + minutes(4), recorder(clock, fired, "last"))
    clock.advance(minutes(5))
    assert fired == [
        ("first", T0 + minutes(1), T0 + minutes(1)),
        ("chained", T0 + minutes(3), T0 + minutes(3)),
        ("last", T0 + minutes(4), T0 + minutes(4)),
    ]
    assert clock.armed_at("beyond") == T0 + minutes(10)


def test_a_timer_that_re_arms_itself_fires_once_per_period() -> None:
    clock, _ = manual()
    seen: list[datetime] = []

    def tick(when: datetime) -> None:
        seen.append(clock.now())
        clock.arm("tick", when + minutes(1), tick)

    clock.arm("tick", T0 + minutes(1), tick)
    clock.advance(minutes(3))
    assert seen == [T0 + minutes(1), T0 + minutes(2), T0 + minutes(3)]
    assert clock.armed_at("tick") == T0 + minutes(4)


def test_disarm_prevents_firing() -> None:
    clock, _ = manual()
    fired: Fired = []
    clock.arm("gone", T0 + minutes(1), recorder(clock, fired, "gone"))
    clock.arm("kept", T0 + minutes(2), recorder(clock, fired, "kept"))
    clock.disarm("gone")
    clock.disarm("never armed")  # harmless
    assert clock.armed_at("gone") is None
    assert clock.armed_count == 1
    clock.advance(minutes(5))
    assert [key for key, _, _ in fired] == ["kept"]


def test_arming_a_key_again_replaces_its_timer() -> None:
    clock, _ = manual()
    fired: Fired = []
    clock.arm(("escalation", 42), T0 + minutes(1), recorder(clock, fired, "old"))
    clock.arm(("escalation", 42), T0 + minutes(3), recorder(clock, fired, "new"))
    assert clock.armed_at(("escalation", 42)) == T0 + minutes(3)
    assert clock.armed_count == 1
    clock.advance(minutes(2))
    assert fired == []
    clock.advance(minutes(2))
    assert fired == [("new", T0 + minutes(3), T0 + minutes(3))]
    assert clock.armed_count == 0


def test_arming_a_key_again_for_its_instant_keeps_one_timer_with_the_newest_callback() -> None:
    clock, _ = manual()
    fired: Fired = []
    clock.arm("k", T0 + minutes(1), recorder(clock, fired, "first"))
    clock.arm("k", T0 + minutes(1), recorder(clock, fired, "second"))
    assert clock.armed_count == 1
    clock.advance(minutes(2))
    assert fired == [("second", T0 + minutes(1), T0 + minutes(1))]


def test_arming_the_same_keys_over_and_over_does_not_grow_memory() -> None:
    """Each event of a pending incident re-arms its deadline for the same instant, and each ping
    of a heartbeat monitor re-arms its timer for a later one: a timer replaced must not stay
    behind until its instant comes (a repeated alert key at thousands of events a second, with a
    30-minute escalation timeout, would keep millions)."""
    clock, _ = manual()
    fired: Fired = []
    pending, heartbeat = recorder(clock, fired, "deadline"), recorder(clock, fired, "heartbeat")
    rounds = 5_000
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for n in range(rounds):
            clock.arm("deadline", T0 + minutes(30), pending)
            clock.arm("heartbeat", T0 + minutes(60) + timedelta(seconds=n), heartbeat)
            clock.disarm("flapping")
            clock.arm("flapping", T0 + minutes(90) + timedelta(seconds=n), heartbeat)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 15,000 timers replaced or disarmed; kept, they would take about three megabytes.
    assert grown < 512 * 1024, grown
    assert clock.armed_count == 3
    clock.advance(minutes(24 * 60))
    last = T0 + minutes(60) + timedelta(seconds=rounds - 1)
    assert fired == [("deadline", T0 + minutes(30), T0 + minutes(30)), ("heartbeat", last, last),
                     ("heartbeat", last + minutes(30), last + minutes(30))]


def test_re_arming_earlier_replaces_a_later_timer() -> None:
    clock, _ = manual()
    fired: Fired = []
    clock.arm("k", T0 + minutes(10), recorder(clock, fired, "late"))
    clock.arm("k", T0 + minutes(1), recorder(clock, fired, "early"))
    clock.advance(minutes(20))
    assert fired == [("early", T0 + minutes(1), T0 + minutes(1))]


def test_a_disarmed_key_can_be_armed_again() -> None:
    clock, _ = manual()
    fired: Fired = []
    clock.arm("k", T0 + minutes(1), recorder(clock, fired, "first"))
    clock.disarm("k")
    clock.arm("k", T0 + minutes(2), recorder(clock, fired, "second"))
    clock.advance(minutes(3))
    assert [key for key, _, _ in fired] == ["second"]


def test_the_clock_never_goes_backwards() -> None:
    clock, _ = manual()
    fired: Fired = []
    clock.arm("a", T0 - minutes(1), recorder(clock, fired, "a"))
    with pytest.raises(ValueError):
        clock.set(T0 - timedelta(microseconds=1))
    with pytest.raises(ValueError):
        clock.advance(-minutes(1))
    assert clock.now() == T0
    assert fired == []  # a refused move fires nothing
    clock.set(T0 + minutes(1))
    with pytest.raises(ValueError):
        clock.set(T0)
    assert clock.now() == T0 + minutes(1)


def test_advancing_by_zero_fires_overdue_timers() -> None:
    clock, _ = manual()
    fired: Fired = []
    clock.arm("overdue", T0 - minutes(5), recorder(clock, fired, "overdue"))
    clock.arm("now", T0, recorder(clock, fired, "now"))
    clock.arm("future", T0 + timedelta(seconds=1), recorder(clock, fired, "future"))
    assert clock.advance(timedelta(0)) == T0
    # Overdue timers get their own due instant, but time does not run backwards for them.
    assert fired == [("overdue", T0 - minutes(5), T0), ("now", T0, T0)]
    assert clock.now() == T0
    assert clock.armed_at("future") == T0 + timedelta(seconds=1)


def test_a_started_clock_fires_a_timer_due_now_as_it_is_armed() -> None:
    clock, _ = manual()
    clock.start()
    fired: Fired = []
    clock.arm("now", T0, recorder(clock, fired, "now"))
    clock.arm("late", T0 - minutes(3), recorder(clock, fired, "late"))
    clock.arm("future", T0 + timedelta(seconds=1), recorder(clock, fired, "future"))
    # As under the real clock: nothing has to move time for what is already due.
    assert fired == [("now", T0, T0), ("late", T0 - minutes(3), T0)]
    assert clock.armed_at("now") is None
    assert clock.armed_at("future") == T0 + timedelta(seconds=1)


def test_starting_fires_what_was_armed_overdue_before_the_start() -> None:
    clock, _ = manual()
    fired: Fired = []
    clock.arm("overdue", T0 - minutes(5), recorder(clock, fired, "overdue"))
    assert fired == []
    clock.start()
    assert fired == [("overdue", T0 - minutes(5), T0)]


def test_a_timer_armed_due_now_by_a_timer_fires_within_the_same_advance() -> None:
    clock, _ = manual()
    clock.start()
    fired: Fired = []

    def first(when: datetime) -> None:
        fired.append(("first", when, clock.now()))
        clock.arm("same-instant", when, recorder(clock, fired, "same-instant"))

    clock.arm("first", T0 + minutes(1), first)
    clock.advance(minutes(1))
    assert fired == [("first", T0 + minutes(1), T0 + minutes(1)),
                     ("same-instant", T0 + minutes(1), T0 + minutes(1))]


def test_on_change_receives_each_target() -> None:
    changes: list[datetime] = []
    clock, _ = manual(changes.append)
    clock.advance(minutes(5))
    clock.set(T0 + minutes(7))
    clock.advance(timedelta(0))
    assert changes == [T0 + minutes(5), T0 + minutes(7), T0 + minutes(7)]


def test_on_change_runs_after_the_due_timers() -> None:
    events: list[str] = []
    clock, _ = manual(lambda target: events.append(f"change to {target:%H:%M}"))
    clock.arm("a", T0 + minutes(1), lambda when: events.append("timer"))
    clock.advance(minutes(2))
    assert events == ["timer", "change to 12:02"]


def test_each_timer_waits_for_the_work_the_previous_one_caused() -> None:
    clock, tracker = manual()
    events: list[str] = []

    def slow_work() -> None:
        time.sleep(0.05)
        events.append("work done")
        tracker.end()

    def hand_on(when: datetime) -> None:
        events.append("first timer")
        tracker.begin()
        threading.Thread(target=slow_work).start()

    clock.arm("first", T0 + minutes(1), hand_on)
    clock.arm("second", T0 + minutes(2), lambda when: events.append("second timer"))
    clock.advance(minutes(3))
    assert events == ["first timer", "work done", "second timer"]
    assert tracker.in_flight == 0


def test_timers_due_at_one_instant_fire_together_then_wait_for_their_work() -> None:
    clock, tracker = manual()
    events: list[str] = []
    gate = threading.Event()

    def held_work() -> None:
        # Released only by the second timer of the same instant: it must fire meanwhile.
        events.append(f"work done, released {gate.wait(10)}")
        tracker.end()

    def hand_on(when: datetime) -> None:
        events.append("first timer")
        tracker.begin()
        threading.Thread(target=held_work).start()

    def release(when: datetime) -> None:
        events.append("second timer")
        gate.set()

    clock.arm("first", T0 + minutes(1), hand_on)
    clock.arm("second", T0 + minutes(1), release)
    clock.arm("later", T0 + minutes(2), lambda when: events.append("later timer"))
    clock.advance(minutes(3))
    assert events[:2] == ["first timer", "second timer"]
    assert events[2:] == ["work done, released True", "later timer"]
    assert tracker.in_flight == 0


def test_advance_waits_for_work_in_flight_before_moving() -> None:
    clock, tracker = manual()
    events: list[str] = []
    tracker.begin()

    def finish() -> None:
        time.sleep(0.05)
        events.append("work done")
        tracker.end()

    threading.Thread(target=finish).start()
    clock.arm("a", T0 + minutes(1), lambda when: events.append("timer"))
    clock.advance(minutes(1))
    assert events == ["work done", "timer"]


def test_a_failing_timer_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    clock, _ = manual()
    fired: Fired = []

    def boom(when: datetime) -> None:
        raise RuntimeError("boom")

    clock.arm("boom", T0 + minutes(1), boom)
    clock.arm("after", T0 + minutes(2), recorder(clock, fired, "after"))
    clock.advance(minutes(3))
    assert [key for key, _, _ in fired] == ["after"]
    assert clock.now() == T0 + minutes(3)
    assert any("boom" in record.getMessage() for record in caplog.records)


def test_work_tracker_counts_and_waits() -> None:
    tracker = WorkTracker()
    assert tracker.wait_idle(timeout=0.01)
    tracker.begin()
    tracker.begin()
    assert tracker.in_flight == 2
    assert not tracker.wait_idle(timeout=0.01)
    tracker.end()
    tracker.end()
    assert tracker.in_flight == 0
    tracker.end()  # an extra end never drives the count negative
    assert tracker.in_flight == 0
    assert tracker.wait_idle(timeout=0.01)
