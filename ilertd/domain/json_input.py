"""What JSON ilertd accepts from outside: bounded nesting, valid Unicode, finite numbers.

`json.loads` alone accepts input the rest of the product cannot carry: nesting deep enough to
exhaust the interpreter's recursion limit (here, or later when the value is written out),
`"\\ud800"` (a lone surrogate, which no UTF-8 encoder can write to the store), and `NaN`,
`Infinity` or `1e400` (which no JSON reader accepts back). Each is refused here with a
message saying what is wrong, so every caller can answer 400. A `\\u0000` decodes as U+FFFD
(see ilertd.domain.text_input: PostgreSQL's text cannot hold U+0000).
"""

from __future__ import annotations

import json
import math
from typing import Any

from ilertd.domain.text_input import storable_json_text

MAX_DEPTH = 64


class JsonInputError(ValueError):
    """The input is not JSON that ilertd accepts; the message says why."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonInputError(f"the number {text[:40]} is out of range")
    return value


def _integer(text: str) -> int:
    # Past 309 digits an integer is beyond a double's range: what no JSON reader takes as a number.
    if len(text.lstrip("-")) > 309:
        raise JsonInputError(f"the number {text[:40]}... is out of range")
    return int(text)


def _no_constant(name: str) -> Any:
    raise JsonInputError(f"{name} is not a JSON number")


# Built once: json.loads with any hook builds a decoder per call (every event's body goes here).
_DECODER = json.JSONDecoder(parse_float=_finite, parse_int=_integer, parse_constant=_no_constant)


def _text(data: bytes | str) -> str:
    """The JSON text of `data`, a str's BOM refused; bytes decoded strictly, where json.loads lets
    a surrogate encoded as bytes (b"\xed\xa0\x80") through to the store."""
    if isinstance(data, str):
        if data.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", data, 0)
        return data
    return data.decode(json.detect_encoding(data))


def loads(data: bytes | str) -> Any:
    """The JSON value of `data`, or JsonInputError saying why it is refused."""
    try:
        text = _text(data)
        # A lone surrogate and U+0000 come only from a \u escape: text without one is spared
        # both, and this is the one scan for it.
        escaped = "\\u" in text
        value = _DECODER.decode(storable_json_text(text) if escaped else text)
    except RecursionError:
        raise JsonInputError(f"the JSON is nested more than {MAX_DEPTH} levels deep") from None
    except UnicodeDecodeError as error:
        # Callers say "the body is not valid JSON: " before this, so it does not name the body.
        raise JsonInputError(f"its bytes are not {error.encoding.upper().replace('-SIG', '')}:"
                             f" {error.reason} at byte {error.start}") from None
    except JsonInputError:
        raise
    except ValueError as error:
        # json.JSONDecodeError, and int() refusing more than 4,300 digits.
        raise JsonInputError(str(error)) from None
    # Both checks walk the value, so only input that can hold such a thing pays for them:
    # a lone surrogate comes only from a \u escape, deep nesting only from many brackets.
    if escaped or text.count("[") + text.count("{") > MAX_DEPTH:
        check(value)
    return value


def check(value: Any) -> None:
    """JsonInputError if `value` nests more than MAX_DEPTH levels or holds a string that is not
    valid Unicode (a lone surrogate)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _valid_text(item)
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise JsonInputError(f"the JSON is nested more than {MAX_DEPTH} levels deep")
            if isinstance(item, dict):
                for key, child in item.items():
                    _valid_text(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def _valid_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        raise JsonInputError(
            f"a string holds a lone surrogate (\\u{code:04x}), which is not valid Unicode") from None
