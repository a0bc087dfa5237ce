"""Field checks for the API's JSON bodies, whoever sends them: each refusal is a 400 naming the field.

The fields several bodies share are specs (ilertd.app.schema) declared here once; the functions
are the same checks for a caller without a body spec of its own, each a thin wrapper over a spec.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from ilertd.app.schema import MAX_ID, Boolean, Choice, Instant, Integer, Ref, Text, TimeZone
from ilertd.domain.mail_domains import at_domain
from ilertd.domain.timeutil import RANGE
from ilertd.domain.wording import quoted
from ilertd.errors import ApiError, invalid, not_found
from ilertd.store.db import row_held
from ilertd.store.names import holder_of

__all__ = [
    "EMAIL",
    "MAX_ID",
    "MUTED_UNTIL",
    "NAME",
    "REF",
    "TIMEZONE",
    "USERNAME",
    "all_exist",
    "boolean",
    "choice",
    "email",
    "instant_or_null",
    "integer",
    "name_free",
    "ref_id",
    "text",
    "timezone",
    "username",
]

NAME = Text(max_length=255, nonblank=True)
USERNAME = Text(max_length=64, pattern=r"^[A-Za-z0-9._@-]{1,64}$",
                mismatch="username may hold letters, digits and . _ @ - (1 to 64)",
                description="1 to 64 of letters, digits and . _ @ -; unique")
EMAIL = Text(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", blank_ok=True,
             mismatch="email must be an e-mail address", description="an e-mail address, or empty")
TIMEZONE = TimeZone(description="an IANA time zone, such as Europe/Berlin")
MUTED_UNTIL = Instant(nullable=True, message="{name} must be null or an ISO-8601 instant " + RANGE,
                      description="until then the user is not paged; null: not muted")
REF = Ref()


def text(body: dict[str, Any], name: str, *, required: bool = False, max_length: int = 255,
         default: str | None = None) -> str | None:
    return Text(max_length=max_length).read(body, name, required, default)


def username(body: dict[str, Any], required: bool) -> str | None:
    return USERNAME.read(body, "username", required)


def email(body: dict[str, Any]) -> str | None:
    return EMAIL.read(body, "email")


def timezone(body: dict[str, Any]) -> str | None:
    return TIMEZONE.read(body, "timezone")


def choice(body: dict[str, Any], name: str, options: tuple[str, ...]) -> str | None:
    return Choice(options=options).read(body, name)


def instant_or_null(body: dict[str, Any], name: str) -> tuple[bool, datetime | None]:
    """(present, value): a field that may be set to an instant or cleared with null."""
    return MUTED_UNTIL.read_or_null(body, name)


def integer(body: dict[str, Any], name: str, low: int, high: int, default: int | None = None) -> int:
    value = Integer(low=low, high=high, default=default).read(body, name)
    assert value is not None
    return value


def boolean(body: dict[str, Any], name: str, default: bool) -> bool:
    return Boolean(default=default).read(body, name)


def ref_id(value: Any, name: str) -> int:
    """`{"id": 3}` → 3; an id the store cannot hold (beyond 64 bits) is refused here."""
    return REF.read(value, name)


def all_exist(existing: Callable[[list[int]], set[int]], ids: Iterable[int], field: str, what: str) -> None:
    """400 naming `field` and the first id in `ids` that `existing` (a store function: those of the
    ids that name a row) does not return."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return
    known = existing(wanted)
    missing = [i for i in wanted if i not in known]
    if missing:
        raise invalid(field, f"{what} {missing[0]} does not exist")


def name_free(model: Any, what: str, name: str, other_than: int | None = None) -> None:
    """409 ALREADY_EXISTS (`field: name`) when another schedule, escalation policy or alert source
    (`model`) holds `name`: config as code and `export` find each by its name, and an operator
    picking one from a list by name cannot tell two apart (GoAlert and PagerDuty refuse it too)."""
    holder = holder_of(model, {"name": name}, other_than)
    if holder is not None:
        raise ApiError(409, "ALREADY_EXISTS", f"{what} {holder} is already named {quoted(name)}: names are "
                       "unique", field="name")


def held_or_404(model: Any, row_id: int, what: str, exclusive: bool = False) -> None:
    """Holds the row a write names (`exclusive`: one it deletes) for the writing transaction: on
    PostgreSQL a delete of it (or a write naming it) meanwhile waits, and one committed first is
    seen here as a 404, not as a foreign key's 500 at the write."""
    if not row_held(model, row_id, exclusive=exclusive):
        raise not_found(what, row_id)


def shown(names: list[str], most: int = 5) -> str:
    """The first `most` of `names`, and how many more: what a refusal lists."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def refuse_in_use(names: list[str], holders: str, remedy: str) -> None:
    """409 IN_USE naming what still needs the row: "`holders`: a, b; `remedy`"."""
    if names:
        raise ApiError(409, "IN_USE", f"{holders}: {shown(names)}; {remedy}")


def refuse_own_mailbox(address: str | None, mail_domain: str, field: str) -> None:
    """400 for an address a person is to be mailed at that is at ilertd's own mail domain: the
    page would reach ilertd's listener, not the person (an alert source's address would open an
    alert there, which pages again)."""
    if address is not None and at_domain(address, mail_domain):
        raise invalid(field, f"{address} is at ilertd's own mail domain ({mail_domain.strip()}, "
                             "[smtp_in] domain): mail to it comes back to ilertd, never to a person")
