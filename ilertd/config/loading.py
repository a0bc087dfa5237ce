"""Loading the settings: the TOML file and the ILERTD_* environment, checked and built into a `Config`."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ilertd.config.credentials import credential_files, with_credentials
from ilertd.config.environment import (
    credentials_dir,
    unknown_credentials,
    unknown_plugin_variables,
    unknown_variables,
)
from ilertd.config.locator import KeyLocator
from ilertd.config.plugin_sections import ConfigOption, check_plugin_section, unknown_plugin_sections
from ilertd.config.problems import ConfigError, ConfigProblem
from ilertd.config.schema import (
    ENV_SOURCE,
    PLUGIN_ENV_PREFIX,
    PLUGINS,
    KeyPath,
    env_var_name,
    field_types,
    is_table,
    scalar_keys,
)
from ilertd.config.settings import NOT_E164, Config, PluginSections, SecurityConfig, twilio_cannot_call_back
from ilertd.config.values import (
    CHANNEL_URL_KEYS,
    VALUE_RULES,
    Setting,
    describe,
    type_error,
    unreadable_channel_url,
    value_from_env,
)
from ilertd.domain.phone_numbers import e164

_TOML_LOCATION = re.compile(r"\(at line (\d+), column \d+\)")


def _unknown_message(name: str, value: Any, cls: type, prefix: KeyPath) -> str:
    kind = "section" if isinstance(value, dict) else "key"
    names = list(field_types(cls))
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"unknown {kind}; did you mean '{close[0]}'?"
    if not prefix and kind == "key":
        # A key written above every [section] header: point at the section that owns it.
        owners = [".".join(p) for p, _ in scalar_keys() if p[-1] == name]
        if owners:
            return f"unknown key; did you mean '{owners[0]}'? (keys belong under a [section])"
    return f"unknown {kind}; expected one of: {', '.join(names)}"


class _Checker:
    def __init__(self) -> None:
        self.problems: list[ConfigProblem] = []
        self.values: dict[KeyPath, Setting] = {}
        self.plugin_tables: dict[str, dict[str, Any]] = {}
        self.plugin_lines: dict[tuple[str, ...], int | None] = {}
        self.plugin_file = ""
        self.plugin_environ: dict[str, str] = {}

    def read_file(self, path: Path) -> None:
        name = str(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            self.problems.append(ConfigProblem(name, None, "", "file not found"))
            return
        except UnicodeDecodeError as exc:
            self.problems.append(ConfigProblem(name, None, "", f"not valid UTF-8: {exc}"))
            return
        except OSError as exc:
            self.problems.append(ConfigProblem(name, None, "", f"cannot read: {exc.strerror}"))
            return
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            found = _TOML_LOCATION.search(str(exc))
            lineno = int(found.group(1)) if found else None
            self.problems.append(ConfigProblem(name, lineno, "", f"invalid TOML: {exc}"))
            return
        self._walk(Config, document, (), name, KeyLocator(text))

    def _walk(
        self, cls: type, table: dict[str, Any], prefix: KeyPath, name: str, locator: KeyLocator
    ) -> None:
        fields = field_types(cls)
        for key, value in table.items():
            path = (*prefix, key)
            dotted = ".".join(path)
            lineno = locator.line_of(path)
            typ = fields.get(key)
            if typ is None:
                message = _unknown_message(key, value, cls, prefix)
                self.problems.append(ConfigProblem(name, lineno, dotted, message))
            elif typ is PluginSections:
                self._plugin_sections(value, name, locator)
            elif is_table(typ):
                if isinstance(value, dict):
                    self._walk(typ, value, path, name, locator)
                else:
                    message = f"must be a table [{dotted}], got {describe(value)}"
                    self.problems.append(ConfigProblem(name, lineno, dotted, message))
            elif (error := type_error(typ, value)) is not None:
                self.problems.append(ConfigProblem(name, lineno, dotted, error))
            else:
                self.values[path] = Setting(value, name, lineno)

    def _plugin_sections(self, value: Any, name: str, locator: KeyLocator) -> None:
        """Keep each `[plugins.NAME]` table as written: its keys are checked once it has loaded."""
        if not isinstance(value, dict):
            message = f"must be a table [{PLUGINS}], got {describe(value)}"
            self.problems.append(ConfigProblem(name, locator.line_of((PLUGINS,)), PLUGINS, message))
            return
        self.plugin_file = name
        for plugin, table in value.items():
            path = (PLUGINS, plugin)
            if not isinstance(table, dict):
                dotted = f"{PLUGINS}.{plugin}"
                message = f"must be a table [{dotted}], got {describe(table)}"
                self.problems.append(ConfigProblem(name, locator.line_of(path), dotted, message))
                continue
            self.plugin_tables[plugin] = table
            self.plugin_lines[(plugin,)] = locator.line_of(path)
            for key in table:
                self.plugin_lines[(plugin, key)] = locator.line_of((*path, key))

    def read_environ(self, environ: Mapping[str, str], credentials: Mapping[str, Path]) -> None:
        """`credentials`: the variables set from a credential file, each with its file, which a
        problem with its value names instead of the variable."""
        self.plugin_environ = {k: v for k, v in environ.items() if k.startswith(PLUGIN_ENV_PREFIX)}
        for path, typ in scalar_keys():
            dotted = ".".join(path)
            var = env_var_name(dotted)
            raw = environ.get(var)
            if raw is None:
                continue
            value, error = value_from_env(typ, raw)
            credential = credentials.get(var)
            if credential is not None:
                if error is not None:
                    self.problems.append(ConfigProblem(str(credential), None, dotted, error))
                else:
                    self.values[path] = Setting(value, str(credential), None)
            elif error is not None:
                self.problems.append(ConfigProblem(ENV_SOURCE, None, dotted, f"{var}: {error}"))
            else:
                self.values[path] = Setting(value, ENV_SOURCE, None, var)

    def check_values(self) -> None:
        for path, setting in self.values.items():
            rule = VALUE_RULES.get(path)
            error = rule(setting.value) if rule is not None else None
            if error is None:
                continue
            if setting.env_var is not None:
                error = f"{setting.env_var}: {error}"
            problem = ConfigProblem(setting.file, setting.line, ".".join(path), error)
            self.problems.append(problem)
        self.check_together()

    def check_channel_urls(self) -> None:
        """Whether apprise reads each channel's URL: for check-config only (see
        ilertd.config.values.unreadable_channel_url)."""
        for path in CHANNEL_URL_KEYS:
            setting = self.values.get(path)
            if setting is None or not isinstance(setting.value, str):
                continue
            error = unreadable_channel_url(path[1], setting.value)
            if error is not None:
                where = f"{setting.env_var}: " if setting.env_var is not None else ""
                self.problems.append(ConfigProblem(setting.file, setting.line, ".".join(path), where + error))

    def check_twilio_calls(self) -> None:
        """`twilio.account_sid` is only for calls: set without the token and the number to call
        from, every voice page went to the log and counted as sent. For check-config only, as the
        channel URLs are: the daemon logs it and pages by the other channels."""
        sid = self.values.get(("twilio", "account_sid"))
        if sid is None or not str(sid.value).strip():
            return
        missing = [key for key in ("auth_token", "from_number")
                   if not str(getattr(self.values.get(("twilio", key)), "value", "")).strip()]
        if missing:
            self.problems.append(ConfigProblem(
                sid.file, sid.line, "twilio.account_sid",
                f"voice calls need twilio.{' and twilio.'.join(missing)} too: without, every voice page"
                " goes to the log"))
        number = self.values.get(("twilio", "from_number"))
        if number is not None and str(number.value).strip() and e164(str(number.value)) is None:
            self.problems.append(ConfigProblem(
                number.file, number.line, "twilio.from_number", NOT_E164.format(number=number.value)))

    def check_together(self) -> None:
        """Keys that are valid alone but not together."""
        self._check_password_cost()
        enabled = self.values.get(("smtp_in", "enabled"))
        domain = self.values.get(("smtp_in", "domain"))
        if enabled is not None and enabled.value and not (domain is not None and str(domain.value).strip()):
            self.problems.append(ConfigProblem(enabled.file, enabled.line, "smtp_in.domain",
                                               "smtp_in.enabled is true but smtp_in.domain is empty: mail is"
                                               " addressed to <integration key>@<domain>"))

    def _check_password_cost(self) -> None:
        memory = self.values.get(("security", "password_memory_kib"))
        lanes = self.values.get(("security", "password_parallelism"))
        memory_kib = memory.value if memory is not None else SecurityConfig.password_memory_kib
        parallelism = lanes.value if lanes is not None else SecurityConfig.password_parallelism
        if isinstance(memory_kib, int) and isinstance(parallelism, int) and 0 < memory_kib < 8 * parallelism:
            key, where = "password_memory_kib", memory
            if where is None:
                key, where = "password_parallelism", lanes
            assert where is not None
            self.problems.append(ConfigProblem(
                where.file, where.line, f"security.{key}",
                f"argon2 needs at least 8 KiB a lane: password_memory_kib {memory_kib} is less than 8 times"
                f" password_parallelism {parallelism}"))

    def build(self, cls: type = Config, prefix: KeyPath = ()) -> Any:
        kwargs: dict[str, Any] = {}
        for name, typ in field_types(cls).items():
            path = (*prefix, name)
            if typ is PluginSections:
                kwargs[name] = PluginSections(self.plugin_tables, self.plugin_environ, self.plugin_lines,
                                              self.plugin_file)
            elif is_table(typ):
                kwargs[name] = self.build(typ, path)
            elif path in self.values:
                kwargs[name] = self.values[path].value
        return cls(**kwargs)


def _evaluate(
    path: Path | None, environ: Mapping[str, str] | None, strict: bool = False,
    credentials: Mapping[str, Path] | None = None,
) -> tuple[Config, list[ConfigProblem]]:
    checker = _Checker()
    if path is not None:
        checker.read_file(Path(path))
    checker.read_environ(os.environ if environ is None else environ, credentials or {})
    checker.check_values()
    if strict:
        checker.check_channel_urls()
        checker.check_twilio_calls()
    config = checker.build()
    if strict and (unreachable := twilio_cannot_call_back(config)) is not None:
        # For check-config only, as the channel URLs are: the daemon logs it and serves.
        setting = checker.values.get(("server", "public_url")) or checker.values.get(("twilio", "auth_token"))
        assert setting is not None  # the token is set
        checker.problems.append(ConfigProblem(setting.file, setting.line, "server.public_url", unreachable))
    return config, _in_order(checker.problems)


def _in_order(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """File problems in file order, then the environment's; stable within each group."""
    return sorted(problems, key=lambda p: (p.file == ENV_SOURCE, p.line if p.line is not None else 0))


