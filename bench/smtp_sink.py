"""An SMTP server in a process of its own that records when each message arrived, for the paging section.

Run as `python -m bench.smtp_sink PORT FILE`: it listens on 127.0.0.1:PORT (aiosmtpd), prints
a ready line, and appends one line per message to FILE: the arrival time on CLOCK_MONOTONIC,
the recipients and the message's `X-Ilertd-Notification` reference, tab-separated. It stops
on SIGTERM or SIGINT.

CLOCK_MONOTONIC is one clock for every process on a Linux machine, so arrival times written
here compare directly with `time.monotonic()` in the benchmark process.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path
from types import FrameType
from typing import IO, Any

READY = "smtp sink: listening on 127.0.0.1:"
HEADER = "X-Ilertd-Notification"


@dataclass(frozen=True)
class Arrival:
    at: float
    recipients: tuple[str, ...]
    reference: str


def read_arrivals(path: Path) -> list[Arrival]:
    """Every complete line of the sink's file (a line being written is skipped until done)."""
    if not path.exists():
        return []
    arrivals = []
    for line in path.read_text(errors="replace").split("\n"):
        fields = line.split("\t")
        if len(fields) != 3:
            continue
        arrivals.append(Arrival(float(fields[0]), tuple(fields[1].split(",")), fields[2]))
    return arrivals


class _Recorder:
    """aiosmtpd handler: one line per message, written and flushed before the 250 reply."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.headers = BytesHeaderParser()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        at = time.monotonic()
        content = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        reference = self.headers.parsebytes(content).get(HEADER, "")
        recipients = ",".join(envelope.rcpt_tos)
        # Handlers run on the controller's one event-loop thread: lines never interleave.
        self.out.write(f"{at:.6f}\t{recipients}\t{reference}\n")
        self.out.flush()
        return "250 OK"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.smtp_sink", description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    # Imported here: the benchmark imports this module for `read_arrivals` alone.
    from aiosmtpd.controller import Controller

    stop = threading.Event()

    def on_signal(_number: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with open(args.file, "a", encoding="utf-8") as out:
        controller = Controller(_Recorder(out), hostname="127.0.0.1", port=args.port)
        controller.start()
        try:
            print(f"{READY}{args.port}", flush=True)
            while not stop.wait(0.5):
                pass
        finally:
            controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
