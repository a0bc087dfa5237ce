"""The daemon's Prometheus metrics: one registry per daemon, and the text `GET /metrics` answers."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import disable_created_metrics

# The classic text format (0.0.4), which every Prometheus since 2.0 reads; generate_latest writes it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# The incident states `ilertd_incidents` reports: the open ones (RESOLVED grows without bound).
OPEN_STATUSES = ("PENDING", "ACCEPTED")
# Notification outcomes: the provider took it, it failed (each failed attempt), it was refused
# (never sent, e.g. the number replied STOP).
SENT, FAILED, REFUSED, MUTED = "sent", "failed", "refused", "muted"
# From a page due now (tens of ms) to one stuck behind a backlog or a slow provider (minutes).
DELAY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# A group commit: a fraction of a millisecond alone, tens of milliseconds for a full batch on a
# slow disk; above a second the store is in trouble.
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

# No `*_created` series beside each counter and histogram: they double the exposition and no
# rule of ours reads them. prometheus_client keeps this switch per process, and the process is ilertd's.
disable_created_metrics()

__all__ = ["CONTENT_TYPE", "FAILED", "MUTED", "OPEN_STATUSES", "REFUSED", "SENT", "Metrics"]


class Metrics:
    """A daemon's metrics, in a registry of its own (not prometheus_client's global one): two
    daemons in one process (the tests run one after another) count apart, and a restart starts
    from zero as a new process would. The daemon makes one and hands it to the committer, the
    actors' Runtime and the web Services; the hot paths count through cached label children."""

    def __init__(self, version: str = "", leader: bool = True) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.events_total = Counter(
            "ilertd_events", "Events taken in or refused, by integration and outcome (the responseCode,"
            " or the error code)", ("integration", "outcome"), registry=registry)
        self.incidents = Gauge("ilertd_incidents", "Open incidents by status, counted at scrape time",
                               ("status",), registry=registry)
        self.notifications_total = Counter(
            "ilertd_notifications", "Outbox rows (pages, status updates, shift reminders, test pages)"
            " by channel and outcome: sent, failed (each failed attempt), refused", ("channel", "outcome"),
            registry=registry)
        self.notification_delay = Histogram(
            "ilertd_notification_delay_seconds", "From the moment a notification is due to the"
            " provider's answer (sent or failed), by the daemon's clock", buckets=DELAY_BUCKETS,
            registry=registry)
        self.event_commit = Histogram(
            "ilertd_event_commit_seconds", "Duration of one group commit of the store writer",
            buckets=COMMIT_BUCKETS, registry=registry)
        self.outbox_pending = Gauge("ilertd_outbox_pending", "Outbox rows waiting to be sent (SCHEDULED),"
                                    " counted at scrape time", registry=registry)
        self.build_info = Gauge("ilertd_build_info", "Always 1; the version is the label",
                                ("version",), registry=registry)
        self.leader = Gauge("ilertd_leader", "1 on the node that runs actors, timers and channels",
                            registry=registry)
        self.plugin_up = Gauge("ilertd_plugin_up", "1 for an enabled plugin that runs, 0 for one that"
                               " failed to load or start (its routes, integrations and methods withdrawn)",
                               ("plugin",), registry=registry)
        self.build_info.labels(version=version or "unknown").set(1)
        self.leader.set(1 if leader else 0)
        self._events: dict[tuple[str, str], Counter] = {}
        self._notifications: dict[tuple[str, str], Counter] = {}
        self._scrape = threading.Lock()

    def event(self, integration: str, outcome: str, count: int = 1) -> None:
        """`count` events of `integration` ended in `outcome` (a responseCode or an error code)."""
        child = self._events.get((integration, outcome))
        if child is None:
            child = self._events.setdefault(
                (integration, outcome), self.events_total.labels(integration=integration, outcome=outcome))
        child.inc(count)

    def notification(self, channel: str, outcome: str, count: int = 1) -> None:
        child = self._notifications.get((channel, outcome))
        if child is None:
            child = self._notifications.setdefault(
                (channel, outcome), self.notifications_total.labels(channel=channel, outcome=outcome))
        child.inc(count)

    def notification_answered(self, delay_seconds: float) -> None:
        """A provider answered for a notification due `delay_seconds` before (never negative)."""
        self.notification_delay.observe(max(delay_seconds, 0.0))

    def commit_took(self, seconds: float) -> None:
        self.event_commit.observe(seconds)

    def exposition(self, open_incidents: Mapping[str, int], outbox_pending: int,
                   plugins_up: Mapping[str, bool] | None = None) -> bytes:
        """The text format, with the gauges the store counted for this scrape and whether each
        plugin not disabled by the config runs."""
        with self._scrape:
            for status in OPEN_STATUSES:
                self.incidents.labels(status=status).set(open_incidents.get(status, 0))
            self.outbox_pending.set(outbox_pending)
            for plugin, up in (plugins_up or {}).items():
                self.plugin_up.labels(plugin=plugin).set(1 if up else 0)
            return generate_latest(self.registry)
