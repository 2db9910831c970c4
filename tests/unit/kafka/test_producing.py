"""RecordProducer's accounting, with a real confluent-kafka producer and no broker to talk to.

The producer points at a loopback port nobody listens on, so every delivery report is a
failure; that is exactly what these tests need to see counted. Deliveries that succeed
are covered against the real Kafka in tests/integration/test_ingest.py.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from kafkapipeline.kafka.hook import PipelineKafkaHook
from kafkapipeline.kafka.producing import DeliveryFailed, RecordProducer, produce_records
from kafkapipeline.streams.tweets import TweetRecord

NOBODY_LISTENS = "127.0.0.1:1"
#: Where nobody listens, fail fast, and keep librdkafka's connection-refused lines out of the output.
DEAD_END = {"bootstrap.servers": NOBODY_LISTENS, "message.timeout.ms": 1500, "log_level": 0}


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
    with pytest.raises(DeliveryFailed) as raised:
        produce_records(tweets(3), "nowhere", flush_timeout=20, **DEAD_END)

    report = raised.value.report
    assert (report.attempted, report.delivered, report.failed) == (3, 0, 3)
    assert str(raised.value).startswith("3 of 3 records to topic 'nowhere' were not acknowledged")
    assert "timed out" in str(raised.value).lower()


def test_a_record_rejected_before_sending_is_counted_too():
    producer = RecordProducer(dead_end_producer(**{"message.max.bytes": 1000}), "nowhere", flush_timeout=20)
    big, small = tweets(1, text="x" * 5000), tweets(2)

    queued = producer.produce(big + small)

    assert queued == 2
    with pytest.raises(DeliveryFailed, match=r"^3 of 3 records.*first error: .*too large"):
        producer.flush()


def test_flush_timeout_counts_the_records_still_waiting():
    producer = RecordProducer(
        dead_end_producer(**{"message.timeout.ms": 60_000}), "nowhere", flush_timeout=0.5
    )
    producer.produce(tweets(4))

    with pytest.raises(DeliveryFailed, match=r"4 of 4 .*no delivery report within 0.5 s"):
        producer.flush()
    producer._producer.purge()


def test_leaving_the_block_always_flushes_and_never_hides_the_original_error(caplog):
    caplog.set_level(logging.ERROR)
    producer = RecordProducer(dead_end_producer(), "nowhere", flush_timeout=20)
    with pytest.raises(RuntimeError, match="source broke"), producer:
        producer.produce(tweets(2))
        raise RuntimeError("source broke")

    assert producer.report.failed == 2  # the flush on the way out still collected the reports
    assert "2 of 2 records" in caplog.text


def test_arguments_are_validated():
    with pytest.raises(ValueError, match="topic"):
        RecordProducer(dead_end_producer(), "")
    with pytest.raises(ValueError, match="flush_timeout"):
        RecordProducer(dead_end_producer(), "t", flush_timeout=0)
