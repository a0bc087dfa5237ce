"""A daemon wired to loopback channels (SMTP, an HTTP receiver for SMS, push and Twilio), and helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.daemon import ApiClient
from tests.loopback import HttpReceiver, SmtpServer


@dataclass
class Paging:
    daemon: ApiClient
    smtp: SmtpServer
    http: HttpReceiver
    next_phone: int = 0

    def user(self, name: str, rules: list[tuple[str, int, str]] = (), email: bool = True,
             muted_until: str | None = None) -> int:
        """A user with one contact per method used in `rules` (method, delayMin, type)."""
        body: dict[str, Any] = {"username": name}
        if email:
            body["email"] = f"{name}@example.com"
        if muted_until:
            body["mutedUntil"] = muted_until
        created = self.daemon.post("/api/users", body)
        assert created.status_code == 201, created.text
        user_id = created.json()["id"]
        contacts: dict[str, int] = {}
        for method, delay, kind in rules:
            if method not in contacts:
                target = self.target(name, method)
                contact = self.daemon.post(f"/api/users/{user_id}/contacts",
                                           {"method": method, "target": target})
                assert contact.status_code == 201, contact.text
                contacts[method] = contact.json()["id"]
            rule = self.daemon.post(f"/api/users/{user_id}/notification-preferences/alerts",
                                    {"method": method, "contact": {"id": contacts[method]},
                                     "delayMin": delay, "type": kind})
            assert rule.status_code == 201, rule.text
        return int(user_id)

    def contact_and_rule(self, user_id: int, method: str, target: str, kind: str = "HIGH_PRIORITY") -> int:
        """A contact of the user and an alert rule of `kind` paging it at once; the contact's id."""
        contact = self.daemon.post(f"/api/users/{user_id}/contacts", {"method": method, "target": target})
        assert contact.status_code == 201, contact.text
        rule = self.daemon.post(f"/api/users/{user_id}/notification-preferences/alerts", {
            "method": method, "contact": {"id": contact.json()["id"]}, "delayMin": 0, "type": kind})
        assert rule.status_code == 201, rule.text
        return int(contact.json()["id"])

    def target(self, name: str, method: str) -> str:
        if method == "EMAIL":
            return f"{name}.pager@example.com"
        if method == "PUSH":
            return f"ops-{name}"
        self.next_phone += 1
        return f"+49151000{self.next_phone:05d}"

    def policy(self, levels: list[tuple[int, list[int]]], repeating: bool = False,
               frequency: int = 0) -> int:
        created = self.daemon.post("/api/escalation-policies", {
            "name": "ops", "repeating": repeating, "frequency": frequency,
            "escalationRules": [{"escalationTimeout": t, "users": [{"id": u} for u in users]}
                                for t, users in levels],
        })
        assert created.status_code == 201, created.text
        attached = self.daemon.put("/api/alert-sources/1", {"escalationPolicy": {"id": created.json()["id"]}})
        assert attached.status_code == 200
        return int(created.json()["id"])

    def alert(self, key: str = "db1", **fields: Any) -> int:
        reply = self.daemon.event(summary=fields.pop("summary", f"{key} is down"), alertKey=key, **fields)
        assert reply.status_code == 202, reply.text
        return int(reply.json()["incidentId"])

    def mails_to(self, address: str) -> list[Any]:
        return [m for m in self.smtp.messages if address in m["To"]]

    def notifications(self, incident_id: int) -> list[dict[str, Any]]:
        reply = self.daemon.get(f"/api/incidents/{incident_id}/notifications", params={"max-results": 100})
        assert reply.status_code == 200, reply.text
        return list(reply.json())
