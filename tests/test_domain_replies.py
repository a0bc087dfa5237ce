"""The pure rules of answering pages: the SMS grammar, phone keys, e-mail's first word, signed tokens,
and page layouts that fit their medium."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ilertd.domain.link_tokens import LinkError, read_link, read_reply_key, reply_key, sign_link
from ilertd.domain.page_text import (
    Answering,
    PageAction,
    PageFacts,
    alert_text,
    summary_text,
    update_text,
)
from ilertd.domain.replies import (
    CODE_REST,
    HeldCode,
    SmsReply,
    automatic_mail,
    email_reply_action,
    new_reply_code,
    pages_a_bare_letter_answers,
    parse_sms_reply,
    smallest_free_code,
    sms_help,
    voice_choice,
    which_incident_text,
)
from ilertd.domain.sms_text import fits_one_sms, gsm7_septets

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("body", "meaning"), [
    ("3a", SmsReply("action", "accept", code=3)),
    (" 3 A ", SmsReply("action", "accept", code=3)),
    ("'3r'", SmsReply("action", "resolve", code=3)),
    ("\u201c12e\u201d", SmsReply("action", "escalate", code=12)),
    ("3c", SmsReply("action", "resolve", code=3)),
    ("a", SmsReply("action", "accept")),
    ("R", SmsReply("action", "resolve")),
    ("c", SmsReply("action", "resolve")),
    ("e.", SmsReply("action", "escalate")),
    ("4", SmsReply("action", "accept")),
    ("6", SmsReply("action", "resolve")),
    ("ack 12", SmsReply("action", "accept", incident_id=12)),
    ("Resolve #12", SmsReply("action", "resolve", incident_id=12)),
    ("escalate 7", SmsReply("action", "escalate", incident_id=7)),
    ("STOP", SmsReply("stop")),
    ("unsubscribe", SmsReply("stop")),
    ("Start", SmsReply("start")),
    ("3x", SmsReply("help")),
    ("5", SmsReply("help")),
    ("a 3", SmsReply("help")),
    ("hello there", SmsReply("help")),
    ("", SmsReply("help")),
])
def test_the_sms_grammar(body: str, meaning: SmsReply) -> None:
    assert parse_sms_reply(body) == meaning


def test_the_smallest_free_code_fills_gaps() -> None:
    assert smallest_free_code([]) == 1
    assert smallest_free_code([1, 2, 4]) == 3
    assert smallest_free_code([2, 3]) == 1


def test_a_resolved_incidents_code_rests_an_hour_after_its_last_page_or_its_resolution() -> None:
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    long_ago = now - CODE_REST - timedelta(minutes=1)
    just_now = now - timedelta(minutes=5)
    # Open: held however old its page.
    assert new_reply_code([HeldCode(1, long_ago, None)], now) == 2
    # Resolved minutes ago, though its last page is old (accepted at 9, worked on, resolved now):
    # a late "1r" meant for it must not resolve the next incident.
    assert new_reply_code([HeldCode(1, long_ago, just_now)], now) == 2
    # Paged minutes ago and resolved long before that cannot be; paged just now, resolved: resting.
    assert new_reply_code([HeldCode(1, just_now, just_now)], now) == 2
    # Past the rest on both counts: free again, the smallest first.
    assert new_reply_code([HeldCode(1, long_ago, long_ago), HeldCode(2, just_now, None)], now) == 1
    assert new_reply_code([], now) == 1


def test_voice_keys() -> None:
    assert [voice_choice(k) for k in ("4", "6", "5", "0", "*", "1", "", "#")] == [
        "accept", "resolve", "escalate", "next", "repeat", "repeat", "repeat", "repeat"]


@pytest.mark.parametrize(("text", "action"), [
    ("accept\n> the page", "accept"), ("  Resolve, fixed it", "resolve"),
    ("ack", "accept"), ("I will accept", None), ("", None), ("thanks", None), ("*Accept*", "accept"),
    # Quoted text is the page or the thread, not the reply: a quoted question resolved an incident
    # its responder said was not fixed.
    ("> ESCALATE", None), ("> Resolve when the backup reruns?\n\nNot yet, looking.", None),
    ("> accept\n\nescalate, hal please take it", "escalate"),
    ("On Mon, 5 Jan 2026 at 09:00, ilertd <ilertd@example.com> wrote:\n> the page\n\naccept", "accept"),
    # Bottom-posted under an attribution in another language, or wrapped on two lines: the
    # accept below the quote did nothing.
    ("Am 05.01.26 um 10:00 schrieb ilertd@example.com:\n> the page\n\naccept", "accept"),
    ("On Mon, Jan 5, 2026 at 10:00 AM ilertd on-call pager <ilertd@example.com>\nwrote:\n> the page\n\nack",
     "accept"),
    ("Le lun. 5 janv. 2026 à 10:00, ilertd <ilertd@example.com> a écrit :\n\n> the page\n\nClose", "resolve"),
    ("On Mon, ilertd wrote:\n> Resolve when the backup reruns?\n\nNot yet", None),
    # Own text without an action is the answer, whatever follows the quote under it.
    ("Not yet\n> Resolve when the backup reruns?", None),
    ("Thanks, looking.\n\nOn Mon, ilertd wrote:\n> the page\n\nescalate", None),
    # The whole first word: "acceptée" is not "accept"; invisible marks before it are no word.
    ("acceptée par moi", None), ("\ufeffaccept", "accept"), ("\u200bResolve", "resolve"),
])
def test_an_emailed_reply_acts_on_its_first_word(text: str, action: str | None) -> None:
    assert email_reply_action(text) == action


@pytest.mark.parametrize(("headers", "content_type", "envelope_sender", "reason"), [
    # RFC 3834: an out-of-office notice's "Accept my apologies: ..." accepted the incident.
    ([("Auto-Submitted", "auto-replied")], "text/plain", "ida@example.com", "Auto-Submitted: auto-replied"),
    ([("auto-submitted", " Auto-Generated; owner-email=x@example.com")], "text/plain", None,
     "Auto-Submitted: auto-generated"),
    ([("X-Autoreply", "yes")], "text/plain", "ida@example.com", "X-Autoreply"),
    ([("X-Autorespond", "ida")], "text/html", "ida@example.com", "X-Autorespond"),
    ([("Precedence", "auto_reply")], "text/plain", "ida@example.com", "Precedence: auto_reply"),
    ([("Precedence", "BULK")], "text/plain", "ida@example.com", "Precedence: bulk"),
    ([], "multipart/report", "ida@example.com", "a delivery report (multipart/report)"),
    ([], "text/plain", "<>", "null sender"),
    ([], "text/plain", "", "null sender"),
    # A person's reply: no marks, Auto-Submitted: no, a precedence that says nothing of programs.
    ([], "text/plain", "ida@example.com", None),
    ([("Auto-Submitted", "no"), ("Precedence", "first-class")], "text/plain", "ida@example.com", None),
    ([("X-Auto-Response-Suppress", "All")], "text/plain", None, None),
])
def test_a_mail_a_program_sent_is_told_from_a_persons(
        headers: list[tuple[str, str]], content_type: str, envelope_sender: str | None,
        reason: str | None) -> None:
    assert automatic_mail(headers, content_type, envelope_sender) == reason


def test_a_link_token_is_bound_to_incident_user_action_and_time() -> None:
    expires = NOW + timedelta(hours=24)
    token = sign_link("k", 12, 7, "accept", "EMAIL", expires)
    claim = read_link("k", token, NOW)
    assert (claim.incident_id, claim.user_id, claim.action, claim.channel) == (12, 7, "accept", "EMAIL")
    with pytest.raises(LinkError) as wrong_key:
        read_link("other", token, NOW)
    assert wrong_key.value.problem == "invalid"
    for forged in (token.replace("12.7.a", "13.7.a"), token.replace("12.7.a", "12.8.a"),
                   token.replace(".a.", ".r."), token.replace("EMAIL", "PUSH"), token[:-1], token + "x"):
        with pytest.raises(LinkError):
            read_link("k", forged, NOW)
    with pytest.raises(LinkError) as late:
        read_link("k", token, expires)
    assert late.value.problem == "expired"


def test_a_reply_key_survives_re_and_folding_but_not_tampering() -> None:
    key = reply_key("k", 12, 7)
    assert read_reply_key("k", f"Re: [ilertd] #12 HIGH: db down {key}") == (12, 7)
    folded = f"AW: [ilertd] #12 HIGH: db down\n  {key}".replace(" 12.", "\n 12.")
    assert read_reply_key("k", folded) == (12, 7)
    assert read_reply_key("k", key.replace("12.7", "12.8")) is None
    assert read_reply_key("other", key) is None
    assert read_reply_key("k", "Re: no key") is None
    # A page whose summary quotes another page's subject (a forwarded page that opened an
    # incident) carries both keys: its own, at the end, is the one acted on.
    first, second = reply_key("k", 1, 7), reply_key("k", 2, 7)
    quoted = f"Re: [ilertd] #2 HIGH: Fwd: [ilertd] #1 HIGH: db down {first} {second}"
    assert read_reply_key("k", quoted) == (2, 7)


def test_gsm7_counting() -> None:
    assert gsm7_septets("abc") == 3
    assert gsm7_septets("a{b}") == 6  # the extension table takes two septets
    assert gsm7_septets("snow \u2603") is None
    assert fits_one_sms("x" * 160) and not fits_one_sms("x" * 161)
    assert fits_one_sms("\u2603" * 70) and not fits_one_sms("\u2603" * 71)


FACTS = PageFacts(4321, "s" * 60, "line one\nline two", "HIGH", "PENDING", "Prometheus production eu-west-1",
                  "https://ilertd.example.com/api/incidents/4321", NOW)


def test_an_sms_page_fits_one_segment_with_its_reply_code() -> None:
    page = alert_text(FACTS, "ilertd-n1", answering=Answering(code=12)).short
    assert fits_one_sms(page) and FACTS.summary in page and "#4321" in page
    assert page.endswith("Reply 12a accept, 12r resolve, 12e escalate")
    # A summary too long for one segment is clipped; the code and how to answer stay.
    long = alert_text(PageFacts(1, "x" * 300, "", "HIGH", "PENDING", "src", "l", NOW), "r",
                      answering=Answering(code=3)).short
    assert fits_one_sms(long) and long.endswith("3e escalate") and "..." in long


def facts_of(summary: str) -> PageFacts:
    return PageFacts(7, summary, "", "HIGH", "PENDING", "am", "https://x.io/7", NOW)


def test_one_character_outside_gsm7_no_longer_cuts_the_sms_short() -> None:
    """An em dash cut `[FIRING:1] HighLatency ...` to `[FIRING:1] ...`: the limit was chosen by the
    whole summary's encoding (UCS-2, 70) though the clipped text was GSM-7 (160)."""
    dashed = "[FIRING:1] HighLatency api-gateway p99 > 2s for 5m \u2014 checkout degraded " + "x" * 200
    page = alert_text(facts_of(dashed), "r", answering=Answering(code=1)).short
    assert gsm7_septets(page) is not None and fits_one_sms(page) and len(page) >= 150
    assert "HighLatency api-gateway p99 > 2s for 5m - checkout degraded xxx" in page
    # Typographic quotes and dashes go as their plain forms (Twilio's Smart Encoding): all fits.
    curly = "Disk on db1 is 95% full \u2013 won\u2019t last the night"
    assert "Disk on db1 is 95% full - won't last the night" in alert_text(facts_of(curly), "r").short
    # A character GSM-7 has not: the longest clip that fits, not the text clipped to 30.
    cyrillic = alert_text(facts_of("\u0414\u0438\u0441\u043a " * 30), "r").short
    assert fits_one_sms(cyrillic) and len(cyrillic) >= 65


