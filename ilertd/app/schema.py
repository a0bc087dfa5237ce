"""The API's JSON shapes, declared once: field specs that check request bodies and render JSON Schema.

Each request body is an `ObjectSpec` beside the validator that reads it (`USER_BODY` in
ilertd.app.people, ...): the validator takes every field through its spec (`USER_BODY.read(body,
"email")`), so the limits, choices and required fields it enforces are the ones the OpenAPI
document (ilertd.web.openapi) renders from the same spec. Cross-field rules (an end after its
start, a contact's method matching the rule's) stay in the validators' code; the specs' descriptions
say them. Response shapes are specs of the same kinds, `closed`: every property always present,
no other (ilertd.web.views).
"""

from __future__ import annotations

import re
import zoneinfo
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ilertd.domain.timeutil import RANGE, parse_instant
from ilertd.errors import invalid

# Ids are 64-bit signed integers in the store.
MAX_ID = 2**63 - 1
MIN_ID = -MAX_ID - 1

# Choices known only at run time, by name: the enabled channels' methods, the integration types.
Vocabulary = Mapping[str, tuple[str, ...]]

JsonSchema = dict[str, Any]


def _typed(kind: str, nullable: bool) -> str | list[str]:
    return [kind, "null"] if nullable else kind


@dataclass(frozen=True, kw_only=True)
class Spec(ABC):
    """One JSON value's shape. `nullable`: null is a value of its own (it clears the field)."""

    description: str = ""
    nullable: bool = False

    @abstractmethod
    def shape(self, words: Vocabulary) -> JsonSchema:
        """The JSON Schema of the value, before its description is added."""

    def schema(self, words: Vocabulary) -> JsonSchema:
        rendered = self.shape(words)
        if self.description:
            rendered["description"] = self.description
        return rendered


@dataclass(frozen=True, kw_only=True)
class Anything(Spec):
    """Any JSON value (a tool's payload); `kind` narrows it to one JSON type."""

    kind: str = ""

    def shape(self, words: Vocabulary) -> JsonSchema:
        return {"type": _typed(self.kind, self.nullable)} if self.kind else {}


@dataclass(frozen=True, kw_only=True)
class Text(Spec):
    """A string of at most `max_length` characters. Absent and null are alike (not given); given
    where required, it must not be blank; `nonblank` (a name) refuses a blank one wherever it is
    given, a PUT's too. `pattern` (checked with `re.match`) refuses with `mismatch`; `blank_ok`
    lets the empty string pass it."""

    max_length: int | None = 255
    pattern: str | None = None
    mismatch: str = ""
    blank_ok: bool = False
    nonblank: bool = False
    format: str | None = None

    def read(self, body: Mapping[str, Any], name: str, required: bool = False,
             default: str | None = None) -> str | None:
        value = body.get(name)
        if value is None:
            if required:
                raise invalid(name, f"{name} is required")
            return default
        if not isinstance(value, str):
            raise invalid(name, f"{name} must be a string")
        if (required or self.nonblank) and not value.strip():
            raise invalid(name, f"{name} must not be empty")
        if self.max_length is not None and len(value) > self.max_length:
            raise invalid(name, f"{name} must be at most {self.max_length} characters")
        checked = self.pattern is not None and not (self.blank_ok and not value)
        if checked and not re.match(self.pattern, value):  # type: ignore[arg-type]
            raise invalid(name, self.mismatch.format(name=name, value=value))
        return value

    def shape(self, words: Vocabulary) -> JsonSchema:
        rendered: JsonSchema = {"type": _typed("string", self.nullable)}
        if self.max_length is not None:
            rendered["maxLength"] = self.max_length
        if self.nonblank:
            rendered["minLength"] = 1
        if self.pattern is not None:
            rendered["pattern"] = f"^$|{self.pattern}" if self.blank_ok else self.pattern
        elif self.nonblank:
            rendered["pattern"] = r"\S"
        if self.format is not None:
            rendered["format"] = self.format
        return rendered


@dataclass(frozen=True, kw_only=True)
class TimeZone(Text):
    """An IANA time zone's name."""

    max_length: int | None = 64

    def read(self, body: Mapping[str, Any], name: str, required: bool = False,
             default: str | None = None) -> str | None:
        value = super().read(body, name, required, default)
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise invalid(name, f"{value!r} is not an IANA time zone") from None
        return value


