"""A running daemon sees what another process wrote: it watches the store's config generation.

The daemon's caches (people, policies, sources, schedules, maintenance windows) and its schedule
actors hear of a write through the application layer's callbacks, which only fire in the process
that wrote. `ilertd provision` and `ilertd user delete` write from a process of their own; they
bump the `config_generation` setting in the same transaction. This watcher reads it every
`POLL_SECONDS` of wall-clock time (under the manual clock too: it is about another process's
writes, not the daemon's time) and, when it moved, has the context drop every cache and every
schedule look again, every held incident is held by its source's quiet times as they are now, and
the moves a user's delete recorded for its incidents are made.
"""

from __future__ import annotations

import logging
import threading

from ilertd.app.context import Context
from ilertd.app.quiet_times import retime_holds
from ilertd.store.db import connection
from ilertd.store.settings import config_generation

logger = logging.getLogger(__name__)

# How long a provisioned change may take to reach paging; one small read each time.
POLL_SECONDS = 2.0


class GenerationWatcher:
    def __init__(self, poll_seconds: float = POLL_SECONDS) -> None:
        self.poll_seconds = poll_seconds
        # The generation the caches reflect; None until started.
        self.seen: int | None = None
        self._ctx: Context | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, ctx: Context) -> None:
        self._ctx = ctx
        self.seen = config_generation()
        self._thread = threading.Thread(target=self._run, name="generation-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _check(self) -> None:
        assert self._ctx is not None
        # A connection of this thread's own, closed after each look.
        with connection(self._ctx.db):
            current = config_generation()
            if current == self.seen:
                return
            logger.info("store changed by another process (config generation %s -> %s): "
                        "reading users, schedules, policies and sources afresh", self.seen, current)
            self._ctx.store_changed_elsewhere()
            # `ilertd user delete` may have left incidents owing their level reached again.
            self._ctx.policy_moves_owed()
            # `ilertd provision` may have changed a source's support hours.
            retime_holds(self._ctx, None, "Support hours changed")
        self.seen = current

    def _run(self) -> None:
        while not self._stopping.wait(self.poll_seconds):
            try:
                self._check()
            except Exception:
                # A store that cannot be read now may answer at the next look.
                logger.exception("could not read the config generation")
