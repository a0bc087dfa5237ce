"""The only source of time: `now()` and keyed, cancellable timers, real (one thread, a heap) or manual.

Timers are keyed (e.g. ("escalation", 42)); arming a key again replaces its timer. A due timer
runs its callback on the clock's thread (RealClock) or on the caller of `advance()`
(ManualClock); callbacks must only hand work on (an actor `tell`), never block.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ilertd.domain.timeutil import format_instant, parse_instant
from ilertd.errors import StartError
from ilertd.store.files import writable, write_private
from ilertd.store.shared_clock import keep_shared_now, shared_now
from ilertd.tracker import WorkTracker

logger = logging.getLogger(__name__)

TimerCallback = Callable[[datetime], None]
# Due timers the real clock takes from the heap at once; a bound on how long a disarm made
# meanwhile can come too late.
MAX_TAKEN = 256
# Replaced timers left in the heap before it is rebuilt without them (once they are also most of it).
COMPACT_AFTER = 1024


@dataclass(order=True)
class _Entry:
    when: datetime
    seq: int
    key: Hashable = field(compare=False)
    callback: TimerCallback = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class Clock(ABC):
    """Shared timer bookkeeping; subclasses say what `now()` is and when due timers run."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[_Entry] = []
        self._armed: dict[Hashable, _Entry] = {}
        self._seq = itertools.count()
        # Entries in the heap that were replaced or disarmed, not yet dropped from it.
        self._cancelled = 0

    @abstractmethod
    def now(self) -> datetime:
        """The current instant, aware, in UTC."""

    @abstractmethod
    def start(self) -> None:
        """Begin firing timers (RealClock runs its thread; ManualClock fires only on advance)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop firing timers."""

    def arm(self, key: Hashable, when: datetime, callback: TimerCallback) -> None:
        self.arm_many(((key, when, callback),))

    def arm_many(self, timers: Iterable[tuple[Hashable, datetime, TimerCallback]]) -> None:
        """`arm` for many timers under one hold of the lock, which the clock thread also takes."""
        with self._lock:
            earliest = self._heap[0] if self._heap else None
            for key, when, callback in timers:
                previous = self._armed.get(key)
                if previous is not None:
                    if previous.when == when:
                        # Armed again for its instant (each event of a pending incident re-arms its
                        # deadline): the entry stays, with the newest callback, not one more per event.
                        previous.callback = callback
                        continue
                    self._cancel(previous)
                entry = _Entry(when, next(self._seq), key, callback)
                self._armed[key] = entry
                heapq.heappush(self._heap, entry)
            self._compact()
            # Only a new earliest timer changes how long the clock thread must sleep.
            if self._heap and self._heap[0] is not earliest:
                self._lock.notify_all()

    def disarm(self, key: Hashable) -> None:
        with self._lock:
            entry = self._armed.get(key)
            if entry is not None:
                self._cancel(entry)
                self._compact()

    def _cancel(self, entry: _Entry) -> None:
        """`entry` no longer fires; it stays in the heap until it comes up or the heap is rebuilt
        (caller holds the lock)."""
        del self._armed[entry.key]
        entry.cancelled = True
        self._cancelled += 1

    def _compact(self) -> None:
        """Rebuild the heap without its cancelled entries once they are most of it (caller holds the
        lock): a key armed again for ever later instants (a heartbeat pinged every second, a day
        apart) would otherwise leave an entry behind per arming until its old instant came."""
        if self._cancelled > COMPACT_AFTER and 2 * self._cancelled > len(self._heap):
            self._heap = [entry for entry in self._heap if not entry.cancelled]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def armed_at(self, key: Hashable) -> datetime | None:
        with self._lock:
            entry = self._armed.get(key)
            return entry.when if entry is not None else None

    @property
    def armed_count(self) -> int:
        with self._lock:
            return len(self._armed)

    def _pop_due(self, now: datetime) -> _Entry | None:
        """The earliest live timer due by `now`, removed from the heap (caller holds the lock)."""
        while self._heap:
            head = self._heap[0]
            if head.cancelled:
                heapq.heappop(self._heap)
                self._cancelled -= 1
                continue
            if head.when > now:
                return None
            heapq.heappop(self._heap)
            if self._armed.get(head.key) is head:
                del self._armed[head.key]
            return head
        return None

    def _next_when(self) -> datetime | None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
            self._cancelled -= 1
        return self._heap[0].when if self._heap else None

    @staticmethod
    def _fire(entry: _Entry) -> None:
        try:
            entry.callback(entry.when)
        except Exception:
            logger.exception("timer %r failed", entry.key)


