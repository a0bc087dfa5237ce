"""The error every layer raises for a refused request; the web layer renders it as API.md's envelope."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A refusal with an HTTP status, a stable code and a human message naming what is wrong."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.code!r}, {self.message!r}, field={self.field!r})"


def invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "INVALID_FIELD", message, field=field)


def not_found(what: str, ident: object) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} {ident} does not exist")


# A follower serves reads; what needs the actors (events, incident actions, replies, test pages)
# waits for the leader, or for this node to become it (within seconds of the leader's death).
NOT_LEADER = ApiError(
    503, "NOT_LEADER", "this node is a follower: send this to the leading node, or retry",
    headers={"Retry-After": "2"},
)


class StoreUnavailable(ApiError):
    """The store did not take a change: its disk is full, it failed to read or write, or the database
    server is gone. Nothing was changed, so the same request may be sent again."""

    def __init__(self, message: str = "the change could not be stored; retry") -> None:
        super().__init__(503, "STORE_UNAVAILABLE", message, headers={"Retry-After": "2"})


class StartError(RuntimeError):
    """The daemon cannot start; the message says why and what to do."""
