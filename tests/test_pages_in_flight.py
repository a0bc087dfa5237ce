"""A page is marked in the store before its provider gets it; one in flight when its sender died is
sent again once (never a third time) and the incident's log says so. The whole daemon, manual
clock, loopback providers; a subprocess where a kill -9 is the point."""

from __future__ import annotations

import contextlib
import os
import re
import socketserver
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ilertd.channels.email_text import finish_email, message_id
from ilertd.daemon import CHANNEL_ACTORS_PER_METHOD
from ilertd.domain.pages_in_flight import (
    MARK_AHEAD_MESSAGES,
    PageInFlight,
    idempotency_key,
    marked_together,
    recover,
)
from ilertd.store import models as m
from ilertd.store.db import open_database
from tests.conditions import wait_for
from tests.conftest import paging_config
from tests.daemon import DaemonProcess
from tests.inprocess import InProcessDaemon
from tests.loopback import HttpReceiver, Request, SmtpServer
from tests.paging import Paging

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HASH_SEED = "0"




def outbox_row(data_dir: Path, notification_id: int) -> dict[str, Any]:
    """The outbox row as the SQLite file holds it: what a new process would read."""
    with sqlite3.connect(data_dir / "ilertd.db") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT status, sending_since, resent, attempts, error_message FROM notification"
                         " WHERE id = ?", (notification_id,)).fetchone()
    return dict(row)


def incident_rows(data_dir: Path, incident_id: int) -> dict[int, dict[str, Any]]:
    """The incident's outbox rows as the SQLite file holds them, by id (the daemon may be dead)."""
    with sqlite3.connect(data_dir / "ilertd.db") as db:
        ids = [row_id for (row_id,) in db.execute("SELECT id FROM notification WHERE incident_id = ?",
                                                  (incident_id,))]
    return {row_id: outbox_row(data_dir, row_id) for row_id in ids}


def kill_while_starting(daemon: DaemonProcess, condition: Callable[[], Any], what: str) -> None:
    """Start the daemon and kill -9 it once `condition` holds, serving yet or not: its start
    waits for its channel actors, which may be sending pages due at once."""

    def start() -> None:
        with contextlib.suppress(RuntimeError):  # "ilertd exited before serving"
            daemon.start()

    starting = threading.Thread(target=start)
    starting.start()
    try:
        wait_for(condition, what)
    finally:
        assert daemon.process is not None
        daemon.process.kill()
        starting.join(30)
        daemon.kill()


def leave_in_flight(daemon: InProcessDaemon, notification_id: int, resent: bool) -> None:
    """Write the row as a leader killed during the provider call leaves it: SCHEDULED, marked as
    being sent, no answer stored (the daemon is stopped)."""
    db = open_database(f"sqlite:///{daemon.data_dir / 'ilertd.db'}")
    try:
        changed = (m.Notification.update(status="SCHEDULED", sending_since=T0, sent_at=None, resent=resent)
                   .where(m.Notification.id == notification_id).execute())
    finally:
        db.close()
    assert changed == 1


def log_entries(paging: Paging, incident_id: int) -> list[tuple[str, str]]:
    reply = paging.daemon.get(f"/api/incidents/{incident_id}/log-entries", params={"max-results": 100})
    assert reply.status_code == 200, reply.text
    return [(e["logEntryType"], e["text"]) for e in reply.json()]


def one_channel_actor(names: list[str]) -> list[str]:
    """Those of `names` whose account e-mail a daemon started with PYTHONHASHSEED=HASH_SEED hands
    to its first e-mail channel actor (a target is hashed to one of its method's actors): their
    pages go out one after another."""
    code = f"import sys; print(*(hash(a) % {CHANNEL_ACTORS_PER_METHOD} for a in sys.argv[1:]))"
    indexes = subprocess.run([sys.executable, "-c", code, *(f"{name}@example.com" for name in names)],
                             env={**os.environ, "PYTHONHASHSEED": HASH_SEED}, capture_output=True,
                             text=True, check=True).stdout.split()
    return [name for name, index in zip(names, indexes, strict=True) if index == "0"]


