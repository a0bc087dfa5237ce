"""Column types shared by the models and the migrations: JSON text and UTC instants."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import orjson
import peewee

# One encoder, built once: json.dumps with arguments builds a new one per call.
_stdlib_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _encode(value: Any) -> str:
    """The compact JSON text of `value`, as the standard encoder writes it but for the spelling of
    some numbers (1e-7 for 1e-07), ten times faster (a webhook's alert stores four JSON values:
    15 µs → 1.3 µs); what orjson refuses (an integer over 64 bits, a key that is no string,
    nesting over 254) the standard encoder writes."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _stdlib_encode(value)


# Twenty digits in a row: an integer orjson may read as a float (it reads 2**64 as 1.8e19).
_LONG_NUMBER = re.compile(r"\d{20}")


def decode_json(text: str) -> Any:
    """The value of stored JSON text; orjson reads it, the standard parser what orjson refuses
    (an integer over 64 bits) or would change (one of 2**64 and over, read as a float: stored
    exactly, it was served changed)."""
    if _LONG_NUMBER.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


class JSONField(peewee.TextField):
    """JSON stored as text, so SQLite and PostgreSQL hold the same bytes."""

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        # Most incidents have no images, links, labels or details: no encoder for them.
        if not value and isinstance(value, list | dict):
            return "[]" if isinstance(value, list) else "{}"
        return _encode(value)

    def python_value(self, value: Any) -> Any:
        if value is None:
            return None
        # Most incidents have no images, links, labels or details: skip the parser for them.
        if value == "[]":
            return []
        if value == "{}":
            return {}
        return decode_json(value)


def is_plain(field: peewee.Field) -> bool:
    """Whether the driver's value for this column already is the Python value, both ways: an
    integer or a string column (or a key to an integer id). Converting those per row and value
    costs more on the hot paths than the queries."""
    if isinstance(field, peewee.ForeignKeyField):
        return is_plain(field.rel_field)
    overridden = type(field).python_value is not peewee.Field.python_value or (
        type(field).db_value is not peewee.Field.db_value)
    return isinstance(field, peewee.IntegerField | peewee._StringField) and not overridden


class UTCDateTimeField(peewee.DateTimeField):
    """Instants stored as naive UTC and read back as aware UTC datetimes."""

    def db_value(self, value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return super().db_value(value)

    def python_value(self, value: Any) -> Any:
        if isinstance(value, str):
            # SQLite's text, as db_value wrote it: fromisoformat reads it about thirty times
            # faster than peewee's strptime over its list of formats (a fifth of the CPU of
            # reading a batch of escalating incidents went there).
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                value = super().python_value(value)
        else:
            value = super().python_value(value)
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
