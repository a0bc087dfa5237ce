"""Tests of ilertd.config's problem reports: unknown keys and sections, wrong types, ranges, TOML
syntax, each with its line, all in file order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ilertd.cli import main
from ilertd.config import ConfigError, ConfigProblem, check_config, load_config
from tests.test_config import only_problem, write

# --- problems in the file -------------------------------------------------------------------


def test_unknown_key_reports_its_line_and_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "# ilertd\n[server]\nprot = 1\n")
    problem = only_problem(path)
    assert problem == ConfigProblem(
        str(path), 3, "server.prot", "unknown key; did you mean 'port'?"
    )
    assert str(problem) == f"{path}:3: server.prot: unknown key; did you mean 'port'?"


def test_unknown_key_without_a_close_match_lists_the_valid_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "[limits]\nzzz = 1\n")
    problem = only_problem(path)
    assert problem.line == 2
    assert "events_per_minute_per_key" in problem.message


# A file with one problem: the line and key it is reported at, and a phrase of its message.
ONE_PROBLEM = [
    pytest.param("[server]\nport = 8020\n\n[sever]\nhost = 'x'\n", 4, "sever",
                 "unknown section; did you mean 'server'?", id="unknown section at its header"),
    pytest.param("idle_seconds = 5\n[actors]\n", 1, "idle_seconds", "did you mean 'actors.idle_seconds'?",
                 id="key above every section points at its section"),
    pytest.param("[channels.emial]\nurl = 'mailto://x'\n", 1, "channels.emial", "did you mean 'email'?",
                 id="unknown channel"),
    pytest.param('[server]\nhost = "127.0.0.1"\nport = "80"\n', 3, "server.port", "must be an integer",
                 id="wrong type at its line"),
    pytest.param("[actors]\nidle_seconds = true\n", 2, "actors.idle_seconds", "must be an integer",
                 id="a boolean is not an integer"),
    pytest.param('server = "localhost"\n', 1, "server", "must be a table", id="section that is not a table"),
    *(pytest.param(f'[server]\npublic_url = "{url}"\n', 2, "server.public_url", "http",
                   id=f"public url {url} is not http") for url in ("oncall.example.com", "ftp://example.com",
                                                                   "https://")),
    # Under a path of ilertd's own, a request for it could not be told from one for that route.
    *(pytest.param(f'[server]\npublic_url = "{url}"\n', 2, "server.public_url", phrase, id=f"public {url}")
      for url, phrase in (("https://example.com/ui", "must not begin with /ui"),
                          ("https://example.com/api/oncall", "must not begin with /api"),
                          ("https://example.com/ilertd?x=1", "no query"),
                          ("https://example.com/on%20call", "only letters, digits"),
                          ("https://example.com/bereitschaft-ä", "only letters, digits"))),
    pytest.param('[channels.push]\n# ntfy\nurl = "ntfy.example.com/{contact}"\n', 3, "channels.push.url",
                 "://", id="channel url without a scheme"),
    # Each of these ended `ilertd serve` in a traceback while check-config called the file valid.
    *(pytest.param(f'[database]\nurl = "{url}"\n', 2, "database.url", phrase, id=f"database url {url}")
      for url, phrase in (("mysql://ilertd@db/ilertd", "the scheme 'mysql' is not one ilertd opens"),
                          ("sqlite://ilertd.db", "three slashes"),
                          ("sqlite:///:memory:", "an in-memory SQLite store keeps nothing"),
                          # An older release read them as parameters: the same setting would open
                          # another, empty file named with them.
                          ("sqlite:////var/lib/ilertd/ilertd.db?timeout=30", "takes no parameters"),
                          ("sqlite:////data/x.db?timeout=30&cache=shared", "takes no parameters"),
                          ("postgresql://", "must name its database"),
                          ("postgresql://db.example.com:5432", "must name its database"),
                          ("postgresql://db.example.com:99999/ilertd", "port must be a number"))),
    # Past what dates and timers hold, each failed where it was used: no page sent at all (an
    # action link's expiry overflowed), a traceback at start, another every hour.
    *(pytest.param(f"[{section}]\n{key} = {value}\n", 2, f"{section}.{key}", phrase, id=f"{key} {value}")
      for section, key, value, phrase in (
          ("security", "link_ttl", 300_000_000_000, "at most 315,360,000 (ten years)"),
          ("actors", "idle_seconds", 99_999_999_999_999, "at most 31,536,000 (a year)"),
          ("retention", "resolved_incident_days", 1_000_000, "at most 36,500 (a century)"),
          ("server", "header_timeout", 10**12, "at most 3,600 (an hour)"))),
]


def test_a_database_url_refused_is_never_shown_when_it_may_hold_a_password(tmp_path: Path) -> None:
    for url in ("postgresql//ilertd:hunter2@db/ilertd", "postgres://ilertd:hunter2@db:port/ilertd",
                "postgresql://ilertd:hunter2@db.example.com"):
        problem = only_problem(write(tmp_path, f'[database]\nurl = "{url}"\n'))
        assert problem.key == "database.url" and "hunter2" not in str(problem), str(problem)
    valid = ("", "sqlite:////var/lib/ilertd/ilertd.db", "sqlite:///ilertd.db", "postgres://db/ilertd",
             "postgresql://ilertd:p%40ss@db.example.com:5432/ilertd?sslmode=require")
    for url in valid:
        assert check_config(write(tmp_path, f'[database]\nurl = "{url}"\n'), {}) == [], url


@pytest.mark.parametrize(("text", "line", "key", "phrase"), ONE_PROBLEM)
def test_one_problem_is_reported_at_its_line_and_key(tmp_path: Path, text: str, line: int, key: str,
                                                     phrase: str) -> None:
    problem = only_problem(write(tmp_path, text))
    assert (problem.line, problem.key) == (line, key)
    assert phrase in problem.message


def test_environ_defaults_to_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ILERTD_LIMITS_EVENTS_PER_MINUTE_PER_KEY", "-3")
    problems = check_config(write(tmp_path, ""))
    assert [(p.file, p.key) for p in problems] == [
        ("environment", "limits.events_per_minute_per_key")
    ]
    monkeypatch.setenv("ILERTD_LIMITS_EVENTS_PER_MINUTE_PER_KEY", "60")
    assert load_config(None).limits.events_per_minute_per_key == 60


def test_wrong_type_for_boolean_and_string(tmp_path: Path) -> None:
    path = write(tmp_path, '[smtp_in]\nenabled = "yes"\n\n[database]\nurl = 5\n')
    problems = check_config(path, {})
    assert [(p.line, p.key) for p in problems] == [(2, "smtp_in.enabled"), (5, "database.url")]
    assert "true or false" in problems[0].message
    assert "must be a string" in problems[1].message


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("server", "port", 0),
        ("server", "port", 65536),
        ("server", "max_body_bytes", 0),
        ("security", "link_ttl", -1),
        ("smtp_in", "port", 70000),
        ("limits", "events_per_minute_per_key", -1),
        ("actors", "max_live_incidents", 0),
        ("actors", "idle_seconds", 0),
    ],
)
def test_out_of_range(tmp_path: Path, section: str, key: str, value: int) -> None:
    path = write(tmp_path, f"[{section}]\n\n{key} = {value}\n")
    problem = only_problem(path)
    assert (problem.line, problem.key) == (3, f"{section}.{key}")
    assert str(value) in problem.message


def test_range_edges_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[server]\nport = 65535\n[limits]\nevents_per_minute_per_key = 0\n"
        "[actors]\nmax_live_incidents = 1\nidle_seconds = 1\n",
    )
    assert check_config(path, {}) == []


def test_toml_syntax_error_reports_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 8020\nhost 127.0.0.1\n")
    problem = only_problem(path)
    assert problem.file == str(path)
    assert problem.line == 3
    assert "line 3" in problem.message
    assert str(problem).startswith(f"{path}:3: ")


def test_all_problems_are_reported_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[actors]\nidle_seconds = 0\n[server]\nprot = 1\nport = 'x'\n[sever]\n",
    )
    problems = check_config(path, {})
    assert [(p.line, p.key) for p in problems] == [
        (2, "actors.idle_seconds"),
        (4, "server.prot"),
        (5, "server.port"),
        (6, "sever"),
    ]


def test_lines_are_found_past_multiline_strings_and_arrays(tmp_path: Path) -> None:
    # Text inside a multi-line string that looks like a header must not move the section.
    path = write(
        tmp_path,
        '[security]\nsecret_key = """\n[server]\nport = 1\na key long enough to sign links with\n"""\n'
        "[server]\nhost = '127.0.0.1'\nport = 0\n",
    )
    problem = only_problem(path)
    assert (problem.line, problem.key) == (9, "server.port")


def test_key_in_an_inline_table_falls_back_to_the_table_line(tmp_path: Path) -> None:
    path = write(tmp_path, "\n\nserver = { host = '127.0.0.1', port = 0 }\n")
    problem = only_problem(path)
    assert (problem.line, problem.key) == (3, "server.port")


def test_quoted_and_dotted_keys_are_located(tmp_path: Path) -> None:
    path = write(tmp_path, '[channels]\n\nsms.url = "x"\n"push" . "url" = "y"\n')
    problems = check_config(path, {})
    assert [(p.line, p.key) for p in problems] == [
        (3, "channels.sms.url"),
        (4, "channels.push.url"),
    ]


# --- rendering and raising ------------------------------------------------------------------


def test_problem_str_format() -> None:
    assert (
        str(ConfigProblem("etc/ilertd.toml", 7, "server.port", "must be an integer"))
        == "etc/ilertd.toml:7: server.port: must be an integer"
    )
    assert (
        str(ConfigProblem("environment", None, "server.port", "bad"))
        == "environment: server.port: bad"
    )


def test_config_error_lists_every_problem_one_per_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 0\nprot = 1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    error = caught.value
    assert len(error.problems) == 2
    assert str(error).splitlines() == [str(p) for p in error.problems]
    assert str(error).splitlines()[0].startswith(f"{path}:2: server.port: ")


def test_missing_file_raises(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing, {})
    assert [p.file for p in caught.value.problems] == [str(missing)]
    assert "not found" in str(caught.value)
    assert check_config(missing, {}) != []


def test_check_config_never_raises_for_bad_content(tmp_path: Path) -> None:
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe[server]\x00")
    problems = check_config(path, {})
    assert len(problems) == 1
    assert problems[0].file == str(path)


def test_a_short_secret_key_is_named(tmp_path: Path) -> None:
    """A key of a few characters signed every action link: one forwarded page was enough to guess
    it offline and forge an accept or resolve link for any incident."""
    (problem,) = check_config(write(tmp_path, '[security]\nsecret_key = "x"\n'), {})
    assert (problem.line, problem.key) == (2, "security.secret_key")
    assert problem.message.startswith("must be at least 32 characters")
    assert check_config(write(tmp_path, f'[security]\nsecret_key = "{"a" * 32}"\n'), {}) == []
    assert check_config(write(tmp_path, '[security]\nsecret_key = ""\n'), {}) == []


def test_mail_in_needs_its_domain(tmp_path: Path) -> None:
    path = write(tmp_path, "[smtp_in]\nenabled = true\n")
    (problem,) = check_config(path, {})
    assert (problem.line, problem.key) == (2, "smtp_in.domain")
    assert check_config(path, {"ILERTD_SMTP_IN_DOMAIN": "alerts.example.com"}) == []
    assert check_config(write(tmp_path, "[smtp_in]\nenabled = false\n"), {}) == []


@pytest.mark.parametrize("domain", ["alerts@example.com", "https://alerts.example.com", "a b", "x_y.example",
                                    "-alerts.example.com"])
def test_a_mail_domain_that_is_no_domain_name_is_named(tmp_path: Path, domain: str) -> None:
    """An address or URL given as the domain matched no mail: every mail was refused "no such
    mailbox", and every e-mail page left without its Reply-To."""
    (problem,) = check_config(write(tmp_path, f'[smtp_in]\nenabled = true\ndomain = "{domain}"\n'), {})
    assert (problem.line, problem.key) == (3, "smtp_in.domain")
    assert problem.message.startswith("must be a domain name such as alerts.example.com")
    for fine in ("alerts.example.com", "alerts.example.com.", "bücher.example", "localhost"):
        assert check_config(write(tmp_path, f'[smtp_in]\nenabled = true\ndomain = "{fine}"\n'), {}) == []


