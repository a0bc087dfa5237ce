"""The asks made in one turn of the event loop reach the supervisor as one message, in their
order, and each still gets its own outcome; asks of different turns go apart; a dead supervisor
fails each of them at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pykka
import pytest

from ilertd.actors.ask import TurnGather
from ilertd.actors.base import TrackedActor
from ilertd.actors.messages import Outcome
from ilertd.tracker import WorkTracker


class Batch(tuple):  # type: ignore[type-arg]
    """What the gatherer sends for several asks."""


class Answering(TrackedActor):
    """Answers each ask with its own number, and keeps what reached it, message by message."""

    def __init__(self, tracker: WorkTracker) -> None:
        super().__init__(tracker)
        self.received: list[Any] = []

    def handle(self, message: Any) -> Any:
        if message == "received":
            return list(self.received)
        self.received.append(message)
        for number, reply in (message if isinstance(message, Batch) else (message,)):
            reply(Outcome(incident_id=number))
        return None


async def ask(gather: TurnGather, actor: pykka.ActorRef[Any], tracker: WorkTracker, *numbers: int) -> Any:
    """One request's asks (several: a tool's payload); its one outcome, or its outcomes."""
    def build(number: int) -> Any:
        return lambda reply: (number, reply)
    outcomes = await gather.ask(actor, tracker, [build(n) for n in numbers])
    return outcomes[0] if len(numbers) == 1 else outcomes


@pytest.fixture
def running() -> Any:
    tracker = WorkTracker()
    actor = Answering.start(tracker)
    yield actor, tracker
    actor.stop()


def numbers(messages: list[Any]) -> list[Any]:
    return [[n for n, _ in m] if isinstance(m, Batch) else m[0] for m in messages]


def test_asks_of_one_turn_cross_as_one_message_in_order_each_with_its_own_outcome(running: Any) -> None:
    actor, tracker = running
    gather = TurnGather(Batch)

    async def scenario() -> list[Outcome]:
        return list(await asyncio.gather(*(ask(gather, actor, tracker, n) for n in range(1, 6))))

    outcomes = asyncio.run(scenario())
    assert [o.incident_id for o in outcomes] == [1, 2, 3, 4, 5]
    assert numbers(actor.ask("received")) == [[1, 2, 3, 4, 5]]
    assert tracker.wait_idle(5) and tracker.in_flight == 0


def test_a_lone_ask_goes_as_itself_and_asks_of_later_turns_go_apart(running: Any) -> None:
    actor, tracker = running
    gather = TurnGather(Batch)

    async def scenario() -> list[int | None]:
        first = await ask(gather, actor, tracker, 7)
        second = await ask(gather, actor, tracker, 8)
        return [first.incident_id, second.incident_id]

    assert asyncio.run(scenario()) == [7, 8]
    assert numbers(actor.ask("received")) == [7, 8]
    assert tracker.wait_idle(5) and tracker.in_flight == 0


def test_a_dead_supervisor_fails_every_held_ask_and_leaves_nothing_counted(running: Any) -> None:
    actor, tracker = running
    actor.stop()
    gather = TurnGather(Batch)

    async def scenario() -> list[BaseException | Outcome]:
        return list(await asyncio.gather(*(ask(gather, actor, tracker, n) for n in range(3)),
                                         return_exceptions=True))

    results = asyncio.run(scenario())
    assert all(isinstance(result, pykka.ActorDeadError) for result in results), results
    assert tracker.in_flight == 0


def test_what_is_held_for_the_end_of_the_turn_is_counted_already(running: Any) -> None:
    # A manual clock waits for quiet: an ask held until the turn ends must keep it from moving.
    actor, tracker = running
    gather = TurnGather(Batch)

    async def scenario() -> int:
        task = asyncio.ensure_future(ask(gather, actor, tracker, 1))
        await asyncio.sleep(0)  # the ask is held; the turn that sends it has not run yet
        held = tracker.in_flight
        await task
        return held

    assert asyncio.run(scenario()) == 1
    assert tracker.wait_idle(5) and tracker.in_flight == 0


def test_a_payloads_asks_go_with_the_turns_others_in_order_and_come_back_as_its_own(running: Any) -> None:
    actor, tracker = running
    gather = TurnGather(Batch)

    async def scenario() -> list[Any]:
        return list(await asyncio.gather(ask(gather, actor, tracker, 1), ask(gather, actor, tracker, 2, 3, 4),
                                         ask(gather, actor, tracker, 5)))

    lone, payload, last = asyncio.run(scenario())
    assert (lone.incident_id, [o.incident_id for o in payload], last.incident_id) == (1, [2, 3, 4], 5)
    assert numbers(actor.ask("received")) == [[1, 2, 3, 4, 5]]
    assert tracker.wait_idle(5) and tracker.in_flight == 0
