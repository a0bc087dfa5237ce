"""Events in: what ingesting is, for every plugin's route: source by key, rate limit, IngestEvent, counted."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool

from ilertd.actors.ask import TurnGather
from ilertd.actors.messages import IngestBatch, IngestEvent, Outcome, SourceInfo
from ilertd.domain.events import Event
from ilertd.errors import ApiError
from ilertd.web.ratelimit import RateLimiter
from ilertd.web.services import Services


class Ingestion:
    """The daemon's one way to take events in, given to plugins as `context.ingest` (the
    `Intake` of ilertd.hookspecs): the Event API, PagerDuty and every third-party route use it."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.limiter = RateLimiter(services.config.limits.events_per_minute_per_key, services.clock)
        # The events of concurrent requests cross to the supervisor together, a loop turn's at once.
        self.gathered = TurnGather(IngestBatch)

    async def source(self, integration_key: str) -> SourceInfo:
        # The cache answers from memory for known keys; only a miss touches the store.
        source = self.services.sources.cached(integration_key)
        if source is None:
            source = await run_in_threadpool(self.services.sources.get, integration_key)
        if source is None:
            raise ApiError(404, "UNKNOWN_INTEGRATION_KEY", "no alert source has this integration key")
        return source

    async def ingest(self, source: str | SourceInfo, events: Sequence[Event], integration: str,
                     payload: Any, payloads: Sequence[Any] | None = None) -> list[Outcome]:
        """Each event committed and routed, in order, with one Outcome each. The events of the
        requests handled in one turn of the event loop go to the supervisor as one batch, routed
        in their order (the events of one alert key reach its incident in order). Every event is
        counted in `ilertd_events_total` by its outcome: its responseCode, or the error code it
        was refused with (each event of a refused batch)."""
        metrics = self.services.metrics
        # Refused here, a plugin's wrong item fails its own request (a 500), not the other
        # requests whose events cross to the supervisor in the same batch.
        if not _event_list(events):
            raise TypeError(f"{integration}: events must be a list of Event, got {_kinds(events)}")
        try:
            outcomes = await self._ingest(source, events, integration, payload, payloads)
        except ApiError as error:
            metrics.event(integration, error.code, len(events))
            raise
        for outcome in outcomes:
            code = outcome.response_code if outcome.error is None else outcome.error.code
            metrics.event(integration, code or "NONE")
        return outcomes

    def refused(self, integration: str, code: str) -> None:
        """Count a request its route refused before it reached ingestion (invalid JSON, an
        unknown key or type, a bad signature, a body too large)."""
        self.services.metrics.event(integration, code)

    async def _ingest(self, source: str | SourceInfo, events: Sequence[Event], integration: str,
                      payload: Any, payloads: Sequence[Any] | None) -> list[Outcome]:
        # A follower takes no events yet: the sender retries, or a load balancer sends them elsewhere.
        self.services.leading_supervisor()
        info = source if isinstance(source, SourceInfo) else await self.source(source)
        # The store keeps a JSON value with every event: no payload is an empty object.
        if payloads is None:
            payloads = [{} if payload is None else payload] * len(events)
        elif len(payloads) != len(events):
            raise ValueError(f"{len(events)} events but {len(payloads)} payloads")
        # A source has one integration key: counting per source is counting per key.
        self.limiter.check(f"source-{info.id}", len(events))
        received_at = self.services.clock.now()
        # The supervisor's reply callback is the one argument left: IngestEvent(..., reply, ...).
        builds = [partial(IngestEvent, info, event, integration, {} if part is None else part,
                          received_at=received_at)
                  for event, part in zip(events, payloads, strict=True)]
        return await self.gathered.ask(self.services.leading_supervisor(), self.services.tracker, builds)


def _event_list(events: object) -> bool:
    return (isinstance(events, Sequence) and not isinstance(events, str)
            and all(isinstance(e, Event) for e in events))


def _kinds(events: object) -> str:
    """What a plugin handed over instead of a list of Event, for its error."""
    if not isinstance(events, Sequence) or isinstance(events, str):
        return type(events).__name__
    return "a list holding " + ", ".join(sorted({type(e).__name__ for e in events}))