def test_a_channel_url_without_its_contact_placeholder_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[channels.sms]\nurl = "twilio://SID:TOKEN@+15550001111/+15550002222"\n')
    problem = only_problem(path)
    assert (problem.line, problem.key) == (2, "channels.sms.url") and "{contact}" in problem.message
    sid, token = "AC" + "0123456789abcdef" * 2, "0123456789abcdef" * 2
    fine = write(tmp_path, f'[channels.sms]\nurl = "twilio://{sid}:{token}@+15550001111/{{contact}}"\n')
    assert check_config(fine, {}) == []


def test_a_channel_url_apprise_cannot_read_is_named_by_check_config_and_logged_by_the_daemon(
        tmp_path: Path, make_app: Any) -> None:
    """Such a URL passed before, and every page of its channel failed 25 times, then for good. It
    does not stop the daemon: the other channels must page."""
    text = ('[channels.email]\nurl = "foo://smtp.example.com/{contact}"\n[channels.sms]\n'
            'url = "twilio://ACCOUNT_SID:AUTH_TOKEN@+15550001111/{contact}"\n[channels.push]\n'
            'url = "ntfys://ntfy.example.com/{contact}"\n')
    path = write(tmp_path, text)
    problems = check_config(path, {})
    assert [(p.line, p.key) for p in problems] == [(2, "channels.email.url"), (4, "channels.sms.url")]
    assert all("apprise cannot read" in p.message and "AUTH_TOKEN" not in str(p) for p in problems)
    assert load_config(path, {}).channels.email.url.startswith("foo://")
    app = make_app(config=path).start()
    assert "channel email: apprise cannot read its URL" in app.log()
    assert "channel push: apprise cannot read" not in app.log()
    assert app.event(summary="still served", alertKey="k").status_code == 202
    from_env = check_config(write(tmp_path, ""), {"ILERTD_CHANNELS_PUSH_URL": "foo://{contact}"})
    assert [(p.key, p.message.split(":")[0]) for p in from_env] == [
        ("channels.push.url", "ILERTD_CHANNELS_PUSH_URL")]


