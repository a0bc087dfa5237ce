"""Web UI password hashes: argon2id at the configured `[security]` cost, a login without a user
checked against a hash of that same cost, and a stored hash that keeps working when the cost changes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import argon2
import pytest

from ilertd.app.password_hashing import AT_ONCE, DUMMY_HASH, PasswordCost, PasswordHashing, password_hashing
from ilertd.config import Config, ConfigError, check_config, load_config
from ilertd.config.settings import SecurityConfig
from ilertd.errors import ApiError
from ilertd.store import models as m
from tests.inprocess import InProcessDaemon
from tests.ui_helpers import PASSWORD, browser, csrf, login, user

LEAST = PasswordCost(memory_kib=8, time_cost=1, parallelism=1)


def parameters(cost: PasswordCost) -> argon2.Parameters:
    return argon2.Parameters(type=argon2.Type.ID, version=19, salt_len=16, hash_len=32,
                             time_cost=cost.time_cost, memory_cost=cost.memory_kib,
                             parallelism=cost.parallelism)


def test_a_login_as_nobody_checks_a_hash_as_costly_as_a_real_one() -> None:
    # The kept hash is what a login without a user is checked against at the default cost: with
    # cheaper parameters than a hash made now, the time of a refused login would tell which user
    # names exist.
    hashing = PasswordHashing()
    made = hashing.hash("a new password")
    assert argon2.extract_parameters(made) == parameters(PasswordCost(65536, 3, 4))
    assert argon2.extract_parameters(DUMMY_HASH) == argon2.extract_parameters(made)
    assert hashing.dummy() == DUMMY_HASH
    assert not hashing.matches(None, "ilertd-no-such-user")
    assert hashing.matches(made, "a new password")
    assert not hashing.matches(made, "another password")


def test_at_another_cost_the_stand_in_hash_has_that_cost() -> None:
    hashing = PasswordHashing(LEAST)
    assert argon2.extract_parameters(hashing.hash("a new password")) == parameters(LEAST)
    assert not hashing.matches(None, "ilertd-no-such-user")
    assert argon2.extract_parameters(hashing.dummy()) == parameters(LEAST)
    assert not hashing.matches("not a hash", "a new password")


def test_a_stored_hash_keeps_its_cost_when_the_configured_one_changes() -> None:
    old, new = PasswordHashing(), PasswordHashing(LEAST)
    assert new.matches(old.hash("made at the old cost"), "made at the old cost")
    assert old.matches(new.hash("made at the new cost"), "made at the new cost")


def test_the_cost_is_read_from_the_file_and_the_environment(tmp_path: Path) -> None:
    assert password_hashing(Config().security).cost == PasswordCost(65536, 3, 4)
    path = tmp_path / "ilertd.toml"
    path.write_text("[security]\npassword_memory_kib = 19456\npassword_time_cost = 2\n")
    config = load_config(path, {"ILERTD_SECURITY_PASSWORD_PARALLELISM": "1"})
    assert password_hashing(config.security).cost == PasswordCost(19456, 2, 1)


@pytest.mark.parametrize(("environ", "key", "words"), [
    ({"ILERTD_SECURITY_PASSWORD_TIME_COST": "0"}, "security.password_time_cost",
     "ILERTD_SECURITY_PASSWORD_TIME_COST"),
    ({"ILERTD_SECURITY_PASSWORD_MEMORY_KIB": "-1"}, "security.password_memory_kib", "at least 1"),
    ({"ILERTD_SECURITY_PASSWORD_MEMORY_KIB": "16"}, "security.password_memory_kib",
     "password_memory_kib 16 is less than 8 times password_parallelism 4"),
    ({"ILERTD_SECURITY_PASSWORD_PARALLELISM": "65"}, "security.password_parallelism", "at most 64"),
    ({"ILERTD_SECURITY_PASSWORD_TIME_COST": "1000"}, "security.password_time_cost", "at most 100"),
])
def test_a_cost_argon2_cannot_take_is_refused_naming_the_key(environ: dict[str, str], key: str,
                                                               words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, environ)
    (problem,) = caught.value.problems
    assert problem.key == key and words in problem.message, problem


def test_check_config_reports_the_line_of_a_cost_argon2_cannot_take(tmp_path: Path) -> None:
    path = tmp_path / "ilertd.toml"
    path.write_text("[security]\npassword_parallelism = 8\npassword_memory_kib = 32\n")
    problems = check_config(path, {})
    assert [(p.line, p.key) for p in problems] == [(3, "security.password_memory_kib")], problems


CONFIGURED = SecurityConfig(password_memory_kib=16, password_time_cost=2, password_parallelism=2)


@pytest.mark.parametrize("security", [SecurityConfig(), CONFIGURED], ids=["default", "configured"])
def test_a_running_daemon_hashes_at_the_configured_cost(tmp_path: Path, security: SecurityConfig) -> None:
    app = InProcessDaemon(tmp_path, Config(security=security)).start()
    try:
        user(app, "ann")
        stored = m.User.get(m.User.username == "ann").password_hash
        assert argon2.extract_parameters(stored) == parameters(password_hashing(security).cost)
        login(app, "ann")
        client = browser(app)
        form = {"username": "ann", "password": "not the password", "next": "/ui/incidents",
                "csrf_token": csrf(client.get("/ui/login").text)}
        refused = client.post("/ui/login", data=form)
        assert "Wrong user name or password" in refused.text
    finally:
        app.stop()


@pytest.mark.parametrize(("username", "password", "status", "field"), [
    ("ann", "short", 400, "password"),
    ("ann", "x" * 1025, 400, "password"),
    ("nobody", "a long password", 404, None),
])
def test_a_password_that_cannot_be_set_is_refused_and_nothing_changes(
        app: InProcessDaemon, username: str, password: str, status: int, field: str | None) -> None:
    user(app, "ann")
    before = m.User.get(m.User.username == "ann").password_hash
    with pytest.raises(ApiError) as refused:
        app.daemon.services.app.passwords.set(username, password)
    assert refused.value.status == status and refused.value.field == field, refused.value.body()
    assert m.User.get(m.User.username == "ann").password_hash == before


def test_a_hash_of_another_cost_is_made_again_at_the_configured_cost_at_the_next_login(
        tmp_path: Path) -> None:
    app = InProcessDaemon(tmp_path, Config(security=CONFIGURED)).start()
    try:
        user(app, "ann")
        old = PasswordHashing(LEAST).hash(PASSWORD)
        m.User.update(password_hash=old).where(m.User.username == "ann").execute()
        client = browser(app)
        wrong = {"username": "ann", "password": "not the password", "next": "/ui/incidents",
                 "csrf_token": csrf(client.get("/ui/login").text)}
        assert "Wrong user name or password" in client.post("/ui/login", data=wrong).text
        assert m.User.get(m.User.username == "ann").password_hash == old, "a refused login changes nothing"
        login(app, "ann")
        stored = m.User.get(m.User.username == "ann").password_hash
        assert stored != old
        assert argon2.extract_parameters(stored) == parameters(password_hashing(CONFIGURED).cost)
        login(app, "ann")
        again = m.User.get(m.User.username == "ann").password_hash
        assert again == stored, "made again once, not at every login"
    finally:
        app.stop()


def test_hashes_are_checked_two_at_a_time_whoever_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each check takes the cost's memory (64 MiB by default): forty logins at once, names and
    addresses apart, took 2.6 GiB and slowed alert intake to a second."""
    hashing = PasswordHashing(LEAST)
    made = hashing.hash("a new password")
    running, most, lock = [0], [0], threading.Lock()

    class Counted:
        """argon2's hasher, counting the checks under way."""

        def __init__(self, hasher: argon2.PasswordHasher) -> None:
            self.hasher = hasher

        def verify(self, stored: str, password: str) -> bool:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1
            return self.hasher.verify(stored, password)
    monkeypatch.setattr(hashing, "_hasher", Counted(hashing._hasher))
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda n: hashing.matches(made, f"guess {n}"), range(10)))
    assert answers == [False] * 10 and most[0] == AT_ONCE == 2


def test_a_login_under_a_name_nobody_has_checks_a_hash_as_one_under_a_users_name(
        app: InProcessDaemon) -> None:
    """An unknown name was refused before any hash was checked (3 ms against 200): the time of a
    refusal told which names exist."""
    user(app, "ann")
    assert app.daemon.services is not None
    passwords = app.daemon.services.app.passwords
    checked: list[str | None] = []
    matches = passwords.ctx.passwords.matches

    def counted(stored: str | None, password: str) -> bool:
        checked.append(stored)
        return matches(stored, password)
    passwords.ctx.passwords.matches = counted  # type: ignore[method-assign]
    try:
        assert passwords.login("nobody", "guess") is None
        assert passwords.login("ann", "guess") is None
    finally:
        passwords.ctx.passwords.matches = matches  # type: ignore[method-assign]
    assert len(checked) == 2 and checked[0] is None and checked[1] is not None