@dataclass(frozen=True, kw_only=True)
class Choice(Spec):
    """One of `options` (or of the run-time `vocabulary`), accepted in any case, kept upper-case."""

    options: tuple[str, ...] = ()
    vocabulary: str = ""

    def choices(self, words: Vocabulary) -> tuple[str, ...]:
        return tuple(words[self.vocabulary]) if self.vocabulary else self.options

    def read(self, body: Mapping[str, Any], name: str, required: bool = False,
             options: tuple[str, ...] | None = None) -> str | None:
        choices = options if options is not None else self.options
        value = body.get(name)
        if value is None:
            if required:
                raise invalid(name, f"{name} is required: one of {', '.join(choices)}")
            return None
        if not isinstance(value, str) or value.upper() not in choices:
            raise invalid(name, f"{name} must be one of {', '.join(choices)}")
        return value.upper()

    def shape(self, words: Vocabulary) -> JsonSchema:
        choices: list[str | None] = list(self.choices(words))
        if self.nullable:
            choices.append(None)
        return {"type": _typed("string", self.nullable), "enum": choices}


@dataclass(frozen=True, kw_only=True)
class Integer(Spec):
    """An integer from `low` to `high` (None: unbounded; booleans are not integers); absent, `default`."""

    low: int | None = None
    high: int | None = None
    default: int | None = None
    # Absent or null is fine (the caller decides what it means) instead of "is required".
    optional: bool = False
    message: str = "{name} must be an integer from {low} to {high}"

    def read(self, body: Mapping[str, Any], name: str) -> int | None:
        value = body.get(name, self.default)
        if value is None:
            if self.optional:
                return None
            raise invalid(name, f"{name} is required")
        too_low = self.low is not None and isinstance(value, int) and value < self.low
        too_high = self.high is not None and isinstance(value, int) and value > self.high
        if isinstance(value, bool) or not isinstance(value, int) or too_low or too_high:
            raise invalid(name, self.message.format(name=name, low=self.low, high=self.high))
        return value

    def shape(self, words: Vocabulary) -> JsonSchema:
        rendered: JsonSchema = {"type": _typed("integer", self.nullable)}
        if self.low is not None:
            rendered["minimum"] = self.low
        if self.high is not None:
            rendered["maximum"] = self.high
        if self.default is not None:
            rendered["default"] = self.default
        return rendered


@dataclass(frozen=True, kw_only=True)
class IntegerChoice(Spec):
    """One of a few integers; absent, `default`."""

    options: tuple[int, ...]
    default: int | None = None

    def read(self, body: Mapping[str, Any], name: str) -> int:
        value = body.get(name, self.default)
        if isinstance(value, bool) or not isinstance(value, int) or value not in self.options:
            raise invalid(name, f"{name} must be one of {', '.join(map(str, self.options))}")
        return value

    def shape(self, words: Vocabulary) -> JsonSchema:
        rendered: JsonSchema = {"type": "integer", "enum": list(self.options)}
        if self.default is not None:
            rendered["default"] = self.default
        return rendered


@dataclass(frozen=True, kw_only=True)
class Boolean(Spec):
    default: bool | None = None

    def read(self, body: Mapping[str, Any], name: str) -> bool:
        value = body.get(name, self.default)
        if not isinstance(value, bool):
            raise invalid(name, f"{name} must be true or false")
        return value

    def shape(self, words: Vocabulary) -> JsonSchema:
        rendered: JsonSchema = {"type": _typed("boolean", self.nullable)}
        if self.default is not None:
            rendered["default"] = self.default
        return rendered


@dataclass(frozen=True, kw_only=True)
class Instant(Spec):
    """An ISO-8601 instant within the accepted range (without an offset: UTC); `message` is the
    refusal of anything else, `{name}` filled in."""

    message: str = "{name} must be an ISO-8601 instant " + RANGE

    def parse(self, value: Any, name: str) -> datetime:
        try:
            return parse_instant(value)
        except (ValueError, TypeError):
            raise invalid(name, self.message.format(name=name)) from None

    def read(self, body: Mapping[str, Any], name: str) -> datetime:
        return self.parse(body.get(name), name)

    def read_or_null(self, body: Mapping[str, Any], name: str) -> tuple[bool, datetime | None]:
        """(present, value): a field that may be set to an instant or cleared with null."""
        if name not in body:
            return False, None
        if body[name] is None:
            return True, None
        return True, self.parse(body[name], name)

    def shape(self, words: Vocabulary) -> JsonSchema:
        return {"type": _typed("string", self.nullable), "format": "date-time"}


