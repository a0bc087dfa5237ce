"""The numbers pages come from: the calling-code table, the vCard, and GET /api/numbers(.vcf)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import apprise
import pytest

from ilertd.actors.runtime import answering_for
from ilertd.channels.sender_numbers import reply_numbers, sms_channel_sender
from ilertd.config import ChannelConfig, ChannelsConfig, Config, load_config
from ilertd.domain.phone_numbers import (
    SMS,
    VOICE,
    SenderNumber,
    country_of,
    e164,
    merge_numbers,
    render_vcard,
    twilio_sender,
)
from tests.inprocess import InProcessDaemon
from tests.test_http_people import make_user

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "f00dfacef00dfacef00dfacef00dface"
URL_TOKEN = "0badc0de0badc0de0badc0de0badc0de"
TORONTO = "+14165550100"
BERLIN_MOBILE = "+4915150001111"
DUBLIN = "+353861234567"
CRLF = "\r\n"

MakeApp = Callable[..., InProcessDaemon]


def started(make_app: MakeApp, tmp_path: Path, toml: str) -> InProcessDaemon:
    config = tmp_path / "ilertd.toml"
    config.write_text(toml)
    return make_app(config=config).start()


def add_sms_source(app: InProcessDaemon, name: str, number: str) -> None:
    created = app.post("/api/alert-sources", {"name": name, "integrationType": "SMS", "phoneNumber": number})
    assert created.status_code == 201, created.text


# --- the calling-code table -----------------------------------------------------------------------

@pytest.mark.parametrize(("number", "country"), [
    ("+4930123456789", "DE"),
    ("+442071234567", "GB"),
    ("+353861234567", "IE"),
    ("+33142685300", "FR"),
    ("+27211234567", "ZA"),
    ("+2348012345678", "NG"),
    ("+85223456789", "HK"),
    ("+998901234567", "UZ"),
    ("+38344123456", "XK"),
    ("+74951234567", "RU"),   # Moscow
    ("+77012345678", "KZ"),   # a Kazakh mobile: +77
    ("+76272123456", "KZ"),   # a Kazakh landline: +76
    ("+12125550100", "US"),   # New York
    ("+14165550100", "CA"),   # Toronto
    ("+16045550100", "CA"),   # Vancouver
    ("+18765550100", "JM"),
    ("+17875550100", "PR"),
    ("+18095550100", "DO"),
])
def test_the_country_of_a_number_is_its_calling_codes(number: str, country: str) -> None:
    assert country_of(number) == country


def test_plus_one_too_short_for_an_area_code_is_us_and_plus_seven_alone_is_russia() -> None:
    assert [country_of(n) for n in ("+1", "+14", "+141", "+1416")] == ["US", "US", "US", "CA"]
    assert [country_of(n) for n in ("+7", "+77", "+78")] == ["RU", "KZ", "RU"]


def test_codes_of_no_country_and_unassigned_codes_give_none() -> None:
    # International freephone, satellite and network codes name no country.
    assert country_of("+80012345678") is None
    assert country_of("+881612345678") is None
    # Unassigned: 28x, 999, 210.
    assert country_of("+2801234567") is None
    assert country_of("+99912345678") is None
    assert country_of("+2101234567") is None
    # Not E.164 at all.
    assert country_of("4930123456") is None
    assert country_of("+49 30 123") is None
    assert country_of("") is None


def test_e164_takes_out_separators_and_refuses_what_is_no_number() -> None:
    assert e164("+1 (416) 555-0100") == TORONTO
    assert e164("+49 151/5000.1111") == BERLIN_MOBILE
    assert e164("14165550100") is None
    assert e164("+0123456789") is None
    assert e164("+123") is None
    assert e164("+1234567890123456") is None
    assert e164("") is None


# --- merging and the vCard --------------------------------------------------------------------------

def test_numbers_merge_by_number_joining_types_and_replies_in_number_order() -> None:
    merged = merge_numbers([
        SenderNumber(DUBLIN, frozenset({SMS}), True),
        SenderNumber(TORONTO, frozenset({VOICE}), False),
        SenderNumber(TORONTO, frozenset({SMS}), True),
    ])
    assert merged == [SenderNumber(TORONTO, frozenset({SMS, VOICE}), True),
                      SenderNumber(DUBLIN, frozenset({SMS}), True)]
    assert merge_numbers([]) == []


def test_the_vcard_is_version_3_with_one_tel_line_per_number_and_crlf() -> None:
    text = render_vcard([
        SenderNumber(TORONTO, frozenset({SMS, VOICE}), True),
        SenderNumber(DUBLIN, frozenset({SMS}), True),
        SenderNumber(BERLIN_MOBILE, frozenset({VOICE}), False),
    ])
    assert text.endswith(CRLF) and "\n" not in text.replace(CRLF, "")
    assert text.split(CRLF)[:-1] == [
        "BEGIN:VCARD",
        "VERSION:3.0",
        "PRODID:-//ilertd//numbers//EN",
        "N:ilertd;;;;",
        "FN:ilertd",
        "ORG:ilertd",
        "NOTE:On-call pages from ilertd come from these numbers.",
        f"TEL;TYPE=voice,text:{TORONTO}",
        f"TEL;TYPE=text:{DUBLIN}",
        f"TEL;TYPE=voice:{BERLIN_MOBILE}",
        "END:VCARD",
    ]


def test_vcard_text_values_are_escaped_and_long_lines_folded() -> None:
    note = "line one\nline two " + "x" * 80
    text = render_vcard([], name="On-call; ops, EU\\1", organization="A;B", note=note)
    lines = text.split(CRLF)
    assert r"FN:On-call\; ops\, EU\\1" in lines
    assert r"N:On-call\; ops\, EU\\1;;;;" in lines
    assert r"ORG:A\;B" in lines
    assert all(len(line.encode()) <= 75 for line in lines)
    # Unfolded (RFC 2425: a CRLF followed by one space is removed), the note is whole again.
    unfolded = text.replace(CRLF + " ", "").split(CRLF)
    assert "NOTE:line one\\nline two " + "x" * 80 in unfolded
    assert not any(line.startswith("TEL") for line in lines)


# --- the SMS channel's apprise URL ------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "+14165550100", "14165550100", "+1 (416) 555-0100", "+4915150001111", "w:+14165550100",
    "whatsapp:+14165550100", "sms:+14165550100", "12345", "5550100", "+49301234", "not a number",
])
def test_the_twilio_sender_is_read_as_apprise_reads_it(source: str) -> None:
    """The reading of the sender agrees with apprise's own Twilio plugin, built from the URL."""
    url = f"twilio://{SID}:{TOKEN}@x/14165550199?from={quote(source, safe='')}"
    plugin = apprise.Apprise.instantiate(url)
    sends_from = None
    if plugin is not None and len(plugin.source) > 7:
        # A phone number, not a short code; texts ("T") or WhatsApp messages ("W") from it.
        sends_from = plugin.source, plugin.default_mode == "W"
    assert twilio_sender(source) == sends_from


