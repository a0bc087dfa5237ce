"""The config-as-code document written (`ilertd export`): one canonical TOML text for equal input."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ilertd.domain.provision_document import ITEM_KEYS, KEYS, KINDS, SECTIONS

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def render(sections: dict[str, list[dict[str, Any]]], header: Iterable[str] = ()) -> str:
    """The document as TOML: the kinds in KINDS's order, each object's keys in KEYS's order, arrays of
    tables one item per line, layers and levels as `[[kind.key]]` sections. Equal input, equal text."""
    out = [f"# {line}" if line else "#" for line in header]
    for kind in KINDS:
        for body in sections.get(kind, []):
            out += ["", f"[[{kind}]]"]
            later: list[tuple[str, list[dict[str, Any]]]] = []
            for key in _ordered(body, KEYS[kind]):
                value = body[key]
                if key in SECTIONS:
                    later.append((key, value))
                elif key in ITEM_KEYS and isinstance(value, list) and value:
                    out.append(f"{_key(key)} = [")
                    out += [f"  {_value(item, ITEM_KEYS[key])}," for item in value]
                    out.append("]")
                else:
                    out.append(f"{_key(key)} = {_value(value)}")
            for key, items in later:
                for item in items:
                    out += ["", f"[[{kind}.{key}]]"]
                    out += [f"{_key(k)} = {_value(item[k])}" for k in _ordered(item, ITEM_KEYS[key])]
    return "\n".join(out).lstrip("\n") + "\n"


def _ordered(table: dict[str, Any], order: Sequence[str]) -> list[str]:
    return [k for k in order if k in table] + sorted(k for k in table if k not in order)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _string(value: str) -> str:
    # JSON's escapes are TOML's, but for DEL, which TOML wants escaped too.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any, order: Sequence[str] = ()) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = _ordered(value, order or _REF_ORDER)
        return "{" + ", ".join(f"{_key(k)} = {_value(value[k])}" for k in keys) + "}"
    raise TypeError(f"TOML has no form for {value!r}")


# Inline tables that are not items of a known array: references, restrictions, support hours.
_REF_ORDER = ("name", "method", "target", "from", "to", "dayOfWeek", "time", "timezone", "outside",
              "supportDays", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY",
              "SUNDAY", "start", "end")
