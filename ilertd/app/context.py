"""What the application layer writes to, takes the time from, and tells after a COMMIT."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import peewee

from ilertd.app.password_hashing import PasswordHashing
from ilertd.app.unsent_pages import MovedPage
from ilertd.domain.incidents import Actor, ResponseCode
from ilertd.domain.notification_plan import METHODS
from ilertd.domain.policy_edits import PolicyEdit
from ilertd.errors import ApiError
from ilertd.store.incidents import PolicyCache
from ilertd.store.people import PersonCache
from ilertd.store.quiet_times import MaintenanceCache
from ilertd.store.schedules import ScheduleDirectory, schedule_ids
from ilertd.store.sources import SourceCache

# The built-in channels' layouts, for a context without plugins (the CLI's, tests').
BUILT_IN_LAYOUTS = {"email": ("EMAIL",), "sms": ("SMS",), "voice": ("VOICE",), "push": ("PUSH",)}


def _nothing(*_args: object) -> None:
    """Nobody to tell (the CLI writes while no daemon runs in its process)."""


def _raise_unavailable() -> int:
    raise ApiError(503, "UNAVAILABLE", "pages are sent by a running daemon")


@dataclass(frozen=True)
class IncidentChange:
    """What the incident's actor made of an action: its `refusal`, or, committed, its transition's
    response `code` (`INCIDENT_ALREADY_ACCEPTED`: an accept that found it accepted, by another
    reply landing first, changed nothing)."""

    refusal: ApiError | None = None
    code: ResponseCode | None = None


def _unavailable(*_args: object) -> IncidentChange:
    return IncidentChange(ApiError(503, "UNAVAILABLE", "incidents are acted on by a running daemon"))


def _each_unavailable(moves: list[tuple[int, datetime]], _reason: str) -> list[IncidentChange]:
    return [_unavailable() for _ in moves]


@dataclass
class Context:
    db: peewee.Database
    now: Callable[[], datetime]
    # Caches of what paging and intake read on every event: each write invalidates its part.
    people: PersonCache = field(default_factory=PersonCache)
    policies: PolicyCache = field(default_factory=PolicyCache)
    sources: SourceCache = field(default_factory=SourceCache)
    schedules: ScheduleDirectory = field(default_factory=ScheduleDirectory)
    maintenance: MaintenanceCache = field(default_factory=MaintenanceCache)
    # The schedule actors, from above this layer: one schedule changed, or someone's duty rules.
    schedule_changed: Callable[[int], None] = _nothing
    duties_changed: Callable[[], None] = _nothing
    # The incident actors, from above this layer: someone may be reachable now, so the incidents
    # waiting for someone look again (told, not waited for).
    reachability_changed: Callable[[], None] = _nothing
    # The heartbeat actor, from above this layer: (monitor, pinged while its incident is open) →
    # the refusal of a RESOLVE that incident needed, or None once they are all committed.
    heartbeat_changed: Callable[[int, bool], ApiError | None] = _nothing
    # Alert source types the loaded integration plugins add to the built-in ones.
    integration_types: Callable[[], set[str]] = set
    # The contact methods of the registered channels (True: those that may carry a shift reminder).
    methods: Callable[[bool], tuple[str, ...]] = lambda _reminders: METHODS
    # The methods of the registered channels whose pages have a layout ("email", "sms", "voice"):
    # those an e-mailed, texted or keyed reply may answer, a third party's as a built-in's.
    laid_out: Callable[[str], tuple[str, ...]] = lambda layout: BUILT_IN_LAYOUTS.get(layout, ())
    # The incident actors, from above this layer: (incident, action, who, comment, level, when a
    # hold ends, where the page a reply's escalation answers stands in the order messages were
    # sent) → the refusal, or the code once committed.
    incident_action: Callable[[int, str, Actor, str, int | None, datetime | None, int | None],
                              IncidentChange] = _unavailable
    # The incident actors, from above this layer: ((incident, when its hold now ends) pairs, why)
    # → each one's change, all moved at once (what they release escalates together).
    move_holds: Callable[[list[tuple[int, datetime]], str], list[IncidentChange]] = _each_unavailable
    # The incident actors, from above this layer: (the edit recorded, the incidents it owes a move)
    # after an edit of the policy they escalate by, each goes on from its level in the edited one.
    policy_edited: Callable[[PolicyEdit, list[int]], None] = _nothing
    # The incident actors, from above this layer: the moves another process recorded owed (a user
    # deleted by `ilertd user delete`), made now.
    policy_moves_owed: Callable[[], None] = _nothing
    # The channel actors, from above this layer: pages a changed contact took to its new target,
    # each armed again to go there.
    pages_moved: Callable[[list[MovedPage]], None] = _nothing
    # The channel actors, from above this layer: (user, method, target) → the id of a test page
    # queued to that contact now.
    test_page: Callable[[int, str, str], int] = lambda *_args: _raise_unavailable()
    # The numbers SMS pages are sent from (ilertd.channels.sender_numbers): replies go to them.
    reply_numbers: frozenset[str] = frozenset()
    # `[smtp_in] domain` while its listener is on: mail to any address there reaches ilertd's own
    # listener (an alert, a reply, or a refusal), never a person.
    mail_domain: str = ""
    # `[security]`: the configured link-signing key (empty: the one kept in the store).
    secret_key: str = ""
    # `[security] password_*`: the cost of the password hashes made and checked.
    passwords: PasswordHashing = field(default_factory=PasswordHashing)

    def user_changed(self, *user_ids: int, duties: bool = False) -> None:
        """After the COMMIT of a write to users, their contacts or rules: paging reads them
        afresh, with `duties` (shift reminders may depend on it) every schedule plans again, and
        the incidents waiting for someone look again (an unmute, a first contact or alert rule)."""
        for user_id in user_ids:
            self.people.invalidate(user_id)
        if duties:
            self.duties_changed()
        self.reachability_changed()

    def schedule_written(self, schedule_id: int) -> None:
        """After the COMMIT of a write to a schedule: paging reads it afresh, its actor and the
        incidents waiting for someone look again."""
        self.schedules.invalidate(schedule_id)
        self.schedule_changed(schedule_id)
        self.reachability_changed()

    def policy_written(self) -> None:
        """After the COMMIT of a write to an escalation policy: paging reads it afresh."""
        self.policies.invalidate()
        self.reachability_changed()

    def store_changed_elsewhere(self) -> None:
        """After another process's COMMIT (`ilertd provision`, `ilertd user delete`), which told no
        cache here: paging and intake read everything afresh, and every schedule looks again (a new
        one gets its actor; duty rules may have changed)."""
        self.people.invalidate()
        self.policies.invalidate()
        self.sources.invalidate()
        self.schedules.invalidate()
        self.maintenance.invalidate()
        for schedule_id in schedule_ids():
            self.schedule_changed(schedule_id)
        self.reachability_changed()
