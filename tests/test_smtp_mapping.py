"""Mail to an event (ilertd.plugins.mail), pure: the subject to an event type and an alert key, the
body to details."""

from __future__ import annotations

import pytest

from ilertd.domain.events import MAX_DETAILS
from ilertd.plugins.mail import (
    compile_resolve_pattern,
    html_to_text,
    parse_mail,
    subject_key,
    truncate_details,
)
from tests.test_smtp_in import RESOLVE, mail


@pytest.mark.parametrize(("subject", "event_type", "key"), [
    ("Disk full on db-1", "ALERT", "Disk full on db-1"),
    ("Re: Fwd: AW: Disk full on db-1", "ALERT", "Disk full on db-1"),
    ("[FIRING:3] Disk   full on db-1", "ALERT", "Disk full on db-1"),
    ("[RESOLVED] Disk full on db-1", "RESOLVE", "Disk full on db-1"),
    ("Re: RESOLVED: Disk full on db-1", "RESOLVE", "Disk full on db-1"),
    ("Resolved - Disk full on db-1", "RESOLVE", "Disk full on db-1"),
    ("RECOVERY - Disk full on db-1", "RESOLVE", "Disk full on db-1"),
    ("OK: Disk full on db-1", "RESOLVE", "Disk full on db-1"),
    ("[OK] Disk full on db-1", "RESOLVE", "Disk full on db-1"),
    ("OK to deploy?", "ALERT", "OK to deploy?"),
    ("Resolution needed: Disk full", "ALERT", "Resolution needed: Disk full"),
    ("Okay then", "ALERT", "Okay then"),
    ("Re:", "ALERT", "(no subject)"),
    # A status word is a resolve only in a status form, never as a bare word of a real alert.
    ("Recovery of backup db-1 FAILED", "ALERT", "Recovery of backup db-1 FAILED"),
    ("Resolved tickets piling up in queue 3", "ALERT", "Resolved tickets piling up in queue 3"),
    ("RECOVERY Disk full on db-1", "ALERT", "RECOVERY Disk full on db-1"),
    ("[RESOLVED:2] Disk full on db-1", "RESOLVE", "Disk full on db-1"),
    # Grafana's title of a group partly resolved: still firing, the same alert.
    ("[FIRING:1, RESOLVED:1] DiskFull (prod)", "ALERT", "DiskFull (prod)"),
    ("[firing:2,resolved:3] DiskFull (prod)", "ALERT", "DiskFull (prod)"),
    # Nagios's default mails: the type after two stars, the state at the end.
    ("** PROBLEM Service Alert: web-1/HTTP is CRITICAL **", "ALERT", "Service Alert: web-1/HTTP"),
    ("** RECOVERY Service Alert: web-1/HTTP is OK **", "RESOLVE", "Service Alert: web-1/HTTP"),
    ("** ACKNOWLEDGEMENT Service Alert: web-1/HTTP is CRITICAL **", "ALERT", "Service Alert: web-1/HTTP"),
    ("** PROBLEM Host Alert: web-1 is DOWN **", "ALERT", "Host Alert: web-1"),
    ("** RECOVERY Host Alert: web-1 is UP **", "RESOLVE", "Host Alert: web-1"),
    # Icinga 2's: the type in brackets, the state with its "!".
    ("[PROBLEM] HTTP on web-1 is CRITICAL!", "ALERT", "HTTP on web-1"),
    ("[RECOVERY] HTTP on web-1 is OK!", "RESOLVE", "HTTP on web-1"),
    # Zabbix's default media type.
    ("Problem: High CPU utilization on db-1", "ALERT", "High CPU utilization on db-1"),
    ("Resolved: High CPU utilization on db-1", "RESOLVE", "High CPU utilization on db-1"),
    ("Resolved in 5m 0s: High CPU utilization on db-1", "RESOLVE", "High CPU utilization on db-1"),
    ("Resolved in 1d 2h 3m: High CPU utilization on db-1", "RESOLVE", "High CPU utilization on db-1"),
    ("Updated problem in 2m 10s: High CPU utilization on db-1", "ALERT", "High CPU utilization on db-1"),
    # A state in words of the subject's own is the subject's.
    ("Website is down", "ALERT", "Website is down"),
])
def test_subject_to_event_type_and_key(subject: str, event_type: str, key: str) -> None:
    event = parse_mail(mail(subject, "x").as_bytes(), RESOLVE).event
    assert (event.event_type, event.alert_key) == (event_type, key)
    assert event.summary == " ".join(subject.split())


