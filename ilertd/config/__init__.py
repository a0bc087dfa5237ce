"""The daemon's settings: TOML file plus ILERTD_* environment overrides, validated and frozen.

The package's modules, one concern each:
    settings         the frozen dataclasses a loaded `Config` is made of, with their defaults
    problems         `ConfigProblem` (one located mistake) and `ConfigError` (all of them)
    schema           the dotted keys walked from the dataclasses, and their ILERTD_* variable names
    locator          the line of each key in the TOML text
    values           type checks (TOML and environment strings) and each key's value rule
    loading          `load_config` and `check_config`: read, check and build
    credentials      systemd `LoadCredential=` secrets merged into the environment
    environment      ILERTD_* variables that name no setting (misspelt), with the nearest that do
    plugin_sections  the keys a plugin declares, and checking its `[plugins.NAME]` section
"""

from __future__ import annotations

from ilertd.config.credentials import credential_files, with_credentials
from ilertd.config.environment import unknown_names
from ilertd.config.loading import check_config, load_config
from ilertd.config.plugin_sections import (
    ConfigOption,
    check_plugin_section,
    declared_options,
    unknown_plugin_sections,
)
from ilertd.config.problems import ConfigError, ConfigProblem
from ilertd.config.schema import ENV_PREFIX, env_var_name, setting_keys
from ilertd.config.settings import (
    ActorsConfig,
    ChannelConfig,
    ChannelsConfig,
    Config,
    DatabaseConfig,
    LimitsConfig,
    LogConfig,
    MetricsConfig,
    PluginSections,
    RetentionConfig,
    SecurityConfig,
    ServerConfig,
    SmtpInConfig,
    TwilioConfig,
)

__all__ = [
    "ENV_PREFIX",
    "ActorsConfig",
    "ChannelConfig",
    "ChannelsConfig",
    "Config",
    "ConfigError",
    "ConfigOption",
    "ConfigProblem",
    "DatabaseConfig",
    "LimitsConfig",
    "LogConfig",
    "MetricsConfig",
    "PluginSections",
    "RetentionConfig",
    "SecurityConfig",
    "ServerConfig",
    "SmtpInConfig",
    "TwilioConfig",
    "check_config",
    "check_plugin_section",
    "credential_files",
    "declared_options",
    "env_var_name",
    "load_config",
    "setting_keys",
    "unknown_names",
    "unknown_plugin_sections",
    "with_credentials",
]
