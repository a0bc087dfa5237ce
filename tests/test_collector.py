"""The daemon's collector policy: rarer collections, and startup's objects frozen out of them."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ilertd import collector


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored")
def test_tune_makes_collections_rarer_and_settle_freezes_what_exists() -> None:
    defaults = gc.get_threshold()
    collector.tune()
    assert gc.get_threshold() == collector.THRESHOLDS
    assert all(tuned >= default for tuned, default in zip(collector.THRESHOLDS, defaults, strict=True))
    built_at_startup = [object() for _ in range(1000)], {"cache": [1, 2, 3]}
    collector.settle()
    # Everything the collector tracked, startup's objects among them, is out of its sight now.
    assert gc.get_freeze_count() >= 1000
    assert all(not any(o is built_at_startup for o in generation) for generation in
               (gc.get_objects(0), gc.get_objects(1), gc.get_objects(2)))
