"""Request and response plumbing shared by the handlers: bounded bodies, JSON, paging, envelopes."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Literal

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ilertd.app.auth import Principal, require_admin, require_self_or_admin
from ilertd.app.fields import MAX_ID
from ilertd.domain import json_input
from ilertd.errors import ApiError, StoreUnavailable, invalid
from ilertd.store.db import store_failed
from ilertd.web.auth import authenticate

MAX_PAGE = 100
DEFAULT_PAGE = 50
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# A route authenticates its caller by bearer token ("token"), or by its own means ("public":
# integration keys, feed tokens, Twilio signatures).
Access = Literal["token", "public"]
JSON_HEADER = (b"content-type", b"application/json")
# What a header may not hold: a line break would end it and start another (or the answer).
_NOT_IN_HEADER = re.compile(r"[\r\n\0]")


def too_large(limit: int) -> ApiError:
    return ApiError(413, "BODY_TOO_LARGE", f"the body exceeds {limit} bytes")


async def read_limited(chunks: AsyncIterator[bytes], declared: str | bytes | None, limit: int) -> bytes:
    """Every route's way to read a body: refused with 413 as soon as it passes `limit` bytes,
    declared (Content-Length) or streamed."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


async def read_body(request: Request, limit: int | None = None) -> bytes:
    """The request's body within `server.max_body_bytes` (kept in the application's state)."""
    bound = request.app.state.max_body_bytes if limit is None else limit
    return await read_limited(request.stream(), request.headers.get("content-length"), bound)


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise ApiError(400, "INVALID_JSON", "the body is empty; a JSON object is expected")
    try:
        return json_input.loads(body)
    except json_input.JsonInputError as error:
        raise ApiError(400, "INVALID_JSON", f"the body is not valid JSON: {error}") from None


def json_object(body: bytes, required: bool = True) -> dict[str, Any]:
    if not body.strip() and not required:
        return {}
    value = parse_json(body)
    if not isinstance(value, dict):
        raise ApiError(400, "INVALID_BODY", "the body must be a JSON object")
    return value


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


INTERNAL_ERROR = ApiError(500, "INTERNAL_ERROR", "an unexpected error; see the log")


def unexpected_error(error: BaseException) -> ApiError:
    """The answer to an exception no handler expected: a store that failed (its disk full, the
    database gone) is a 503 saying retry, since nothing was changed; anything else a 500."""
    return StoreUnavailable() if store_failed(error) else INTERNAL_ERROR


def body_reply(reply: Any) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """A BodyRoute handler's `(status, JSON value, headers)` as an answer's status, body and raw
    headers. TypeError or ValueError (the plugin's bug: a 500) when it is not one: a status that
    is no int from 100 to 599, a value JSON cannot hold (NaN and infinities too, which no JSON
    parser reads), a header name or value that is not text one line long."""
    if not isinstance(reply, tuple) or len(reply) != 3:
        raise TypeError(f"a BodyRoute handler returned {reply!r:.100}, not (status, JSON value, headers)")
    status, value, headers = reply
    if type(status) is not int or not 100 <= status <= 599:
        raise TypeError(f"a BodyRoute handler returned the status {status!r:.40}, not an int from 100 to 599")
    content = json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
    if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and not _NOT_IN_HEADER.search(k + v)
            for k, v in headers.items()):
        raise TypeError(f"a BodyRoute handler returned the headers {headers!r:.100}, not text to text")
    raw = [JSON_HEADER, (b"content-length", str(len(content)).encode())]
    # latin-1: what HTTP carries; other text is a ValueError (UnicodeEncodeError), the plugin's 500.
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    return status, content, raw


def parse_id(raw: object) -> int | None:
    """An id written in ASCII digits that fits the store, else None."""
    text = str(raw)
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def paging(request: Request) -> tuple[int, int]:
    def number(name: str, default: int, low: int, high: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        value = parse_id(raw)
        if value is None or not low <= value <= high:
            raise invalid(name, f"{name} must be an integer from {low} to {high}")
        return value

    return number("start-index", 0, 0, 10**9), number("max-results", DEFAULT_PAGE, 1, MAX_PAGE)


def flag(request: Request, name: str) -> bool:
    """A yes-or-no query parameter: `true` or `false` in any case; absent is false."""
    raw = request.query_params.get(name)
    if raw is None or raw.lower() == "false":
        return False
    if raw.lower() == "true":
        return True
    raise invalid(name, f"{name} must be true or false")


def path_id(request: Request, name: str = "id") -> int:
    raw = request.path_params[name]
    value = parse_id(raw)
    if value is None:
        raise ApiError(404, "NOT_FOUND", f"{str(raw)[:40]!r} is not an id")
    return value


SyncHandler = Callable[[Request, bytes], Response]


def threaded(handler: SyncHandler, access: Access = "token") -> Callable[[Request], Awaitable[Response]]:
    """A route's endpoint: the caller's token is checked first, then the body is read (within
    `server.max_body_bytes`), then the blocking handler (store reads, waits on actors) runs in the
    thread pool, where `authenticate(request)` returns the caller already checked."""

    async def endpoint(request: Request) -> Response:
        if access == "token":
            await run_in_threadpool(authenticate, request)
        body = await read_body(request) if request.method in BODY_METHODS else b""
        return await run_in_threadpool(handler, request, body)

    return endpoint


def admin_document(request: Request, body: bytes) -> tuple[Principal, dict[str, Any]]:
    """The caller, who must be an ADMIN, and the body's JSON object. The role is judged before the
    body is read: a caller it refuses is told 403 whatever they sent, not how to mend the body."""
    caller = authenticate(request)
    require_admin(caller)
    return caller, json_object(body)


def owner_document(request: Request, body: bytes, user_id: int, required: bool = True
                   ) -> tuple[Principal, dict[str, Any]]:
    """As admin_document, for what the user `user_id` or an ADMIN may write."""
    caller = authenticate(request)
    require_self_or_admin(caller, user_id)
    return caller, json_object(body, required=required)