@pytest.mark.parametrize("url", ["json://gateway.example.com/sms?to={contact}",
                                 "form://gateway.example.com/sms?to={contact}",
                                 "xml://gateway.example.com/sms?to={contact}"])
def test_a_channel_url_that_drops_its_contact_is_refused(tmp_path: Path, url: str) -> None:
    """The documented `json://gateway/sms?to={contact}`: apprise ignores a plain query parameter
    there, so every SMS reached the gateway without its number and counted as sent."""
    path = write(tmp_path, f'[channels.sms]\nurl = "{url}"\n')
    problem = only_problem(path)
    assert (problem.line, problem.key) == (2, "channels.sms.url")
    assert "drops the contact" in problem.message and "/sms/{contact}" in problem.message
    with pytest.raises(ConfigError):  # what `serve` loads: it does not start
        load_config(path, {})
    topic_dropped = {"ILERTD_CHANNELS_PUSH_URL": "ntfys://ntfy.example.com/?title={contact}"}
    from_env = check_config(write(tmp_path, ""), topic_dropped)
    assert [(p.key, p.message.split(":")[0]) for p in from_env] == [
        ("channels.push.url", "ILERTD_CHANNELS_PUSH_URL")]
    # Another service's URL is told where its recipient goes, not about json://'s query.
    assert "json://" not in from_env[0].message and "where this service takes" in from_env[0].message
    for fine in ("json://gateway.example.com/sms/{contact}", "json://gateway.example.com/sms?:to={contact}",
                 "form://gateway.example.com/sms?-to={contact}"):
        assert check_config(write(tmp_path, f'[channels.sms]\nurl = "{fine}"\n'), {}) == []
    for channel, fine in (("email", "mailto://127.0.0.1:25?from=ilertd@example.com&to={contact}&mode=insecure"),
                          ("push", "ntfys://ntfy.example.com/{contact}")):
        assert check_config(write(tmp_path, f'[channels.{channel}]\nurl = "{fine}"\n'), {}) == []


