"""Migration 1: the first schema, as a frozen copy so later model changes never alter it."""

from __future__ import annotations

from typing import Any

import peewee

from ilertd.store.fields import JSONField, UTCDateTimeField


def up(migrator: Any, db: peewee.Database) -> None:
    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Setting(Base):
        key = peewee.CharField(primary_key=True, max_length=64)
        value = peewee.TextField()

    class User(Base):
        username = peewee.CharField(unique=True, max_length=64)
        first_name = peewee.CharField(default="", max_length=128)
        last_name = peewee.CharField(default="", max_length=128)
        email = peewee.CharField(default="", max_length=254)
        timezone = peewee.CharField(default="UTC", max_length=64)
        role = peewee.CharField(default="USER", max_length=8)
        muted_until = UTCDateTimeField(null=True)
        created_at = UTCDateTimeField()

    class ApiToken(Base):
        user = peewee.ForeignKeyField(User, on_delete="CASCADE")
        name = peewee.CharField(default="", max_length=128)
        token_hash = peewee.CharField(unique=True, max_length=64)
        created_at = UTCDateTimeField()

    class EscalationPolicy(Base):
        name = peewee.CharField(max_length=255)
        rules = JSONField()
        repeating = peewee.BooleanField(default=False)
        frequency = peewee.IntegerField(default=0)

    class AlertSource(Base):
        name = peewee.CharField(max_length=255)
        integration_type = peewee.CharField(max_length=32)
        integration_key = peewee.CharField(unique=True, max_length=64)
        escalation_policy = peewee.ForeignKeyField(EscalationPolicy, null=True, on_delete="SET NULL")
        priority = peewee.CharField(default="HIGH", max_length=8)
        field_mapping = JSONField(null=True)
        created_at = UTCDateTimeField()

    class Incident(Base):
        id = peewee.IntegerField(primary_key=True)
        alert_source = peewee.ForeignKeyField(AlertSource, on_delete="RESTRICT")
        alert_key = peewee.CharField(max_length=255)
        alert_key_identity = peewee.CharField(max_length=255)
        summary = peewee.TextField()
        details = peewee.TextField(default="")
        status = peewee.CharField(max_length=10, index=True)
        priority = peewee.CharField(max_length=8)
        escalation_policy_id = peewee.IntegerField(null=True)
        escalation_level = peewee.IntegerField(default=0)
        escalation_pass = peewee.IntegerField(default=0)
        next_escalation_at = UTCDateTimeField(null=True, index=True)
        report_time = UTCDateTimeField(index=True)
        accepted_at = UTCDateTimeField(null=True)
        accepted_by_id = peewee.IntegerField(null=True)
        resolved_at = UTCDateTimeField(null=True)
        resolved_by_id = peewee.IntegerField(null=True)
        images = JSONField(default=list)
        links = JSONField(default=list)
        labels = JSONField(default=dict)
        custom_details = JSONField(default=dict)
        event_count = peewee.IntegerField(default=1)

    class Event(Base):
        incident = peewee.ForeignKeyField(Incident, on_delete="CASCADE")
        event_type = peewee.CharField(max_length=10)
        alert_key = peewee.CharField(max_length=255)
        received_at = UTCDateTimeField()
        integration = peewee.CharField(max_length=32)
        payload = JSONField()

    class LogEntry(Base):
        incident = peewee.ForeignKeyField(Incident, on_delete="CASCADE")
        timestamp = UTCDateTimeField()
        log_entry_type = peewee.CharField(max_length=32)
        text = peewee.TextField()
        user_id = peewee.IntegerField(null=True)
        channel = peewee.CharField(null=True, max_length=32)

    db.create_tables([Setting, User, ApiToken, EscalationPolicy, AlertSource, Incident, Event, LogEntry])
    # The store's promise of one open incident per alert key, even if the supervisor erred.
    db.execute_sql(
        "CREATE UNIQUE INDEX incident_open_alert_key ON incident (alert_source_id, alert_key_identity)"
        " WHERE status <> 'RESOLVED'"
    )
