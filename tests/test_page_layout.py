"""A page's parts are laid out when first read, once, and its action links are signed only then."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ilertd.channels.base import Message, MessageAction
from ilertd.domain.page_text import Answering, PageAction, PageFacts, alert_text

FACTS = PageFacts(12, "disk full on db1", "92% used", "HIGH", "PENDING", "prometheus",
                  "http://ilertd.example/ui/incidents/12", datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
LINKS = (PageAction("Accept", "http://ilertd.example/r/a"), PageAction("Resolve", "http://ilertd.example/r/r"))


def counting_links() -> tuple[list[int], Answering]:
    signed: list[int] = []

    def sign() -> tuple[PageAction, ...]:
        signed.append(1)
        return LINKS

    return signed, Answering(actions=sign)


def test_a_sender_reading_only_the_title_lays_out_nothing_else_and_signs_nothing() -> None:
    signed, answering = counting_links()
    message = Message.laid_out(alert_text(FACTS, "ilertd-n5", answering=answering), "ilertd-n5", "key-5")
    assert message.title == "[ilertd] #12 HIGH: disk full on db1"
    assert (message.reference, message.idempotency_key) == ("ilertd-n5", "key-5")
    assert signed == []


def test_the_parts_read_are_those_laid_out_eagerly_and_the_links_are_signed_once() -> None:
    signed, answering = counting_links()
    lazy = Message.laid_out(alert_text(FACTS, "ilertd-n5", answering=answering), "ilertd-n5")
    eager_text = alert_text(FACTS, "ilertd-n5", answering=Answering(actions=LINKS))
    eager = Message(eager_text.title, eager_text.body, "ilertd-n5", eager_text.short, html=eager_text.html,
                    brief=eager_text.brief, actions=eager_text.actions)
    assert "Accept:    http://ilertd.example/r/a\n" in lazy.body
    assert lazy.body == eager.body and lazy.html == eager.html
    assert (lazy.short, lazy.brief) == (eager.short, eager.brief)
    assert lazy.actions == (MessageAction("Accept", "http://ilertd.example/r/a"),
                            MessageAction("Resolve", "http://ilertd.example/r/r"))
    assert lazy == eager
    assert signed == [1]


def test_a_message_is_read_only_and_hashes_by_what_a_sender_reads() -> None:
    lazy = Message.laid_out(alert_text(FACTS, "ilertd-n5", answering=counting_links()[1]), "ilertd-n5")
    text = alert_text(FACTS, "ilertd-n5", answering=Answering(actions=LINKS))
    eager = Message(text.title, text.body, "ilertd-n5", text.short, html=text.html, brief=text.brief,
                    actions=text.actions)
    assert len({lazy, eager}) == 1
    with pytest.raises(AttributeError, match="read-only"):
        lazy.reference = "ilertd-n6"  # type: ignore[misc]
    assert lazy.reference == "ilertd-n5"
