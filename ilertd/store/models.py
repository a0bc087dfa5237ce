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
    # argon2id (PHC string) of the web UI password; None: the user cannot log in to the UI.
    password_hash = peewee.CharField(max_length=255, null=True)


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


class PolicyEdit(BaseModel):
    """An escalation policy's levels edited while incidents escalated by it (the policy before and
    after, as stored), or a user deleted who was all their levels had paged (`deleted_user`), kept
    while an incident still owes the move it makes (`PolicyMove`)."""

    policy_id = peewee.IntegerField()
    before = JSONField()
    after = JSONField()
    edited_at = UTCDateTimeField()
    # Set when it is no edit of the levels but a user's delete: the name of the user deleted.
    deleted_user = peewee.CharField(max_length=255, null=True)


class PolicyMove(BaseModel):
    """An incident not yet moved by an edit of its policy (ilertd.domain.policy_edits)."""

    edit = peewee.ForeignKeyField(PolicyEdit, on_delete="CASCADE")
    incident_id = peewee.IntegerField(index=True)

    class Meta:
        primary_key = peewee.CompositeKey("edit", "incident_id")


class AlertSource(BaseModel):
    name = peewee.CharField(max_length=255)
    integration_type = peewee.CharField(max_length=32)
    integration_key = peewee.CharField(unique=True, max_length=64)
    escalation_policy = peewee.ForeignKeyField(
        EscalationPolicy, null=True, on_delete="SET NULL", backref="alert_sources"
    )
    priority = peewee.CharField(default="HIGH", max_length=8)
    field_mapping = JSONField(null=True)
    # The shared secret a tool signs its requests with (Sentry's client secret, a webhook's HMAC key).
    signing_secret = peewee.CharField(max_length=255, null=True)
    support_hours = JSONField(null=True)
    # An SMS source's number: a text to it opens an alert there (E.164).
    phone_number = peewee.CharField(max_length=16, null=True)
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
    # When a level last paged someone (migration 16; unknown for incidents before it).
    escalated_at = UTCDateTimeField(null=True)
    # The same in the order messages left ilertd (the last `sent_seq` then; migration 25): what a
    # reply's page is compared with, which a wall clock stepped back cannot reverse.
    escalated_seq = peewee.BigIntegerField(null=True)
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




class Contact(BaseModel):
    """A way to reach a user: an e-mail address, an E.164 number, a push topic or URL."""

    user = peewee.ForeignKeyField(User, backref="contacts", on_delete="CASCADE")
    method = peewee.CharField(max_length=8)
    target = peewee.CharField(max_length=512)


class AlertRule(BaseModel):
    """How a user is paged for an incident of a priority: which contact, how long after."""

    user = peewee.ForeignKeyField(User, backref="alert_rules", on_delete="CASCADE")
    method = peewee.CharField(max_length=8)
    contact = peewee.ForeignKeyField(Contact, on_delete="CASCADE")
    delay_min = peewee.IntegerField(default=0)
    type = peewee.CharField(max_length=16)


class UpdateRule(BaseModel):
    """A user hears when someone else accepts, resolves or escalates an incident they were paged for."""

    user = peewee.ForeignKeyField(User, backref="update_rules", on_delete="CASCADE")
    method = peewee.CharField(max_length=8)
    contact = peewee.ForeignKeyField(Contact, on_delete="CASCADE")
    type = peewee.CharField(max_length=16)


class DutyRule(BaseModel):
    """A shift-start reminder `before_min` minutes before a user's on-call shift."""

    user = peewee.ForeignKeyField(User, backref="duty_rules", on_delete="CASCADE")
    method = peewee.CharField(max_length=8)
    contact = peewee.ForeignKeyField(Contact, on_delete="CASCADE")
    before_min = peewee.IntegerField(default=0)


