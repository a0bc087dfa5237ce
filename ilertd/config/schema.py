"""The settings' keys: dotted paths walked from the dataclasses, and the ILERTD_* variable naming each."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from typing import Any

from ilertd.config.settings import Config, PluginSections

ENV_PREFIX = "ILERTD_"
# The `file` of a problem or setting that came from an ILERTD_* variable.
ENV_SOURCE = "environment"
PLUGINS = "plugins"
PLUGIN_ENV_PREFIX = f"{ENV_PREFIX}{PLUGINS.upper()}_"

KeyPath = tuple[str, ...]

_HINTS_CACHE: dict[type, dict[str, Any]] = {}


def field_types(cls: type) -> dict[str, Any]:
    """Field name -> resolved type, in declaration order (annotations are strings here)."""
    hints = _HINTS_CACHE.get(cls)
    if hints is None:
        resolved = typing.get_type_hints(cls)
        hints = {f.name: resolved[f.name] for f in dataclasses.fields(cls)}
        _HINTS_CACHE[cls] = hints
    return hints


def is_table(typ: Any) -> bool:
    """Whether a field is a `[section]` of fixed keys (the free-form `[plugins]` is not)."""
    return isinstance(typ, type) and dataclasses.is_dataclass(typ) and typ is not PluginSections


def scalar_keys(cls: type = Config, prefix: KeyPath = ()) -> Iterator[tuple[KeyPath, type]]:
    """Every key holding a value (not a table), with its type, in declaration order."""
    for name, typ in field_types(cls).items():
        if typ is PluginSections:
            continue
        if is_table(typ):
            yield from scalar_keys(typ, (*prefix, name))
        else:
            yield (*prefix, name), typ


def setting_keys() -> list[str]:
    """Every dotted key there is, e.g. `server.port`, `channels.email.url`."""
    return [".".join(path) for path, _ in scalar_keys()]


def env_var_name(key: str) -> str:
    """The environment variable overriding a dotted key: `server.port` -> `ILERTD_SERVER_PORT`,
    `plugins.example.webhook_url` -> `ILERTD_PLUGINS_EXAMPLE_WEBHOOK_URL` (a `-` becomes `_`)."""
    return ENV_PREFIX + key.replace(".", "_").replace("-", "_").upper()
