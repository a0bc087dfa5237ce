"""The first start's secrets: printed at a terminal, kept out of the journal under systemd."""

from __future__ import annotations

from collections.abc import Callable

from tests.daemon import DaemonProcess


def test_under_systemd_the_first_start_prints_where_the_secrets_are_not_the_secrets(
        make_daemon: Callable[..., DaemonProcess]) -> None:
    journal = make_daemon(env={"JOURNAL_STREAM": "8:12345"}, fresh=True).start()
    assert journal.admin_token and journal.admin_token not in journal.stdout
    assert "first-run.txt" in journal.stdout and "admin password" not in journal.stdout
    assert journal.get("/api/users/current").status_code == 200


def test_at_a_terminal_the_first_start_prints_the_secrets(make_daemon: Callable[..., DaemonProcess]) -> None:
    plain = make_daemon(fresh=True).start()
    assert plain.admin_token in plain.stdout and plain.integration_key in plain.stdout
    assert "admin password (web UI):" in plain.stdout
