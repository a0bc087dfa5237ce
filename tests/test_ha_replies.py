"""A reply texted while no node leads (a takeover: the follower queues Twilio's webhook) answers the
pages sent when it came in, not those the next leader sends before it takes the text in.

Two `ilertd serve` processes on one PostgreSQL database, the leader killed with SIGKILL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import psycopg2
import pytest

from ilertd.channels.twilio_voice import twilio_signature
from tests.conditions import wait_for
from tests.daemon import DaemonProcess
from tests.loopback import HttpReceiver, SmtpServer
from tests.paging import Paging
from tests.test_ha import POSTGRES_URL, TAKEOVER_SECONDS, freeze, start_two_nodes, wait_for_role
from tests.test_ha import smtp as smtp  # the fixture

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs ILERTD_TEST_POSTGRES_URL (see .ci/run)")

# Both nodes behind one name, as behind a load balancer: Twilio signs the URL it posts to.
PUBLIC_URL = "https://ilertd.example.com"
SMS_PATH = "/api/v1/twilio/sms"


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


def sms_channel(http: HttpReceiver) -> str:
    """SMS pages to `http` (a gateway of one's own, so pages carry reply codes), Twilio replies."""
    return f'''[server]
public_url = "{PUBLIC_URL}"
[channels.sms]
url = "json://127.0.0.1:{http.port}/sms/{{contact}}"
[twilio]
account_sid = "{http.twilio_sid}"
auth_token = "{http.twilio_token}"
from_number = "+15550001111"
api_base_url = "http://127.0.0.1:{http.port}"
'''


def text(node: DaemonProcess, http: HttpReceiver, phone: str, body: str, sid: str = "") -> str | None:
    """Text `body` from `phone` to `node` as Twilio would; the TwiML's <Message>, if any."""
    form = {"MessageSid": sid or f"SM-{phone}-{body}", "From": phone, "To": "+15550001111", "Body": body}
    signature = twilio_signature(http.twilio_token, PUBLIC_URL + SMS_PATH, form)
    answer = node.client.post(SMS_PATH, data=form, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200, answer.text
    message = ElementTree.fromstring(answer.text).find("Message")
    return message.text if message is not None else None


def status(node: DaemonProcess, incident_id: int) -> Any:
    return node.get(f"/api/incidents/{incident_id}").json()["status"]


def test_a_bare_letter_queued_in_a_takeover_answers_the_page_read_not_one_sent_after(
    make_daemon: Callable[..., DaemonProcess], postgres_url: str, smtp: SmtpServer, http: HttpReceiver,
    tmp_path: Path,
) -> None:
    """The next leader re-arms the pages that fell due while nobody led and sends them before it
    takes in what the follower queued: "latest" was then a page the responder had not received
    when replying, and that other incident was accepted instead of the one answered."""
    first, second = start_two_nodes(make_daemon, postgres_url, smtp, tmp_path, more_config=sms_channel(http))
    paging = Paging(first, smtp, http)
    # A HIGH incident texts dave at once, a LOW one ten minutes after it opened.
    dave = paging.user("dave", [("SMS", 0, "HIGH_PRIORITY"), ("SMS", 10, "LOW_PRIORITY")])
    paging.policy([(30, [dave])])
    phone = first.get(f"/api/users/{dave}/contacts").json()[0]["target"]
    answered = paging.alert("db1", summary="db1 is down", priority="HIGH")
    later = paging.alert("db2", summary="db2 is slow", priority="LOW")
    first.advance("PT0S")
    (read,) = [r.json()["message"] for r in http.to(f"/sms/{phone}")]
    assert f"#{answered}" in read and "Reply 1a" in read

    # Nobody leads; the clock passes the LOW page's 09:10; dave answers the page on his phone.
    freeze(first, postgres_url)
    second.advance("PT15M")
    assert text(second, http, phone, "a") is None  # queued: an empty TwiML, Twilio sends it once
    # The next leader's relay does not see the text until the page due meanwhile has gone out, as
    # when re-armed pages win the race (they did in 2 of 2 runs of a probe).
    with psycopg2.connect(postgres_url) as holding:
        with holding.cursor() as cursor:
            cursor.execute("SELECT id FROM forwarded_request WHERE path = %s AND claimed_by IS NULL"
                           " FOR UPDATE", (SMS_PATH,))
            assert len(cursor.fetchall()) == 1
        assert first.process is not None
        first.kill()
        wait_for_role(second, "leader", TAKEOVER_SECONDS)
        second.advance("PT0S")
        wait_for(lambda: [p["status"] for p in paging_of(second, later)] == ["SUCCESS"],
                 "the LOW page sent by the new leader")
        assert "Reply 2a" in http.to(f"/sms/{phone}")[-1].json()["message"]
    wait_for(lambda: status(second, answered) != "PENDING" or status(second, later) != "PENDING",
             "the queued text taken in", timeout=15)
    assert (status(second, answered), status(second, later)) == ("ACCEPTED", "PENDING"), second.log()
    accepted = [e for e in second.get(f"/api/incidents/{answered}/log-entries").json()
                if e["logEntryType"] == "ACCEPTED"]
    assert [(e["channel"], e["user"]["id"]) for e in accepted] == [("SMS", dave)]
    second.stop()


def paging_of(node: DaemonProcess, incident_id: int) -> list[dict[str, Any]]:
    return list(node.get(f"/api/incidents/{incident_id}/notifications").json())


class HoldingGateway(HttpReceiver):
    """An SMS gateway that keeps each page's request unanswered until `release` is set: a page
    with its provider when its node dies."""

    def __post_init__(self) -> None:
        self.release = threading.Event()
        self.release.set()
        super().__post_init__()

    def answer(self, request: Any) -> Any:
        if request.path.startswith("/sms/"):
            self.release.wait(60)
        return super().answer(request)


def forwarded_answers(url: str) -> list[int | None]:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT status FROM forwarded_request WHERE path = %s ORDER BY id", (SMS_PATH,))
        return [row[0] for row in cursor.fetchall()]


def test_an_escalation_texted_twice_in_a_takeover_to_a_page_in_flight_moves_the_incident_once(
    make_daemon: Callable[..., DaemonProcess], postgres_url: str, smtp: SmtpServer, tmp_path: Path,
) -> None:
    """dave's page is with the provider when the leader dies; he texts "1e" twice to the follower
    while nobody leads. The next leader sends the page again (a new place in the send order)
    before it takes the texts in: the page counts from its first hand-out, before the texts came
    in, and the second text is refused as already escalated (it escalated two levels)."""
    http = HoldingGateway()
    try:
        first, second = start_two_nodes(make_daemon, postgres_url, smtp, tmp_path,
                                        more_config=sms_channel(http))
        paging = Paging(first, smtp, http)
        dave, erin, frank = (paging.user(name, [("SMS", 0, "HIGH_PRIORITY")])
                             for name in ("dave", "erin", "frank"))
        paging.policy([(30, [dave]), (30, [erin]), (30, [frank])])
        phone, erins, franks = (first.get(f"/api/users/{user}/contacts").json()[0]["target"]
                                for user in (dave, erin, frank))
        http.release.clear()
        incident_id = paging.alert("db1", summary="db1 is down", priority="HIGH")
        first.advance("PT0S")
        wait_for(lambda: len(http.to(f"/sms/{phone}")) == 1, "dave's page with the provider")
        freeze(first, postgres_url)
        assert text(second, http, phone, "1e", "SMfirst") is None  # queued while nobody leads
        assert text(second, http, phone, "1e", "SMsecond") is None
        http.release.set()
        assert first.process is not None
        first.kill()
        wait_for_role(second, "leader", TAKEOVER_SECONDS)
        second.advance("PT0S")
        wait_for(lambda: None not in forwarded_answers(postgres_url), "both texts taken in", timeout=20)
        second.advance("PT0S")
        assert second.get(f"/api/incidents/{incident_id}").json()["escalationLevel"] == 1, second.log()
        wait_for(lambda: len(http.to(f"/sms/{erins}")) == 1, "erin paged")
        assert http.to(f"/sms/{franks}") == []
        escalated = [e for e in second.get(f"/api/incidents/{incident_id}/log-entries").json()
                     if e["logEntryType"] == "ESCALATED"]
        assert len(escalated) == 1, escalated
        second.stop()
    finally:
        http.release.set()
        http.close()
