"""The Alertmanager mapping as pure functions: fingerprints, each alert's status, priority from
severity, the summary without an annotation, clipping, which URLs become links, its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ilertd.domain.events import MAX_SUMMARY
from ilertd.errors import ApiError
from ilertd.plugins.alertmanager import label_fingerprint, parse_webhook
from tests.test_integration_alertmanager import EVERY_WEBHOOK, alert_with, document

# --- the pure mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(("folder", "name"), EVERY_WEBHOOK)
def test_the_label_hash_is_alertmanagers_own_fingerprint(folder: Path, name: str) -> None:
    """An alert sent without a fingerprint gets the key Alertmanager would have given it."""
    alerts = document(name, folder)["alerts"]
    assert [label_fingerprint(a["labels"]) for a in alerts] == [a["fingerprint"] for a in alerts]
    for alert in alerts:
        del alert["fingerprint"]
    body = {**document(name, folder), "alerts": alerts}
    keys = [e.alert_key for e in parse_webhook(body).events]
    assert keys == [a["fingerprint"] for a in document(name, folder)["alerts"]]


@pytest.mark.parametrize(("folder", "name"), EVERY_WEBHOOK)
def test_each_alert_s_own_status_decides_its_event(folder: Path, name: str) -> None:
    body = document(name, folder)
    events = parse_webhook(body).events
    assert [e.event_type for e in events] == [
        {"firing": "ALERT", "resolved": "RESOLVE"}[a["status"]] for a in body["alerts"]]
    assert [dict(e.labels) for e in events] == [a["labels"] for a in body["alerts"]]


def test_labels_in_any_order_hash_alike_and_different_labels_differently() -> None:
    assert label_fingerprint({"a": "1", "b": "2"}) == label_fingerprint({"b": "2", "a": "1"})
    assert label_fingerprint({"a": "1", "b": "2"}) != label_fingerprint({"a": "12"})
    assert label_fingerprint({}) == "cbf29ce484222325", "FNV-1a's offset basis, as Alertmanager"


@pytest.mark.parametrize(("severity", "priority"), [
    ("critical", "HIGH"), ("error", "HIGH"), ("page", "HIGH"), ("high", "HIGH"), ("CRITICAL", "HIGH"),
    ("warning", "LOW"), ("info", "LOW"), ("low", "LOW"), ("none", "LOW"), (" Warning ", "LOW"),
    ("disaster", None), ("", None), (None, None),
])
def test_the_severity_label_maps_to_priority(severity: str | None, priority: str | None) -> None:
    body = document("am_firing_single")
    labels = body["alerts"][0]["labels"]
    labels.pop("severity")
    if severity is not None:
        labels["severity"] = severity
    (event,) = parse_webhook(body).events
    assert event.priority == priority


def test_without_a_summary_annotation_the_summary_is_the_alertname_and_labels() -> None:
    body = document("am_mixed_group")
    resolved = parse_webhook(body).events[1]
    assert resolved.summary == ("DiskFull: instance=host-1, job=fire_alerts, mountpoint=/var, run_id=grp,"
                                " severity=warning")
    assert resolved.details is None
    assert [link["text"] for link in resolved.links] == ["Alertmanager"], "no silence link once resolved"
    body["alerts"][1]["labels"] = {"job": "x"}
    assert parse_webhook(body).events[1].summary == "job=x"
    body["alerts"][1]["labels"] = {}
    assert parse_webhook(body).events[1].summary == "Alertmanager alert 681e6a00e1e0ea52"


def test_a_long_summary_is_clipped_not_refused() -> None:
    body = alert_with(annotations={"summary": "s" * (MAX_SUMMARY + 500)})
    (event,) = parse_webhook(body).events
    assert event.summary is not None and len(event.summary) == MAX_SUMMARY and event.summary.endswith("…")


def test_only_web_urls_become_links() -> None:
    body = alert_with(generatorURL="javascript:alert(1)",
                      annotations={"summary": "s", "runbook_url": "file:///etc/passwd",
                                   "wiki": "https://wiki.example/x"})
    body["externalURL"] = ""
    (event,) = parse_webhook(body).events
    assert [dict(link) for link in event.links] == [{"href": "https://wiki.example/x", "text": "wiki"}]
    assert event.details == "runbook_url: file:///etc/passwd"


def test_parse_webhook_raises_the_api_error_with_its_reason() -> None:
    with pytest.raises(ApiError) as refused:
        parse_webhook({"version": "4"})
    assert (refused.value.status, refused.value.code) == (400, "INVALID_PAYLOAD")
    assert parse_webhook({**document("am_firing_single"), "alerts": []}).events == ()