def test_the_sms_channel_sender_comes_from_a_twilio_url_only() -> None:
    sms = frozenset({SMS})
    expected = SenderNumber(BERLIN_MOBILE, sms, True)
    assert sms_channel_sender(f"twilio://{SID}:{URL_TOKEN}@{BERLIN_MOBILE}/{{contact}}", True) == expected
    assert sms_channel_sender(f"TWILIO://{SID}:{URL_TOKEN}@%2B4915150001111/{{contact}}", True) == expected
    assert sms_channel_sender(f"twilio://{SID}:{URL_TOKEN}@{BERLIN_MOBILE}/{{contact}}", False) == \
        SenderNumber(BERLIN_MOBILE, sms, False)
    # The sender given as a query argument; `method=call` places calls from it instead.
    assert sms_channel_sender(f"twilio://_?sid={SID}&token={URL_TOKEN}&from={BERLIN_MOBILE}&to={{contact}}",
                              True) == expected
    calls = f"twilio://{SID}:{URL_TOKEN}@{BERLIN_MOBILE}/{{contact}}?method=call"
    assert sms_channel_sender(calls, True) == SenderNumber(BERLIN_MOBILE, frozenset({VOICE}), True)
    # A WhatsApp sender, a short code, and other schemes name no number texts come from.
    assert sms_channel_sender(f"twilio://_?sid={SID}&token={URL_TOKEN}&from=w:{BERLIN_MOBILE}", True) is None
    assert sms_channel_sender(f"twilio://{SID}:{URL_TOKEN}@12345/{{contact}}", True) is None
    assert sms_channel_sender("json://127.0.0.1:9/sms/{contact}", True) is None
    assert sms_channel_sender("vonage://key:secret@15550001111/{contact}", True) is None
    assert sms_channel_sender("", True) is None


