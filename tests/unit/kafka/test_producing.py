"""TopicProducer's accounting, with a real confluent-kafka producer and no broker to talk to.

The producer points at a loopback port nobody listens on, so its local queue fills and every
delivery report is a failure; that is exactly what these tests need to see counted. Deliveries
that succeed are covered against the real Kafka in tests/integration/test_ingest.py.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from kafkapipeline.kafka.hook import PipelineKafkaHook
from kafkapipeline.kafka.produce import DeliveryFailed, QueueFull, TopicProducer
from kafkapipeline.streams.tweets import TweetRecord

#: Where nobody listens, fail fast, and keep librdkafka's connection-refused lines out of the output.
DEAD_END = {"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 1500, "log_level": 0}


def tweets(count: int, text: str = "hello") -> list[TweetRecord]:
    start = datetime(2026, 11, 20, 12, tzinfo=UTC)
    return [
        TweetRecord(
            tweet_id=str(1000 + i), text=text, created_at=start + timedelta(seconds=i), city="Vancouver"
        )
        for i in range(count)
    ]


def dead_end_producer(**overrides):
    return PipelineKafkaHook().producer(**(DEAD_END | overrides))


def test_unacknowledged_records_raise_with_how_many_out_of_how_many():
    with (
        pytest.raises(DeliveryFailed) as raised,
        TopicProducer(dead_end_producer(), "nowhere", flush_timeout=20) as producer,
    ):
        producer.send(tweets(3))

    report = raised.value.report
    assert (report.attempted, report.delivered, report.failed) == (3, 0, 3)
    assert str(raised.value).startswith("3 of 3 records to topic 'nowhere' were not acknowledged")
    assert "timed out" in str(raised.value).lower()


def test_a_record_rejected_before_sending_is_counted_too():
    producer = TopicProducer(dead_end_producer(**{"message.max.bytes": 1000}), "nowhere", flush_timeout=20)
    big, small = tweets(1, text="x" * 5000), tweets(2)

    queued = producer.send(big + small)

    assert queued == 2
    with pytest.raises(DeliveryFailed, match=r"^3 of 3 records.*first error: .*too large"):
        producer.confirm()


def test_failed_deliveries_are_counted_with_the_first_error_described():
    producer = TopicProducer(
        dead_end_producer(), "nowhere", describe=lambda error, _m: f"described: {error.name()}"
    )
    for value in (b"a", b"b", b"c"):
        producer.produce(value, b"k", [("h", None)])

    remaining = producer.flush(20)

    assert remaining == 0
    report = producer.report
    assert (report.attempted, report.delivered, report.failed, report.pending) == (3, 0, 3, 0)
    assert report.first_error == "described: _MSG_TIMED_OUT"


def test_the_flush_deadline_counts_the_records_still_waiting_as_failed():
    producer = TopicProducer(
        dead_end_producer(**{"message.timeout.ms": 60_000}), "nowhere", flush_timeout=0.5
    )
    producer.send(tweets(4))

    with pytest.raises(
        DeliveryFailed, match=r"4 of 4 .*no delivery report within 0.5 s \(is Kafka reachable\?\)"
    ):
        producer.confirm()
    producer.producer.purge()


def test_a_full_local_queue_is_waited_on_for_a_bounded_time_then_named():
    raw = dead_end_producer(**{"queue.buffering.max.messages": 2, "message.timeout.ms": 60_000})
    producer = TopicProducer(raw, "nowhere", queue_wait=1.0)
    producer.produce(b"a")
    producer.produce(b"b")

    started = time.monotonic()
    with pytest.raises(QueueFull, match=r"local producer queue stayed full for 1s"):
        producer.produce(b"c")

    assert 1.0 <= time.monotonic() - started < 5
    assert producer.report.attempted == 2  # the refused one was never queued
    raw.purge()


def test_a_record_that_finds_no_room_in_time_is_counted_as_failed():
    raw = dead_end_producer(**{"queue.buffering.max.messages": 1, "message.timeout.ms": 60_000})
    producer = TopicProducer(raw, "nowhere", queue_wait=0.5)

    assert producer.send(tweets(2)) == 1
    assert (producer.report.attempted, producer.report.failed) == (2, 1)
    assert "stayed full" in str(producer.report.first_error)
    raw.purge()


def test_leaving_the_block_always_confirms_and_never_hides_the_original_error(caplog):
    caplog.set_level(logging.ERROR)
    producer = TopicProducer(dead_end_producer(), "nowhere", flush_timeout=20)
    with pytest.raises(RuntimeError, match="source broke"), producer:
        producer.send(tweets(2))
        raise RuntimeError("source broke")

    assert producer.report.failed == 2  # the flush on the way out still collected the reports
    assert "2 of 2 records" in caplog.text


def test_arguments_are_validated():
    with pytest.raises(ValueError, match="topic"):
        TopicProducer(dead_end_producer(), "")
    for waits in ({"flush_timeout": 0}, {"queue_wait": 0}):
        with pytest.raises(ValueError, match="must be positive"):
            TopicProducer(dead_end_producer(), "t", **waits)