def test_an_emoji_counts_two_ucs2_units() -> None:
    assert fits_one_sms("\U0001f525" * 35) and not fits_one_sms("\U0001f525" * 36)
    page = alert_text(facts_of("\U0001f525 db1 down " + "y" * 100), "r").short
    assert fits_one_sms(page) and len(page.encode("utf-16-le")) // 2 <= 70


def test_an_email_page_lays_out_one_fact_per_line_with_links_and_a_reply_hint() -> None:
    actions = (PageAction("Accept", "https://x/r/a"), PageAction("Resolve", "https://x/r/r"))
    text = alert_text(FACTS, "ilertd-n1", ZoneInfo("America/New_York"),
                      Answering(actions=actions, reply_key="[ilertd-reply 1.2.abc]"))
    lines = text.body.splitlines()
    assert "Opened:    Mon 2026-01-05 04:00 EST" in lines
    assert "Accept:    https://x/r/a" in lines and "Resolve:   https://x/r/r" in lines
    assert any("reply to this e-mail" in line for line in lines)
    assert text.title.endswith("[ilertd-reply 1.2.abc]")
    assert 'href="https://x/r/a"' in text.html and "Mon 2026-01-05 04:00 EST" in text.html
    assert "https://x/r/a" not in text.brief and text.actions == actions