@dataclass(frozen=True, kw_only=True)
class Ref(Spec):
    """A reference to another object, `{"id": 3}`; an id beyond 64 bits is refused here.
    `names`: the response's reference also carries these string fields (`{id, username}`)."""

    names: tuple[str, ...] = ()
    # The refusal when the field is absent or null, if it differs from a malformed reference's.
    missing: str = ""

    def read(self, value: Any, name: str) -> int:
        ident = value.get("id") if isinstance(value, dict) else None
        if isinstance(ident, bool) or not isinstance(ident, int) or not MIN_ID <= ident <= MAX_ID:
            raise invalid(name, f"{name} must be an object with an integer id")
        return ident

    def read_field(self, body: Mapping[str, Any], name: str) -> int:
        """The id of the required reference `body[name]`."""
        if body.get(name) is None and self.missing:
            raise invalid(name, self.missing)
        return self.read(body.get(name), name)

    def shape(self, words: Vocabulary) -> JsonSchema:
        properties: dict[str, JsonSchema] = {"id": {"type": "integer", "minimum": MIN_ID, "maximum": MAX_ID}}
        properties.update({n: {"type": "string"} for n in self.names})
        rendered: JsonSchema = {"type": _typed("object", self.nullable), "properties": properties,
                                "required": list(properties)}
        if self.names:
            rendered["additionalProperties"] = False
        return rendered


@dataclass(frozen=True, kw_only=True)
class ArrayOf(Spec):
    item: Spec
    min_items: int = 0
    max_items: int | None = None

    def shape(self, words: Vocabulary) -> JsonSchema:
        rendered: JsonSchema = {"type": _typed("array", self.nullable), "items": self.item.schema(words)}
        if self.min_items:
            rendered["minItems"] = self.min_items
        if self.max_items is not None:
            rendered["maxItems"] = self.max_items
        return rendered


@dataclass(frozen=True, kw_only=True)
class MapOf(Spec):
    """An object whose keys are the caller's (labels): each value a `value`; `keys`, if given,
    are the only keys allowed."""

    value: Spec
    keys: tuple[str, ...] = ()

    def shape(self, words: Vocabulary) -> JsonSchema:
        rendered: JsonSchema = {"type": _typed("object", self.nullable)}
        if self.keys:
            rendered["properties"] = {key: self.value.schema(words) for key in self.keys}
            rendered["additionalProperties"] = False
        else:
            rendered["additionalProperties"] = self.value.schema(words)
        return rendered


@dataclass(frozen=True, kw_only=True)
class ObjectSpec(Spec):
    """A JSON object's fields. A request body's: `required` always, `on_create` when creating;
    unknown fields are ignored (API.md). A response's (`closed`): every field, nothing else."""

    fields: Mapping[str, Spec] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    on_create: tuple[str, ...] = ()
    closed: bool = False
    # The components/schemas name of the OpenAPI document ("User"); empty: rendered in place.
    title: str = ""

    def __post_init__(self) -> None:
        unknown = [n for n in (*self.required, *self.on_create) if n not in self.fields]
        if unknown:
            raise ValueError(f"{self.title or 'object'}: required fields {unknown} are not declared")

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def requires(self, name: str, creating: bool) -> bool:
        return name in self.required or (creating and name in self.on_create)

    def read(self, body: Mapping[str, Any], name: str, creating: bool = False, **options: Any) -> Any:
        """`body[name]` checked by its spec (a Text, TimeZone or Choice: those that may be required
        on creation only); required as the spec says for a create (`creating`) or an update."""
        spec = self.fields[name]
        if not isinstance(spec, Text | Choice):
            raise TypeError(f"{name}: read it with its spec's own method")
        return spec.read(body, name, self.requires(name, creating), **options)

    def refuse_nulls(self, body: Mapping[str, Any]) -> None:
        """An update's null for a field that cannot be null (its spec not `nullable`) is a 400
        naming it: read as absent, `{"summary": null}` answered 200 and changed nothing."""
        for name, value in body.items():
            spec = self.fields.get(name)
            if value is None and spec is not None and not spec.nullable:
                raise invalid(name, f"{name} cannot be null: give a value, or leave the field out to keep"
                                    " it as it is")

    def shape(self, words: Vocabulary, creating: bool = False) -> JsonSchema:
        rendered: JsonSchema = {
            "type": _typed("object", self.nullable),
            "properties": {name: spec.schema(words) for name, spec in self.fields.items()},
        }
        required = (list(self.fields) if self.closed
                    else [n for n in self.fields if self.requires(n, creating)])
        if required:
            rendered["required"] = required
        if self.closed:
            rendered["additionalProperties"] = False
        return rendered

    def schema(self, words: Vocabulary, creating: bool = False) -> JsonSchema:
        rendered = self.shape(words, creating)
        if self.description:
            rendered["description"] = self.description
        return rendered


@dataclass(frozen=True, kw_only=True)
class Either(Spec):
    """One of several shapes (an incident's list of people, a clock request)."""

    choices: tuple[Spec, ...]

    def shape(self, words: Vocabulary) -> JsonSchema:
        return {"oneOf": [choice.schema(words) for choice in self.choices]}
