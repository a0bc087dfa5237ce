"""The native Event API body's spec, derived from the domain's own table of its fields
(ilertd.domain.events), which checks that body itself: the OpenAPI document renders it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ilertd.app.schema import (
    Anything,
    ArrayOf,
    Choice,
    JsonSchema,
    MapOf,
    ObjectSpec,
    Spec,
    Text,
    Vocabulary,
)
from ilertd.domain.events import BodyField


def event_body(fields: Mapping[str, BodyField], title: str) -> ObjectSpec:
    """The spec of a body the domain checks itself (the native Event API's, ilertd.domain.events):
    each field as a spec of its kind, an alias as a field of its own."""
    specs: dict[str, Spec] = {}
    for body_field in fields.values():
        spec: Spec
        if body_field.kind == "text":
            spec = Text(max_length=body_field.max_length, description=body_field.description)
        elif body_field.kind == "choice":
            spec = Choice(options=body_field.choices, description=body_field.description)
        elif body_field.kind == "labels":
            spec = MapOf(value=Text(max_length=None), description=body_field.description)
        elif body_field.kind == "items":
            item = ObjectSpec(fields={key: Text(max_length=None) for key in body_field.keys},
                              required=(body_field.needs,))
            spec = ArrayOf(item=item, max_items=body_field.max_items, description=body_field.description)
        else:
            spec = Anything(kind="object", description=body_field.description)
        specs[body_field.name] = spec
        for alias in body_field.aliases:
            specs[alias] = Text(max_length=body_field.max_length, description=f"alias of {body_field.name}")
    required = tuple(f.name for f in fields.values() if f.required and not f.aliases)
    aliased = [f for f in fields.values() if f.required and f.aliases]
    return AnyOfRequired(title=title, fields=specs, required=required,
                         alternatives=tuple((f.name, *f.aliases) for f in aliased))


@dataclass(frozen=True, kw_only=True)
class AnyOfRequired(ObjectSpec):
    """An object whose required field may be given under an alias: one name of each group."""

    alternatives: tuple[tuple[str, ...], ...] = ()

    def shape(self, words: Vocabulary, creating: bool = False) -> JsonSchema:
        rendered = super().shape(words, creating)
        groups = [{"anyOf": [{"required": [name]} for name in group]} for group in self.alternatives]
        if len(groups) == 1:
            rendered.update(groups[0])
        elif groups:
            rendered["allOf"] = groups
        return rendered