def page_id(paging: Paging, incident_id: int, target: str) -> int:
    (row,) = [r for r in paging.notifications(incident_id) if r["target"] == target]
    return int(row["id"])


# --- the rule ------------------------------------------------------------------------------------

def test_found_in_flight_once_it_is_due_again_and_twice_it_is_given_up() -> None:
    page = PageInFlight(12, 3, "ALERT", "EMAIL", "ann@example.com", 7, T0, 1, resent=False)
    later = datetime(2026, 1, 5, 9, 5, tzinfo=UTC)
    first = recover(page, later)
    assert first.send_again
    assert first.changes == {"resent": True, "sending_since": None, "attempts": 2, "due_at": T0}
    assert first.entry.log_entry_type == "NOTIFICATION_RESENT"
    assert first.entry.text == ("Page by EMAIL to ann@example.com was being sent when the node sending it"
                                " stopped; sending it again (it may arrive twice; reference ilertd-n12)")
    second = recover(PageInFlight(12, 3, "ALERT", "EMAIL", "ann@example.com", 7, T0, 2, resent=True), later)
    assert not second.send_again
    assert second.changes["status"] == "ERROR" and second.changes["sending_since"] is None
    assert "not sent a third time" in second.changes["error_message"]
    assert second.entry.log_entry_type == "NOTIFICATION_FAILED"
    assert "reference ilertd-n12" in second.entry.text
    update = recover(PageInFlight(13, 3, "ALERT_RESOLVED", "SMS", "+1555", 7, T0, 0, resent=False), later)
    assert update.entry.text.startswith("Status update (resolved) by SMS to +1555 was being sent")


def test_rows_are_marked_a_few_messages_ahead_and_a_row_sent_again_alone() -> None:
    """A batch's rows were all marked before its first message: to a server taking seconds a
    message, rows it never saw were "in flight" for minutes, and two crashes ended them ERROR."""
    fresh = [False] * 150
    assert marked_together([], 0.001) == 0
    assert marked_together(fresh, None) == 1  # the batch's first message: the pace is not known
    assert marked_together(fresh, 3.0) == 1  # a slow server: each message's rows just before it
    assert marked_together(fresh, 0.1) == 1
    assert marked_together(fresh, 0.04) == 2  # what goes out within ~100 ms
    assert marked_together(fresh, 0.0001) == MARK_AHEAD_MESSAGES == marked_together(fresh, 0.0)
    assert marked_together(fresh[:3], 0.001) == 3
    # A message carrying a row sent again after a crash is marked alone: marked again at the next
    # start, it was handed to the provider, not queued behind one that was.
    assert marked_together([True, False, False], 0.001) == 1
    assert marked_together([False, False, True, False], 0.001) == 2


def test_a_summary_has_a_key_of_its_own_rows() -> None:
    """A summary took its first row's key: that row may have gone out alone before (the provider
    took it, its answer was lost), and a provider honouring the key dropped the summary, and with
    it the pages of the other incidents in it, though their rows said AGGREGATED."""
    alone = idempotency_key("ilertd-n1", "secret")
    summary = idempotency_key("ilertd-n1", "secret", [1, 3])
    assert summary != alone and summary.startswith("ilertd-n1-s")
    assert summary.endswith(alone[len("ilertd-n1"):])
    # The same rows again (a retry of that summary) keep its key: a copy is still recognised.
    assert idempotency_key("ilertd-n1", "secret", [3, 1]) == summary
    assert idempotency_key("ilertd-n1", "secret", [1, 3, 4]) != summary
    assert idempotency_key("ilertd-n1", "secret", [1]) == alone