def test_a_whatsapp_sender_is_a_number_replies_come_to() -> None:
    """Pages through WhatsApp (`w:`) are answered by messaging the number they came from: a
    message to it is a reply, and no SMS alert source may take it, though it takes no texts."""
    whatsapp = f"twilio://_?sid={SID}&token={URL_TOKEN}&from=w:{BERLIN_MOBILE}&to={{contact}}"
    config = Config(channels=ChannelsConfig(sms=ChannelConfig(whatsapp)))
    assert reply_numbers(config) == frozenset({BERLIN_MOBILE})
    assert sms_channel_sender(whatsapp, True) is None


# --- over HTTP ----------------------------------------------------------------------------------------

FULL_CONFIG = f'''
[channels.sms]
url = "twilio://{SID}:{URL_TOKEN}@{BERLIN_MOBILE}/{{contact}}"
[twilio]
account_sid = "{SID}"
auth_token = "{TOKEN}"
from_number = "+1 416 555 0100"
api_base_url = "http://127.0.0.1:9"
'''


def test_twilio_the_sms_url_and_sms_sources_are_listed_merged_by_number(make_app: MakeApp,
                                                                       tmp_path: Path) -> None:
    app = started(make_app, tmp_path, FULL_CONFIG)
    add_sms_source(app, "texts from the field", DUBLIN)
    # The SMS channel's sender is where replies to its pages go: no source may take its texts.
    refused = app.post("/api/alert-sources", {"name": "texts to the pager number", "integrationType": "SMS",
                                              "phoneNumber": BERLIN_MOBILE})
    assert (refused.status_code, refused.json()["field"]) == (400, "phoneNumber")
    reply = app.get("/api/numbers")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == [
        {"countryCode": "CA", "phoneNumber": TORONTO, "types": ["SMS", "VOICE"], "supportsInboundSms": True},
        {"countryCode": "IE", "phoneNumber": DUBLIN, "types": ["SMS"], "supportsInboundSms": True},
        {"countryCode": "DE", "phoneNumber": BERLIN_MOBILE, "types": ["SMS"], "supportsInboundSms": True},
    ]
    vcard = app.get("/api/numbers.vcf")
    assert vcard.status_code == 200
    assert vcard.headers["content-type"] == "text/vcard; charset=utf-8"
    assert vcard.headers["content-disposition"] == 'attachment; filename="ilertd.vcf"'
    lines = vcard.text.split(CRLF)
    assert (lines[0], lines[1], lines[-2], lines[-1]) == ("BEGIN:VCARD", "VERSION:3.0", "END:VCARD", "")
    assert "FN:ilertd" in lines and "ORG:ilertd" in lines
    assert [line for line in lines if line.startswith("TEL")] == [
        f"TEL;TYPE=voice,text:{TORONTO}", f"TEL;TYPE=text:{DUBLIN}", f"TEL;TYPE=text:{BERLIN_MOBILE}"]
    # Neither answer gives away a credential or the URL they sit in.
    for text in (reply.text, vcard.text):
        for secret in (SID, TOKEN, URL_TOKEN, "twilio://"):
            assert secret not in text


