"""Lag arithmetic: where a group resumes and how far behind it is."""

from __future__ import annotations

import pytest

from kafkapipeline.kafka.lag import LagReader, PartitionLag, TopicLag


@pytest.mark.parametrize(
    ("committed", "low", "high", "start", "lag"),
    [
        (-1001, 0, 10, 0, 10),  # nothing committed: from the low watermark
        (-1001, 4, 10, 4, 6),  # nothing committed, older messages deleted
        (7, 0, 10, 7, 3),
        (10, 0, 10, 10, 0),
        (2, 5, 10, 5, 5),  # committed offset deleted by retention: from the low watermark
        (0, 0, 0, 0, 0),  # empty partition
    ],
)
def test_start_and_lag(committed, low, high, start, lag):
    partition = PartitionLag(partition=0, committed=committed, low=low, high=high)
    assert partition.start == start
    assert partition.lag == lag


def test_topic_totals_and_oldest_age():
    topic_lag = TopicLag(
        topic="t",
        group_id="g",
        partitions=(
            PartitionLag(0, committed=5, low=0, high=10, oldest_timestamp_ms=1_000_000),
            PartitionLag(1, committed=-1001, low=0, high=3, oldest_timestamp_ms=990_000),
            # no lag: its timestamp (say, of an old message) must not count
            PartitionLag(2, committed=8, low=0, high=8, oldest_timestamp_ms=1),
        ),
        measured_at=1_010.0,
    )
    assert topic_lag.total == 8
    assert topic_lag.oldest_timestamp_ms == 990_000
    assert topic_lag.oldest_age_seconds() == pytest.approx(20.0)
    assert topic_lag.to_dict()["partitions"][1]["lag"] == 3
    assert "lag 8 (p0=5, p1=3, p2=0)" in topic_lag.describe()


def test_no_pending_message_has_no_age():
    idle = TopicLag("t", "g", (PartitionLag(0, committed=3, low=0, high=3),), measured_at=5.0)
    assert idle.oldest_age_seconds() is None
    assert "no pending messages" in idle.describe()


def test_future_timestamps_count_as_age_zero():
    skewed = TopicLag("t", "g", (PartitionLag(0, 0, 0, 1, oldest_timestamp_ms=10_000),), measured_at=5.0)
    assert skewed.oldest_age_seconds() == 0.0


@pytest.mark.parametrize(("args", "message"), [(("", "g"), "topic"), (("t", ""), "group_id")])
def test_reader_refuses_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        LagReader(*args)


def test_reader_builds_no_client_until_first_read():
    reader = LagReader("t", "g", kafka_config_id="no_such_connection")
    reader.close()  # nothing to close, and no connection looked up