def load_config(path: Path | None, environ: Mapping[str, str] | None = None,
                credentials: Mapping[str, Path] | None = None) -> Config:
    """Read `path` (None: no file) plus ILERTD_* overrides from `environ` (None: os.environ), those
    of them `credentials` names (`credential_files`) blamed on their file when refused.

    Raises ConfigError listing every problem if anything is invalid, including a missing file.
    """
    config, problems = _evaluate(path, environ, credentials=credentials)
    if problems:
        raise ConfigError(problems)
    return config


def check_config(
    path: Path,
    environ: Mapping[str, str] | None = None,
    plugins: Mapping[str, Sequence[ConfigOption] | None] | None = None,
) -> list[ConfigProblem]:
    """Every problem with `path` and the ILERTD_* overrides in `environ`; empty when valid. An
    ILERTD_* variable that names no setting is one (the daemon only warns of it).

    With `plugins` (each installed plugin's declared keys; None for one that did not load, whose
    section cannot be checked) the `[plugins.NAME]` sections and ILERTD_PLUGINS_* variables are
    checked too, and a section or variable for no installed plugin is a problem.
    """
    given = os.environ if environ is None else environ
    # The settings `serve` would run on: the credential files' secrets too, each value checked
    # and blamed on its file (a short secret key passed here and stopped the daemon's start).
    files = credential_files(given, credentials_dir(given))
    config, problems = _evaluate(path, with_credentials(given, credentials_dir(given)), strict=True,
                                 credentials=files)
    problems += unknown_variables(given)
    problems += unknown_credentials(given)
    if plugins is None:
        return _in_order(problems)
    problems += unknown_plugin_sections(config.plugins, list(plugins))
    problems += unknown_plugin_variables(config.plugins, plugins, files)
    for name, options in plugins.items():
        if options is not None:
            problems += check_plugin_section(config.plugins, name, options)[1]
    return _in_order(problems)
