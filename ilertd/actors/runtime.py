"""The dependencies every actor is given: clock, store writer, work tracker, settings, metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import peewee

from ilertd.actors.clock import Clock
from ilertd.actors.dispatch import IdAllocator, PageDispatcher
from ilertd.channels.sender_numbers import replies_reach_ilertd
from ilertd.config import Config
from ilertd.domain.replies import REPLY_MAILBOX
from ilertd.fencing import Fence
from ilertd.metrics import Metrics
from ilertd.store.committer import Committer
from ilertd.store.incidents import PolicyCache
from ilertd.store.people import PersonCache
from ilertd.store.quiet_times import MaintenanceCache
from ilertd.store.reader import Reader
from ilertd.store.schedules import ScheduleDirectory
from ilertd.store.statements import Statements
from ilertd.tracker import WorkTracker


@dataclass(frozen=True)
class Answering:
    """How pages may be answered: links signed with `secret` for `link_ttl` seconds, SMS replies
    (when Twilio's webhook can reach ilertd and the SMS pages go out where replies come back to
    it), e-mailed replies to `email_reply_to` (empty: none)."""

    secret: str = ""
    link_ttl: int = 86400
    sms_replies: bool = False
    email_reply_to: str = ""
    # Whether the SMTP listener the replies go to runs now (its plugin enabled and started).
    mail_listening: Callable[[], bool] = field(default=lambda: True)

    def reply_mailbox(self) -> str:
        """Where an e-mail page asks to be answered now; empty while no listener takes the mail (its
        plugin disabled, or its port taken at start): a reply there would be lost unseen, while
        its sender believed the incident accepted."""
        return self.email_reply_to if self.email_reply_to and self.mail_listening() else ""


def answering_for(config: Config, secret: str,
                  mail_listening: Callable[[], bool] = lambda: True) -> Answering:
    """How a daemon with these settings lets its pages be answered."""
    smtp_in = config.smtp_in
    mail_replies = smtp_in.enabled and bool(smtp_in.domain.strip())
    return Answering(
        secret=secret,
        link_ttl=config.security.link_ttl,
        sms_replies=bool(config.twilio.auth_token) and replies_reach_ilertd(config.channels.sms.url),
        email_reply_to=f"{REPLY_MAILBOX}@{smtp_in.domain.strip()}" if mail_replies else "",
        mail_listening=mail_listening,
    )


@dataclass(frozen=True)
class Runtime:
    db: peewee.Database
    clock: Clock
    committer: Committer
    tracker: WorkTracker
    public_url: str
    policies: PolicyCache = field(default_factory=PolicyCache)
    people: PersonCache = field(default_factory=PersonCache)
    notification_ids: IdAllocator = field(default_factory=IdAllocator)
    schedules: ScheduleDirectory = field(default_factory=ScheduleDirectory)
    maintenance: MaintenanceCache = field(default_factory=MaintenanceCache)
    answering: Answering = field(default_factory=Answering)
    # The daemon's own (the committer's and the web's too); a fresh one for a Runtime of a test.
    metrics: Metrics = field(default_factory=Metrics)
    # Closed once this node stops leading: its channel actors hand no more pages to providers, and
    # its committer commits no more writes.
    fence: Fence = field(default_factory=Fence)

    def __post_init__(self) -> None:
        self.committer.guard_with(self.fence.holds)

    @cached_property
    def pages(self) -> PageDispatcher:
        return PageDispatcher(self.clock, self.tracker)

    @cached_property
    def reader(self) -> Reader:
        return Reader(self.db)

    @property
    def statements(self) -> Statements:
        # The writer's own: one per database, and its row sets know the actors' SQL by identity.
        return self.committer.statements
