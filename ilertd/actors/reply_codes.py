"""The SMS reply codes of the phones a channel actor pages: chosen in memory, stored by the group commit.

A code's write the store refused is stored again WRITE_RETRY later (through the channel actor, which
owns the codes), for as long as the incident holds that code: the SMS already told the responder
to reply with it, and a reply reads the codes from the store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pykka

from ilertd.actors.base import send_if_alive
from ilertd.actors.runtime import Runtime
from ilertd.domain.replies import HeldCode, new_reply_code
from ilertd.store.committer import WRITE_RETRY, WriteUnit
from ilertd.store.db import store_failed
from ilertd.store.replies import reply_codes_of, resolution_times

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreCodeAgain:
    """The store refused the write of the phone's code for the incident: store it again."""

    target: str
    incident_id: int


class PhoneCodes:
    """Each phone's codes: target → incident → (code, user, last SMS page with it).

    A channel actor owns every page to its targets (the dispatcher hashes targets to actors), so
    its map is the phones' codes: read from the store once per phone, then chosen here and stored
    through the group commit, never waiting on the store's write lock in front of an SMS.
    """

    def __init__(self, runtime: Runtime, owner: pykka.ActorRef[Any]) -> None:
        self.runtime = runtime
        # The channel actor these codes belong to: told StoreCodeAgain.
        self._owner = owner
        self._held: dict[str, dict[int, tuple[int, int, datetime]]] = {}

    def codes(self, target: str, rows: Sequence[Any], now: datetime) -> dict[int, int]:
        """The reply code of each incident paged in `rows` (the alert pages among them); a new
        one gets the smallest code no open or resting incident of the phone holds."""
        paged = [(r.incident_id, r.user_id) for r in rows if r.kind == "ALERT" and r.incident_id is not None]
        if not paged:
            return {}
        held = self._held.get(target)
        if held is None:
            held = self._held[target] = reply_codes_of(target)
        codes: dict[int, int] = {}
        for incident_id, user_id in paged:
            if incident_id in held:
                code = held[incident_id][0]
            else:
                # An incident gone (retention) holds nothing.
                resolved = resolution_times(held)
                code = new_reply_code((HeldCode(c, paged_at, resolved[i]) for i, (c, _user, paged_at)
                                       in held.items() if i in resolved), now)
                for taken_from in [i for i, (c, _user, _at) in held.items() if c == code]:
                    del held[taken_from]
            held[incident_id] = (code, user_id, now)
            codes[incident_id] = code
            self._store(target, incident_id)
        return codes

    def store_again(self, message: StoreCodeAgain) -> None:
        """The refused write again, as the code is held now; nothing if the incident lost it."""
        if message.incident_id in self._held.get(message.target, {}):
            self._store(message.target, message.incident_id)

    def _store(self, target: str, incident_id: int) -> None:
        code, user_id, paged_at = self._held[target][incident_id]
        clock, owner, tracker = self.runtime.clock, self._owner, self.runtime.tracker

        def done(error: BaseException | None) -> None:
            if error is None:
                return
            logger.error("the reply code %s of incident %s could not be stored: %s", code, incident_id, error)
            if store_failed(error):
                again = StoreCodeAgain(target, incident_id)
                clock.arm(("reply-code", target, incident_id), clock.now() + WRITE_RETRY,
                          lambda _when: send_if_alive(owner, again, tracker))

        writes = self.runtime.statements.reply_code(target, code, incident_id, user_id, paged_at)
        self.runtime.committer.submit(WriteUnit(incident_id, writes, done))
