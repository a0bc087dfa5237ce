"""The dependencies every actor is given: clock, store writer, work tracker, settings."""

from __future__ import annotations

from dataclasses import dataclass

import peewee

from ilertd.actors.clock import Clock
from ilertd.actors.tracker import WorkTracker
from ilertd.store.committer import Committer


@dataclass(frozen=True)
class Runtime:
    db: peewee.Database
    clock: Clock
    committer: Committer
    tracker: WorkTracker
    public_url: str
