"""The daemon's log: `[log] format` (text or JSON lines) and `level`, and the ids a line concerns."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

# What a line may concern, passed as `extra=ids(...)`: JSON lines carry them as fields, text
# lines say them in the message already.
ID_FIELDS = ("incident_id", "alert_source_id", "user_id", "notification_id", "schedule_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def ids(**values: int | None) -> dict[str, int]:
    """`extra=` for a log call: the ids it concerns (None ones left out)."""
    return {name: value for name, value in values.items() if value is not None and name in ID_FIELDS}


class JsonLines(logging.Formatter):
    """One JSON object per line: `ts` (UTC, ISO 8601 with milliseconds), `level`, `logger`, `msg`,
    the ids the line concerns, and `exc` with the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
                  .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in ID_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class TextLines(logging.Formatter):
    """`TEXT_FORMAT` as logging.Formatter writes it, with the local time of each second formatted
    once: `time.strftime` per line was a third of formatting a line, and the log channel writes
    a line per page, thousands in the same second in an escalation storm."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        # One tuple, replaced whole: a thread never sees one second's number with another's text.
        self._second: tuple[int, str] = (-1, "")

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The line, each line break of its message followed by an indent: an alert's summary of
        several lines, logged by the log channel, wrote lines that read as the daemon's own
        ("... INFO ilertd.web.ui.account: admin logged in from ...")."""
        line = super().formatMessage(record)
        if "\n" in line or "\r" in line:
            line = line.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\n    ")
        return line

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second, text = self._second
        if second != int(record.created):
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(second))
            self._second = (second, text)
        return self.default_msec_format % (text, record.msecs)


def configure_logging(log_format: str = "text", level: str = "INFO", stream: TextIO | None = None) -> None:
    """The root logger writes to stderr (the journal under systemd) in `log_format` from `level` on."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines() if log_format == "json" else TextLines())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # peewee logs every statement with its parameters at DEBUG: integration keys, signing secrets
    # and password hashes went to the journal when an operator turned DEBUG on to troubleshoot.
    logging.getLogger("peewee").setLevel(max(logging.INFO, root.level))
    # Neither format shows where a line was logged from, or by which thread or process: the
    # logging HOWTO's "Optimization" settings leave that out of every record (the log channel
    # writes a line per page, thousands at once in an escalation storm).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
