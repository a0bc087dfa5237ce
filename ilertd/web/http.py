"""Request and response plumbing shared by the handlers: bounded bodies, JSON, paging, envelopes."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ilertd.errors import ApiError, invalid

MAX_PAGE = 100
DEFAULT_PAGE = 50


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    too_large = ApiError(413, "BODY_TOO_LARGE", f"the body exceeds {limit} bytes")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise ApiError(400, "INVALID_JSON", "the body is empty; a JSON object is expected")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
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


def paging(request: Request) -> tuple[int, int]:
    def number(name: str, default: int, low: int, high: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise invalid(name, f"{name} must be an integer from {low} to {high}")
        return int(raw)

    return number("start-index", 0, 0, 10**9), number("max-results", DEFAULT_PAGE, 1, MAX_PAGE)


def path_id(request: Request, name: str = "id") -> int:
    raw = request.path_params[name]
    if not str(raw).isdigit():
        raise ApiError(404, "NOT_FOUND", f"{raw!r} is not an id")
    return int(raw)


SyncHandler = Callable[[Request, bytes], Response]


def threaded(
    handler: SyncHandler, limit: int | Callable[[Request], int] = 1 << 20
) -> Callable[[Request], Awaitable[Response]]:
    """Run a blocking handler (store reads, waits on actors) in the thread pool, body pre-read."""

    async def endpoint(request: Request) -> Response:
        bound = limit(request) if callable(limit) else limit
        body = await read_body(request, bound) if request.method in ("POST", "PUT", "PATCH") else b""
        return await run_in_threadpool(handler, request, body)

    return endpoint
