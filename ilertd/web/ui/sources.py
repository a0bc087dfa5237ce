"""The web UI's alert sources: the list, one source with its integration URL and a snippet for its
tool, and the forms that create, change and delete them."""

from __future__ import annotations

import json
import shlex
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from ilertd.app.auth import require_admin
from ilertd.app.sources import source_or_404
from ilertd.errors import ApiError
from ilertd.hookspecs import Integration, signed_by_its_tool
from ilertd.store.heartbeats import monitors_page
from ilertd.store.incidents import open_incident_counts
from ilertd.store.sources import all_policies, source_info, sources_page
from ilertd.web.ui.core import Page, Ui, View
from ilertd.web.ui.notices import Notice
from ilertd.web.views import alert_source_json

PRIORITIES = ("HIGH", "LOW")
# Where a key goes in a URL or snippet shown to a USER, who may not see it.
HIDDEN_KEY = "<integration key>"
# What the built-in types are, for the type select; a plugin's type is named by its integration.
TYPE_LABELS = {
    "API": "Event API (curl, scripts)",
    "PROMETHEUS": "Prometheus Alertmanager",
    "GRAFANA": "Grafana",
    "NAGIOS": "Nagios",
    "ICINGA": "Icinga 2",
    "ZABBIX": "Zabbix",
    "DATADOG": "Datadog",
    "SENTRY": "Sentry",
    "CLOUDWATCH": "AWS CloudWatch (through SNS)",
    "UPTIMEROBOT": "UptimeRobot",
    "WEBHOOK": "any JSON webhook (with a field mapping)",
    "EMAIL": "e-mail",
    "SMS": "SMS (Twilio)",
    "HEARTBEAT": "heartbeat monitors",
}
# Where each built-in type is documented, in the source tree.
DOCS = {
    "API": "docs/API.md, section “Native Event API”",
    "PROMETHEUS": "docs/integrations/alertmanager.md",
    "GRAFANA": "docs/integrations/grafana.md",
    "NAGIOS": "docs/integrations/nagios.md",
    "ICINGA": "docs/integrations/icinga.md",
    "ZABBIX": "docs/integrations/zabbix.md",
    "DATADOG": "docs/integrations/datadog.md",
    "SENTRY": "docs/integrations/sentry.md",
    "CLOUDWATCH": "docs/integrations/cloudwatch.md",
    "UPTIMEROBOT": "docs/integrations/uptimerobot.md",
    "WEBHOOK": "docs/integrations/webhook.md",
    "EMAIL": "docs/integrations/email-in.md",
    "SMS": "docs/API.md, section “SMS in”",
    "HEARTBEAT": "docs/API.md, section “Heartbeat monitors”",
}
# Where in the tool the URL goes (from each integration's docs).
WHERE = {
    "PROMETHEUS": "a webhook receiver in alertmanager.yml, with the alerts routed to it",
    "GRAFANA": "Alerting → Contact points → a Webhook contact point, method POST",
    "DATADOG": "Integrations → Webhooks → New: the URL, with the payload template of the docs",
    "UPTIMEROBOT": "My Settings → Alert Contacts → Add Alert Contact → Webhook: “URL to Notify”,"
                   " with “Send as JSON” on and the POST value of the docs",
    "SENTRY": "the internal integration's Webhook URL (Settings → Developer Settings → Custom"
              " Integrations); the source's signingSecret is Sentry's client secret",
    "CLOUDWATCH": "an HTTPS subscription of the SNS topic the alarms notify (raw message delivery off)",
    "ZABBIX": "the URL parameter of the media type in integrations/zabbix/",
    "NAGIOS": "the URL the notification script of integrations/nagios/ posts to",
    "ICINGA": "the URL the NotificationCommand of integrations/icinga2/ posts to",
    "WEBHOOK": "the tool's webhook; the source's fieldMapping says where each field is in its JSON",
}
# The URL segment the docs show, where an integration has more than one name.
PREFERRED_SEGMENT = {"PROMETHEUS": "alertmanager"}


@dataclass(frozen=True)
class Guide:
    """How a tool reaches an alert source: where it sends, a snippet to copy, where to read more."""

    url: str = ""
    address: str = ""
    address_label: str = ""
    where: str = ""
    snippet: str = ""
    snippet_label: str = ""
    docs: str = ""
    note: str = ""


def tool_integration(kind: str, integrations: Mapping[str, Integration]) -> tuple[str, Integration] | None:
    """The URL segment and integration of the plugin that takes payloads for sources of `kind`."""
    preferred = PREFERRED_SEGMENT.get(kind)
    found = integrations.get(preferred) if preferred else None
    if found is not None and found.integration_type == kind:
        return preferred or found.name, found
    for integration in integrations.values():
        if integration.integration_type == kind and not integration.accepts_any_source:
            return integration.name, integration
    return None


