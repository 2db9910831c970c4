"""A drain that follows on: when it drains again, when it stops, and the one summary it returns."""

from __future__ import annotations

import time

import pytest

from kafkapipeline.drain.follow import Follower
from kafkapipeline.drain.summary import DrainSummary
from kafkapipeline.drain.task import queued_run
from kafkapipeline.kafka.lag import PartitionLag, TopicLag
from kafkapipeline.kafka.lag_trigger import REASON_MAX_WAIT, REASON_MIN_BATCH
from kafkapipeline.kafka.snapshot import PartitionProgress


class Clock:
    """Monotonic seconds that move only when the follower sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Readings:
    """A lag reader replaying readings (pending per partition, oldest age in s); the last one forever."""

    def __init__(self, *readings: dict[int, tuple[int, float | None]]) -> None:
        self.readings = list(readings)
        self.with_ages_calls = 0

    def _lag(self, with_age: bool) -> TopicLag:
        reading = self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]
        now_ms = time.time() * 1000
        partitions = tuple(
            PartitionLag(
                partition,
                committed=100,
                low=0,
                high=100 + pending,
                oldest_timestamp_ms=None if (age is None or not with_age) else round(now_ms - age * 1000),
            )
            for partition, (pending, age) in sorted(reading.items())
        )
        self.last = reading
        return TopicLag(topic="t", group_id="g", partitions=partitions)

    def read(self, with_age: bool = True) -> TopicLag:
        return self._lag(with_age)

    def with_ages(self, lag: TopicLag) -> TopicLag:
        self.with_ages_calls += 1
        now_ms = time.time() * 1000
        return TopicLag(
            topic=lag.topic,
            group_id=lag.group_id,
            partitions=tuple(
                PartitionLag(
                    p.partition,
                    p.committed,
                    p.low,
                    p.high,
                    None
                    if self.last[p.partition][1] is None
                    else round(now_ms - self.last[p.partition][1] * 1000),
                )
                for p in lag.partitions
            ),
        )


def follower(
    readings: Readings, clock: Clock, partitions=None, min_batch=100, max_wait=2.0, *, waiting_run=None
) -> Follower:
    return Follower(
        readings,  # type: ignore[arg-type]
        partitions,
        min_batch=min_batch,
        max_wait_seconds=max_wait,
        poll_seconds=1.0,
        waiting_run=waiting_run,
        clock=clock,
        sleep=clock.sleep,
    )


def batch(partition: int, first: int, last: int, **counts: int) -> DrainSummary:
    progress = PartitionProgress(partition, first, last + 1, first, last, last - first + 1, True, True)
    return DrainSummary(
        topic="t",
        stream="tweets",
        group_id="g",
        batch_id=f"p{partition}:{first}-{last}",
        messages_read=progress.messages,
        rows_written=counts.get("rows", progress.messages),
        write_requests=counts.get("requests", 1),
        dead_lettered=counts.get("dead", 0),
        seconds=1.0,
        committed=True,
        partitions=[progress],
        stage_seconds={"write": 0.5},
        days=[f"2026-12-0{partition + 1}"],
        dead_letter_reasons={"invalid_value": counts["dead"]} if counts.get("dead") else {},
        lag_after=counts.get("lag", 0),
    )


def test_enough_pending_is_a_batch_at_once():
    clock = Clock()
    assert follower(Readings({0: (150, 0.1)}), clock).next_batch(until=30) == REASON_MIN_BATCH
    assert clock.sleeps == []


def test_a_few_pending_wait_until_the_oldest_is_max_wait_old():
    clock = Clock()
    readings = Readings({0: (5, 0.5)}, {0: (9, 1.5)}, {0: (12, 2.5)})
    assert follower(readings, clock).next_batch(until=30) == REASON_MAX_WAIT
    assert clock.sleeps == [1.0, 1.0] and readings.with_ages_calls == 3


def test_an_idle_group_ends_the_following_after_max_wait_when_that_is_shorter():
    clock = Clock()
    assert follower(Readings({0: (0, None)}), clock, max_wait=2.0).next_batch(until=30) is None
    assert clock.now == 2.0  # idle for max_wait, not until the deadline


def test_an_idle_group_ends_the_following_after_three_polls_under_a_long_max_wait():
    clock = Clock()
    assert follower(Readings({0: (0, None)}), clock, max_wait=60.0).next_batch(until=300) is None
    assert clock.now == 3.0  # back to the deferred sensor, not a minute holding a worker slot


def test_a_moment_with_nothing_pending_is_not_idle():
    clock = Clock()  # a batch just emptied the lag; the next messages arrive within two polls
    readings = Readings({0: (0, None)}, {0: (0, None)}, {0: (150, 0.1)})
    assert follower(readings, clock, max_wait=60.0).next_batch(until=300) == REASON_MIN_BATCH
    assert clock.now == 2.0


def test_the_deadline_ends_the_wait():
    clock = Clock()
    assert follower(Readings({0: (5, 0.1)}), clock, max_wait=60).next_batch(until=3.5) is None
    assert clock.now <= 3.5


def test_only_the_task_s_own_partitions_count():
    clock = Clock()
    readings = Readings({0: (500, 9.0), 1: (0, None)})
    assert follower(readings, clock, partitions=[1], max_wait=1.0).next_batch(until=30) is None


def test_follow_drains_each_ready_batch_and_returns_them_as_one_summary():
    clock = Clock()
    readings = Readings({0: (150, 0.1)}, {0: (150, 0.1)}, {0: (0, None)})
    later = [batch(0, 200, 349, dead=2, lag=7, requests=3), batch(0, 350, 499, lag=0, requests=3)]
    first = batch(0, 50, 199, dead=1, lag=3, requests=4)
    summary = follower(readings, clock).follow(first, lambda: later.pop(0), until=60)
    assert later == []
    assert (summary.messages_read, summary.rows_written, summary.dead_lettered) == (450, 450, 3)
    assert summary.dead_letter_reasons == {"invalid_value": 3} and summary.write_requests == 10
    (progress,) = summary.partitions
    assert (progress.start_offset, progress.first_offset, progress.last_offset, progress.messages) == (
        50,
        50,
        499,
        450,
    )
    assert (summary.lag_after, summary.batch_id, summary.seconds) == (0, "p0:350-499", 3.0)
    assert summary.stage_seconds == {"write": 1.5} and summary.committed
    assert summary.batches == 3 and summary.to_dict()["batches"] == 3


def test_a_lag_read_that_fails_ends_the_following_with_what_was_committed():
    class Broken(Readings):
        def read(self, with_age: bool = True) -> TopicLag:
            raise RuntimeError("broker gone")

    first = batch(0, 0, 9)
    never = lambda: pytest.fail("no batch")  # noqa: E731
    summary = follower(Broken({0: (0, None)}), Clock()).follow(first, never, until=60)
    assert summary is first


def test_a_failed_batch_fails_the_task():
    def failing() -> DrainSummary:
        raise RuntimeError("Cassandra refused")

    with pytest.raises(RuntimeError, match="Cassandra refused"):
        follower(Readings({0: (150, 0.1)}), Clock()).follow(batch(0, 0, 9), failing, until=60)


def test_a_queued_run_ends_the_following_before_the_next_batch():
    clock = Clock()
    answers = [None, "1 run(s) of drain_tweets queued behind this one"]  # asked after the second batch
    readings = Readings({0: (150, 0.1)})  # always a batch ready
    later = [batch(0, 200, 349)]
    first = batch(0, 50, 199)
    summary = follower(readings, clock, waiting_run=lambda: answers.pop(0)).follow(
        first, lambda: later.pop(0), until=60
    )
    assert later == [] and answers == []
    assert summary.batches == 2 and summary.messages_read == 300
    assert clock.sleeps == []  # handed over at once, not after the idle polls


def test_a_queued_run_is_noticed_while_waiting_for_a_batch():
    clock = Clock()
    answers = iter([None, None, "a run waits"])
    readings = Readings({0: (5, 0.1)})  # too few and too young: the follower waits
    assert follower(readings, clock, max_wait=60, waiting_run=lambda: next(answers)).next_batch(300) is None
    assert clock.now == 2.0


def test_waiting_runs_that_cannot_be_read_end_the_following_with_what_was_committed():
    def unreadable() -> str | None:
        raise ConnectionError("API server gone")

    first = batch(0, 0, 9)
    never = lambda: pytest.fail("no batch")  # noqa: E731
    summary = follower(Readings({0: (150, 0.1)}), Clock(), waiting_run=unreadable).follow(first, never, 60)
    assert summary is first


class TaskInstance:
    """The Task SDK's task instance, as far as ``queued_run`` uses it: runs of a DAG by state."""

    dag_id = "drain_tweets"

    def __init__(self, queued: int) -> None:
        self.queued = queued
        self.asked: list[tuple[str, list[str] | None]] = []

    def get_dr_count(self, dag_id: str, logical_dates=None, run_ids=None, states=None) -> int:
        self.asked.append((dag_id, states))
        return self.queued if dag_id == self.dag_id and states == ["queued"] else 0


def test_queued_run_names_the_runs_waiting_behind_the_task_s_dag():
    ti = TaskInstance(queued=2)
    assert queued_run(ti) == "2 run(s) of drain_tweets queued behind this one"
    assert ti.asked == [("drain_tweets", ["queued"])]
    assert queued_run(TaskInstance(queued=0)) is None


def test_partitions_drained_in_one_batch_only_keep_their_range():
    merged = batch(0, 0, 9).then(batch(1, 5, 14))
    ranges = [(p.partition, p.first_offset, p.last_offset) for p in merged.partitions]
    assert ranges == [(0, 0, 9), (1, 5, 14)]
    assert merged.days == ["2026-12-01", "2026-12-02"]


def test_a_follower_needs_positive_thresholds():
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        follower(Readings({0: (0, None)}), Clock(), min_batch=0)
