"""What SQLite keeps and PostgreSQL would refuse is answered alike on both stores."""

from __future__ import annotations

from tests.inprocess import InProcessDaemon


def test_an_alert_key_that_folds_longer_than_a_key_opens_and_finds_its_incident(
        either_store: InProcessDaemon) -> None:
    """255 "ß" fold to 510 "s": stored as the key's identity, PostgreSQL refused it (a 503 the tool
    re-sent for ever)."""
    first = either_store.event(summary="sharp", alertKey="ß" * 255)
    assert first.status_code == 202, first.text
    again = either_store.event(summary="again", alertKey="\u1e9e" * 255).json()
    assert again["incidentId"] == first.json()["incidentId"]
    assert again["responseCode"] == "EVENT_ADDED_TO_INCIDENT"