def test_html_escapes_what_the_alert_says() -> None:
    facts = PageFacts(1, "<script>alert(1)</script>", "a & b", "HIGH", "PENDING", "<src>", "https://x/1", NOW)
    html = alert_text(facts, "r").html
    assert "<script>" not in html and "&lt;script&gt;" in html and "a &amp; b" in html


def test_updates_and_summaries_follow_the_same_layouts() -> None:
    update = update_text(FACTS, "accepted", "ilertd-n2")
    assert "Status:    PENDING" in update.body.splitlines() and fits_one_sms(update.short)
    assert "<table>" in update.html
    summary = summary_text([FACTS, FACTS], "https://x/open", "ilertd-n3", {4321: 2})
    assert "#4321=2" in summary.short and "2a accept" in summary.short and fits_one_sms(summary.short)


def test_a_summary_tells_status_updates_from_pages() -> None:
    """A status update inside a contact's window was listed as a page ("2 pages for 2 incidents",
    "#1 HIGH: db down" for an incident just accepted), and an SMS of pages with codes left it out
    while counting it."""
    other = PageFacts(77, "queue stuck", "", "LOW", "ACCEPTED", "default", "https://x/77", NOW)
    mixed = summary_text([FACTS, other], "https://x/open", "ilertd-n4", {4321: 2}, updates=[None, "accepted"])
    assert mixed.title == "[ilertd] 1 page for 1 incident, 1 status update"
    assert mixed.body.splitlines()[:3] == [
        "1 page and 1 status update came in while this contact was throttled:",
        f"#4321 HIGH: {'s' * 60}", "#77 accepted: queue stuck"]
    assert mixed.short.startswith("ilertd: 1 page, 1 status update: #4321=2 #77 accepted\n")
    assert "2a accept" in mixed.short and fits_one_sms(mixed.short)
    told = summary_text([FACTS, other], "https://x/open", "ilertd-n5", {}, updates=["resolved", "accepted"])
    assert told.title == "[ilertd] 2 status updates"
    assert told.short == "ilertd: 2 status updates: #4321 resolved #77 accepted\nhttps://x/open"
    assert told.spoken == "This is ilertd. 2 status updates."
    assert "<li>#4321 resolved: " in told.html
    pages = summary_text([FACTS, other], "https://x/open", "ilertd-n6")
    assert pages.title == "[ilertd] 2 pages for 2 incidents"


