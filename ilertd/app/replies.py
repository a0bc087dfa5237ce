"""Answering a page on the channel that brought it (SMS, phone keys, links, e-mail): who may, and how."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from ilertd.app import bootstrap, sent_when_received
from ilertd.app.context import Context
from ilertd.app.incidents import act_on_incident
from ilertd.domain.incidents import Actor, quoted_reply, reply_received_text
from ilertd.domain.link_tokens import LinkClaim, read_link, read_reply_key
from ilertd.domain.pages_in_flight import pages_replied_to
from ilertd.domain.replies import (
    HELP_REPLIES_IN_A_ROW,
    Action,
    action_done,
    email_reply_action,
    pages_a_bare_letter_answers,
    parse_sms_reply,
    sms_help,
    voice_choice,
    which_incident_text,
)
from ilertd.errors import StoreUnavailable
from ilertd.logs import ids
from ilertd.store import replies as store
from ilertd.store.incidents import incident
from ilertd.store.outbox import notification
from ilertd.store.people import usernames

logger = logging.getLogger(__name__)


# Refusals that changed nothing and may pass if sent again (a TIMEOUT or LEADER_CHANGED may have
# acted: an escalation sent again would go a level further).
UNCHANGED_RETRY = frozenset({"STORE_UNAVAILABLE", "NOT_LEADER"})


@dataclass(frozen=True)
class Answer:
    """What a responder is told, whether the incident changed, and whether the same reply may be
    sent again: nothing changed because the store could not take it (a mail server then retries)."""

    text: str
    acted: bool = False
    retry: bool = False


@dataclass(frozen=True)
class LinkPage:
    """A valid link, before it acts: what its confirmation page shows."""

    claim: LinkClaim
    summary: str
    status: str


@dataclass(frozen=True)
class VoiceAnswer:
    """What a caller hears after a key: `text`, then the call's next incident if there is one, else
    the end of the call; or the menu again (`repeat`)."""

    text: str
    repeat: bool = False


class Replies:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @cached_property
    def secret(self) -> str:
        return bootstrap.secret_key(self.ctx.db, self.ctx.secret_key)

    # --- one answer, whichever way it came ----------------------------------------------------

    def act(self, incident_id: int, user_id: int, action: Action, channel: str,
            page_seq: Callable[[], int | None] = lambda: None, replied: str = "") -> Answer:
        """Take `action` for the user on the incident, once: a second accept changes nothing, a
        RESOLVED incident is left as it is; each is answered saying so, and logged (`replied`:
        what the reply was, as `note_reply` words it). `page_seq`: where the page answered stands in
        the order messages were sent (read only for an escalation): an escalation the incident has
        had since leaves it where it is."""
        answer, unchanged = self._take(incident_id, user_id, action, channel, page_seq)
        if unchanged:
            self.note_reply(incident_id, user_id, channel, replied or f"replied {action}", answer.text)
        return answer

    def note_reply(self, incident_id: int, user_id: int, channel: str, replied: str, answer: str) -> None:
        """Log a reply that reached the incident and changed nothing (REPLY_RECEIVED), with what it
        was answered: a reply that acted is logged by its change. A log the store refused only warns."""
        name = usernames([user_id]).get(user_id)
        if name is None:
            return
        actor = Actor(user_id, name, channel)
        refusal = self.ctx.incident_action(incident_id, "reply_received", actor,
                                           reply_received_text(actor, replied, answer), None, None,
                                           None).refusal
        if refusal is not None:
            logger.warning("incident %s: a reply by %s on %s that changed nothing was not logged: %s",
                           incident_id, name, channel, refusal.message,
                           extra=ids(incident_id=incident_id, user_id=user_id))

    def _take(self, incident_id: int, user_id: int, action: Action, channel: str,
              page_seq: Callable[[], int | None]) -> tuple[Answer, bool]:
        """`act`'s answer, and whether the reply reached the incident and changed nothing (a store
        or node that could not take it changed nothing either, but the same reply is to come again)."""
        row = incident(incident_id)
        if row is None:
            return Answer(f"Incident #{incident_id} no longer exists."), False
        if row.status == "RESOLVED":
            return Answer(f"Incident #{incident_id} is already resolved."), True
        if action == "accept" and row.status == "ACCEPTED":
            return Answer(f"Incident #{incident_id} is already accepted{_by_acceptor(incident_id)}."), True
        name = usernames([user_id]).get(user_id)
        if name is None:
            return Answer("Your user no longer exists in ilertd."), False
        change = act_on_incident(self.ctx, incident_id, action, Actor(user_id, name, channel), "", None,
                                 page_seq() if action == "escalate" else None)
        error = change.refusal
        if change.code == "INCIDENT_ALREADY_ACCEPTED":
            # Another's accept landed between the look above and this one: theirs is the accept.
            logger.info("incident %s: accept by %s on %s found it accepted; nothing changed", incident_id,
                        name, channel, extra=ids(incident_id=incident_id, user_id=user_id))
            return Answer(f"Incident #{incident_id} is already accepted{_by_acceptor(incident_id)}."), True
        if error is not None:
            if error.code == "INCIDENT_RESOLVED":
                return Answer(f"Incident #{incident_id} is already resolved."), True
            if error.code == "ALREADY_ESCALATED":
                logger.info("incident %s: escalation by %s on %s left as it is: %s", incident_id, name,
                            channel, error.message, extra=ids(incident_id=incident_id, user_id=user_id))
                return Answer(f"Incident #{incident_id} was already escalated{_to_level(incident_id)}"
                              " after this page; nothing changed."), True
            return (Answer(f"Incident #{incident_id} was not {action_done(action)}: {error.message}",
                           retry=error.code in UNCHANGED_RETRY), error.status < 500)
        logger.info("incident %s %s by %s on %s", incident_id, action_done(action), name, channel,
                    extra=ids(incident_id=incident_id, user_id=user_id))
        if action == "escalate":
            return Answer(f"Incident #{incident_id} escalated{_to_level(incident_id)}.", acted=True), False
        return Answer(f"Incident #{incident_id} {action_done(action)}.", acted=True), False

    # --- SMS ------------------------------------------------------------------------------------

    @property
    def _phone_methods(self) -> tuple[str, ...]:
        """The methods whose pages go to a phone (the built-in SMS and VOICE, a third party's of
        their layouts): a text from a number of one of them may answer its pages."""
        return (*self.ctx.laid_out("sms"), *self.ctx.laid_out("voice"))

    def sms(self, phone: str, body: str, message_sid: str = "") -> str | None:
        """The answer to an SMS from `phone` (None: send nothing): a reply code and letter, a bare
        letter for the latest page, `ack <id>`, PagerDuty's 4 and 6, STOP, START, else help.
        `message_sid`: Twilio's id of the message, the same when it delivers it again."""
        phones = self._phone_methods
        owners = store.phone_owners(phone, phones)
        if not owners:
            logger.info("SMS reply from %s: no user has this number; not answered", phone)
            return None
        now = self.ctx.now()
        reply = parse_sms_reply(body)
        if reply.kind in ("stop", "start"):
            store.set_sms_stopped(self.ctx.db, phone, reply.kind == "stop", now)
            # Paging (and a shift reminder) plans nothing to a stopped number: its users are read
            # afresh, and START may make one reachable again whom an incident waits for.
            self.ctx.user_changed(*owners, duties=True)
            if reply.kind == "stop":
                return "ilertd: no more SMS to this number. Reply START to get them again."
            return "ilertd: SMS to this number are on again."
        target: tuple[int, int] | None = None
        problem = ""
        if reply.kind == "action" and reply.code is not None:
            holder = store.code_holder(phone, reply.code)
            if holder is None:
                problem = f"ilertd: no incident has code {reply.code} on this phone."
            else:
                target = holder.incident_id, holder.user_id
        elif reply.kind == "action" and reply.incident_id is not None:
            user_id = store.user_paged_at(reply.incident_id, phones, phone)
            if user_id is None:
                problem = f"ilertd: incident #{reply.incident_id} was not paged to this phone."
            else:
                target = reply.incident_id, user_id
        elif reply.kind == "action" and reply.action is not None:
            latest = self._latest_pages(phone, owners)
            if not latest:
                problem = "ilertd: no page to this phone to answer."
            elif len(latest) == 1:
                target = latest[0]
            else:  # a summary: which of its incidents the letter means cannot be told
                codes = store.reply_codes_of(phone)
                problem = which_incident_text(
                    [(incident_id, codes[incident_id][0] if incident_id in codes else None)
                     for incident_id, _ in sorted(latest)], reply.action)
        if target is not None and target[1] not in owners:
            # Paged to a number its user has given up since, which is someone else's now: the
            # texter was never paged, and the log would name the one who was.
            logger.info("SMS reply from %s: incident %s was paged to user %s, who no longer has this"
                        " number; nothing changed", phone, target[0], target[1])
            problem = f"ilertd: incident #{target[0]} was not paged to you on this phone; nothing changed."
            target = None
        if reply.action is None or target is None:
            # Help, or an answer that names nothing this phone may act on: both count towards the cap.
            if self._count_help_reply(phone, now) > HELP_REPLIES_IN_A_ROW:
                return None
            answer = problem or sms_help(self._example_code(phone, owners))
            if not problem and reply.kind != "action":
                # Words that are no answer, to the one incident the phone's latest page named.
                latest = self._latest_pages(phone, owners)
                if len(latest) == 1:
                    self.note_reply(*latest[0], "SMS", f"texted {quoted_reply(body)}",
                                    answer.removeprefix("ilertd: "))
            return answer
        try:
            store.reset_help_replies(self.ctx.db, phone, now)
        except StoreUnavailable:
            logger.warning("SMS reply from %s: its count of help texts was not reset (the store refused it)",
                           phone)
        incident_id, user_id = target
        answer = self.act(incident_id, user_id, reply.action, "SMS", lambda: self._page_texted(
            incident_id, user_id, phone, body, message_sid), f"texted {quoted_reply(body)}")
        if answer.retry:
            # Twilio sends a webhook once: the responder, told, is the one who can send it again.
            return (f"ilertd: Incident #{incident_id} was not {action_done(reply.action)}: ilertd could"
                    " not store it. Text your reply again in a minute.")
        return "ilertd: " + answer.text

    def _example_code(self, phone: str, owners: list[int]) -> int | None:
        """The code the help text shows: that of the incident the phone's latest page named, the
        one a bare letter answers (not the code worded last: a page refused by its provider, not
        on the phone, was worded after it); None when no page reached the phone."""
        codes = store.reply_codes_of(phone)
        named = [codes[incident_id] for incident_id, _ in self._latest_pages(phone, owners)
                 if incident_id in codes]
        # The incidents of one message (a summary names several): paged together, any will do.
        return named[0][0] if named else None

    def _latest_pages(self, phone: str, owners: list[int]) -> list[tuple[int, int]]:
        """(incident, user) of the pages to `phone` a bare letter from it may answer, its owners':
        the latest message's, as sent when the text came in (it may have waited for a leader, which
        sent the pages that fell due meanwhile first), with any page that was being sent when its
        sender stopped (it may have arrived before the text)."""
        sent_up_to = sent_when_received.last_sent_seq()
        latest = store.latest_pages_to(phone, self._phone_methods, sent_up_to)
        resent = store.pages_resent_since(phone, self._phone_methods, sent_up_to)
        return [page for page in pages_a_bare_letter_answers(latest, resent) if page[1] in owners]

    def _count_help_reply(self, phone: str, now: datetime) -> int:
        """One more help text in a row to the phone; the store refusing the count does not keep the
        help from its sender (it only caps the texts of a loop)."""
        try:
            return store.count_help_reply(self.ctx.db, phone, now)
        except StoreUnavailable:
            logger.warning("SMS reply from %s: its help text was not counted (the store refused it)", phone)
            return 1

    def _page_texted(self, incident_id: int, user_id: int, phone: str, body: str, message_sid: str
                     ) -> int | None:
        """Where the page a texted escalation answers stands in the order messages were sent: the
        latest to the phone handed out when the text came in, or, for a message Twilio delivers
        again, the one its first delivery answered (a page that escalation sent since is no answer:
        the responder on the next level too, it went a level further)."""
        latest = store.last_page_seq(incident_id, user_id, self._phone_methods, phone,
                                     sent_when_received.last_sent_seq())
        if not message_sid:
            return latest
        try:
            return store.page_a_text_answers(self.ctx.db, message_sid, phone, body, latest, self.ctx.now())
        except StoreUnavailable:
            return latest  # the escalation itself then waits for the store, or fails, and says so

    # --- phone keys -----------------------------------------------------------------------------

    def voice_key(self, notification_id: int, digits: str) -> VoiceAnswer:
        """A key pressed during the call of a voice page: 4 accept, 6 resolve, 5 escalate, 0 on to
        the call's next incident (no text), else the menu again."""
        choice = voice_choice(digits)
        if choice == "repeat":
            return VoiceAnswer("", repeat=True)
        if choice == "next":
            return VoiceAnswer("")
        page = notification(notification_id)
        voice = self.ctx.laid_out("voice")
        if page is None or page.incident_id is None or page.method not in voice or page.kind != "ALERT":
            return VoiceAnswer("This page no longer exists.")
        # A call still being placed in its channel's batch has no outcome stored yet: numbered
        # as it was handed out (a "5" pressed twice otherwise escalated twice).
        answer = self.act(page.incident_id, page.user_id, choice, "VOICE",
                          lambda: store.seq_of_page(page), f"pressed {digits.strip()[:1]}")
        return VoiceAnswer(answer.text)

    # --- links ----------------------------------------------------------------------------------

    def link_page(self, token: str) -> LinkPage:
        """What a link would do, without doing it (a GET: mail scanners fetch links); LinkError if
        it is tampered with or expired."""
        claim = read_link(self.secret, token, self.ctx.now())
        row = incident(claim.incident_id)
        return LinkPage(claim, row.summary if row else "", row.status if row else "GONE")

    def follow_link(self, token: str) -> Answer:
        """The link's action, taken (a POST); LinkError if it is tampered with or expired."""
        claim = read_link(self.secret, token, self.ctx.now())
        return self.act(claim.incident_id, claim.user_id, claim.action, claim.channel,
                        lambda: self._page_answered(claim.incident_id, claim.user_id, (claim.channel,),
                                                    [claim.page_id] if claim.page_id is not None else []),
                        f"followed the {claim.action.capitalize()} link")

    # --- e-mail ---------------------------------------------------------------------------------

    def email(self, sender: str, subject: str, text: str, replied_to: str = "") -> Answer:
        """A reply to an e-mail page: its subject's reply key names the incident and the user, its
        sender must be the address that page went to, its first word says what to do; the page's
        Message-ID among those it replies to (`replied_to`) names the page it answers."""
        bound = read_reply_key(self.secret, subject)
        if bound is None:
            return Answer("the subject carries no valid ilertd reply key")
        incident_id, user_id = bound
        mail = self.ctx.laid_out("email")
        if not sender or not store.was_paged_by_mail(incident_id, user_id, sender, mail):
            logger.warning("e-mailed reply for incident %s from %s: that address was not paged for it",
                           incident_id, sender or "(no sender)", extra=ids(incident_id=incident_id))
            return Answer(f"{sender or 'this sender'} was not paged for incident #{incident_id}")
        action = email_reply_action(text)
        replied = f"mailed {quoted_reply(next((line for line in text.splitlines() if line.strip()), ''))}"
        if action is None:
            answer = Answer("the reply's first word must be accept, resolve or escalate")
            self.note_reply(incident_id, user_id, "EMAIL", replied, answer.text)
            return answer
        return self.act(incident_id, user_id, action, "EMAIL", lambda: self._page_answered(
            incident_id, user_id, mail, pages_replied_to(replied_to, self.secret)), replied)

    def _page_answered(self, incident_id: int, user_id: int, methods: tuple[str, ...],
                       named: list[int]) -> int | None:
        """Where the page a link or mail answers stands in the order messages were sent: the first
        of the pages it names (`named`) that paged this user for the incident by one of `methods`;
        without one (a link or a mail client from before pages were named), the latest such page."""
        for page_id in named:
            place = store.page_seq(page_id, incident_id, user_id, methods)
            if place is not None:
                return place
        return store.last_page_seq(incident_id, user_id, methods,
                                   sent_up_to=sent_when_received.last_sent_seq())


def _by_acceptor(incident_id: int) -> str:
    """" by NAME" of the user who accepted the incident, if one did and still exists."""
    row = incident(incident_id)
    acceptor = row.accepted_by_id if row is not None else None
    name = usernames([acceptor]).get(acceptor) if acceptor is not None else None
    return f" by {name}" if name else ""


def _to_level(incident_id: int) -> str:
    """" to level N" for the incident's level now; nothing while it is held or waits for someone
    (its level below 0 is no level of the policy)."""
    row = incident(incident_id)
    return f" to level {row.escalation_level}" if row is not None and row.escalation_level >= 0 else ""