def event_api_curl(url: str, key: str) -> str:
    body = json.dumps({"integrationKey": key, "eventType": "ALERT", "summary": "Test alert from curl",
                       "alertKey": "curl-test"})
    return (f"curl -X POST {shlex.quote(url)} \\\n"
            f"  -H 'Content-Type: application/json' \\\n"
            f"  -d {shlex.quote(body)}")


def alertmanager_receiver(url: str, signed: bool) -> str:
    lines = ["receivers:", "  - name: ilertd", "    webhook_configs:",
             f"      - url: {json.dumps(url)}", "        send_resolved: true"]
    if signed:
        lines += ["        http_config:", "          authorization:", "            type: Bearer",
                  '            credentials: "<the alert source\'s signingSecret>"']
    return "\n".join(lines)


def guide(source: dict[str, Any], public_url: str, integrations: Mapping[str, Integration],
          mail_domain: str) -> Guide:
    """What the source page tells about wiring a tool to `source` (the API's JSON of it)."""
    kind, base = source["integrationType"], public_url.rstrip("/")
    key = source["integrationKey"] or HIDDEN_KEY
    docs = DOCS.get(kind, "")
    if kind == "API":
        url = f"{base}/api/events"
        return Guide(url=url, where="POST an iLert event body carrying the integration key",
                     snippet=event_api_curl(url, key), snippet_label="Open an incident with curl", docs=docs)
    if kind == "EMAIL":
        if mail_domain:
            return Guide(address=f"{key}@{mail_domain}", address_label="Send mail to", docs=docs,
                         where="the subject is the summary; a subject such as “[RESOLVED] …” resolves")
        return Guide(docs=docs, note="The mail listener is off: with [smtp_in] enabled and its domain set, "
                                     f"mail to {key}@<domain> reaches this source.")
    if kind == "SMS":
        number = source.get("phoneNumber") or ""
        return Guide(url=f"{base}/api/v1/twilio/sms", address=number, address_label="Text this number",
                     where="the Twilio number's “A message comes in” webhook (HTTP POST)", docs=docs,
                     note="" if number else "This source has no phoneNumber yet: set one through the API "
                                            f"(PUT /api/alert-sources/{source['id']}).")
    if kind == "HEARTBEAT":
        return Guide(docs=docs, note="A heartbeat monitor (/api/heartbeat-monitors) naming this source "
                                     "opens an incident here when its job stops pinging.")
    found = tool_integration(kind, integrations)
    if found is None:
        return Guide(docs=docs, note=f"No enabled plugin takes {kind} payloads: the tool URL works once "
                                     "one does. The Event API below works meanwhile.")
    segment, integration = found
    url = f"{base}/api/v1/events/{segment}/{key}"
    where = WHERE.get(kind, integration.description)
    if kind == "PROMETHEUS":
        return Guide(url=url, where=where, docs=docs,
                     snippet_label="Alertmanager receiver (alertmanager.yml)",
                     snippet=alertmanager_receiver(url, bool(source.get("signingSecret"))))
    if kind == "CLOUDWATCH":
        snippet = ("aws sns subscribe --topic-arn arn:aws:sns:REGION:ACCOUNT:TOPIC \\\n"
                   f"    --protocol https --notification-endpoint {shlex.quote(url)}")
        return Guide(url=url, where=where, docs=docs, snippet=snippet,
                     snippet_label="Subscribe the SNS topic (AWS CLI)")
    note = ""
    if kind == "WEBHOOK" and not source.get("fieldMapping"):
        note = ("This source has no fieldMapping yet: set one through the API "
                f"(PUT /api/alert-sources/{source['id']} {{\"fieldMapping\": {{...}}}}).")
    return Guide(url=url, where=where, docs=docs or "the documentation of the plugin that adds it", note=note)