def test_an_e_mail_s_message_id_is_its_page_s_reference_whatever_apprise_wrote() -> None:
    prepared = ("Subject: page\nMessage-ID:\n <171.2.3@a-very-long-host-name.example>\nTo: ann@example.com\n"
                "\nbody\nMessage-ID: <in the body, kept>\n")
    identifier = message_id("ilertd-n7", "ilertd@example.com", "smtp.example.net")
    assert identifier == "<ilertd-n7@example.com>"
    assert finish_email(prepared, identifier) == (
        "Subject: page\nTo: ann@example.com\nMessage-ID: <ilertd-n7@example.com>\n"
        "\nbody\nMessage-ID: <in the body, kept>\n")
    assert message_id("ilertd-n7", "", "smtp.example.net") == "<ilertd-n7@smtp.example.net>"
    # With an HTML part too, one pass: the text part's headers go, Subject and To stay, one Message-ID.
    plain = "Subject: page\nMessage-ID: <1@x>\nContent-Type: text/plain\nMIME-Version: 1.0\nTo: a@b\n\nbody\n"
    both = finish_email(plain, identifier, "body", "<p>body</p>")
    head = both.partition("\n\n")[0].split("\n")
    assert [line.split(":")[0] for line in head] == [
        "Subject", "To", "Message-ID", "MIME-Version", "Content-Type"]
    assert "Message-ID: <ilertd-n7@example.com>" in head and both.count("Content-Type: text/html") == 1


# --- in this process: the store as a killed leader leaves it ---------------------------------------

