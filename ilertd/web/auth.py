"""Who is calling an HTTP route: the bearer token of the request, looked up once per request."""

from __future__ import annotations

from starlette.requests import Request

from ilertd.app.auth import Principal, principal_for_token
from ilertd.errors import ApiError

UNAUTHORIZED = ApiError(
    401, "UNAUTHORIZED", "a valid API token is required: Authorization: Bearer <token>",
    headers={"WWW-Authenticate": "Bearer"},
)


def authenticate(request: Request) -> Principal:
    """The caller of this request, by its bearer token; looked up once per request."""
    known = getattr(request.state, "principal", None)
    if known is not None:
        return known  # type: ignore[no-any-return]
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UNAUTHORIZED
    principal = principal_for_token(token.strip())
    if principal is None:
        raise UNAUTHORIZED
    request.state.principal = principal
    return principal