def routes(ui: Ui) -> list[Route]:
    services = ui.services
    sources = services.app.sources

    def mail_domain() -> str:
        settings = services.config.smtp_in
        return settings.domain.strip() if settings.enabled else ""

    def open_counts() -> Counter[int]:
        # Counted by the store, grouped by source: not one row per open incident.
        return Counter(open_incident_counts())

    def policy_names() -> dict[int, str]:
        return {p.id: p.name for p in all_policies()}

    def type_options(current: str = "") -> list[tuple[str, str]]:
        described = {i.integration_type: i.description for i in services.plugins.integrations.values()
                     if not i.accepts_any_source}
        kinds = list(sources.known_types())
        if current and current not in kinds:
            kinds.append(current)
        return [(kind, TYPE_LABELS.get(kind) or described.get(kind, "")) for kind in kinds]

    def source_list(view: View) -> Page:
        shown = [alert_source_json(row, view.principal.is_admin) for row in sources_page(0, 10**6)]
        return Page("sources.html", {"sources": shown, "policies": policy_names(), "open": open_counts()})

    def source_view(source_id: int, error: str = "", status: int = 200, admin: bool = True) -> Page:
        # A USER sees no keys, as through the API: the setup shows where each one goes.
        row = source_or_404(source_id)
        shown = alert_source_json(row, admin)
        monitors = [{"name": row.name, "intervalSec": row.interval_sec, "status": row.status,
                     "url": f"{services.public_url.rstrip('/')}/api/v1/heartbeats/"
                            + (row.integration_key if admin else HIDDEN_KEY)}
                    for row in monitors_page(0, 10**6) if row.alert_source_id == source_id]
        return Page("source.html", {
            "source": shown, "policies": policy_names(),
            "open": open_incident_counts([source_id]).get(source_id, 0),
            "guide": guide(shown, services.public_url, services.plugins.integrations, mail_domain()),
            "event_api": f"{services.public_url.rstrip('/')}/api/events",
            # A source whose tool signs takes no unsigned event through the Event API.
            "takes_event_api": not signed_by_its_tool(source_info(row), services.plugins),
            "monitors": monitors, "error": error,
        }, status)

    def source_page(view: View) -> Page:
        return source_view(view.path_int(), admin=view.principal.is_admin)

    def form_page(source: dict[str, Any] | None, values: dict[str, Any], error: str = "",
                  status: int = 200) -> Page:
        return Page("source_form.html", {
            "source": source, "values": values, "error": error, "priorities": PRIORITIES,
            "types": type_options(source["integrationType"] if source else ""),
            "policies": sorted(policy_names().items()),
        }, status)

    def typed(view: View) -> dict[str, Any]:
        """The form's fields as the API names them; the policy as its id's text ("" for none)."""
        # The name as typed: the API refuses one too long, where cutting it stored another name.
        return {"name": view.form.get("name"), "integrationType": view.form.get("integrationType")[:32],
                "priority": view.form.get("priority")[:8],
                "escalationPolicy": view.form.get("escalationPolicy")[:19]}

    def body_of(values: dict[str, Any]) -> dict[str, Any]:
        policy = values["escalationPolicy"]
        if policy and not policy.isdigit():
            raise ApiError(400, "INVALID_FIELD", "escalationPolicy must be one of the escalation policies",
                           field="escalationPolicy")
        return {"name": values["name"].strip(), "integrationType": values["integrationType"],
                "priority": values["priority"], "escalationPolicy": {"id": int(policy)} if policy else None}

    def new_form(view: View) -> Page:
        require_admin(view.principal)
        return form_page(None, {"name": "", "integrationType": "API", "priority": "HIGH",
                                "escalationPolicy": ""})

    def edit_form(view: View) -> Page:
        require_admin(view.principal)
        shown = alert_source_json(source_or_404(view.path_int()))
        policy = shown["escalationPolicy"]
        return form_page(shown, {**shown, "escalationPolicy": str(policy["id"]) if policy else ""})

    def create(view: View) -> Page | Response:
        require_admin(view.principal)
        values = typed(view)
        try:
            row = sources.create_source(view.principal, body_of(values))
        except ApiError as error:
            if error.status not in (400, 409):  # 409: a name another source has
                raise
            return form_page(None, values, error.message, error.status)
        return ui.redirect(f"/ui/sources/{row.id}", Notice("source-created"))

    def update(view: View) -> Page | Response:
        require_admin(view.principal)
        current = alert_source_json(source_or_404(view.path_int()))
        values = typed(view)
        try:
            # GET-modify-PUT: the fields this form does not show go back as they are.
            body = {name: value for name, value in current.items() if name != "id"} | body_of(values)
            if body["integrationType"] == current["integrationType"]:
                # Unchanged: a source of a type whose plugin is off now can still be renamed.
                del body["integrationType"]
            row = sources.update_source(view.principal, current["id"], body)
        except ApiError as error:
            if error.status not in (400, 409):  # 409: a name another source has
                raise
            return form_page(current, values, error.message, error.status)
        return ui.redirect(f"/ui/sources/{row.id}", Notice("source-saved"))

    def delete(view: View) -> Page | Response:
        source_id = view.path_int()
        try:
            sources.delete_source(view.principal, source_id)
        except ApiError as error:
            if error.status != 409:
                raise
            return source_view(source_id, error.message, 409)
        return ui.redirect("/ui/sources", Notice("source-deleted"))

    return [
        Route("/ui/sources", ui.endpoint(source_list), methods=["GET"]),
        Route("/ui/sources/new", ui.endpoint(new_form), methods=["GET"]),
        Route("/ui/sources/new", ui.endpoint(create), methods=["POST"]),
        Route("/ui/sources/{id}", ui.endpoint(source_page), methods=["GET"]),
        Route("/ui/sources/{id}/edit", ui.endpoint(edit_form), methods=["GET"]),
        Route("/ui/sources/{id}/edit", ui.endpoint(update), methods=["POST"]),
        Route("/ui/sources/{id}/delete", ui.endpoint(delete), methods=["POST"]),
    ]
