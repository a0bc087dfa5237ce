"""Heartbeat monitors: their checks and writes, a ping, and a monitor falling overdue."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from ilertd.app import fields as v
from ilertd.app.auth import Principal, require_admin
from ilertd.app.context import Context
from ilertd.app.schema import Integer, ObjectSpec, Ref, Text
from ilertd.errors import ApiError, invalid, not_found
from ilertd.store import models as m
from ilertd.store.db import row_held, write_transaction
from ilertd.store.heartbeats import HEARTBEAT_INTEGRATION, monitor, monitor_by_key
from ilertd.store.incidents import open_incidents_of_keys

MIN_INTERVAL_S = 10
MAX_INTERVAL_S = 31 * 24 * 3600

MONITOR_BODY = ObjectSpec(title="HeartbeatMonitorBody", fields={
    "name": v.NAME,
    "intervalSec": Integer(low=MIN_INTERVAL_S, high=MAX_INTERVAL_S,
                           description="seconds: no ping within it turns the monitor OVERDUE"),
    "alertSource": Ref(missing="alertSource {id} is required", description="an existing alert source"),
    "integrationKey": Text(max_length=None, description="generated and read-only: a PUT may carry it "
                           "back unchanged"),
}, on_create=("name", "intervalSec", "alertSource"), description="An update changes the fields given.")


def monitor_or_404(monitor_id: int) -> m.HeartbeatMonitor:
    row = monitor(monitor_id)
    if row is None:
        raise not_found("heartbeat monitor", monitor_id)
    return row


def heartbeat_alert_key(monitor_id: int) -> str:
    return f"heartbeat-{monitor_id}"


class Heartbeats:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _fields(self, body: dict[str, Any], current: m.HeartbeatMonitor | None) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        name = MONITOR_BODY.read(body, "name", creating=current is None)
        if name is not None:
            fields["name"] = name
        if current is None or "intervalSec" in body:
            fields["interval_sec"] = MONITOR_BODY["intervalSec"].read(body, "intervalSec")
        if current is None or "alertSource" in body:
            source_id = MONITOR_BODY["alertSource"].read_field(body, "alertSource")
            # Held in the writing transaction: a delete of the source meanwhile waits for it, and
            # one committed first is seen here (not as a foreign key's 500 at the write).
            if not row_held(m.AlertSource, source_id):
                raise invalid("alertSource", f"alert source {source_id} does not exist")
            fields["alert_source"] = source_id
        # Read-only, but a client's GET-modify-PUT carries it back unchanged.
        key = current.integration_key if current is not None else None
        if current is not None and body.get("integrationKey", key) != key:
            raise invalid("integrationKey", "integrationKey is generated and read-only")
        return fields

    def create(self, caller: Principal, body: dict[str, Any]) -> m.HeartbeatMonitor:
        require_admin(caller)
        with write_transaction(self.ctx.db):
            fields = self._fields(body, None)
            row = m.HeartbeatMonitor.create(integration_key=secrets.token_hex(16), status="UNKNOWN",
                                            created_at=self.ctx.now(), **fields)
        return row

    def update(self, caller: Principal, monitor_id: int, body: dict[str, Any]) -> m.HeartbeatMonitor:
        require_admin(caller)
        MONITOR_BODY.refuse_nulls(body)
        with write_transaction(self.ctx.db):
            fields = self._fields(body, monitor_or_404(monitor_id))
            if fields:
                m.HeartbeatMonitor.update(**fields).where(m.HeartbeatMonitor.id == monitor_id).execute()
        if fields:
            # A new interval moves the deadline of the running timer.
            self.ctx.heartbeat_changed(monitor_id, False)
        return monitor_or_404(monitor_id)

    def delete(self, caller: Principal, monitor_id: int) -> None:
        """Refused while its incident is open: the monitor's next ping resolves it, and none
        reaches a deleted one (as a policy an open incident escalates by is kept)."""
        require_admin(caller)
        with write_transaction(self.ctx.db):
            v.held_or_404(m.HeartbeatMonitor, monitor_id, "heartbeat monitor", exclusive=True)
            key = heartbeat_alert_key(monitor_id)
            own = open_incidents_of_keys([key], HEARTBEAT_INTEGRATION).get(key, [])
            v.refuse_in_use([str(i) for i, _source in own],
                          "the monitor's incident is open", "resolve it first (its next ping would have)")
            m.HeartbeatMonitor.delete().where(m.HeartbeatMonitor.id == monitor_id).execute()
        self.ctx.heartbeat_changed(monitor_id, False)

    def ping(self, integration_key: str) -> m.HeartbeatMonitor:
        """The job is alive: the timer starts again from now; an overdue monitor's incident resolves.

        The ping is committed first (a crash after the answer never alerts for a period it was
        pinged in), then the RESOLVE of its open incident, before the answer: a refused RESOLVE is
        the store's 503, and the monitor's next ping, finding the incident still open, resolves it."""
        with write_transaction(self.ctx.db):
            row = monitor_by_key(integration_key)
            if row is None:
                raise ApiError(404, "UNKNOWN_INTEGRATION_KEY", "no heartbeat monitor has this key")
            key = heartbeat_alert_key(row.id)
            # Its own incident still open (a RESOLVE the store refused): this ping resolves it.
            own = open_incidents_of_keys([key], HEARTBEAT_INTEGRATION).get(key)
            recovering = row.status == "OVERDUE" or bool(own)
            m.HeartbeatMonitor.update(last_ping_at=self.ctx.now(), status="OK").where(
                m.HeartbeatMonitor.id == row.id).execute()
        refusal = self.ctx.heartbeat_changed(row.id, recovering)
        if refusal is not None:
            raise refusal
        return row

    def mark_overdue(self, monitor_id: int, last_ping_at: datetime) -> m.HeartbeatMonitor | None:
        """The monitor, now OVERDUE, if it was still waiting for the ping after `last_ping_at` and
        its interval has run out; None if a ping came meanwhile (or it is gone, or not due)."""
        with write_transaction(self.ctx.db):
            row = monitor(monitor_id)
            if (row is None or row.status != "OK" or row.last_ping_at != last_ping_at
                    or last_ping_at + timedelta(seconds=row.interval_sec) > self.ctx.now()):
                return None
            m.HeartbeatMonitor.update(status="OVERDUE").where(m.HeartbeatMonitor.id == monitor_id).execute()
        return monitor(monitor_id)
