"""The subject of an alert mail, read as rules: whether it resolves, and the alert key it names."""

from __future__ import annotations

import re

from ilertd.domain.events import MAX_ALERT_KEY

NO_SUBJECT = "(no subject)"
# A resolve is a status word in a status form, never a bare word: "Recovery of backup db-1 FAILED"
# is an alert. The forms: "[RESOLVED] ..." (also [OK], [RECOVERY], [RECOVERED], Grafana's
# "[RESOLVED:2]"), "Resolved: ...", Zabbix's "Resolved in 5m 0s: ...", "RECOVERY - ...", Nagios's
# "** RECOVERY Service Alert: ...", and "OK: ..." ("OK to deploy?" is no recovery).
_RESOLVE_WORD = r"(?:resolved|recovery|recovered)"
_DURATION = r"(?:\s+\d+\s*[a-z]+)+"
DEFAULT_RESOLVE_PATTERN = (
    r"(?i)^\s*(?:\[\s*(?:resolved|recovery|recovered|ok)(?:\s*:\s*\d+)?\s*\]"
    rf"|\*\*\s*(?:{_RESOLVE_WORD}|ok)\b"
    rf"|{_RESOLVE_WORD}(?:\s+in{_DURATION})?\s*:"
    rf"|{_RESOLVE_WORD}\s+-\s"
    r"|ok\s*:)[\s:\-]*"
)
# Reply and forward markers of common mail clients (en, de, nordic, fr)...
_REPLY_MARKER = re.compile(r"^\s*(?:re|fwd?|aw|wg|sv|antw|tr)\s*(?:\[\d+\])?\s*:\s*", re.IGNORECASE)
# ...and status tags alerting tools put in front of a subject: none tell one alert from another.
# Grafana lists a group's statuses with their counts: "[FIRING:1, RESOLVED:1] DiskFull (prod)".
_STATUS = r"(?:resolved|recovery|recovered|ok|firing|alert|alerting|problem|triggered)(?:\s*:\s*\d+)?"
_STATUS_TAG = re.compile(rf"^\s*\[\s*{_STATUS}(?:\s*,\s*{_STATUS})*\s*\]\s*", re.IGNORECASE)
# Nagios's default mails: "** PROBLEM Service Alert: web-1/HTTP is CRITICAL **", the notification
# type after two stars, two stars at the end.
_NAGIOS_TYPE = re.compile(
    r"^\s*\*\*\s*(?:problem|recovery|acknowledgement|flappingstart|flappingstop|flappingdisabled"
    r"|downtimestart|downtimeend|downtimecancelled|custom)\b\s*",
    re.IGNORECASE,
)
_CLOSING_STARS = re.compile(r"\s*\*\*\s*$")
# Zabbix's default subjects: "Problem: ...", "Resolved: ...", "Resolved in 5m 0s: ...",
# "Updated problem in 2m: ..."; and "OK: ...", "RECOVERY - ..." of other tools.
_STATUS_PREFIX = re.compile(
    rf"^\s*(?:(?:updated\s+)?problem|{_RESOLVE_WORD}|ok)(?:\s+in{_DURATION})?\s*:\s*"
    rf"|^\s*{_RESOLVE_WORD}\s+-\s+",
    re.IGNORECASE,
)
# The state Nagios and Icinga end a subject with ("... is CRITICAL", Icinga's "... is OK!"): it
# changes between the problem and its recovery. Upper case only, as the tools write it, so that
# "Website is down" stays a subject of its own.
_TRAILING_STATE = re.compile(r"\s+is\s+(?:CRITICAL|WARNING|UNKNOWN|OK|DOWN|UP|UNREACHABLE)\s*!?\s*$")
_WHITESPACE = re.compile(r"\s+")


def compile_resolve_pattern(pattern: str) -> re.Pattern[str] | None:
    """The resolve pattern, or None when it is empty (no subject resolves)."""
    return re.compile(pattern) if pattern else None


def subject_key(subject: str) -> str:
    """The alert key of a subject: without reply/forward markers, status tags and the tools' status
    words and states, spaces collapsed, so "Re: [RESOLVED] Disk full", "Disk  full",
    "Problem: Disk full" and "Resolved in 5m: Disk full" are one alert."""
    text = _WHITESPACE.sub(" ", subject).strip()
    while match := (_REPLY_MARKER.match(text) or _STATUS_TAG.match(text) or _NAGIOS_TYPE.match(text)
                    or _STATUS_PREFIX.match(text)):
        text = text[match.end():]
    text = _TRAILING_STATE.sub("", _CLOSING_STARS.sub("", text))
    text = text.strip() or NO_SUBJECT
    return text[:MAX_ALERT_KEY].strip()


def without_reply_markers(subject: str) -> str:
    """The subject after its "Re:"/"Fwd:" markers, which the resolve pattern is matched against
    ("Re: RESOLVED: x" resolves x)."""
    text = subject
    while match := _REPLY_MARKER.match(text):
        text = text[match.end():]
    return text
