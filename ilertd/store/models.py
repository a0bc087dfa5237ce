"""The peewee models: what ilertd keeps (users, tokens, sources, policies, incidents, events, logs)."""

from __future__ import annotations

import peewee

from ilertd.store.fields import JSONField, UTCDateTimeField

database_proxy = peewee.DatabaseProxy()


class BaseModel(peewee.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class Setting(BaseModel):
    """Small values the daemon generates once and keeps (the link-signing secret, ...)."""

    key = peewee.CharField(primary_key=True, max_length=64)
    value = peewee.TextField()


class User(BaseModel):
    username = peewee.CharField(unique=True, max_length=64)
    first_name = peewee.CharField(default="", max_length=128)
    last_name = peewee.CharField(default="", max_length=128)
    email = peewee.CharField(default="", max_length=254)
    timezone = peewee.CharField(default="UTC", max_length=64)
    role = peewee.CharField(default="USER", max_length=8)
    muted_until = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField()


class ApiToken(BaseModel):
    user = peewee.ForeignKeyField(User, backref="tokens", on_delete="CASCADE")
    name = peewee.CharField(default="", max_length=128)
    token_hash = peewee.CharField(unique=True, max_length=64)
    created_at = UTCDateTimeField()


class EscalationPolicy(BaseModel):
    name = peewee.CharField(max_length=255)
    rules = JSONField()
    repeating = peewee.BooleanField(default=False)
    frequency = peewee.IntegerField(default=0)


class AlertSource(BaseModel):
    name = peewee.CharField(max_length=255)
    integration_type = peewee.CharField(max_length=32)
    integration_key = peewee.CharField(unique=True, max_length=64)
    escalation_policy = peewee.ForeignKeyField(
        EscalationPolicy, null=True, on_delete="SET NULL", backref="alert_sources"
    )
    priority = peewee.CharField(default="HIGH", max_length=8)
    field_mapping = JSONField(null=True)
    created_at = UTCDateTimeField()


class Incident(BaseModel):
    # Ids are allocated by the supervisor (the only creator) so a reply can carry one before
    # the row is committed in a batch.
    id = peewee.IntegerField(primary_key=True)
    alert_source = peewee.ForeignKeyField(AlertSource, backref="incidents", on_delete="RESTRICT")
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


class Event(BaseModel):
    incident = peewee.ForeignKeyField(Incident, backref="events", on_delete="CASCADE")
    event_type = peewee.CharField(max_length=10)
    alert_key = peewee.CharField(max_length=255)
    received_at = UTCDateTimeField()
    integration = peewee.CharField(max_length=32)
    payload = JSONField()


class LogEntry(BaseModel):
    incident = peewee.ForeignKeyField(Incident, backref="log_entries", on_delete="CASCADE")
    timestamp = UTCDateTimeField()
    log_entry_type = peewee.CharField(max_length=32)
    text = peewee.TextField()
    user_id = peewee.IntegerField(null=True)
    channel = peewee.CharField(null=True, max_length=32)


ALL_MODELS: tuple[type[BaseModel], ...] = (
    Setting, User, ApiToken, EscalationPolicy, AlertSource, Incident, Event, LogEntry,
)
