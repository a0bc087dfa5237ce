"""An SMS alert source's number: E.164, held by one source only, and no number pages use."""

from __future__ import annotations

from typing import Any

from ilertd.domain.phone_numbers import e164
from ilertd.domain.wording import quoted
from ilertd.errors import invalid
from ilertd.store.people import sms_contact_owner
from ilertd.store.sources import source_with_phone


def phone_number(value: Any, source_id: int | None, reply_numbers: frozenset[str]) -> str | None:
    """An SMS source's number in E.164; no two sources share one (a text must reach one source),
    and none is a number pages are sent from (a text to it is a responder's reply)."""
    if value is None:
        return None
    # As people write it (`+49 30 1234-5678`): kept as E.164.
    number = e164(value) if isinstance(value, str) else None
    if number is None:
        raise invalid("phoneNumber", "phoneNumber must be an E.164 number such as +4915112345678")
    value = number
    if value in reply_numbers:
        raise invalid("phoneNumber", f"{value} is the number pages are sent from ([twilio] from_number "
                                     "or the sender of [channels.sms]): a text to it is a responder's "
                                     "reply, so it cannot open alerts too; give the source a number of "
                                     "its own")
    holder = source_with_phone(value)
    if holder is not None and holder.id != source_id:
        raise invalid("phoneNumber", f"alert source {holder.id} already has the number {value}")
    texted = sms_contact_owner(value)
    if texted is not None:
        raise invalid("phoneNumber", f"{value} is an SMS contact of user {quoted(texted)}: the pages"
                                     " texted to it would come back as alerts on this source; give it a"
                                     " number of its own")
    return value
