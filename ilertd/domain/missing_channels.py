"""Pages planned for a method with no channel now (its plugin disabled before a restart): where each goes."""

from __future__ import annotations

from dataclasses import dataclass

from ilertd.domain.incident_model import LogEntry
from ilertd.domain.notification_plan import Channels, has_channel


def not_enabled(method: str) -> str:
    """The error a page waiting for its channel carries: so it is logged once, not at each start."""
    return f"the {method} channel is not enabled"


@dataclass(frozen=True)
class PageWithoutChannel:
    """An unsent outbox row whose method has no channel, and what paging knows of its user."""

    method: str
    target: str
    kind: str
    user_id: int
    account_email: str
    error_message: str | None


@dataclass(frozen=True)
class Rerouting:
    """Where such a page goes now: to the account e-mail (`email`), or it waits for its channel
    (None); `entry` is logged on its incident, None when it was logged already."""

    email: str | None
    entry: LogEntry | None


def reroute(page: PageWithoutChannel, channels: Channels) -> Rerouting:
    """An alert page whose channel is gone goes to its user's account e-mail, as for a user with no
    usable rule: waiting for a channel that may never come back would page nobody. Without an
    account e-mail or an EMAIL channel (or a status update), it waits: it goes out if its channel
    is enabled again."""
    why = not_enabled(page.method)
    if page.kind == "ALERT" and page.account_email and has_channel("EMAIL", channels):
        return Rerouting(page.account_email, LogEntry(
            "NOTIFICATION_FAILED",
            f"{page.method} to {page.target} not sent: {why}; e-mail to {page.account_email} instead",
            page.user_id, page.method))
    if page.error_message == why:
        return Rerouting(None, None)
    return Rerouting(None, LogEntry(
        "NOTIFICATION_FAILED",
        f"{page.method} to {page.target} not sent: {why}; it waits until the channel is enabled again",
        page.user_id, page.method))
