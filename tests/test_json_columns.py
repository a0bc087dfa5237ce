"""JSON columns: what they store is the standard encoder's JSON, whichever encoder wrote it (a
number may be spelled otherwise: 1e-7 for 1e-07), and every value comes back equal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ilertd.store.fields import JSONField

STANDARD = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

VALUES: list[Any] = [
    {"labels": {"alertname": "Down", "instance": "db-1:9100"}, "severity": "critical"},
    [{"href": "https://example.com/graph?g0.expr=up%3D%3D0", "text": "Source"}],
    {"text": "é ✓ \u2028 \U0001f525 \"quoted\" \\ back", "control": "\x00\x1f"},
    {"numbers": [0, -1, 1.5, 1e16, 1e-7, 2.5e300, 9_007_199_254_740_993]},
    {"nested": [[[[{"deep": True}]]]], "empty": {}, "none": None},
    # What orjson refuses, written by the standard encoder instead.
    {"big": 2**70, "negative": -(2**64)},
    {1: "an integer key", 2: [2**80]},
    {"depth": json.loads("[" * 300 + "]" * 300)},
]


@pytest.mark.parametrize("value", VALUES)
def test_a_value_is_stored_as_the_standard_encoders_json_and_read_back_equal(value: Any) -> None:
    field = JSONField()
    stored = field.db_value(value)
    standard = json.loads(STANDARD(value))
    assert json.loads(stored) == standard
    # Compact, and not ASCII-escaped: as long as the standard encoder's text, give or take a
    # number's spelling.
    assert abs(len(stored) - len(STANDARD(value))) <= 2
    assert field.python_value(stored) == standard


def test_empty_and_missing_values_skip_the_encoder() -> None:
    field = JSONField()
    assert (field.db_value(None), field.db_value([]), field.db_value({})) == (None, "[]", "{}")
    assert (field.python_value(None), field.python_value("[]"), field.python_value("{}")) == (None, [], {})