def test_a_page_in_flight_at_the_stop_is_sent_again_once_and_the_log_says_so(app_paging: Paging) -> None:
    ann, bob = app_paging.user("ann"), app_paging.user("bob")
    cat = app_paging.user("cat", [("EMAIL", 5, "HIGH_PRIORITY")])
    app_paging.policy([(600, [ann, bob, cat])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    assert [len(app_paging.mails_to(f"{n}@example.com")) for n in ("ann", "bob")] == [1, 1]
    in_flight = page_id(app_paging, incident_id, "ann@example.com")
    never_sent = page_id(app_paging, incident_id, "cat.pager@example.com")
    assert outbox_row(app_paging.daemon.data_dir, in_flight)["sending_since"] is None  # cleared when sent
    app_paging.daemon.stop()
    leave_in_flight(app_paging.daemon, in_flight, resent=False)
    app_paging.daemon.start()
    app_paging.daemon.advance("PT0S")
    assert [len(app_paging.mails_to(f"{n}@example.com")) for n in ("ann", "bob")] == [2, 1]
    # Both copies carry the page's own Message-ID: the mailbox can tell the second for a copy.
    (message_id,) = {mail["Message-ID"] for mail in app_paging.mails_to("ann@example.com")}
    # The row's reference, tagged with this installation (row ids start again in a new store).
    assert re.fullmatch(rf"<ilertd-n{in_flight}\.[0-9a-f]{{12}}@example\.com>", message_id), message_id
    row = outbox_row(app_paging.daemon.data_dir, in_flight)
    assert (row["status"], row["sending_since"], row["resent"], row["attempts"]) == ("SUCCESS", None, 1, 3)
    resent = [text for kind, text in log_entries(app_paging, incident_id) if kind == "NOTIFICATION_RESENT"]
    assert resent == [f"Page by EMAIL to ann@example.com was being sent when the node sending it stopped;"
                      f" sending it again (it may arrive twice; reference ilertd-n{in_flight})"]
    assert "supervisor: 1 pages were in flight when their sender stopped; 1 sent again" \
        in app_paging.daemon.log()
    # The page never handed out goes once, at its time; nothing goes twice more.
    app_paging.daemon.advance("PT5M")
    app_paging.daemon.advance("PT1H")
    assert [len(app_paging.mails_to(f"{n}@example.com")) for n in ("ann", "bob", "cat.pager")] == [2, 1, 1]
    assert outbox_row(app_paging.daemon.data_dir, never_sent)["resent"] == 0
    assert [r["status"] for r in app_paging.notifications(incident_id)] == ["SUCCESS"] * 3


def test_a_page_in_flight_a_second_time_is_not_sent_a_third_time(app_paging: Paging) -> None:
    dan = app_paging.user("dan")
    app_paging.policy([(600, [dan])])
    incident_id = app_paging.alert()
    app_paging.daemon.advance("PT0S")
    notification_id = page_id(app_paging, incident_id, "dan@example.com")
    app_paging.daemon.stop()
    leave_in_flight(app_paging.daemon, notification_id, resent=True)
    app_paging.daemon.start()
    app_paging.daemon.advance("PT1H")
    assert len(app_paging.mails_to("dan@example.com")) == 1
    row = outbox_row(app_paging.daemon.data_dir, notification_id)
    assert (row["status"], row["sending_since"]) == ("ERROR", None)
    assert "in flight twice" in row["error_message"] and "not sent a third time" in row["error_message"]
    failed = [text for kind, text in log_entries(app_paging, incident_id) if kind == "NOTIFICATION_FAILED"]
    assert len(failed) == 1 and "not sending it a third time" in failed[0]
    assert f"reference ilertd-n{notification_id}" in failed[0]
    assert "NOTIFICATION_RESENT" not in app_paging.daemon.log_types(incident_id)
    assert "1 pages were in flight when their sender stopped; 0 sent again, 1 not sent a third time" \
        in app_paging.daemon.log()


class MarkReadingGateway(HttpReceiver):
    """The loopback HTTP receiver, reading each SMS page's outbox row from the SQLite file (another
    connection, as a new process would) while the request that delivers it is in flight."""

    def __init__(self) -> None:
        self.database: Path | None = None
        self.rows_seen: list[tuple[str, str | None]] = []
        super().__init__()

    def answer(self, request: Request) -> tuple[int, dict[str, Any]]:
        if request.path.startswith("/sms/") and self.database is not None:
            reference = request.headers.get("Idempotency-Key", "")
            row_id = int(reference.removeprefix("ilertd-n").split(".")[0] or 0)
            with sqlite3.connect(self.database) as db:
                status, since = db.execute("SELECT status, sending_since FROM notification WHERE id = ?",
                                           (row_id,)).fetchone()
            self.rows_seen.append((status, since))
        return super().answer(request)


def test_the_mark_is_stored_before_the_provider_is_called_and_keys_name_the_page(
    tmp_path: Path, make_app: Callable[..., InProcessDaemon]
) -> None:
    smtp, http = SmtpServer().start(), MarkReadingGateway()
    try:
        daemon = make_app(config=paging_config(tmp_path, smtp, http)).start()
        http.database = daemon.data_dir / "ilertd.db"
        paging = Paging(daemon, smtp, http)
        eve = paging.user("eve", [("SMS", 0, "HIGH_PRIORITY"), ("VOICE", 0, "HIGH_PRIORITY")])
        paging.policy([(600, [eve])])
        incident_id = paging.alert()
        daemon.advance("PT0S")
        (sms,) = http.to("/sms/")
        sms_id = page_id(paging, incident_id, sms.path.removeprefix("/sms/"))
        assert re.fullmatch(rf"ilertd-n{sms_id}\.[0-9a-f]{{12}}", sms.headers["Idempotency-Key"])
        assert sms.json()["reference"] == f"ilertd-n{sms_id}"
        # While the gateway had the request, the row was SCHEDULED and marked, durably.
        ((status, since),) = http.rows_seen
        assert status == "SCHEDULED" and since is not None and since.startswith("2026-01-05 09:00:00")
        assert outbox_row(daemon.data_dir, sms_id)["sending_since"] is None
        (call,) = http.to("/2010-04-01/")
        voice_id = int(call.form()["Url"].rsplit("/", 1)[1])
        assert re.fullmatch(rf"ilertd-n{voice_id}\.[0-9a-f]{{12}}", call.headers["Idempotency-Key"])
        assert [r["status"] for r in paging.notifications(incident_id)] == ["SUCCESS", "SUCCESS"]
    finally:
        smtp.stop()
        http.close()


# --- a real crash: the daemon killed while its SMTP server holds the page --------------------------

class SilentSmtp:
    """An SMTP server that takes the whole message and then never answers it: the page is in
    flight for as long as the server lives. Notes, on each connection, how many outbox rows the
    SQLite file holds marked as being sent."""

    def __init__(self, port: int, database: Path) -> None:
        self.database = database
        self.marked_at_connect: list[int] = []
        self.messages_held = 0
        self.release = threading.Event()
        silent = self

        class Session(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                silent.marked_at_connect.append(silent.marked())
                self.reply("220 silent ESMTP")
                in_data = False
                for raw in self.rfile:
                    line = raw.decode(errors="replace").rstrip("\r\n")
                    if in_data:
                        if line == ".":
                            silent.messages_held += 1
                            silent.release.wait()  # the page is in flight until the test ends
                            return
                        continue
                    verb = line.split(" ", 1)[0].upper()
                    if verb == "DATA":
                        in_data = True
                        self.reply("354 go ahead")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 OK")

            def reply(self, text: str) -> None:
                self.wfile.write(f"{text}\r\n".encode())
                self.wfile.flush()

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", port), Session)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def marked(self) -> int:
        with sqlite3.connect(self.database) as db:
            (count,) = db.execute("SELECT COUNT(*) FROM notification WHERE status = 'SCHEDULED'"
                                  " AND sending_since IS NOT NULL").fetchone()
        return int(count)

    def stop(self) -> None:
        if self.release.is_set():
            return
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_kill_9_while_the_provider_holds_the_page_then_it_arrives_once_after_restart(
    tmp_path: Path, make_daemon: Callable[..., DaemonProcess]
) -> None:
    smtp, http = SmtpServer(), HttpReceiver()  # the SMTP server starts on its port after the kill
    daemon = make_daemon(config=paging_config(tmp_path, smtp, http)).start()
    silent = SilentSmtp(smtp.port, daemon.data_dir / "ilertd.db")
    try:
        paging = Paging(daemon, smtp, http)
        fay = paging.user("fay")
        paging.policy([(600, [fay])])
        incident_id = paging.alert()  # due now: handed to the channel without a clock move
        wait_for(lambda: silent.messages_held == 1, "the silent SMTP server to hold the page")
        notification_id = page_id(paging, incident_id, "fay@example.com")
        # Marked and committed before the provider got the connection, and still marked.
        assert silent.marked_at_connect == [1]
        row = outbox_row(daemon.data_dir, notification_id)
        assert row["status"] == "SCHEDULED" and row["sending_since"] is not None and row["resent"] == 0
        daemon.kill()
        silent.stop()
        smtp.start()
        daemon.start()
        wait_for(lambda: smtp.messages, "the page sent again")
        daemon.advance("PT1H")
        (mail,) = paging.mails_to("fay@example.com")
        assert re.fullmatch(rf"<ilertd-n{notification_id}\.[0-9a-f]{{12}}@example\.com>", mail["Message-ID"])
        row = outbox_row(daemon.data_dir, notification_id)
        assert (row["status"], row["sending_since"], row["resent"]) == ("SUCCESS", None, 1)
        entries = log_entries(paging, incident_id)
        assert ("NOTIFICATION_RESENT", f"Page by EMAIL to fay@example.com was being sent when the node"
                f" sending it stopped; sending it again (it may arrive twice; reference"
                f" ilertd-n{notification_id})") in entries
        assert [kind for kind, _ in entries].count("NOTIFICATION_SENT") == 1
        assert "1 pages were in flight when their sender stopped; 1 sent again" in daemon.log()
    finally:
        silent.stop()
        daemon.stop()
        smtp.stop()
        http.close()


def test_two_kills_while_a_slow_smtp_server_takes_a_batch_lose_no_page(
    tmp_path: Path, make_daemon: Callable[..., DaemonProcess]
) -> None:
    """Six e-mail pages at once to a server answering each 0.3 s after it arrived; the daemon
    killed (-9) while the server held the third, and again while it held the second after the
    restart. Every row of the batch was marked as being sent before its first message, and the
    outcomes stored at the batch's end: rows the server never saw were sent again, then ended
    ERROR "in flight twice", never sent. Now a row is marked just before its message, and its
    outcome stored before the next one goes."""
    smtp, http = SmtpServer(answer_after_s=0.3).start(), HttpReceiver()
    config = paging_config(tmp_path, smtp, http)
    daemon = make_daemon(config=config, env={"PYTHONHASHSEED": HASH_SEED}).start()
    try:
        paging = Paging(daemon, smtp, http)
        names = one_channel_actor([f"user{n}" for n in range(40)])[:6]
        paging.policy([(600, [paging.user(name) for name in names])])
        smtp.hold_after(2)
        incident_id = paging.alert()
        wait_for(lambda: len(smtp.messages) == 3, "the server holding the third page")
        daemon.kill()
        arrived = [int(mail["X-Ilertd-Notification"].removeprefix("ilertd-n")) for mail in smtp.messages]
        rows = incident_rows(daemon.data_dir, incident_id)
        # The two answered are stored SUCCESS, only the held one is marked, the rest were not handed out.
        assert [rows[row_id]["status"] for row_id in arrived] == ["SUCCESS", "SUCCESS", "SCHEDULED"]
        assert rows[arrived[2]]["sending_since"] is not None
        assert [row["sending_since"] for row_id, row in rows.items() if row_id not in arrived] == [None] * 3
        smtp.hold_after(4)
        kill_while_starting(daemon, lambda: len(smtp.messages) == 5,
                            "the server holding the second page after the restart")
        smtp.hold_after(None)
        daemon.start()

        def settled() -> dict[int, dict[str, Any]]:
            rows = incident_rows(daemon.data_dir, incident_id)
            return rows if all(row["status"] != "SCHEDULED" for row in rows.values()) else {}

        rows = wait_for(settled, "every page sent or given up")
        arrived = [int(mail["X-Ilertd-Notification"].removeprefix("ilertd-n")) for mail in smtp.messages]
        assert [row_id for row_id in rows if row_id not in arrived] == []
        # Given up ("in flight twice") only when the server had it both times.
        assert all(arrived.count(row_id) == 2 for row_id, row in rows.items() if row["status"] == "ERROR")
        assert all(paging.mails_to(f"{name}@example.com") for name in names)
    finally:
        smtp.hold_after(None)
        daemon.stop()
        smtp.stop()
        http.close()


def test_a_page_cancelled_while_its_batch_sends_others_is_not_sent(app_paging: Paging) -> None:
    """A batch's rows were marked together before its first message and read once: a page
    cancelled (its incident accepted) while the server held an earlier message of the batch went
    out all the same, its row SUCCESS over CANCELLED. Each row is read again once marked."""
    names = [name for name in (f"user{n}" for n in range(40))
             if hash(f"{name}@example.com") % CHANNEL_ACTORS_PER_METHOD == 0][:2]
    first, second = (app_paging.user(name) for name in names)
    app_paging.policy([(600, [first, second])])
    app_paging.smtp.hold_after(0)
    try:
        incident_id = app_paging.alert()  # due now: handed to the channel without a clock move
        wait_for(lambda: app_paging.smtp.messages, "the server holding the first page")
        accepted = app_paging.daemon.put(f"/api/incidents/{incident_id}/accept")
        assert accepted.status_code == 200, accepted.text
    finally:
        app_paging.smtp.hold_after(None)
    daemon = app_paging.daemon
    assert isinstance(daemon, InProcessDaemon)
    daemon.quiet()  # the batch done, its outcomes stored
    rows = app_paging.notifications(incident_id)
    assert sorted(r["status"] for r in rows) == ["CANCELLED", "SUCCESS"]
    assert len(app_paging.smtp.messages) == 1
    (cancelled,) = [r for r in rows if r["status"] == "CANCELLED"]
    assert outbox_row(daemon.data_dir, int(cancelled["id"]))["sending_since"] is None