def test_an_empty_resolve_pattern_never_resolves() -> None:
    event = parse_mail(mail("[RESOLVED] Disk full", "x").as_bytes(), compile_resolve_pattern("")).event
    assert (event.event_type, event.alert_key) == ("ALERT", "Disk full")


def test_long_subjects_and_bodies_are_cut_not_refused() -> None:
    parsed = parse_mail(mail("Disk full " * 300, "line\n" * 20000).as_bytes(), RESOLVE)
    assert parsed.event.summary is not None and len(parsed.event.summary) == 1024
    assert parsed.event.alert_key is not None and len(parsed.event.alert_key) <= 255
    assert parsed.event.details is not None and len(parsed.event.details) <= MAX_DETAILS
    assert parsed.event.details.endswith("more characters not shown]")
    assert truncate_details("short") == "short"


def test_raw_utf8_headers_odd_charsets_and_controls() -> None:
    raw = ("From: Überwachung <mon@example.com>\r\nSubject: Lüfter\x00 defekt\r\n"
           "Content-Type: text/plain; charset=x-unknown\r\n\r\n"
           "Drehzahl 0 U/min \u2013 Rack\x07 4\r\n").encode()
    parsed = parse_mail(raw, RESOLVE)
    assert parsed.event.summary == "Lüfter defekt"
    assert parsed.event.details == "Drehzahl 0 U/min \u2013 Rack 4"
    assert parsed.event.custom_details == {"from": "mon@example.com"}


def test_html_to_text_keeps_blocks_and_drops_scripts() -> None:
    html = ("<html><head><title>T</title><script>alert(1)</script></head><body>"
            "<div>CPU&nbsp;<b>99%</b></div><table><tr><td>host</td><td>web-1</td></tr></table>"
            "first<br/>second</body></html>")
    assert html_to_text(html) == "CPU 99%\n\nhost web-1\n\nfirst\nsecond"


# An HTML-only reply lost its quoting: a quoted "Resolve when the backup reruns?" above "Not yet"
# read as the reply's own first word and resolved the incident.
@pytest.mark.parametrize(("html", "text"), [
    ('<div class="moz-cite-prefix">On 05/01/2026, Bob wrote:<br></div>'
     '<blockquote type="cite">Resolve when<br>it reruns?<blockquote>deeper</blockquote></blockquote>'
     "<p>Not yet</p>",
     "> On 05/01/2026, Bob wrote:\n\n> Resolve when\n> it reruns?\n> > deeper\n\nNot yet"),
    ('<div>Accept</div><div class="gmail_quote"><div class="gmail_attr">On Mon &lt;x@example.com&gt; wrote:'
     '</div><div><div>page</div></div></div><p>after</p>',
     "Accept\n\n> On Mon <x@example.com> wrote:\n\n> page\n\nafter"),
    ('<p>Not yet</p><hr><div id="divRplyFwdMsg"><b>From:</b> ilertd</div><div>Resolve when?</div>',
     "Not yet\n\n> From: ilertd\n\n> Resolve when?"),
    ("<p>Not yet</p><p>-----Original Message-----<br>From: ilertd</p><p>Resolve when?</p>",
     "Not yet\n\n> -----Original Message-----\n> From: ilertd\n\n> Resolve when?"),
], ids=["thunderbird", "gmail", "outlook", "original-message"])
def test_html_a_reply_quotes_is_marked_as_quoted(html: str, text: str) -> None:
    assert html_to_text(html, mark_quotes=True) == text
    # An alert mail's details keep the text as it was.
    assert ">" not in html_to_text(html).replace("&gt;", "").replace("<x@example.com>", "")


def test_subject_key_strips_only_leading_markers() -> None:
    assert subject_key("  Re:  [ALERT]  Fan  re: failing ") == "Fan re: failing"
    assert subject_key("") == "(no subject)"
