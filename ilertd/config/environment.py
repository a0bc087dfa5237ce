"""ILERTD_* variables and credential files that name no setting: a misspelt override is named, not ignored."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path

from ilertd.config.credentials import credential_files
from ilertd.config.plugin_sections import ENABLED, ConfigOption, unknown_plugin_sections
from ilertd.config.problems import ConfigProblem
from ilertd.config.schema import (
    ENV_PREFIX,
    ENV_SOURCE,
    PLUGIN_ENV_PREFIX,
    PLUGINS,
    env_var_name,
    setting_keys,
)
from ilertd.config.settings import PluginSections

# ILERTD_* variables the project reads outside the settings: the notify scripts of the Nagios and
# Icinga integrations (which may run in the daemon's environment), the examples' API token, the
# test suite and the benchmark. None of them is a mistake.
OTHER_VARIABLES = frozenset({
    "ILERTD_URL",
    "ILERTD_KEY",
    "ILERTD_TOKEN",
    "ILERTD_SPOOL_DIR",
    "ILERTD_TEST_POSTGRES_URL",
    "ILERTD_SCREENSHOTS",
    "ILERTD_BENCH_POSTGRES_URL",
    "ILERTD_BENCH_SOAK_RATE",
    "ILERTD_BENCH_SOAK_SECONDS",
    "ILERTD_BENCH_SOAK_KILL_EVERY",
})

# Where systemd's `LoadCredential=` puts a unit's secrets (ilertd.config.credentials reads them).
CREDENTIALS_VARIABLE = "CREDENTIALS_DIRECTORY"

PluginOptions = Mapping[str, Sequence[ConfigOption] | None]


def setting_variables() -> list[str]:
    """The variable of every key of the fixed sections, in declaration order."""
    return [env_var_name(key) for key in setting_keys()]


_SETTING_HINT = "the variables are the settings' keys, e.g. ILERTD_SERVER_PORT for server.port"
_PLUGIN_HINT = ("a plugin's variables are ILERTD_PLUGINS_<NAME>_<KEY>, for the keys it declares"
                " (see `ilertd plugins`)")


def _nearest(var: str, known: Sequence[str]) -> list[str]:
    """The closest names (difflib), best first: up to three about as close as the best."""
    scored = sorted(((difflib.SequenceMatcher(None, var, name).ratio(), name) for name in known),
                    reverse=True)
    best = scored[0][0] if scored else 0.0
    return [name for score, name in scored[:3] if score >= 0.75 and score >= best - 0.03]


def _unknown(var: str, known: Sequence[str], hint: str = _SETTING_HINT, file: Path | None = None
             ) -> ConfigProblem:
    close = _nearest(var, known)
    if close:
        hint = f"did you mean {' or '.join(close)}?"
    if file is not None:
        # Set by a credential file, not by a variable anyone wrote: the file is what to look at.
        return ConfigProblem(str(file), None, "", f"credential {file.name} ({var}) names no setting; {hint}")
    return ConfigProblem(ENV_SOURCE, None, "", f"{var}: names no setting; {hint}")


def unknown_variables(environ: Mapping[str, str]) -> list[ConfigProblem]:
    """Each ILERTD_* variable in `environ` that names no key of the fixed sections, with the
    nearest that do. ILERTD_PLUGINS_* are left to `unknown_plugin_variables`: only a loaded
    plugin knows its keys."""
    known = setting_variables()
    names = set(known) | OTHER_VARIABLES
    return [_unknown(var, known) for var in sorted(environ)
            if var.startswith(ENV_PREFIX) and not var.startswith(PLUGIN_ENV_PREFIX) and var not in names]


def credentials_dir(environ: Mapping[str, str]) -> Path | None:
    """systemd's credentials directory for this process, if it has one."""
    given = environ.get(CREDENTIALS_VARIABLE)
    return Path(given) if given else None


def unknown_credentials(environ: Mapping[str, str]) -> list[ConfigProblem]:
    """Each file in systemd's credentials directory (`$CREDENTIALS_DIRECTORY`, what the unit's
    `LoadCredential=` lines put there, every one meant for ilertd) that names no setting: a file
    named `twilio.auth_tokn` was skipped without a word and SMS failed later. A plugin's
    `plugins.NAME.KEY` is offered as its variable and judged as one (`unknown_plugin_variables`)."""
    directory = credentials_dir(environ)
    if directory is None or not directory.is_dir():
        return []
    keys = setting_keys()
    problems = []
    for path in sorted(directory.iterdir()):
        if path.name in keys or path.name.startswith(f"{PLUGINS}."):
            continue
        close = _nearest(path.name, keys)
        hint = (f"did you mean {' or '.join(close)}?" if close
                else "a credential is named by its setting's key, e.g. twilio.auth_token")
        message = f"credential {path.name} names no setting; {hint}"
        problems.append(ConfigProblem(str(path), None, "", message))
    return problems


def unknown_plugin_variables(sections: PluginSections, plugins: PluginOptions,
                             credentials: Mapping[str, Path] | None = None) -> list[ConfigProblem]:
    """Each ILERTD_PLUGINS_* variable that names no key of an installed plugin (`plugins`: each
    one's declared keys), blamed on its credential file when `credentials` says one set it. A
    plugin that did not load (None) declared none: every variable under its prefix is taken as
    its own."""
    known: list[str] = []
    unread: list[str] = []
    for name, options in plugins.items():
        if options is None:
            unread.append(env_var_name(f"{PLUGINS}.{name}") + "_")
            continue
        known += [env_var_name(f"{PLUGINS}.{name}.{option.key}") for option in (ENABLED, *options)]
    files = credentials or {}
    return [_unknown(var, known, _PLUGIN_HINT, files.get(var)) for var in sorted(sections.environ)
            if var not in known and not var.startswith(tuple(unread))]


def unknown_names(
    sections: PluginSections, plugins: PluginOptions, environ: Mapping[str, str]
) -> list[ConfigProblem]:
    """What the daemon warns of at its start, and `ilertd plugins` too: a `[plugins.NAME]` for no
    installed plugin, and each ILERTD_* variable in `environ` that names no setting. Warned of, not
    refused: a stray variable in a unit's environment must not stop paging."""
    return [*unknown_plugin_sections(sections, list(plugins)), *unknown_variables(environ),
            *unknown_credentials(environ),
            *unknown_plugin_variables(sections, plugins, credential_files(environ, credentials_dir(environ)))]
