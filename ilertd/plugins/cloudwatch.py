"""AWS SNS carrying CloudWatch alarms as the `cloudwatch` integration (alias `sns`): verified, then mapped.

Every SNS message is verified as AWS documents it (RSA over the canonical string, with the
certificate at `SigningCertURL`) before it is parsed; a SubscriptionConfirmation is confirmed by
fetching its `SubscribeURL`. Both URLs are fetched only when they pass `url_refusal`: https (http
only to a loopback address) on a host that `[plugins.cloudwatch] cert_host_pattern` matches whole.
docs/integrations/cloudwatch.md has the mapping.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ilertd import hookimpl
from ilertd.domain import json_input
from ilertd.domain.events import MAX_ALERT_KEY, MAX_SUMMARY, Event, EventType, Priority
from ilertd.hookspecs import ConfigOption, Integration, IntegrationRequest, PluginContext
from ilertd.plugins.payloads import clip, header, invalid_payload, optional_object, optional_text, present
from ilertd.plugins.sns import (
    MESSAGE_TYPE_HEADER,
    NAME,
    SnsVerifier,
    sns_message,
)

logger = logging.getLogger(__name__)

DEFAULT_CERT_HOST_PATTERN = r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"
# The check runs on the request's path (see event_api.EventApi.tool): keep a slow AWS short.
DEFAULT_FETCH_TIMEOUT = 5.0
# CloudWatch state → (event type, priority); None: the alert source's priority.
ALARM_STATES: dict[str, tuple[EventType, Priority | None]] = {
    "ALARM": ("ALERT", None),
    # Sent only to a topic the alarm names in InsufficientDataActions: someone asked to hear of it,
    # but it is not a breach, so it opens (or joins) the alarm's incident at LOW.
    "INSUFFICIENT_DATA": ("ALERT", "LOW"),
    "OK": ("RESOLVE", None),
}
CONSOLE_HOSTS = {"aws": "console.aws.amazon.com", "aws-cn": "console.amazonaws.cn",
                 "aws-us-gov": "console.amazonaws-us-gov.com"}
_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+")


# --- pure: a CloudWatch alarm → events ----------------------------------------------------------


def alarm_key(identity: str) -> str:
    """The alert key of an alarm: its ARN (or name); one too long for a key keeps a digest of it."""
    if len(identity) <= MAX_ALERT_KEY:
        return identity
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()
    return f"{identity[: MAX_ALERT_KEY - len(digest) - 1]}#{digest}"


def arn_parts(arn: str | None) -> tuple[str, str] | None:
    """(partition, region) of a CloudWatch alarm ARN `arn:PARTITION:cloudwatch:REGION:ACCOUNT:alarm:NAME`."""
    if arn is None:
        return None
    parts = arn.split(":", 6)
    if len(parts) != 7 or parts[0] != "arn" or parts[2] != "cloudwatch" or not _REGION.fullmatch(parts[3]):
        return None
    return parts[1], parts[3]


def console_link(alarm_name: str, arn: str | None) -> tuple[dict[str, str], ...]:
    """The alarm in the CloudWatch console, when its ARN names a partition and region."""
    where = arn_parts(arn)
    if where is None or where[0] not in CONSOLE_HOSTS:
        return ()
    partition, region = where
    href = (f"https://{CONSOLE_HOSTS[partition]}/cloudwatch/home?region={region}"
            f"#alarmsV2:alarm/{quote(alarm_name, safe='')}")
    return ({"href": href, "text": "CloudWatch alarm"},)


def _metric_line(trigger: Mapping[str, Any]) -> str | None:
    metric = optional_text(trigger, "MetricName")
    if metric is None:
        return None
    namespace = optional_text(trigger, "Namespace")
    statistic = optional_text(trigger, "Statistic") or optional_text(trigger, "ExtendedStatistic")
    comparison = optional_text(trigger, "ComparisonOperator")
    threshold = trigger.get("Threshold")
    line = f"Metric: {namespace + '/' if namespace else ''}{metric}"
    if statistic:
        line += f" ({statistic})"
    if comparison and isinstance(threshold, int | float) and not isinstance(threshold, bool):
        line += f" {comparison} {threshold:g}"
    return line


def alarm_document(message: str) -> dict[str, Any]:
    """The CloudWatch alarm an SNS notification carries as a JSON string in `Message`."""
    try:
        alarm = json_input.loads(message.encode("utf-8"))
    except json_input.JsonInputError as error:
        raise invalid_payload(f"'Message' is not a CloudWatch alarm (not JSON: {error})", NAME) from None
    if not isinstance(alarm, dict) or optional_text(alarm, "AlarmName") is None:
        raise invalid_payload("'Message' is not a CloudWatch alarm (no AlarmName)", NAME)
    return alarm


def alarm_event(alarm: Mapping[str, Any], notification: Mapping[str, Any]) -> Event:
    """One alarm state change → one event keyed by the alarm (ARN, else name)."""
    name = alarm["AlarmName"]
    state = alarm.get("NewStateValue")
    if state not in ALARM_STATES:
        raise invalid_payload(f"'NewStateValue' must be one of {', '.join(ALARM_STATES)},"
                              f" got {state!r}", NAME)
    event_type, priority = ALARM_STATES[state]
    arn = optional_text(alarm, "AlarmArn")
    reason = optional_text(alarm, "NewStateReason")
    headline = name if state != "INSUFFICIENT_DATA" else f"{name} (INSUFFICIENT_DATA)"
    summary = clip(f"{headline}: {reason}" if reason else headline, MAX_SUMMARY)
    trigger = optional_object(alarm, "Trigger")
    details = "\n".join(line for line in (
        optional_text(alarm, "AlarmDescription"),
        reason and f"Reason: {reason}",
        _metric_line(trigger),
        f"State: {alarm.get('OldStateValue', '?')} → {state} at {alarm.get('StateChangeTime', '?')}",
    ) if line)
    where = arn_parts(arn)
    labels = present({
        "region": where[1] if where else optional_text(alarm, "Region"),
        "account": optional_text(alarm, "AWSAccountId"),
        "namespace": optional_text(trigger, "Namespace"),
        "metric": optional_text(trigger, "MetricName"),
        "state": state,
    })
    custom_details = present({
        "AlarmArn": arn,
        "AWSAccountId": alarm.get("AWSAccountId"),
        "Region": alarm.get("Region"),
        "OldStateValue": alarm.get("OldStateValue"),
        "NewStateValue": state,
        "StateChangeTime": alarm.get("StateChangeTime"),
        "Trigger": trigger or None,
        "TopicArn": notification.get("TopicArn"),
        "MessageId": notification.get("MessageId"),
    })
    return Event(
        event_type=event_type,
        alert_key=alarm_key(arn or name),
        summary=summary,
        details=details,
        priority=priority,
        links=console_link(name, arn),
        labels=labels,
        custom_details=custom_details,
    )


def parse(request: IntegrationRequest) -> list[Event]:
    """A notification → its alarm's event; a (un)subscription confirmation → none (verify handled it)."""
    message = sns_message(request.json(), header(request.headers, MESSAGE_TYPE_HEADER))
    if message["Type"] != "Notification":
        return []
    return [alarm_event(alarm_document(message["Message"]), message)]