class Notification(BaseModel):
    """The outbox: every message to one contact, written with the change that caused it.

    A page or a status update belongs to its incident; a shift-start reminder (`kind`
    SHIFT_REMINDER) to a schedule, a duty rule and a shift, and exists once per
    (schedule, user, rule, shift start).
    """

    # Allocated in memory so timers can be armed before the batch commits.
    id = peewee.IntegerField(primary_key=True)
    incident = peewee.ForeignKeyField(Incident, backref="notifications", on_delete="CASCADE", null=True)
    user_id = peewee.IntegerField()
    kind = peewee.CharField(max_length=16)
    method = peewee.CharField(max_length=8)
    target = peewee.CharField(max_length=512)
    level = peewee.IntegerField(null=True)
    due_at = UTCDateTimeField(index=True)
    sent_at = UTCDateTimeField(null=True)
    status = peewee.CharField(max_length=10, index=True)
    attempts = peewee.IntegerField(default=0)
    error_message = peewee.TextField(null=True)
    created_at = UTCDateTimeField()
    schedule_id = peewee.IntegerField(null=True)
    rule_id = peewee.IntegerField(null=True)
    shift_start = UTCDateTimeField(null=True)
    shift_end = UTCDateTimeField(null=True)
    # Set, durably, before the row is handed to its provider: a SCHEDULED row that has it was in
    # flight when its sender died. `resent`: it was handed out again once for that reason.
    sending_since = UTCDateTimeField(null=True)
    resent = peewee.BooleanField(default=False, constraints=[peewee.SQL("DEFAULT FALSE")])
    # A page to the user's account e-mail, planned for want of a usable alert rule: it follows the
    # account address, not a contact.
    fallback = peewee.BooleanField(default=False, constraints=[peewee.SQL("DEFAULT FALSE")])
    # Set from a counter as the row is handed to its provider (kept once it is stored as sent; a
    # row stored as sent without, since): the order messages left ilertd in, for what a reply
    # answers ("the latest page"), which a wall clock stepped back cannot reverse.
    sent_seq = peewee.BigIntegerField(null=True, index=True)
    # The row's `sent_seq` from its first hand-out, kept when it is handed out again (a retry, a
    # re-send after a crash; migration 27): it may have reached the phone from then on, so an
    # escalation since then is one a reply to it comes after.
    first_sent_seq = peewee.BigIntegerField(null=True)

    class Meta:
        indexes = ((("schedule_id", "user_id", "rule_id", "shift_start"), True),)


class Schedule(BaseModel):
    """An on-call schedule; its definition lives in versions, so an edit never rewrites the past."""

    name = peewee.CharField(max_length=255)
    type = peewee.CharField(max_length=10)
    # Fixed at creation: every local time of every version is read in this zone.
    timezone = peewee.CharField(max_length=64)
    created_at = UTCDateTimeField()


class ScheduleVersion(BaseModel):
    """The schedule's layers or static shifts (API JSON) as defined from `effective_from` on."""

    schedule = peewee.ForeignKeyField(Schedule, backref="versions", on_delete="CASCADE")
    effective_from = UTCDateTimeField()
    definition = JSONField()

    class Meta:
        indexes = ((("schedule", "effective_from"), True),)


class ScheduleOverride(BaseModel):
    """A user on call over [start, end) above every layer; a newer (higher id) one wins an overlap."""

    schedule = peewee.ForeignKeyField(Schedule, backref="overrides", on_delete="CASCADE")
    user_id = peewee.IntegerField()
    start = UTCDateTimeField()
    end = UTCDateTimeField()
    created_at = UTCDateTimeField()


class HeartbeatMonitor(BaseModel):
    """A job that pings ilertd every `interval_sec`; silence opens an incident on its source."""

    name = peewee.CharField(max_length=255)
    interval_sec = peewee.IntegerField()
    alert_source = peewee.ForeignKeyField(AlertSource, on_delete="CASCADE", backref="heartbeat_monitors")
    integration_key = peewee.CharField(unique=True, max_length=64)
    last_ping_at = UTCDateTimeField(null=True)
    status = peewee.CharField(max_length=8)  # UNKNOWN (never pinged), OK, OVERDUE
    created_at = UTCDateTimeField()


