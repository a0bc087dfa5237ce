"""How the daemon's cyclic garbage collector runs: rarely, and never over what startup built.

CPython's defaults (a collection every 700 allocations net of frees, a full one every 100 of
those) suit a short script. A daemon holding ten thousand incidents, their policies and people
allocates a burst of short-lived objects for each event and page, and each full collection walks
every object it holds: in a storm of 10,000 escalations the collector ran about 1,300 times and
took about 1 s of the interpreter lock, full collections of 70-130 ms included. Almost nothing
the daemon builds is cyclic garbage (rows, transitions and messages are freed by reference
counting), so collections are made rarer, and what exists once the daemon serves (modules, the
app, caches) is moved out of the collector's sight with `gc.freeze()`.
"""

from __future__ import annotations

import gc

# Allocations net of frees before a young collection; young collections before a middle one;
# middle ones before a full one (which also waits for the long-lived objects to grow by 25 %).
THRESHOLDS = (50_000, 20, 20)


def tune() -> None:
    """Called once, before the daemon starts: collections become rarer."""
    gc.set_threshold(*THRESHOLDS)


def settle() -> None:
    """Called once the daemon serves: what startup built is collected once, then frozen."""
    gc.collect()
    gc.freeze()
