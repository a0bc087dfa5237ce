"""Page timers and their hand-off: arms a clock timer per outbox row, delivers it to its channel actor."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Any

import pykka

from ilertd.actors.base import send
from ilertd.actors.clock import Clock, TimerCallback
from ilertd.actors.messages import Deliver, DueBox, PagesDue
from ilertd.tracker import WorkTracker

logger = logging.getLogger(__name__)


def page_timer_key(notification_id: int) -> tuple[str, int]:
    return ("page", notification_id)


class IdAllocator:
    """Outbox ids handed out before the rows commit, so their timers can be armed at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counter = itertools.count(1)

    def start_after(self, highest: int) -> None:
        with self._lock:
            self._counter = itertools.count(highest + 1)

    def next(self) -> int:
        with self._lock:
            return next(self._counter)


class PageDispatcher:
    """Knows the channel actors; a page's timer hands its row to the actor of its method.

    One actor per (method, target) pair, chosen by hashing the target: throttling a contact
    needs every page to it to pass through one mailbox. Pages due while an actor is busy wait
    in its box and are taken together: the actor then reads their rows, their contacts' other
    due pages and their incidents in one query each, not three queries a page.
    """

    def __init__(self, clock: Clock, tracker: WorkTracker) -> None:
        self.clock = clock
        self.tracker = tracker
        self.pools: dict[str, Sequence[pykka.ActorRef[Any]]] = {}
        # Pages handed to a channel actor lately: during a backlog they wait in its mailbox,
        # and the sweep must not take them for pages whose timer was lost.
        self._handed: dict[int, datetime] = {}
        self._lock = threading.Lock()
        self._boxes: dict[str, list[DueBox]] = {}
        # The methods with a channel actor, once attached; None before (a test's runtime with no
        # channels): every method counts as having one.
        self.channels: frozenset[str] | None = None

    def attach(self, pools: dict[str, Sequence[pykka.ActorRef[Any]]]) -> None:
        self.pools = pools
        self._boxes = {method: [DueBox() for _ in pool] for method, pool in pools.items()}
        self.channels = frozenset(method for method, pool in pools.items() if pool)

    def has_channel(self, method: str) -> bool:
        return self.channels is None or method in self.channels

    def arm(self, notification_id: int, incident_id: int | None, method: str, target: str, when: datetime
            ) -> None:
        """The page goes to its channel actor at `when`: straight away if that is now (no hop
        through the clock's thread), else when its timer fires."""
        if when <= self.clock.now():
            self.clock.disarm(page_timer_key(notification_id))
            self.deliver(Deliver(notification_id, incident_id, method, target))
        else:
            self.clock.arm(*self.timer(notification_id, incident_id, method, target, when))

    def timer(self, notification_id: int, incident_id: int | None, method: str, target: str, when: datetime
              ) -> tuple[Hashable, datetime, TimerCallback]:
        """The page's timer, for `Clock.arm_many`."""
        message = Deliver(notification_id, incident_id, method, target)
        return page_timer_key(notification_id), when, lambda _when: self.deliver(message)

    def armed_at(self, notification_id: int) -> datetime | None:
        return self.clock.armed_at(page_timer_key(notification_id))

    def recently_handed(self, notification_id: int, since: datetime) -> bool:
        with self._lock:
            handed = self._handed.get(notification_id)
        return handed is not None and handed >= since

    def forget_handed_before(self, cutoff: datetime) -> None:
        with self._lock:
            self._handed = {k: v for k, v in self._handed.items() if v >= cutoff}

    def deliver(self, message: Deliver) -> None:
        pool = self.pools.get(message.method)
        if not pool:
            logger.error("no channel actor for %s; %r waits for the sweep", message.method, message)
            return
        index = hash(message.target) % len(pool)
        try:
            with self._lock:
                self._handed[message.notification_id] = self.clock.now()
            box = self._boxes[message.method][index]
            if not box.put(message):
                # The actor has been told already and has not looked yet: it takes this one too.
                return
            send(pool[index], PagesDue(box), self.tracker)
        except pykka.ActorDeadError:
            logger.warning("%r due while stopping; it is sent after the restart", message)
