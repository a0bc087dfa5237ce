"""ILERTD_* variables that name no setting: an error for check-config, a warning for serve."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

from ilertd.config import ConfigOption, check_config, load_config
from ilertd.config.environment import OTHER_VARIABLES, unknown_credentials, unknown_variables
from tests.daemon import DaemonProcess
from tests.test_plugins_and_cli import broken_site, run_cli

ROOT = Path(__file__).parent.parent


def write(tmp_path: Path, text: str = "") -> Path:
    path = tmp_path / "ilertd.toml"
    path.write_text(text)
    return path


def test_a_misspelt_variable_is_named_by_check_config_with_the_nearest_names(tmp_path: Path) -> None:
    """`ILERTD_TWILIO_AUTH_TOKN` was ignored: the file passed, and SMS failed later without a hint."""
    (problem,) = check_config(write(tmp_path), {"ILERTD_TWILIO_AUTH_TOKN": "secret", "HOME": "/root"})
    assert problem.file == "environment" and problem.line is None
    assert str(problem) == ("environment: ILERTD_TWILIO_AUTH_TOKN: names no setting;"
                            " did you mean ILERTD_TWILIO_AUTH_TOKEN?")
    (far,) = check_config(write(tmp_path), {"ILERTD_WHATEVER": "1"})
    assert "ILERTD_WHATEVER: names no setting" in far.message and "ILERTD_SERVER_PORT" in far.message


def test_the_daemon_loads_a_settings_environment_with_a_stray_variable() -> None:
    """A variable in a unit's environment must not stop paging: `serve` warns and starts."""
    config = load_config(None, {"ILERTD_SERVER_PROT": "9000", "ILERTD_SERVER_PORT": "9001"})
    assert config.server.port == 9001