def test_an_account_sid_without_what_a_call_needs_is_named_by_check_config(tmp_path: Path) -> None:
    """Voice pages went to the log, counted as sent; a token alone (for SMS replies) is no call setup."""
    problem = only_problem(write(tmp_path, '[twilio]\naccount_sid = "AC1"\nfrom_number = "+15550001111"\n'))
    assert (problem.line, problem.key) == (2, "twilio.account_sid") and "twilio.auth_token" in problem.message
    assert "from_number" not in problem.message
    reachable = '[server]\npublic_url = "https://ilertd.example.com"\n'
    for fine in ('[twilio]\nauth_token = "t"\n', '[twilio]\naccount_sid = "AC1"\nauth_token = "t"\n'
                 'from_number = "+15550001111"\n'):
        assert check_config(write(tmp_path, reachable + fine), {}) == [], fine
    assert load_config(write(tmp_path, '[twilio]\naccount_sid = "AC1"\n'), {}).twilio.account_sid == "AC1"


def test_twilio_without_a_public_url_it_can_reach_is_named_by_check_config_and_logged(
        tmp_path: Path, make_app: Any) -> None:
    """With `twilio.auth_token` set and `server.public_url` left to http://127.0.0.1:8020, every
    call Twilio placed fetched its TwiML there (the callee heard "an application error has
    occurred") and every reply was refused 403 (Twilio signs the URL it called): nothing said so."""
    twilio = '[twilio]\naccount_sid = "AC1"\nauth_token = "t"\nfrom_number = "+15550001111"\n'
    (unset,) = check_config(write(tmp_path, twilio), {})
    assert (unset.line, unset.key) == (3, "server.public_url"), unset
    assert "not set" in unset.message and "http://127.0.0.1:8020" in unset.message
    loopback = write(tmp_path, '[server]\npublic_url = "http://localhost:8020/"\n' + twilio)
    (local,) = check_config(loopback, {})
    assert (local.line, local.key) == (2, "server.public_url") and "loopback" in local.message
    # A stand-in for Twilio (a proxy, these tests' loopback server) is reached as configured.
    stand_in = twilio + 'api_base_url = "http://127.0.0.1:9"\n'
    assert check_config(write(tmp_path, stand_in), {}) == []
    public = {"ILERTD_SERVER_PUBLIC_URL": "https://on.call.example"}
    assert check_config(write(tmp_path, twilio), public) == []
    app = make_app(config=write(tmp_path, twilio)).start()
    assert ("ERROR ilertd.plugins.manager: twilio.auth_token is set, so Twilio calls ilertd back at "
            "server.public_url, "
            "which is not set") in app.log()