class RealClock(Clock):
    def __init__(self) -> None:
        super().__init__()
        self._running = False
        self._thread = threading.Thread(target=self._run, name="clock", daemon=True)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def start(self) -> None:
        self._running = True
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._running = False
            self._lock.notify_all()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._running:
                    return
                now = self.now()
                due = []
                # Everything due is taken in one hold of the lock: arming threads wait less.
                while len(due) < MAX_TAKEN and (entry := self._pop_due(now)) is not None:
                    due.append(entry)
                if not due:
                    upcoming = self._next_when()
                    wait = None if upcoming is None else (upcoming - self.now()).total_seconds()
                    # Bounded waits keep the thread honest if the system clock jumps.
                    self._lock.wait(timeout=60.0 if wait is None else min(max(wait, 0), 60.0))
                    continue
            for entry in due:
                self._fire(entry)


class ManualClock(Clock):
    """Time stands still until `advance()`/`set()`; due timers then fire in order, each instant to quiet.

    The timers due at one instant fire together, in arming order, as the real clock fires them
    back to back; `tracker` is then waited on, so that the work they cause (and timers that
    work arms, if due by the target) completes before time moves on.

    Once started, a timer armed for the current instant or earlier fires at once, on the thread
    that armed it, as the real clock's thread would fire it: a page with no delay does not wait
    for time to move.
    """

    def __init__(self, start: datetime, tracker: WorkTracker,
                 on_change: Callable[[datetime], None] | None = None, shared: bool = False) -> None:
        super().__init__()
        # Kept in a database other nodes read (`on_change` stores it there).
        self.shared = shared
        self._now = start
        self._tracker = tracker
        self._on_change = on_change
        self._advancing = threading.Lock()
        self._started = False

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def start(self) -> None:
        """From now on timers due by `now()` fire as they are armed; what is overdue fires here."""
        with self._lock:
            self._started = True
        self._fire_due_now()

    def stop(self) -> None:
        with self._lock:
            self._started = False

    def arm_many(self, timers: Iterable[tuple[Hashable, datetime, TimerCallback]]) -> None:
        super().arm_many(timers)
        self._fire_due_now()

    def _fire_due_now(self) -> None:
        with self._lock:
            if not self._started:
                return
            due = []
            while (entry := self._pop_due(self._now)) is not None:
                due.append(entry)
        for entry in due:
            self._fire(entry)

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("the clock never goes backwards")
        return self.set(self.now() + delta)

    def set(self, target: datetime) -> datetime:
        with self._advancing:
            if target < self.now():
                raise ValueError("the clock never goes backwards")
            self._tracker.wait_idle()
            while True:
                with self._lock:
                    entry = self._pop_due(target)
                    if entry is None:
                        break
                    self._now = max(self._now, entry.when)
                    instant = [entry]
                    # The heap's head is now the next timer; due by `entry.when` means at it.
                    while (same := self._pop_due(entry.when)) is not None:
                        instant.append(same)
                for due in instant:
                    self._fire(due)
                self._tracker.wait_idle()
            with self._lock:
                self._now = target
            if self._on_change is not None:
                self._on_change(target)
            return target


MANUAL_CLOCK_FILE = "manual-clock"


def make_manual_clock(directory: Path, clock_start: str | None, tracker: WorkTracker,
                      shared: bool = False) -> ManualClock:
    """A manual clock resumes the time kept in the data dir (on a shared store: in the database,
    which every node reads), else `--clock-start`, else this minute."""
    saved = directory / MANUAL_CLOCK_FILE
    stored = shared_now() if shared else None
    if stored is not None:
        start = stored
    elif not shared and saved.exists():
        start = _kept_instant(saved)
    elif clock_start:
        start = parse_instant(clock_start)
    else:
        start = RealClock().now().replace(second=0, microsecond=0)

    def keep(now: datetime) -> None:
        if shared:
            keep_shared_now(now)
        else:
            write_private(saved, format_instant(now) or "")

    # At the start a refused write (a full disk) is a StartError naming the file; later, an
    # advance the file system refuses fails as it did (the time kept before stays).
    with writable(saved):
        keep(start)
    return ManualClock(start, tracker, on_change=keep, shared=shared)


def _kept_instant(saved: Path) -> datetime:
    """The instant the manual clock's file holds; a file of something else is a StartError saying
    what to do, where it was a traceback."""
    try:
        return parse_instant(saved.read_text().strip())
    except ValueError as error:  # a UnicodeDecodeError too: a file of bytes
        raise StartError(f"{saved} holds no instant the manual clock kept ({error}): delete it to"
                         " start the clock at --clock-start or this minute") from None


def follow_shared_clock(clock: ManualClock) -> None:
    """Take the time another node stored, when it is later than this node's."""
    stored = shared_now()
    if stored is not None and stored > clock.now():
        clock.set(stored)
