"""Each plugin's own `[plugins.NAME]` section: the keys a plugin declares, and checking its section."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ilertd.config.problems import ConfigProblem
from ilertd.config.schema import ENV_SOURCE, PLUGINS, env_var_name
from ilertd.config.settings import PluginSections
from ilertd.config.values import Setting, type_error, value_from_env


@dataclass(frozen=True)
class ConfigOption:
    """One key of a plugin's `[plugins.NAME]` section, as the plugin declares it (Mopidy's schema).

    `type` is bool, int, float or str; `check`, if given, returns why a value of the right
    type is still wrong (e.g. "must be greater than 0, got -1"), else None.
    """

    key: str
    type: type
    default: Any
    description: str
    check: Callable[[Any], str | None] | None = None


# Every plugin has it without declaring it: `enabled = false` leaves the plugin out.
ENABLED = ConfigOption("enabled", bool, True, "whether ilertd uses the plugin at all")
OPTION_TYPES = (bool, int, float, str)
_OPTION_KEY = re.compile(r"[a-z][a-z0-9_]*")


def declared_options(options: Sequence[ConfigOption]) -> list[str]:
    """What is wrong with a plugin's declared keys (a plugin's bug, not the user's)."""
    errors = []
    seen: set[str] = set()
    for option in options:
        if not isinstance(option, ConfigOption):
            errors.append(f"plugin_config returned {option!r}, not a ConfigOption")
            continue
        if option.key == ENABLED.key:
            errors.append("'enabled' is every plugin's own key; do not declare it")
        elif not _OPTION_KEY.fullmatch(option.key):
            errors.append(f"key {option.key!r} must be lower case letters, digits and _")
        elif option.key in seen:
            errors.append(f"key {option.key!r} is declared twice")
        if option.type not in OPTION_TYPES:
            errors.append(f"key {option.key!r}: type must be bool, int, float or str")
        elif type_error(option.type, option.default) is not None:
            errors.append(f"key {option.key!r}: default {type_error(option.type, option.default)}")
        seen.add(option.key)
    return errors


def check_plugin_section(
    sections: PluginSections, name: str, options: Sequence[ConfigOption]
) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """One plugin's settings (declared defaults, then `[plugins.NAME]`, then ILERTD_PLUGINS_NAME_KEY),
    and what is wrong with them: an unknown key (with "did you mean"), a wrong type, a refused value."""
    declared = {option.key: option for option in (ENABLED, *options)}
    values = {key: option.default for key, option in declared.items()}
    problems: list[ConfigProblem] = []
    found: dict[str, Setting] = {}
    for key, value in sections.tables.get(name, {}).items():
        dotted = f"{PLUGINS}.{name}.{key}"
        line = sections.lines.get((name, key))
        option = declared.get(key)
        if option is None:
            close = difflib.get_close_matches(key, list(declared), n=1)
            message = (f"unknown key; did you mean '{close[0]}'?" if close
                       else f"unknown key; expected one of: {', '.join(declared)}")
            problems.append(ConfigProblem(sections.file, line, dotted, message))
        elif (error := type_error(option.type, value)) is not None:
            problems.append(ConfigProblem(sections.file, line, dotted, error))
        else:
            found[key] = Setting(float(value) if option.type is float else value, sections.file, line)
    for key, option in declared.items():
        var = env_var_name(f"{PLUGINS}.{name}.{key}")
        raw = sections.environ.get(var)
        if raw is None:
            continue
        value, error = value_from_env(option.type, raw)
        if error is not None:
            problems.append(ConfigProblem(ENV_SOURCE, None, f"{PLUGINS}.{name}.{key}", f"{var}: {error}"))
        else:
            found[key] = Setting(value, ENV_SOURCE, None, var)
    for key, setting in found.items():
        check = declared[key].check
        error = check(setting.value) if check is not None else None
        if error is None:
            values[key] = setting.value
            continue
        if setting.env_var is not None:
            error = f"{setting.env_var}: {error}"
        problems.append(ConfigProblem(setting.file, setting.line, f"{PLUGINS}.{name}.{key}", error))
    return values, problems


def _unknown_plugin(sections: PluginSections, name: str, installed: list[str]) -> ConfigProblem:
    close = difflib.get_close_matches(name, installed, n=1)
    if close:
        message = f"unknown section: no plugin is named {name!r}; did you mean '{PLUGINS}.{close[0]}'?"
    else:
        message = (f"unknown section: no plugin is named {name!r}; installed: "
                   f"{', '.join(installed) or 'none'} (see `ilertd plugins`)")
    return ConfigProblem(sections.file, sections.lines.get((name,)), f"{PLUGINS}.{name}", message)


def unknown_plugin_sections(sections: PluginSections, installed: Sequence[str]) -> list[ConfigProblem]:
    """A `[plugins.NAME]` for which no plugin is installed (misspelt, or uninstalled since)."""
    return [_unknown_plugin(sections, name, list(installed)) for name in sections.names()
            if name not in installed]
