"""Collection thresholds are raised while batches are processed and restored after the last one."""

from __future__ import annotations

import gc

from engine.ingest.collection import THRESHOLDS, fewer_collections


def test_thresholds_are_raised_while_working_and_restored_after_the_last_block():
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold() == THRESHOLDS
        with fewer_collections():  # another processor at work at the same time
            assert gc.get_threshold() == THRESHOLDS
        assert gc.get_threshold() == THRESHOLDS  # the first one is still working
    assert gc.get_threshold() == before
