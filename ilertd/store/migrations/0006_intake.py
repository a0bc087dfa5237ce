"""Migration 6: what tools need of ilertd: source secrets, support hours and SMS numbers, heartbeat
monitors, maintenance windows (frozen copies of the models)."""

from __future__ import annotations

from typing import Any

import peewee
from playhouse.migrate import migrate as apply

from ilertd.store.fields import JSONField, UTCDateTimeField


def up(migrator: Any, db: peewee.Database) -> None:
    apply(
        migrator.add_column("alert_source", "signing_secret", peewee.CharField(max_length=255, null=True)),
        migrator.add_column("alert_source", "support_hours", peewee.TextField(null=True)),
        migrator.add_column("alert_source", "phone_number", peewee.CharField(max_length=16, null=True)),
    )

    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class AlertSource(Base):
        pass

    class HeartbeatMonitor(Base):
        name = peewee.CharField(max_length=255)
        interval_sec = peewee.IntegerField()
        alert_source = peewee.ForeignKeyField(AlertSource, on_delete="CASCADE", index=True)
        integration_key = peewee.CharField(unique=True, max_length=64)
        last_ping_at = UTCDateTimeField(null=True)
        status = peewee.CharField(max_length=8)
        created_at = UTCDateTimeField()

    class MaintenanceWindow(Base):
        summary = peewee.TextField()
        starts_at = UTCDateTimeField()
        ends_at = UTCDateTimeField(index=True)
        alert_source_ids = JSONField()

    db.create_tables([HeartbeatMonitor, MaintenanceWindow])
