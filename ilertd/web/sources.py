"""Alert sources (with generated integration keys) and escalation policies."""

from __future__ import annotations

import secrets
from typing import Any

import peewee
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ilertd.errors import ApiError, invalid, not_found
from ilertd.store import models as m
from ilertd.store.db import write_transaction
from ilertd.web import validate as v
from ilertd.web.auth import authenticate, require_admin
from ilertd.web.http import json_object, paging, path_id, threaded
from ilertd.web.services import Services
from ilertd.web.views import alert_source_json, escalation_policy_json

BUILT_IN_TYPES = (
    "API", "PROMETHEUS", "GRAFANA", "NAGIOS", "ICINGA", "ZABBIX", "DATADOG", "SENTRY",
    "CLOUDWATCH", "UPTIMEROBOT", "WEBHOOK", "EMAIL", "SMS", "HEARTBEAT",
)
MAX_LEVELS = 20
MAX_TIMEOUT_MIN = 7 * 24 * 60


def new_integration_key() -> str:
    return secrets.token_hex(16)


def policy_rules(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Validated, normalised `escalationRules`: each level needs a user or a schedule."""
    rules = body.get("escalationRules")
    if not isinstance(rules, list) or not rules:
        raise invalid("escalationRules", "escalationRules must be a non-empty array")
    if len(rules) > MAX_LEVELS:
        raise invalid("escalationRules", f"a policy has at most {MAX_LEVELS} levels")
    normalised = []
    for index, rule in enumerate(rules):
        where = f"escalationRules[{index}]"
        if not isinstance(rule, dict):
            raise invalid(where, f"{where} must be an object")
        timeout = v.integer(rule, "escalationTimeout", 0, MAX_TIMEOUT_MIN)
        user_ids = _ids(rule.get("users"), f"{where}.users")
        schedule_ids = _ids(rule.get("schedules"), f"{where}.schedules")
        if not user_ids and not schedule_ids:
            raise invalid(where, f"{where} needs at least one user or schedule")
        v.all_exist(m.User, user_ids, f"{where}.users", "user")
        v.all_exist(m.Schedule, schedule_ids, f"{where}.schedules", "schedule")
        normalised.append({
            "escalationTimeout": timeout,
            "users": [{"id": u} for u in user_ids],
            "schedules": [{"id": s} for s in schedule_ids],
        })
    return normalised


def _ids(value: Any, where: str) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(where, f"{where} must be an array of {{id}} objects")
    return [v.ref_id(item, f"{where}[{i}]") for i, item in enumerate(value)]


def routes(services: Services) -> list[Route]:
    def source_or_404(source_id: int) -> m.AlertSource:
        row = m.AlertSource.get_or_none(m.AlertSource.id == source_id)
        if row is None:
            raise not_found("alert source", source_id)
        return row

    def policy_or_404(policy_id: int) -> m.EscalationPolicy:
        row = m.EscalationPolicy.get_or_none(m.EscalationPolicy.id == policy_id)
        if row is None:
            raise not_found("escalation policy", policy_id)
        return row

    def known_types() -> tuple[str, ...]:
        plugin_types = {i.integration_type for i in services.plugins.integrations.values()}
        return tuple(sorted(set(BUILT_IN_TYPES) | plugin_types))

    def source_fields(body: dict[str, Any], creating: bool, current_key: str | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        name = v.text(body, "name", required=creating)
        if name is not None:
            fields["name"] = name
        kind = v.choice(body, "integrationType", known_types())
        if kind is not None:
            fields["integration_type"] = kind
        elif creating:
            fields["integration_type"] = "API"
        priority = v.choice(body, "priority", ("HIGH", "LOW"))
        if priority is not None:
            fields["priority"] = priority
        if "escalationPolicy" in body:
            policy = body["escalationPolicy"]
            if policy is None:
                fields["escalation_policy"] = None
            else:
                policy_id = v.ref_id(policy, "escalationPolicy")
                if m.EscalationPolicy.get_or_none(m.EscalationPolicy.id == policy_id) is None:
                    raise invalid("escalationPolicy", f"escalation policy {policy_id} does not exist")
                fields["escalation_policy"] = policy_id
        # Read-only, but a client's GET-modify-PUT carries it back unchanged.
        if "integrationKey" in body and not creating and body["integrationKey"] != current_key:
            raise invalid("integrationKey", "integrationKey is generated and read-only")
        return fields

    def list_sources(request: Request, _body: bytes) -> Response:
        authenticate(request)
        start, size = paging(request)
        rows = m.AlertSource.select().order_by(m.AlertSource.id).offset(start).limit(size)
        return JSONResponse([alert_source_json(r) for r in rows])

    def get_source(request: Request, _body: bytes) -> Response:
        authenticate(request)
        return JSONResponse(alert_source_json(source_or_404(path_id(request))))

    def create_source(request: Request, body: bytes) -> Response:
        require_admin(authenticate(request))
        fields = source_fields(json_object(body), creating=True)
        with write_transaction(services.db):
            row = m.AlertSource.create(
                integration_key=new_integration_key(), created_at=services.clock.now(), **fields
            )
        return JSONResponse(alert_source_json(row), status_code=201)

    def update_source(request: Request, body: bytes) -> Response:
        require_admin(authenticate(request))
        source_id = path_id(request)
        current = source_or_404(source_id)
        fields = source_fields(json_object(body), creating=False, current_key=current.integration_key)
        if fields:
            with write_transaction(services.db):
                m.AlertSource.update(**fields).where(m.AlertSource.id == source_id).execute()
            services.sources.invalidate()
        return JSONResponse(alert_source_json(source_or_404(source_id)))

    def delete_source(request: Request, _body: bytes) -> Response:
        require_admin(authenticate(request))
        source_id = path_id(request)
        source_or_404(source_id)
        try:
            with write_transaction(services.db):
                m.AlertSource.delete().where(m.AlertSource.id == source_id).execute()
        except peewee.IntegrityError:
            raise ApiError(409, "IN_USE", "the alert source has incidents; it cannot be deleted") from None
        services.sources.invalidate()
        return Response(status_code=204)

    def policy_fields(body: dict[str, Any], creating: bool) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        name = v.text(body, "name", required=creating)
        if name is not None:
            fields["name"] = name
        if creating or "escalationRules" in body:
            fields["rules"] = policy_rules(body)
        if creating or "repeating" in body:
            fields["repeating"] = v.boolean(body, "repeating", False)
        if creating or "frequency" in body:
            fields["frequency"] = v.integer(body, "frequency", 0, 9, default=0)
        return fields

    def list_policies(request: Request, _body: bytes) -> Response:
        authenticate(request)
        start, size = paging(request)
        rows = m.EscalationPolicy.select().order_by(m.EscalationPolicy.id).offset(start).limit(size)
        return JSONResponse([escalation_policy_json(r) for r in rows])

    def get_policy(request: Request, _body: bytes) -> Response:
        authenticate(request)
        return JSONResponse(escalation_policy_json(policy_or_404(path_id(request))))

    def create_policy(request: Request, body: bytes) -> Response:
        require_admin(authenticate(request))
        fields = policy_fields(json_object(body), creating=True)
        with write_transaction(services.db):
            row = m.EscalationPolicy.create(**fields)
        return JSONResponse(escalation_policy_json(row), status_code=201)

    def update_policy(request: Request, body: bytes) -> Response:
        require_admin(authenticate(request))
        policy_id = path_id(request)
        policy_or_404(policy_id)
        fields = policy_fields(json_object(body), creating=False)
        if fields:
            with write_transaction(services.db):
                m.EscalationPolicy.update(**fields).where(m.EscalationPolicy.id == policy_id).execute()
            services.policies.invalidate()
        return JSONResponse(escalation_policy_json(policy_or_404(policy_id)))

    def delete_policy(request: Request, _body: bytes) -> Response:
        require_admin(authenticate(request))
        policy_id = path_id(request)
        policy_or_404(policy_id)
        with write_transaction(services.db):
            m.EscalationPolicy.delete().where(m.EscalationPolicy.id == policy_id).execute()
        services.sources.invalidate()
        services.policies.invalidate()
        return Response(status_code=204)

    return [
        Route("/api/alert-sources", threaded(list_sources), methods=["GET"]),
        Route("/api/alert-sources", threaded(create_source), methods=["POST"]),
        Route("/api/alert-sources/{id}", threaded(get_source), methods=["GET"]),
        Route("/api/alert-sources/{id}", threaded(update_source), methods=["PUT"]),
        Route("/api/alert-sources/{id}", threaded(delete_source), methods=["DELETE"]),
        Route("/api/escalation-policies", threaded(list_policies), methods=["GET"]),
        Route("/api/escalation-policies", threaded(create_policy), methods=["POST"]),
        Route("/api/escalation-policies/{id}", threaded(get_policy), methods=["GET"]),
        Route("/api/escalation-policies/{id}", threaded(update_policy), methods=["PUT"]),
        Route("/api/escalation-policies/{id}", threaded(delete_policy), methods=["DELETE"]),
    ]