def test_a_from_number_that_is_not_e164_is_named_by_check_config_and_logged(
        tmp_path: Path, make_app: Any) -> None:
    """Twilio places a call only from an E.164 number: "0151 1234567" passed check-config, and
    every voice page was refused by Twilio, 25 times over a day, then for good."""
    reachable = '[server]\npublic_url = "https://ilertd.example.com"\n'
    twilio = '[twilio]\naccount_sid = "AC1"\nauth_token = "t"\napi_base_url = "http://127.0.0.1:9"\n'
    (problem,) = check_config(write(tmp_path, reachable + twilio + 'from_number = "0151 1234567"\n'), {})
    assert (problem.line, problem.key) == (7, "twilio.from_number") and "E.164" in problem.message
    # The separators people write are fine: the number is sent without them.
    assert check_config(write(tmp_path, reachable + twilio + 'from_number = "+1 (416) 555-0100"\n'), {}) == []
    app = make_app(config=write(tmp_path, twilio + 'from_number = "0151 1234567"\n')).start()
    said = "ERROR ilertd.plugins.voice: channel VOICE: twilio.from_number '0151 1234567' is not an E.164"
    assert said in app.log()


def test_two_settings_files_named_before_and_after_the_command_is_a_usage_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The command's `--config` overwrote the one before it: `--config A check-config --config B`
    validated B alone and said valid, `serve` ran on B; A was dropped unsaid."""
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "data"))
    bad, good = write(tmp_path, '[server]\nport = "x"\n'), tmp_path / "good.toml"
    good.write_text("")
    for command in (["check-config"], ["serve", "--port", "0"], ["user", "list"]):
        with pytest.raises(SystemExit) as exited:
            main(["--config", str(bad), *command, "--config", str(good)])
        assert exited.value.code == 2, command
        assert (f"two settings files named: --config {bad} before the command and --config {good}"
                " after it; name one") in capsys.readouterr().err
    assert main(["--config", str(good), "check-config", "--config", str(good)]) == 0
    assert main(["check-config", "--config", str(good)]) == 0


def test_a_credential_the_settings_refuse_is_blamed_on_its_file_not_on_a_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """It was "environment: server.port: ILERTD_SERVER_PORT: ...", a variable no one had set."""
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "data"))
    monkeypatch.delenv("ILERTD_SERVER_PORT", raising=False)
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    refused = (("abc", "must be an integer, got 'abc'"), ("0", "must be between 1 and 65535, got 0"))
    for text, message in refused:
        (credentials / "server.port").write_text(f"{text}\n")
        capsys.readouterr()
        assert main(["user", "list"]) == 1
        assert capsys.readouterr().err == f"ilertd: {credentials / 'server.port'}: server.port: {message}\n"
    # A variable that is set still wins over the file, and is named as before.
    monkeypatch.setenv("ILERTD_SERVER_PORT", "x")
    assert main(["user", "list"]) == 1
    assert capsys.readouterr().err == ("ilertd: environment: server.port: ILERTD_SERVER_PORT: must be an"
                                       " integer, got 'x'\n")
