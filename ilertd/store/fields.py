"""Column types shared by the models and the migrations: JSON text and UTC instants."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import peewee


class JSONField(peewee.TextField):
    """JSON stored as text, so SQLite and PostgreSQL hold the same bytes."""

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def python_value(self, value: Any) -> Any:
        if value is None:
            return None
        return json.loads(value)


class UTCDateTimeField(peewee.DateTimeField):
    """Instants stored as naive UTC and read back as aware UTC datetimes."""

    def db_value(self, value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return super().db_value(value)

    def python_value(self, value: Any) -> Any:
        value = super().python_value(value)
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