# --- the hooks ----------------------------------------------------------------------------------


def _host_pattern(value: str) -> str | None:
    try:
        re.compile(value)
    except re.error as error:
        return f"must be a regular expression: {error}"
    return None


def _positive(value: float) -> str | None:
    return None if value > 0 else f"must be greater than 0, got {value}"


@hookimpl
def plugin_config() -> list[ConfigOption]:
    return [
        ConfigOption("cert_host_pattern", str, DEFAULT_CERT_HOST_PATTERN,
                     "regular expression the whole host of SigningCertURL and SubscribeURL must match",
                     _host_pattern),
        ConfigOption("fetch_timeout", float, DEFAULT_FETCH_TIMEOUT,
                     "seconds a certificate fetch or a subscription confirmation may take", _positive),
    ]


# Without its `verify`: the verifier is made from the plugin's settings when the hook is called.
INTEGRATION = Integration(name=NAME, integration_type="CLOUDWATCH", parse=parse, aliases=("sns",),
                          signed=True,
                          description="AWS SNS carrying CloudWatch alarms (signature verified,"
                          " subscriptions confirmed)")


@hookimpl
def register_integrations(context: PluginContext) -> list[Integration]:
    verifier = SnsVerifier(re.compile(context.config["cert_host_pattern"]),
                           float(context.config["fetch_timeout"]))
    # The check fetches the signing certificate (and confirms subscriptions): off the event loop.
    return [dataclasses.replace(INTEGRATION, verify=verifier, verify_blocks=True)]
