"""Asking the supervisor for a change and waiting for its committed outcome (a thread or the event loop)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pykka

from ilertd.actors.base import Tracked, send
from ilertd.actors.messages import Outcome, Ping, Reply
from ilertd.errors import ApiError
from ilertd.tracker import WorkTracker

REPLY_TIMEOUT = 30.0
TIMED_OUT = ApiError(503, "TIMEOUT", "the change was not confirmed in time; retry")
TIMED_OUT_OUTCOME = Outcome(error=TIMED_OUT)


class Replies:
    """The outcomes of `count` asks, each by its index, from whichever threads reply; `last()`
    once the last of them is in."""

    def __init__(self, count: int, last: Callable[[], Any]) -> None:
        self._outcomes: list[Outcome | None] = [None] * count
        self._waiting = count
        self._last = last
        self._lock = threading.Lock()

    def reply_to(self, index: int) -> Reply:
        def reply(outcome: Outcome) -> None:
            with self._lock:
                self._outcomes[index] = outcome
                self._waiting -= 1
                done = self._waiting == 0
            if done:
                self._last()
        return reply

    def collected(self) -> list[Outcome]:
        """Each outcome in order; TIMED_OUT for one not in (its deadline passed first)."""
        with self._lock:
            return [TIMED_OUT_OUTCOME if outcome is None else outcome for outcome in self._outcomes]


class TurnGather:
    """Every ask made in one turn of the event loop crosses to the supervisor as one message.

    Under load many requests are handled in one turn of the loop; each event crossing on its own
    cost a wake-up of the supervisor's thread and a wait for the interpreter lock, and at 64
    connections the lock stood idle a third of the time between such hand-overs. The messages of
    a turn's asks (a lone event's, or the hundred of a tool's payload) are held and sent, in
    their order, as `batch(messages)` once the turn's handlers have run (the next turn begins
    with it); a single message goes as itself. Each ask gets its own outcomes, and wakes the loop
    once when the last of them is in.
    """

    def __init__(self, batch: Callable[[tuple[Any, ...]], Any]) -> None:
        self._batch = batch
        self._held: list[Any] = []
        self._waiting: list[asyncio.Future[None]] = []
        self._to: tuple[pykka.ActorRef[Any], WorkTracker] | None = None

    async def ask(self, supervisor: pykka.ActorRef[Any], tracker: WorkTracker,
                  builds: Sequence[Callable[[Reply], Any]]) -> list[Outcome]:
        """Send each `build(reply)` with this turn's others; their committed outcomes, in order."""
        if not builds:
            # Nothing to wait for: no reply would ever come.
            return []
        loop = asyncio.get_running_loop()
        everything: asyncio.Future[None] = loop.create_future()
        replies = Replies(len(builds), lambda: loop.call_soon_threadsafe(_settle, everything, None))

        messages = [build(replies.reply_to(i)) for i, build in enumerate(builds)]
        if self._held and self._to is not None and self._to[0] is not supervisor:
            self._send()  # leadership moved within the turn: what is held goes where it was meant
        if not self._held:
            # Counted from now, so a manual clock waiting for quiet waits for what is held too.
            tracker.begin()
            self._to = (supervisor, tracker)
            loop.call_soon(self._send)
        self._held.extend(messages)
        self._waiting.append(everything)
        # A timer that settles the future, rather than asyncio.timeout or wait_for (a task more):
        # the cheapest deadline the event loop has, on the path of every event.
        deadline = loop.call_later(REPLY_TIMEOUT, _settle, everything, None)
        try:
            await everything
        finally:
            deadline.cancel()
        return replies.collected()

    def _send(self) -> None:
        held, waiting, self._held, self._waiting = self._held, self._waiting, [], []
        if not held or self._to is None:
            return
        (supervisor, tracker), self._to = self._to, None
        try:
            supervisor.tell(Tracked(held[0] if len(held) == 1 else self._batch(tuple(held))))
        except pykka.ActorDeadError as error:
            tracker.end()
            for future in waiting:
                if not future.done():
                    future.set_exception(error)


def ask_blocking(supervisor: pykka.ActorRef[Any], tracker: WorkTracker,
                 build: Callable[[Reply], Any]) -> Outcome:
    """Send `build(reply)`; wait on this (worker) thread for the outcome."""
    done = threading.Event()
    box: list[Outcome] = []

    def reply(outcome: Outcome) -> None:
        box.append(outcome)
        done.set()

    send(supervisor, build(reply), tracker)
    if not done.wait(REPLY_TIMEOUT):
        return Outcome(error=TIMED_OUT)
    return box[0]


def ask_all_blocking(supervisor: pykka.ActorRef[Any], tracker: WorkTracker,
                     builds: Sequence[Callable[[Reply], Any]], together: Callable[[tuple[Any, ...]], Any]
                     ) -> list[Outcome]:
    """Send every `build(reply)` at once, as one `together(messages)`; wait on this (worker)
    thread for all their outcomes, in order (TIMED_OUT for one not in within REPLY_TIMEOUT)."""
    if not builds:
        return []  # nothing to wait for: no reply would ever come
    everything = threading.Event()
    replies = Replies(len(builds), everything.set)
    send(supervisor, together(tuple(build(replies.reply_to(i)) for i, build in enumerate(builds))), tracker)
    everything.wait(REPLY_TIMEOUT)
    return replies.collected()


def _settle(future: asyncio.Future[Any], outcome: Any) -> None:
    if not future.done():
        future.set_result(outcome)


def answers_ping(actor: pykka.ActorRef[Any], timeout: float) -> bool:
    """Whether `actor` answers a Ping within `timeout` seconds (the watchdog's test of life)."""
    try:
        return bool(actor.ask(Ping(), timeout=timeout))
    except (pykka.Timeout, pykka.ActorDeadError):
        return False