class MaintenanceWindow(BaseModel):
    summary = peewee.TextField()
    starts_at = UTCDateTimeField()
    ends_at = UTCDateTimeField(index=True)
    alert_source_ids = JSONField()


class ReplyCode(BaseModel):
    """The short number an SMS page gives its incident on one phone (`3` in `3a`): unique per phone,
    taken over by a new incident once its own is resolved."""

    target = peewee.CharField(max_length=32)
    code = peewee.IntegerField()
    incident = peewee.ForeignKeyField(Incident, on_delete="CASCADE")
    user_id = peewee.IntegerField()
    # The last SMS page carrying it: a bare `a` answers the latest.
    paged_at = UTCDateTimeField()

    class Meta:
        indexes = ((("target", "code"), True), (("target", "incident"), False))


class PhoneState(BaseModel):
    """What a phone number said about SMS: STOP (no SMS until START), and help texts sent in a row."""

    phone = peewee.CharField(primary_key=True, max_length=32)
    sms_stopped = peewee.BooleanField(default=False)
    help_in_a_row = peewee.IntegerField(default=0)
    updated_at = UTCDateTimeField()


class SmsReply(BaseModel):
    """A texted escalation as Twilio delivered it (its MessageSid), and the page it answered (where
    it stands in the order messages were sent): Twilio's re-send of the same message answers that
    page again, not a later one."""

    message_sid = peewee.CharField(primary_key=True, max_length=64)
    phone = peewee.CharField(max_length=32)
    body = peewee.TextField()
    # Before migration 25, when the page was sent; no longer written.
    page_sent_at = UTCDateTimeField(null=True)
    page_seq = peewee.BigIntegerField(null=True)
    received_at = UTCDateTimeField(index=True)


class Node(BaseModel):
    """An `ilertd serve` on this database: `hostname:port` (or a uuid), leader or follower, and the
    last time it said it was up (by the wall clock: liveness, not the daemon's business time)."""

    name = peewee.CharField(unique=True, max_length=255)
    role = peewee.CharField(max_length=16)
    started_at = UTCDateTimeField()
    last_seen = UTCDateTimeField()


class ForwardedRequest(BaseModel):
    """A write a follower took and hands to the leader: the HTTP request as received, then the
    leader's answer. An event's row is the follower's promise once it answered 202."""

    node = peewee.CharField(max_length=255)
    method = peewee.CharField(max_length=8)
    path = peewee.TextField()
    query = peewee.TextField(default="")
    headers = JSONField()
    client = peewee.CharField(max_length=64, default="")
    body = peewee.BlobField()
    is_event = peewee.BooleanField(default=False)
    received_at = UTCDateTimeField()
    # The last `sent_seq` given when the follower took the request (0: none yet; migration 26): a
    # reply in it answers what had been handed out then, not what the next leader sent before it.
    last_sent_seq = peewee.BigIntegerField(null=True)
    claimed_by = peewee.CharField(max_length=255, null=True, index=True)
    claimed_at = UTCDateTimeField(null=True)
    status = peewee.IntegerField(null=True)
    response_headers = JSONField(null=True)
    response_body = peewee.BlobField(null=True)
    answered_at = UTCDateTimeField(null=True, index=True)


class SharedClock(BaseModel):
    """The manual clock (`serve --manual-clock`, tests only) of every node on a shared database."""

    id = peewee.IntegerField(primary_key=True)
    now = UTCDateTimeField()


ALL_MODELS: tuple[type[BaseModel], ...] = (
    Setting, User, ApiToken, EscalationPolicy, PolicyEdit, PolicyMove, AlertSource, Incident, Event, LogEntry,
    Contact, AlertRule, UpdateRule, DutyRule, Notification, Schedule, ScheduleVersion, ScheduleOverride,
    HeartbeatMonitor, MaintenanceWindow, ReplyCode, PhoneState, SmsReply, Node,
    ForwardedRequest, SharedClock,
)
