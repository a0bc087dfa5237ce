"""The words of a page: what is wrong, the incident number and its link, short enough for SMS."""

from __future__ import annotations

from dataclasses import dataclass

SMS_LIMIT = 160
DETAILS_LIMIT = 1000


@dataclass(frozen=True)
class PageFacts:
    """What a page says about its incident."""

    incident_id: int
    summary: str
    details: str
    priority: str
    status: str
    source_name: str
    link: str


@dataclass(frozen=True)
class PageText:
    title: str
    body: str
    short: str
    spoken: str


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alert_text(facts: PageFacts, reference: str) -> PageText:
    title = f"[ilertd] #{facts.incident_id} {facts.priority}: {facts.summary}"
    body = (
        f"Incident #{facts.incident_id} ({facts.priority}, {facts.status}) from {facts.source_name}:\n"
        f"{facts.summary}\n"
        + (f"\n{_clip(facts.details, DETAILS_LIMIT)}\n" if facts.details else "")
        + f"\n{facts.link}\nref {reference}\n"
    )
    tail = f" {facts.link}"
    headline = f"ilertd #{facts.incident_id} {facts.priority}: {facts.summary}"
    short = _clip(headline, SMS_LIMIT - len(tail)) + tail
    spoken = (
        f"This is ilertd. Incident {facts.incident_id}, {facts.priority.lower()} priority, "
        f"from {facts.source_name}: {facts.summary}."
    )
    return PageText(title, body, short, spoken)


def update_text(facts: PageFacts, what: str, reference: str) -> PageText:
    title = f"[ilertd] #{facts.incident_id} {what}: {facts.summary}"
    body = f"Incident #{facts.incident_id} {what}.\n{facts.summary}\n\n{facts.link}\nref {reference}\n"
    tail = f" {facts.link}"
    short = _clip(f"ilertd #{facts.incident_id} {what}: {facts.summary}", SMS_LIMIT - len(tail)) + tail
    return PageText(title, body, short, f"Incident {facts.incident_id} {what}.")


def summary_text(pages: list[PageFacts], incidents_link: str, reference: str) -> PageText:
    """Pages that fell inside a contact's throttle window, sent as one message when it ends."""
    count = len(pages)
    distinct = sorted({p.incident_id for p in pages})
    title = f"[ilertd] {count} pages for {len(distinct)} incidents"
    lines = [f"#{p.incident_id} {p.priority}: {p.summary}" for p in pages[:20]]
    more = f"\n… and {count - 20} more" if count > 20 else ""
    body = f"{count} pages came in while this contact was throttled:\n" + "\n".join(lines) + more
    body += f"\n\n{incidents_link}\nref {reference}\n"
    first = pages[0]
    tail = f" {incidents_link}"
    short = _clip(f"ilertd: {count} pages, {len(distinct)} incidents, e.g. #{first.incident_id} "
                  f"{first.summary}", SMS_LIMIT - len(tail)) + tail
    spoken = f"This is ilertd. {count} pages for {len(distinct)} incidents. The first: {first.summary}."
    return PageText(title, body, short, spoken)


def shift_text(schedule_name: str, start_local: str, end_local: str, link: str, reference: str) -> PageText:
    """A shift-start reminder: which schedule, from when until when in the schedule's own zone."""
    title = f"[ilertd] On call for {schedule_name} from {start_local}"
    body = (f"You are on call for {schedule_name} from {start_local} until {end_local}.\n\n"
            f"{link}\nref {reference}\n")
    tail = f" {link}"
    short = _clip(f"ilertd: on call for {schedule_name} from {start_local} until {end_local}",
                  SMS_LIMIT - len(tail)) + tail
    return PageText(title, body, short, f"You are on call for {schedule_name} from {start_local}.")
