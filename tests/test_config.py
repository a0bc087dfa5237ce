"""Tests of ilertd.config: defaults, the shipped file and environment overrides (problems in the
file: test_config_problems.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ilertd.config import (
    ChannelConfig,
    Config,
    ConfigError,
    ConfigProblem,
    ServerConfig,
    check_config,
    env_var_name,
    load_config,
)

SHIPPED = Path(__file__).parent.parent / "etc" / "ilertd.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ilertd.toml"
    path.write_text(text, encoding="utf-8")
    return path


def only_problem(path: Path, environ: dict[str, str] | None = None) -> ConfigProblem:
    problems = check_config(path, environ or {})
    assert len(problems) == 1, problems
    return problems[0]


# --- defaults and the shipped file ----------------------------------------------------------


def test_no_file_gives_the_documented_defaults() -> None:
    config = load_config(None, {})
    assert config == Config()
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 8020
    assert config.server.max_body_bytes == 524288
    assert config.database.url == ""
    assert config.security.link_ttl == 86400
    assert config.channels.email == ChannelConfig(url="")
    assert config.twilio.api_base_url == "https://api.twilio.com"
    assert config.smtp_in.enabled is False
    assert config.smtp_in.port == 2525
    assert config.limits.events_per_minute_per_key == 0
    assert config.actors.max_live_incidents == 1000
    assert config.actors.idle_seconds == 30


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().server.port = 1  # type: ignore[misc]


def test_shipped_file_is_valid_and_equals_the_defaults() -> None:
    assert check_config(SHIPPED, {}) == []
    assert load_config(SHIPPED, {}) == Config()


def test_shipped_file_sets_every_key() -> None:
    # The shipped file is the documentation: a key missing from it is undocumented.
    text = SHIPPED.read_text(encoding="utf-8")
    for field in dataclasses.fields(ServerConfig):
        assert f"\n{field.name} = " in text, field.name
    for var in (
        "database.url",
        "security.secret_key",
        "security.link_ttl",
        "twilio.account_sid",
        "twilio.auth_token",
        "twilio.from_number",
        "twilio.api_base_url",
        "smtp_in.enabled",
        "smtp_in.domain",
        "limits.events_per_minute_per_key",
        "actors.max_live_incidents",
        "actors.idle_seconds",
    ):
        section, key = var.split(".")
        assert f"[{section}]" in text and f"\n{key} = " in text, var
    for channel in ("email", "sms", "push"):
        assert f"[channels.{channel}]\n" in text


def test_public_url_is_derived_from_host_and_port_when_empty() -> None:
    assert Config().public_url == "http://127.0.0.1:8020"
    assert ServerConfig(host="::1", port=9000).effective_public_url == "http://[::1]:9000"
    explicit = ServerConfig(public_url="https://oncall.example.com/")
    assert explicit.effective_public_url == "https://oncall.example.com"


def test_database_url_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    assert Config().database.effective_url(tmp_path) == f"sqlite:///{tmp_path}/ilertd.db"


def test_secrets_are_kept_out_of_repr(tmp_path: Path) -> None:
    path = write(tmp_path, '[security]\nsecret_key = "s3cr3t-value-of-thirty-two-chars"\n')
    config = load_config(path, {"ILERTD_TWILIO_AUTH_TOKEN": "t0ken-value"})
    assert config.security.secret_key == "s3cr3t-value-of-thirty-two-chars"
    assert config.twilio.auth_token == "t0ken-value"
    assert "s3cr3t-value" not in repr(config)
    assert "t0ken-value" not in repr(config)


# --- values from the file -------------------------------------------------------------------


def test_file_values_are_loaded(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[server]
port = 9001
public_url = "https://oncall.example.com"

[channels.sms]
url = "twilio://SID:TOKEN@+15550001111/{contact}"

[smtp_in]
enabled = true
domain = "alerts.example.com"
""",
    )
    config = load_config(path, {})
    assert config.server.port == 9001
    assert config.public_url == "https://oncall.example.com"
    assert config.channels.sms.url == "twilio://SID:TOKEN@+15550001111/{contact}"
    assert config.channels.sms.configured
    assert not config.channels.email.configured
    assert config.smtp_in.enabled is True
    assert config.server.host == "127.0.0.1"


def test_dotted_keys_and_inline_tables_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
channels.email.url = "mailto://127.0.0.1:25?to={contact}&mode=insecure"
actors = { idle_seconds = 5 }
""",
    )
    config = load_config(path, {})
    assert config.channels.email.url.startswith("mailto://")
    assert config.actors.idle_seconds == 5


# --- the environment ------------------------------------------------------------------------


def test_env_var_names() -> None:
    assert env_var_name("server.port") == "ILERTD_SERVER_PORT"
    assert env_var_name("channels.email.url") == "ILERTD_CHANNELS_EMAIL_URL"
    assert env_var_name("smtp_in.enabled") == "ILERTD_SMTP_IN_ENABLED"


def test_environment_wins_over_the_file_and_is_typed(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9001\nhost = '0.0.0.0'\n")
    environ = {
        "ILERTD_SERVER_PORT": "9000",
        "ILERTD_SMTP_IN_ENABLED": "Yes",
        "ILERTD_SMTP_IN_DOMAIN": "alerts.example.com",
        "ILERTD_ACTORS_MAX_LIVE_INCIDENTS": "5",
        "ILERTD_CHANNELS_EMAIL_URL": "mailto://127.0.0.1:25?to={contact}",
        "ILERTD_NOT_A_SETTING": "ignored",
        "UNRELATED": "ignored",
    }
    config = load_config(path, environ)
    assert config.server.port == 9000
    assert config.server.host == "0.0.0.0"
    assert config.smtp_in.enabled is True
    assert config.actors.max_live_incidents == 5
    assert config.channels.email.url == "mailto://127.0.0.1:25?to={contact}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("FALSE", False), ("1", True), ("0", False), ("yes", True), ("No", False)],
)
def test_environment_booleans(raw: str, expected: bool) -> None:
    environ = {"ILERTD_SMTP_IN_ENABLED": raw, "ILERTD_SMTP_IN_DOMAIN": "alerts.example.com"}
    assert load_config(None, environ).smtp_in.enabled is expected


def test_bad_environment_value_is_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"ILERTD_SERVER_PORT": "eighty", "ILERTD_SMTP_IN_ENABLED": "maybe"})
    problems = {p.key: p for p in caught.value.problems}
    assert set(problems) == {"server.port", "smtp_in.enabled"}
    port = problems["server.port"]
    assert port.file == "environment"
    assert port.line is None
    assert "ILERTD_SERVER_PORT" in port.message
    assert "must be an integer" in port.message
    assert str(port).startswith("environment: server.port: ILERTD_SERVER_PORT: ")
    assert "ILERTD_SMTP_IN_ENABLED" in problems["smtp_in.enabled"].message


def test_out_of_range_environment_value_names_the_variable() -> None:
    problems = check_config(Path("/nonexistent/ilertd.toml"), {"ILERTD_ACTORS_IDLE_SECONDS": "0"})
    env = [p for p in problems if p.file == "environment"]
    assert [p.key for p in env] == ["actors.idle_seconds"]
    assert env[0].message.startswith("ILERTD_ACTORS_IDLE_SECONDS: ")
