"""The SMS reply codes of the phones a channel actor pages: chosen in memory, stored by the group commit."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ilertd.actors.runtime import Runtime
from ilertd.domain.replies import HeldCode, new_reply_code
from ilertd.store.committer import WriteUnit
from ilertd.store.replies import reply_codes_of, resolution_times

logger = logging.getLogger(__name__)


class PhoneCodes:
    """Each phone's codes: target → incident → (code, user, last SMS page with it).

    A channel actor owns every page to its targets (the dispatcher hashes targets to actors), so
    its map is the phones' codes: read from the store once per phone, then chosen here and stored
    through the group commit, never waiting on the store's write lock in front of an SMS.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
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
            self.runtime.committer.submit(WriteUnit(
                incident_id, self.runtime.statements.reply_code(target, code, incident_id, user_id, now),
                _log_failure))
        return codes


def _log_failure(error: BaseException | None) -> None:
    if error is not None:
        logger.error("a reply code could not be stored: %s", error)
