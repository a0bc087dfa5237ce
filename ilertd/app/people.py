"""Users and their API tokens: checks and writes, and who hears of a change (paging, schedules)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import peewee

from ilertd.app import fields as v
from ilertd.app.auth import Principal, create_token, require_admin, require_self_or_admin
from ilertd.app.context import Context
from ilertd.app.schema import Choice, ObjectSpec, Text
from ilertd.app.unsent_pages import MovedPage, cancel, follow_account_email
from ilertd.domain.timeutil import format_instant
from ilertd.domain.wording import quoted
from ilertd.errors import ApiError, not_found
from ilertd.store import models as m
from ilertd.store.db import write_transaction
from ilertd.store.names import holder_of
from ilertd.store.people import admins, owned_row, user

ROLES = ("ADMIN", "USER")

USER_BODY = ObjectSpec(title="UserBody", fields={
    "username": v.USERNAME,
    "firstName": Text(max_length=128, nullable=True, description='default ""; null clears it'),
    "lastName": Text(max_length=128, nullable=True, description='default ""; null clears it'),
    "email": replace(v.EMAIL, nullable=True, description=f"{v.EMAIL.description}; null clears it"),
    "timezone": v.TIMEZONE,
    "role": Choice(options=ROLES, description="default USER; changing it needs ADMIN"),
    "mutedUntil": v.MUTED_UNTIL,
}, on_create=("username",), description="An update changes the fields given.")
CLEARED_TEXT = (("firstName", "first_name"), ("lastName", "last_name"), ("email", "email"))
TOKEN_BODY = ObjectSpec(title="TokenBody", fields={"name": Text(max_length=128)},
                        description="Optional: the body may be empty.")


def user_or_404(user_id: int) -> m.User:
    row = user(user_id)
    if row is None:
        raise not_found("user", user_id)
    return row


def user_fields(body: dict[str, Any], creating: bool, mail_domain: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "username": USER_BODY.read(body, "username", creating),
        "first_name": USER_BODY.read(body, "firstName"),
        "last_name": USER_BODY.read(body, "lastName"),
        "email": USER_BODY.read(body, "email"),
        "timezone": USER_BODY.read(body, "timezone"),
        "role": USER_BODY.read(body, "role"),
    }
    # Optional text, cleared by null as by "" (an update otherwise left it as it was).
    fields.update({column: "" for name, column in CLEARED_TEXT if name in body and body[name] is None})
    # Pages fall back to the account address: one at ilertd's own domain would reach nobody.
    v.refuse_own_mailbox(fields["email"], mail_domain, "email")
    present, muted = USER_BODY["mutedUntil"].read_or_null(body, "mutedUntil")
    if present:
        fields["muted_until"] = muted
    return {k: value for k, value in fields.items() if value is not None or k == "muted_until"}


def keep_an_admin(user_id: int) -> None:
    """409 when `user_id` is the only ADMIN: with none left, nobody could change a user, a policy
    or a source again but through the CLI on the daemon's machine."""
    # Locked: two ADMINs making each other USERs at once would both see the other still ADMIN.
    found = admins(lock=True)
    if list(found) == [user_id]:
        raise ApiError(409, "CONFLICT", f"{quoted(found[user_id])} is the only ADMIN: make another user"
                       " an ADMIN first", field="role")


def _name_free(username: str, user_id: int | None) -> None:
    """409 ALREADY_EXISTS when another user's name is `username` in any case (see holder_of)."""
    holder = holder_of(m.User, {"username": username}, user_id, without_case=True)
    if holder is not None:
        taken, held = f"username {quoted(username)} is taken", user(holder)
        raise ApiError(409, "ALREADY_EXISTS", taken if held is None or held.username == username
                       else f"{taken} by {quoted(held.username)} (user names are told apart without case)",
                       field="username")


class People:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create_user(self, caller: Principal, body: dict[str, Any]) -> m.User:
        require_admin(caller)
        fields = user_fields(body, creating=True, mail_domain=self.ctx.mail_domain)
        fields.setdefault("role", "USER")
        try:
            with write_transaction(self.ctx.db):
                _name_free(fields["username"], None)
                row = m.User.create(created_at=self.ctx.now(), **fields)
        except peewee.IntegrityError:
            raise ApiError(409, "ALREADY_EXISTS", f"username {quoted(fields['username'])} is taken",
                           field="username") from None
        return row

    def update_user(self, caller: Principal, user_id: int, body: dict[str, Any]) -> m.User:
        require_self_or_admin(caller, user_id)
        USER_BODY.refuse_nulls(body)
        current = user_or_404(user_id)
        fields = user_fields(body, creating=False, mail_domain=self.ctx.mail_domain)
        if "role" in fields and not caller.is_admin:
            # A client's GET-modify-PUT carries the role back unchanged: only a change needs ADMIN.
            if fields["role"] != current.role:
                raise ApiError(403, "FORBIDDEN", "only an ADMIN may change a role", field="role")
            del fields["role"]
        if fields:
            moved: list[MovedPage] = []
            try:
                with write_transaction(self.ctx.db):
                    if "username" in fields:
                        _name_free(fields["username"], user_id)
                    if fields.get("role", "ADMIN") != "ADMIN":
                        keep_an_admin(user_id)
                    muted_until, now = fields.get("muted_until"), self.ctx.now()
                    if muted_until is not None and muted_until > now:
                        # "Not paged until then" holds for pages planned before the mute too.
                        until = format_instant(muted_until)
                        cancel(user_id, f"{current.username} is muted until {until}", now,
                               due_before=muted_until, when=f"{current.username} was muted until {until}")
                    if "email" in fields:
                        moved = follow_account_email(user_id, current.username, current.email,
                                                     fields["email"], now)
                    m.User.update(**fields).where(m.User.id == user_id).execute()
            except peewee.IntegrityError:
                raise ApiError(409, "ALREADY_EXISTS", "username is taken", field="username") from None
            # After the COMMIT: the next page sees the new e-mail or mutedUntil.
            self.ctx.user_changed(user_id)
            self.ctx.pages_moved(moved)
        return user_or_404(user_id)

    def delete_user(self, user_id: int, username: str) -> None:
        """The user's row, with their tokens, contacts and rules, and their pages not yet sent.
        Only ilertd.app.offboarding.remove_user calls this, in its transaction, once it has
        checked the caller's rights, the user and where they are on duty."""
        with write_transaction(self.ctx.db):
            cancel(user_id, f"user {username} was deleted", self.ctx.now(), every_kind=True)
            m.User.delete().where(m.User.id == user_id).execute()
        # Their duty rules went with them.
        self.ctx.user_changed(user_id, duties=True)

    def create_token(self, caller: Principal, user_id: int, body: dict[str, Any]) -> str:
        """A new API token for the user, returned once; only its hash is kept."""
        require_self_or_admin(caller, user_id)
        user_or_404(user_id)
        name = TOKEN_BODY.read(body, "name") or ""
        with write_transaction(self.ctx.db):
            v.held_or_404(m.User, user_id, "user")
            return create_token(user_id, name, self.ctx.now())

    def revoke_token(self, caller: Principal, user_id: int, token_id: int) -> None:
        """Delete one of the user's API tokens: the next request bearing it is refused."""
        require_self_or_admin(caller, user_id)
        user_or_404(user_id)
        with write_transaction(self.ctx.db):
            # Another user's token is as absent as a missing one: the path names the owner.
            if owned_row(m.ApiToken, user_id, token_id) is None:
                raise not_found("API token", token_id)
            m.ApiToken.delete().where(m.ApiToken.id == token_id).execute()