def test_the_projects_own_variables_are_never_reported(tmp_path: Path) -> None:
    """The notify scripts', the examples', the test suite's and the benchmark's variables."""
    read = set()
    for folder in ("bench", ".ci", "integrations", "tests"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in ("", ".py", ".md", ".conf", ".sh"):
                text = path.read_text(errors="replace")
                # A variable read, or exported, by name (not the bogus ones tests set on purpose).
                read |= set(re.findall(r"""environ\.get\(["'](ILERTD_[A-Z0-9_]*[A-Z0-9])["']""", text))
                read |= set(re.findall(r"export (ILERTD_[A-Z0-9_]*[A-Z0-9])=", text))
                read |= set(re.findall(r"""env\.get\(["'](ILERTD_[A-Z0-9_]*[A-Z0-9])["']""", text))
    assert {"ILERTD_TEST_POSTGRES_URL", "ILERTD_SPOOL_DIR", "ILERTD_URL"} <= read
    assert read <= OTHER_VARIABLES | {v for v in read if v.startswith("ILERTD_BENCH_SOAK_")}, read
    environ = dict.fromkeys(OTHER_VARIABLES | read, "x")
    assert unknown_variables(environ) == []
    assert check_config(write(tmp_path), environ) == []


def test_plugin_variables_are_checked_against_the_declared_keys(tmp_path: Path) -> None:
    plugins = {"example": [ConfigOption("webhook_url", str, "", "where to post")], "broken": None}
    environ = {"ILERTD_PLUGINS_EXAMPLE_WEBHOOK_URL": "https://example.com/hook",
               "ILERTD_PLUGINS_EXAMPLE_ENABLED": "false",
               # A plugin that did not load declared nothing: its variables cannot be checked.
               "ILERTD_PLUGINS_BROKEN_ANYTHING": "1",
               "ILERTD_PLUGINS_EXAMPLE_WEBHOK_URL": "https://example.com/hook",
               "ILERTD_PLUGINS_EXMPLE_ENABLED": "false"}
    problems = [str(p) for p in check_config(write(tmp_path), environ, plugins)]
    assert problems == [
        "environment: ILERTD_PLUGINS_EXAMPLE_WEBHOK_URL: names no setting;"
        " did you mean ILERTD_PLUGINS_EXAMPLE_WEBHOOK_URL?",
        "environment: ILERTD_PLUGINS_EXMPLE_ENABLED: names no setting;"
        " did you mean ILERTD_PLUGINS_EXAMPLE_ENABLED?",
    ]
    # Without the installed plugins' keys, a plugin's variable is not judged.
    assert check_config(write(tmp_path), environ) == []


def test_check_config_exits_non_zero_on_a_misspelt_variable(tmp_path: Path) -> None:
    config = write(tmp_path, "[server]\nport = 9000\n")
    checked = run_cli(["check-config", str(config)], tmp_path, {
        "PYTHONPATH": str(ROOT), "ILERTD_TWILIO_AUTH_TOKN": "secret", "ILERTD_PLUGINS_SMS_ENABLD": "false",
        "ILERTD_TEST_POSTGRES_URL": "postgresql://localhost/x", "ILERTD_URL": "http://127.0.0.1:8020"})
    assert checked.returncode == 2, checked.stdout
    assert checked.stderr.splitlines() == [
        "environment: ILERTD_TWILIO_AUTH_TOKN: names no setting; did you mean ILERTD_TWILIO_AUTH_TOKEN?",
        "environment: ILERTD_PLUGINS_SMS_ENABLD: names no setting; did you mean ILERTD_PLUGINS_SMS_ENABLED?",
    ]
    fine = run_cli(["check-config", str(config)], tmp_path,
                   {"PYTHONPATH": str(ROOT), "ILERTD_LOG_LEVEL": "DEBUG"})
    assert fine.returncode == 0, fine.stderr


def test_a_broken_plugins_variables_are_not_called_unknown_by_check_config(tmp_path: Path) -> None:
    config = write(tmp_path, textwrap.dedent("""
        [plugins.ilertd_badconfig]
        threshold = 5
    """))
    checked = run_cli(["check-config", str(config)], tmp_path, {
        "PYTHONPATH": f"{ROOT}:{broken_site(tmp_path)}", "ILERTD_PLUGINS_ILERTD_BROKEN_ANYTHING": "1"})
    assert checked.returncode == 0, checked.stderr


def test_serve_warns_of_a_misspelt_variable_and_serves(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon(env={"ILERTD_TWILIO_AUTH_TOKN": "secret", "ILERTD_PLUGINS_SMS_ENABLD": "false"})
    daemon.start()
    assert daemon.get("/healthz").status_code == 200
    # Logged while starting, before the daemon serves.
    log = daemon.log()
    assert "ILERTD_TWILIO_AUTH_TOKN: names no setting; did you mean ILERTD_TWILIO_AUTH_TOKEN?" in log
    assert "ILERTD_PLUGINS_SMS_ENABLD: names no setting; did you mean ILERTD_PLUGINS_SMS_ENABLED" in log


def test_a_misspelt_credential_file_is_named_by_check_config_and_the_daemon_still_loads(
        tmp_path: Path) -> None:
    """`LoadCredential=twilio.auth_tokn:...` put a file no key reads: it was skipped without a word
    and SMS failed later. A plugin's `plugins.NAME.KEY` is judged as its variable, not here."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "twilio.auth_tokn").write_text("secret\n")
    (credentials / "twilio.auth_token").write_text("secret\n")
    (credentials / "plugins.example.webhook_url").write_text("https://example.com/hook\n")
    environ = {"CREDENTIALS_DIRECTORY": str(credentials)}
    # Twilio calls back at the public URL: without one, the token itself would be a problem.
    settings = write(tmp_path, '[server]\npublic_url = "https://oncall.example.com"\n')
    (problem,) = check_config(settings, environ)
    assert str(problem) == (f"{credentials / 'twilio.auth_tokn'}: credential twilio.auth_tokn names"
                            " no setting; did you mean twilio.auth_token?")
    (credentials / "twilio.auth_tokn").unlink()
    (credentials / "backup.key").write_text("x\n")
    (far,) = check_config(settings, environ)
    assert "credential backup.key names no setting; a credential is named by its setting's key" in str(far)
    assert unknown_credentials({}) == []
    assert unknown_credentials({"CREDENTIALS_DIRECTORY": str(tmp_path / "no")}) == []
    # Warned of, not refused: the daemon's settings load all the same.
    assert load_config(None, environ).server.port


def test_check_config_judges_the_credential_files_as_serve_reads_them(tmp_path: Path) -> None:
    """`check-config` said "valid" for a secret key credential `serve` refused (too short: nobody
    paged), and never named a misspelt plugin credential, which `serve` blamed on a variable
    nobody had set."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "security.secret_key").write_text("short\n")
    (credentials / "plugins.example.webhook_ur").write_text("https://example.com/hook\n")
    environ = {"CREDENTIALS_DIRECTORY": str(credentials)}
    plugins = {"example": [ConfigOption("webhook_url", str, "", "where to post")]}
    problems = [str(p) for p in check_config(write(tmp_path), environ, plugins=plugins)]
    assert len(problems) == 2, problems
    secret = f"{credentials / 'security.secret_key'}: security.secret_key: must be at least 32"
    assert any(p.startswith(secret) for p in problems), problems
    assert (f"{credentials / 'plugins.example.webhook_ur'}: credential plugins.example.webhook_ur"
            " (ILERTD_PLUGINS_EXAMPLE_WEBHOOK_UR) names no setting; did you mean"
            " ILERTD_PLUGINS_EXAMPLE_WEBHOOK_URL?") in problems, problems
