"""The drain's micro-batch loop tunes the cyclic GC while it runs and always restores it (no services)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from kafkapipeline.drain.batch import GC_YOUNG_THRESHOLD, MicroBatch
from kafkapipeline.drain.options import DrainOptions
from kafkapipeline.drain.summary import DrainSummary
from kafkapipeline.kafka.snapshot import SnapshotReadError
from kafkapipeline.kafka.transaction import DrainError
from kafkapipeline.streams.tweets import TWEETS


class Reader:
    """Stands in for the SnapshotReader: records the GC state inside the loop, then ends or fails."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.progress: dict[int, Any] = {}
        self.stopped_early = None
        self.seen: tuple[tuple[int, int, int], int] | None = None

    def chunks(self) -> Iterator[list[Any]]:
        self.seen = (gc.get_threshold(), gc.get_freeze_count())
        if self.fail:
            raise SnapshotReadError("broker gone")
        yield from ()


class DeadLetters:
    sent = 0


def batch(reader: Reader) -> MicroBatch:
    summary = DrainSummary(topic="t", stream="tweets", group_id="g")
    micro = MicroBatch(None, TWEETS, summary, DrainOptions(), 10)  # type: ignore[arg-type]
    micro.reader = reader  # type: ignore[assignment]
    return micro


@pytest.mark.parametrize("fail", [False, True])
def test_gc_is_tuned_inside_the_loop_and_restored_after(fail: bool) -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    reader = Reader(fail)
    micro = batch(reader)
    if fail:
        with pytest.raises(DrainError, match="broker gone"):
            micro.read_and_write(None, DeadLetters())  # type: ignore[arg-type]
    else:
        micro.read_and_write(None, DeadLetters())  # type: ignore[arg-type]
    assert reader.seen is not None
    inside_threshold, inside_frozen = reader.seen
    assert inside_threshold == (max(before[0], GC_YOUNG_THRESHOLD), *before[1:])
    assert inside_frozen > frozen_before  # the objects that existed before the loop
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_automatic_collection_turned_off_by_threshold_stays_off() -> None:
    before = gc.get_threshold()
    gc.set_threshold(0)
    try:
        reader = Reader(fail=False)
        batch(reader).read_and_write(None, DeadLetters())  # type: ignore[arg-type]
        assert reader.seen is not None and reader.seen[0][0] == 0
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)
