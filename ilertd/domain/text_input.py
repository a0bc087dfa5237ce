"""Text from outside as ilertd reads it: U+0000 kept as U+FFFD on every store, a header as its bytes.

PostgreSQL's text cannot hold U+0000 (SQLite can), so a NUL in an alert's summary, an alert key
or a name would be refused by one store and kept by the other, and an event refused at the
store is one a tool retries for ever. Refusing it at the door would lose the alert too. So
every way text comes in (JSON bodies, form bodies, query parameters, the config-as-code
document) puts U+FFFD (the replacement character) where U+0000 was: the same on SQLite and
PostgreSQL, visible to whoever reads it, and the same key always maps to the same key, so
events still find their incident.

A secret in a header (a Bearer token) is compared as the bytes its sender wrote (`header_bytes`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

NUL = "\x00"
REPLACEMENT = "\ufffd"
# A `\u0000` escape in JSON text: after an even run of backslashes (`\\u0000` is a backslash,
# then the text "u0000"). The replacement escape has the same length, so positions in error
# messages still point at the same characters.
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def storable(text: str) -> str:
    """`text` with U+FFFD in place of each U+0000."""
    return text.replace(NUL, REPLACEMENT) if NUL in text else text


def storable_json_text(text: str) -> str:
    """JSON text whose strings decode with U+FFFD in place of each U+0000 (a raw NUL is invalid
    JSON already: the decoder refuses control characters in strings)."""
    return _NUL_ESCAPE.sub(r"\1\\ufffd", text) if "\\u0000" in text else text


def form_fields(text: str) -> list[tuple[str, str]]:
    """A form-encoded body's fields, in order, blank values kept, U+0000 replaced (as a query's)."""
    return [(storable(name), storable(value)) for name, value in parse_qsl(text, keep_blank_values=True)]


def storable_value(value: Any) -> Any:
    """A parsed document (dicts, lists, strings, other scalars) with U+0000 replaced in every
    string, keys too; what holds none is returned as it is."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(key): storable_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable_value(item) for item in value]
    return value


def storable_pairs(pairs: Iterable[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
    """Already decoded fields (a query string's) as a dict, U+0000 replaced; the last of a
    repeated name wins."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return {storable(name): storable(value) for name, value in items}


def header_bytes(value: str) -> bytes:
    """A header's value as its sender's bytes: HTTP hands them decoded as Latin-1, so a secret
    written in UTF-8 (`pässwörd`) compares equal only byte for byte."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()