def test_the_help_text_fits_one_segment() -> None:
    assert fits_one_sms(sms_help(None)) and fits_one_sms(sms_help(1234))


def test_a_bare_letter_may_mean_the_latest_message_or_a_page_in_flight_when_its_sender_stopped() -> None:
    # (incident, user): the latest message's pages first, each incident once.
    assert pages_a_bare_letter_answers([(8, 1)], []) == [(8, 1)]
    assert pages_a_bare_letter_answers([(8, 1)], [(8, 1), (9, 1)]) == [(8, 1), (9, 1)]
    assert pages_a_bare_letter_answers([], [(9, 2)]) == [(9, 2)]


def test_a_bare_letter_after_a_summary_is_asked_which_incident_it_means() -> None:
    assert which_incident_text([(8, 2), (9, None)], "resolve") == (
        "ilertd: your last page named 2 incidents: reply with one's code, #8=2 or #9, e.g. 2r.")
    # Without any code (its write refused), the incident id does.
    assert which_incident_text([(8, None), (9, None)], "escalate").endswith("e.g. escalate 8.")
    many = which_incident_text([(100000 + i, i) for i in range(1, 21)], "accept")
    assert "#100006=6 (14 more), e.g. 1a." in many and "#100007" not in many
    assert gsm7_septets(many) <= 2 * 153  # two segments at most
