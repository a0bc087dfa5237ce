"""The daemon's log: JSON lines with the ids a line concerns, or text; the level."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import peewee
import pytest

from ilertd.logs import TEXT_FORMAT, TextLines, configure_logging, ids
from tests.daemon import DaemonProcess


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_json_lines_carry_time_level_logger_message_and_ids(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging("json", "INFO", out)
    log = logging.getLogger("ilertd.test")
    log.info("incident %s accepted by %s", 12, "ann",
             extra=ids(incident_id=12, user_id=7, alert_source_id=None))
    log.debug("not at INFO")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "INFO" and first["logger"] == "ilertd.test"
    assert first["msg"] == "incident 12 accepted by ann"
    assert (first["incident_id"], first["user_id"]) == (12, 7) and "alert_source_id" not in first
    assert first["ts"].endswith("Z") and "T" in first["ts"]
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exc"]


def test_text_lines_and_the_level(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging("text", "WARNING", out)
    logging.getLogger("ilertd.test").info("quiet")
    logging.getLogger("ilertd.test").warning("loud %d", 3)
    (line,) = out.getvalue().splitlines()
    assert line.endswith("WARNING ilertd.test: loud 3")


def test_a_message_of_several_lines_never_writes_a_line_of_its_own(restore_root: None) -> None:
    """The log channel writes a page's title: an alert's summary of several lines wrote lines that
    read as the daemon's own, a forged login among them."""
    out = io.StringIO()
    configure_logging("text", "INFO", out)
    forged = "2026-12-07 18:00:00,000 INFO ilertd.web.ui.account: admin logged in from 198.51.100.7"
    logging.getLogger("ilertd.pages").warning("PAGE EMAIL to a@example.com: db down\n%s\r\nend\rx", forged)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("WARNING ilertd.pages: PAGE EMAIL to a@example.com: db down")
    assert lines[1:] == ["    " + forged, "    end", "    x"]


@pytest.mark.parametrize("created", [1_764_820_800.0, 1_764_820_800.9996, 1_764_820_801.0004, 951_782_399.5])
def test_text_lines_read_as_the_standard_formatter_writes_them(created: float) -> None:
    standard, text_lines = logging.Formatter(TEXT_FORMAT), TextLines()
    # Each second formatted twice: the second time from the line before's second.
    for at in (created, created + 0.25, created + 1, created):
        record = logging.LogRecord("ilertd.pages", logging.WARNING, __file__, 1, "PAGE %s", ("EMAIL",), None)
        record.created, record.msecs = at, float(int((at - int(at)) * 1000))
        assert text_lines.format(record) == standard.format(record)


def test_serve_writes_json_lines_when_told(make_daemon: Callable[..., DaemonProcess], tmp_path: Path) -> None:
    config = tmp_path / "ilertd.toml"
    config.write_text('[log]\nformat = "json"\nlevel = "INFO"\n')
    daemon = make_daemon(config=config).start()
    assert daemon.event(summary="db down", alertKey="db1").status_code == 202
    daemon.stop()
    lines = [json.loads(line) for line in daemon.log().splitlines() if line.startswith("{")]
    assert lines and all({"ts", "level", "logger", "msg"} <= set(line) for line in lines)
    assert any(line["logger"] == "ilertd" and "serving on" in line["msg"] for line in lines)
    assert not [line for line in daemon.log().splitlines() if line.strip() and not line.startswith("{")]


def test_debug_logs_no_statement_parameters(restore_root: None, tmp_path: Path) -> None:
    """At DEBUG peewee logged each statement with its parameters: a source's integration key and
    signing secret, a token's hash and a password hash went to the journal."""
    out = io.StringIO()
    configure_logging("text", "DEBUG", out)
    db = peewee.SqliteDatabase(str(tmp_path / "s.db"))
    db.execute_sql("CREATE TABLE t (secret TEXT)")
    db.execute_sql("INSERT INTO t VALUES (?)", ("SIGNINGSECRET777",))
    logging.getLogger("ilertd.test").debug("still at DEBUG")
    assert "SIGNINGSECRET777" not in out.getvalue()
    assert "still at DEBUG" in out.getvalue()
