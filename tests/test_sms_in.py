"""SMS in: Twilio's inbound SMS webhook opens an alert on the SMS alert source owning the number."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import pytest

from ilertd.channels.twilio_voice import twilio_signature
from tests.inprocess import InProcessDaemon
from tests.paging import Paging
from tests.store_faults import write_lock_held

NUMBER = "+4930123456789"
PATH = "/api/v1/twilio/sms"


def text(app_paging: Paging, form: dict[str, str], token: str | None = None) -> Any:
    url = app_paging.daemon.url + PATH
    signature = twilio_signature(token or app_paging.http.twilio_token, url, form)
    return app_paging.daemon.client.post(PATH, data=form, headers={"X-Twilio-Signature": signature})


@pytest.fixture
def sms_source(app_paging: Paging) -> dict[str, Any]:
    dave = app_paging.user("dave")
    policy = app_paging.policy([(30, [dave])])
    created = app_paging.daemon.post("/api/alert-sources", {
        "name": "texts from the field", "integrationType": "SMS", "phoneNumber": NUMBER,
        "escalationPolicy": {"id": policy}})
    assert created.status_code == 201, created.text
    return dict(created.json())


def test_a_text_to_the_sources_number_opens_an_alert_that_pages(app_paging: Paging,
                                                                 sms_source: dict[str, Any]) -> None:
    app = app_paging.daemon
    form = {"MessageSid": "SM1", "From": "+4915199999999", "To": NUMBER, "Body": "pump 3 is  flooding"}
    reply = text(app_paging, form)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/xml") and "<Response/>" in reply.text
    (opened,) = app.get("/api/incidents").json()
    assert (opened["summary"], opened["alertSource"]["id"]) == ("pump 3 is flooding", sms_source["id"])
    assert opened["details"] == f"SMS from +4915199999999 to {NUMBER}"
    app.advance("PT0S")
    assert len(app_paging.mails_to("dave@example.com")) == 1
    # Twilio re-sends a webhook it got no answer to, with the same MessageSid: still one incident.
    assert text(app_paging, form).status_code == 200
    assert len(app.get("/api/incidents").json()) == 1
    assert app.get(f"/api/incidents/{opened['id']}").json()["eventCount"] == 2


def test_an_unsigned_or_forged_text_is_refused_and_stores_nothing(app_paging: Paging,
                                                                  sms_source: dict[str, Any]) -> None:
    form = {"MessageSid": "SM2", "From": "+4915199999999", "To": NUMBER, "Body": "spoofed"}
    assert app_paging.daemon.client.post(PATH, data=form).status_code == 403
    assert text(app_paging, form, token="not-the-token").status_code == 403
    assert app_paging.daemon.get("/api/incidents").json() == []


def test_a_page_ilertd_texted_to_the_sources_number_opens_nothing(app_paging: Paging,
                                                                  sms_source: dict[str, Any]) -> None:
    """A contact naming an SMS source's number: the page, from the number pages are sent from, came
    back as an alert on that source, which paged the number again, without end. The API refuses
    such a contact (and such a source number) now; a store from before may hold one."""
    from ilertd.store import models as m

    app = app_paging.daemon
    dave = app.get("/api/users").json()[-1]["id"]
    refused = app.post(f"/api/users/{dave}/contacts", {"method": "SMS", "target": NUMBER})
    assert (refused.status_code, refused.json()["field"]) == (400, "target"), refused.text
    assert "is the number of SMS alert source \"texts from the field\"" in refused.json()["message"]
    texted = app.post(f"/api/users/{dave}/contacts", {"method": "SMS", "target": "+4930123456780"})
    assert texted.status_code == 201, texted.text
    taken = app.put(f"/api/alert-sources/{sms_source['id']}", {"phoneNumber": "+4930123456780"})
    assert (taken.status_code, taken.json()["field"]) == (400, "phoneNumber"), taken.text
    assert "is an SMS contact of user \"dave\"" in taken.json()["message"]
    m.Contact.create(user=dave, method="SMS", target=NUMBER)
    own = "+15550001111"  # tests.conftest.paging_config's from_number
    page = {"MessageSid": "SM7", "From": own, "To": NUMBER, "Body": "[ilertd] #1 HIGH: pump down"}
    reply = text(app_paging, page)
    assert reply.status_code == 200 and "<Response/>" in reply.text
    assert app.get("/api/incidents").json() == []
    assert isinstance(app, InProcessDaemon)
    warned = f"SMS from {own}, a number pages are sent from, to the SMS alert source number {NUMBER}"
    assert warned in app.log()


def test_a_number_is_an_sms_sources_only_and_checked_when_one_becomes_sms(app_paging: Paging) -> None:
    """A source of another type took a number unchecked, and kept it when made SMS, so a user's
    SMS contact and an SMS source ended up one number: the page loop the checks are there for."""
    app = app_paging.daemon
    number = "+4930123456781"
    other = app.post("/api/alert-sources", {"name": "api", "integrationType": "API", "phoneNumber": number})
    assert (other.status_code, other.json()["field"]) == (400, "phoneNumber"), other.text
    assert "phoneNumber is for SMS alert sources only, and this one is API" in other.json()["message"]
    source = app.post("/api/alert-sources", {"name": "texts", "integrationType": "SMS",
                                             "phoneNumber": number}).json()
    path = f"/api/alert-sources/{source['id']}"
    # Made API with its number kept: refused; with it cleared, taken.
    assert app.put(path, {"integrationType": "API"}).status_code == 400
    assert app.put(path, {"integrationType": "API", "phoneNumber": None}).status_code == 200
    dave = app.post("/api/users", {"username": "dave"}).json()["id"]
    assert app.post(f"/api/users/{dave}/contacts", {"method": "SMS", "target": number}).status_code == 201
    back = app.put(path, {"integrationType": "SMS", "phoneNumber": number})
    assert (back.status_code, back.json()["field"]) == (400, "phoneNumber"), back.text
    assert "is an SMS contact of user \"dave\"" in back.json()["message"]
    assert app.get(path).json()["integrationType"] == "API"
    # A store from before may hold a number on a source of another type: made SMS, it is checked.
    from ilertd.store import models as m

    m.AlertSource.update(phone_number=number).where(m.AlertSource.id == source["id"]).execute()
    app.daemon.services.app.ctx.sources.invalidate()
    kept = app.put(path, {"integrationType": "SMS"})
    assert (kept.status_code, kept.json()["field"]) == (400, "phoneNumber"), kept.text
    assert app.get(path).json()["integrationType"] == "API"


def test_a_text_to_another_number_opens_nothing(app_paging: Paging, sms_source: dict[str, Any]) -> None:
    reply = text(app_paging, {"MessageSid": "SM3", "From": "+4915199999999", "To": "+4930000000000",
                              "Body": "hello"})
    assert reply.status_code == 200
    assert app_paging.daemon.get("/api/incidents").json() == []


def test_a_number_belongs_to_one_source_and_is_e164(app_paging: Paging, sms_source: dict[str, Any]) -> None:
    app = app_paging.daemon
    taken = app.post("/api/alert-sources", {"name": "b", "integrationType": "SMS", "phoneNumber": NUMBER})
    assert taken.status_code == 400 and taken.json()["field"] == "phoneNumber"
    bad = app.post("/api/alert-sources", {"name": "c", "integrationType": "SMS", "phoneNumber": "030 1234"})
    assert bad.status_code == 400 and bad.json()["field"] == "phoneNumber"
    spaced = app.post("/api/alert-sources",
                      {"name": "d", "integrationType": "SMS", "phoneNumber": "+49 30 1234-5678"})
    assert (spaced.status_code, spaced.json()["phoneNumber"]) == (201, "+493012345678"), spaced.text
    # GET-modify-PUT keeps the source's own number.
    assert app.put(f"/api/alert-sources/{sms_source['id']}", sms_source).status_code == 200


def test_the_number_pages_come_from_is_no_sources_and_a_text_to_it_is_a_reply(
        app_paging: Paging, sms_source: dict[str, Any]) -> None:
    """An SMS source given `[twilio] from_number`, the number pages are sent from, made every
    responder's "1a" an alert on that source, and no reply acted on a page. Such a number is
    refused; a source an older store gave it takes no texts, and the daemon says so at start."""
    from ilertd.store import models as m

    app = app_paging.daemon
    own = "+15550001111"  # tests.conftest.paging_config's from_number
    taken = app.post("/api/alert-sources", {"name": "b", "integrationType": "SMS", "phoneNumber": own})
    assert (taken.status_code, taken.json()["field"]) == (400, "phoneNumber"), taken.text
    assert "pages are sent from" in taken.json()["message"]
    changed = app.put(f"/api/alert-sources/{sms_source['id']}", {"phoneNumber": own})
    assert changed.status_code == 400
    # A store from before: the source holds the number all the same.
    m.AlertSource.update(phone_number=own).where(m.AlertSource.id == sms_source["id"]).execute()
    dave = app.get("/api/users").json()[-1]["id"]
    phone = app.post(f"/api/users/{dave}/contacts", {"method": "SMS", "target": "+4915199999999"})
    assert phone.status_code == 201
    opened = app.post("/api/events", {"integrationKey": sms_source["integrationKey"], "eventType": "ALERT",
                                      "summary": "dave is paged"})
    assert opened.status_code == 202
    reply = text(app_paging, {"MessageSid": "SM9", "From": "+4915199999999", "To": own, "Body": "help"})
    assert "reply" in ElementTree.fromstring(reply.text).findtext("Message", "")
    assert len(app.get("/api/incidents").json()) == 1
    assert isinstance(app, InProcessDaemon)
    app.stop()
    app.start()
    assert (f"alert source {sms_source['id']} ('texts from the field') has the number {own}, which "
            "pages are sent from") in app.log()


def test_a_text_the_store_could_not_take_tells_its_sender_to_send_it_again(
        impatient: None, app_paging: Paging, sms_source: dict[str, Any]) -> None:
    """It was a 503, which Twilio does not re-send (only a timeout, without connection overrides):
    the alert was gone and its sender, told nothing, believed someone was being paged."""
    app = app_paging.daemon
    assert isinstance(app, InProcessDaemon)
    form = {"MessageSid": "SM9", "From": "+4915199999999", "To": NUMBER, "Body": "pump 3 is flooding"}
    with write_lock_held(app.data_dir / "ilertd.db"):
        reply = text(app_paging, form)
    assert reply.status_code == 200, reply.text
    message = ElementTree.fromstring(reply.text).find("Message")
    assert message is not None and message.text == (
        "ilertd: your alert was not confirmed, so nobody may be paged. Send it again in a minute.")
    app.quiet()
    assert app.get("/api/incidents").json() == []
    assert "SMS alert from +4915199999999 not opened" in app.log()
    # Sent again (a new message, so a new MessageSid), it opens the alert.
    again = text(app_paging, {**form, "MessageSid": "SM10"})
    assert again.status_code == 200 and "<Response/>" in again.text
    assert [i["summary"] for i in app.get("/api/incidents").json()] == ["pump 3 is flooding"]


def test_a_text_twilio_hands_on_while_no_node_leads_is_queued_and_answered_200() -> None:
    """It was a 503 NOT_LEADER: Twilio never sends a webhook again that was answered 5xx, so an
    SMS alert (or a reply) that came to a follower during a takeover was lost for good. It is
    queued as an event is, and answered with an empty TwiML."""
    from ilertd.plugins.manager import PluginManager
    from ilertd.web.follower import event_route_of, queued_answer

    plugins = PluginManager()
    plugins.load_entry_points()

    def posted(path: str) -> dict[str, object]:
        return {"type": "http", "method": "POST", "path": path, "root_path": "", "headers": []}

    queued = event_route_of(posted("/api/v1/twilio/sms"), plugins.routes)
    assert queued is not None, "the SMS webhook takes events"
    assert event_route_of(posted("/api/v1/twilio/voice/12"), plugins.routes) is None
    answer = queued_answer(queued, b"From=%2B4915199999998&To=%2B15550002222&Body=fire")
    assert answer.status == 200 and dict(answer.headers)["content-type"] == "application/xml"
    assert answer.body == b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