def test_any_user_reads_the_numbers_and_nobody_without_a_token(make_app: MakeApp, tmp_path: Path) -> None:
    app = started(make_app, tmp_path, FULL_CONFIG)
    _, token = make_user(app, "carol")
    assert app.get("/api/numbers", token=token).json()[0]["phoneNumber"] == TORONTO
    assert app.get("/api/numbers.vcf", token=token).status_code == 200
    for path in ("/api/numbers", "/api/numbers.vcf"):
        for headers in ({}, {"Authorization": "Bearer nope"}):
            refused = app.client.get(path, headers=headers)
            assert refused.status_code == 401
            assert refused.json()["code"] == "UNAUTHORIZED"
            assert refused.headers["www-authenticate"] == "Bearer"


def test_without_an_auth_token_no_text_reaches_ilertd_and_no_call_is_placed(make_app: MakeApp,
                                                                          tmp_path: Path) -> None:
    app = started(make_app, tmp_path, f'''
[channels.sms]
url = "twilio://_?sid={SID}&token={URL_TOKEN}&from={TORONTO}&to={{contact}}"
[twilio]
account_sid = "{SID}"
from_number = "{TORONTO}"
''')
    add_sms_source(app, "texts", DUBLIN)
    assert app.get("/api/numbers").json() == [
        {"countryCode": "CA", "phoneNumber": TORONTO, "types": ["SMS"], "supportsInboundSms": False},
        {"countryCode": "IE", "phoneNumber": DUBLIN, "types": ["SMS"], "supportsInboundSms": False},
    ]


def test_disabled_plugins_neither_call_nor_text(make_app: MakeApp, tmp_path: Path) -> None:
    app = started(make_app, tmp_path, FULL_CONFIG + '''
[plugins.voice]
enabled = false
[plugins.sms]
enabled = false
''')
    # No calls from the Twilio number, no SMS channel (its sender is not listed), no texts in.
    assert app.get("/api/numbers").json() == [
        {"countryCode": "CA", "phoneNumber": TORONTO, "types": ["SMS"], "supportsInboundSms": False},
    ]


def test_nothing_configured_lists_no_number(app: InProcessDaemon) -> None:
    reply = app.get("/api/numbers")
    assert reply.status_code == 200 and reply.json() == []
    # An API source and an SMS source without a number add none.
    assert app.post("/api/alert-sources", {"name": "sms", "integrationType": "SMS"}).status_code == 201
    assert app.get("/api/numbers").json() == []
    vcard = app.get("/api/numbers.vcf")
    assert vcard.status_code == 200 and vcard.headers["content-type"] == "text/vcard; charset=utf-8"
    assert vcard.text.startswith("BEGIN:VCARD\r\nVERSION:3.0\r\n") and vcard.text.endswith("END:VCARD\r\n")
    assert "TEL" not in vcard.text


@pytest.mark.parametrize(("sms_url", "codes"), [
    (f"twilio://{SID}:{URL_TOKEN}@{BERLIN_MOBILE}/{{contact}}", True),
    ("json://sms-gateway.example.com/send/{contact}", True),
    ("", True),
    ("vonage://key:secret@15550001111/{contact}", False),
    ("sinch://SERVICE:TOKEN@15550001111/{contact}", False),
])
def test_sms_pages_ask_for_reply_codes_only_where_replies_come_back(
        tmp_path: Path, sms_url: str, codes: bool) -> None:
    """With Twilio's token set (for calls, say) and SMS pages sent through another provider, the
    pages said "Reply 1a accept": the reply went to that provider, never to ilertd, and the
    responder believed they had accepted."""
    config = tmp_path / "ilertd.toml"
    config.write_text(f'[channels.sms]\nurl = "{sms_url}"\n[twilio]\nauth_token = "{TOKEN}"\n')
    assert answering_for(load_config(config, {}), "secret").sms_replies is codes
