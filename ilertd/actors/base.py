"""What every ilertd actor shares: daemon threads, tracked one-way messages, handlers that never raise."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pykka

from ilertd.tracker import WorkTracker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tracked:
    message: Any


def send(ref: pykka.ActorRef[Any], message: Any, tracker: WorkTracker) -> None:
    """`tell` counted by the tracker until handled, so a manual clock can wait for quiet."""
    tracker.begin()
    try:
        ref.tell(Tracked(message))
    except pykka.ActorDeadError:
        tracker.end()
        raise


def send_if_alive(ref: pykka.ActorRef[Any], message: Any, tracker: WorkTracker) -> None:
    """`send`, or nothing when the actor has stopped: for a timer or a commit's callback, which
    may fire while the daemon stops (what it was for is read from the store at the next start)."""
    try:
        send(ref, message, tracker)
    except pykka.ActorDeadError:
        logger.debug("%r to a stopped actor: dropped", message)


class TrackedActor(pykka.ThreadingActor):
    # Python 3.11 starts non-daemon threads in time linear in their number; actors are
    # stopped explicitly anyway.
    use_daemon_thread = True

    def __init__(self, tracker: WorkTracker) -> None:
        super().__init__()
        self.tracker = tracker

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, Tracked):
            return self.handle(message)
        try:
            self.handle(message.message)
        except Exception:
            # pykka stops an actor whose one-way message raised; keep it alive and say why.
            logger.exception("%s failed on %r", type(self).__name__, message.message)
        finally:
            self.tracker.end()
        return None

    def handle(self, message: Any) -> Any:
        logger.warning("%s ignored unexpected message %r", type(self).__name__, message)
