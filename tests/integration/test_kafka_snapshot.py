"""SnapshotReader against the real Kafka: markers, empty partitions, the budget, the idle timeout."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer

from kafkapipeline.kafka.produce import TopicProducer
from kafkapipeline.kafka.snapshot import SnapshotReader
from tests.conftest import unique_name


def produce(kafka_hook, topic: str, partition: int, count: int, *, transactional: bool = False) -> None:
    """``count`` messages to one partition; a transactional writer adds a commit marker after them."""
    overrides = {"transactional.id": f"{topic}.writer.{partition}"} if transactional else {}
    producer = kafka_hook.producer(**overrides)
    if transactional:
        producer.init_transactions(30)
        producer.begin_transaction()
    for i in range(count):
        producer.produce(topic, value=f"m{i}".encode(), key=str(i).encode(), partition=partition)
    if transactional:
        producer.commit_transaction(30)
    assert producer.flush(30) == 0


def high(consumer: Consumer, topic: str, partition: int) -> int:
    from confluent_kafka import TopicPartition

    return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)[1]


@pytest.fixture
def consumer(kafka_hook) -> Iterator[Consumer]:
    consumer = kafka_hook.consumer(unique_name("snapshot.group"))
    yield consumer
    consumer.close()


def read_all(reader: SnapshotReader) -> list[tuple[int, int, bytes]]:
    return [(m.partition(), m.offset(), m.value()) for chunk in reader.chunks() for m in chunk]


def test_transaction_markers_and_an_empty_partition_reach_their_end(make_topic, kafka_hook, consumer):
    topic = make_topic("snap_markers", partitions=3, with_dlq=False)
    produce(kafka_hook, topic, 0, 3, transactional=True)  # offsets 0-2, the marker at 3
    produce(kafka_hook, topic, 1, 2)  # plain: offsets 0-1
    ends = {p: high(consumer, topic, p) for p in range(3)}
    assert ends == {0: 4, 1: 2, 2: 0}

    started = time.monotonic()
    reader = SnapshotReader(consumer, topic, {p: (0, end) for p, end in ends.items()}, idle_timeout=20)
    messages = read_all(reader)

    assert sorted(messages) == [(0, 0, b"m0"), (0, 1, b"m1"), (0, 2, b"m2"), (1, 0, b"m0"), (1, 1, b"m1")]
    marked, plain, empty = (reader.progress[p] for p in range(3))
    assert (marked.done, marked.reached_end, marked.commit_offset, marked.messages) == (True, True, 4, 3)
    assert (plain.done, plain.commit_offset, plain.messages) == (True, 2, 2)
    assert (empty.done, empty.reached_end, empty.commit_offset) == (True, False, None)  # nothing to commit
    assert reader.stopped_early is None and reader.read == 5
    assert time.monotonic() - started < 15  # the marker's end-of-partition ended the read: no idle wait


def test_messages_after_the_snapshot_are_left_for_the_next_reader(make_topic, kafka_hook, consumer):
    topic = make_topic("snap_later", partitions=1, with_dlq=False)
    produce(kafka_hook, topic, 0, 3)
    end = high(consumer, topic, 0)
    produce(kafka_hook, topic, 0, 4)  # arrives after the snapshot

    reader = SnapshotReader(consumer, topic, {0: (0, end)}, idle_timeout=20, chunk=2)
    messages = read_all(reader)

    assert [offset for _, offset, _ in messages] == [0, 1, 2]
    assert reader.progress[0].commit_offset == 3


def test_the_budget_cuts_the_read_and_the_commit_offset_stops_after_the_last_message(
    make_topic, kafka_hook, consumer
):
    topic = make_topic("snap_budget", partitions=1, with_dlq=False)
    produce(kafka_hook, topic, 0, 10, transactional=True)  # a marker at 10

    reader = SnapshotReader(consumer, topic, {0: (2, 11)}, max_messages=4, idle_timeout=20, chunk=3)
    chunks = [[m.offset() for m in chunk] for chunk in reader.chunks()]

    assert [offset for chunk in chunks for offset in chunk] == [2, 3, 4, 5]
    assert all(len(chunk) <= 3 for chunk in chunks)
    progress = reader.progress[0]
    assert (progress.reached_end, progress.commit_offset, reader.budget) == (False, 6, 0)  # not the end


def test_an_end_that_never_comes_stops_at_the_idle_timeout(make_topic, kafka_hook, consumer):
    topic = make_topic("snap_idle", partitions=1, with_dlq=False)
    produce(kafka_hook, topic, 0, 2)

    started = time.monotonic()
    reader = SnapshotReader(consumer, topic, {0: (0, 5)}, idle_timeout=2)  # 3 offsets that do not exist
    messages = read_all(reader)

    assert [offset for _, offset, _ in messages] == [0, 1]
    assert 2 <= time.monotonic() - started < 15
    assert reader.stopped_early and f"partitions [0] of {topic}" in reader.stopped_early
    assert (reader.progress[0].done, reader.progress[0].commit_offset) == (False, 2)


def test_eof_closes_finishes_below_the_end_without_claiming_it(make_topic, kafka_hook, consumer):
    topic = make_topic("snap_eof", partitions=1, with_dlq=False)
    produce(kafka_hook, topic, 0, 2)

    started = time.monotonic()
    reader = SnapshotReader(consumer, topic, {0: (0, 5)}, idle_timeout=20, eof_closes=True)
    read_all(reader)

    assert time.monotonic() - started < 15 and reader.stopped_early is None
    assert (reader.progress[0].done, reader.progress[0].reached_end, reader.progress[0].commit_offset) == (
        True,
        False,
        2,
    )


def test_max_seconds_bounds_the_whole_read(make_topic, kafka_hook, consumer):
    topic = make_topic("snap_deadline", partitions=1, with_dlq=False)
    produce(kafka_hook, topic, 0, 1)

    reader = SnapshotReader(consumer, topic, {0: (0, 3)}, idle_timeout=60, max_seconds=2)
    read_all(reader)

    assert reader.stopped_early == f"partitions [0] of {topic} not read to their end in 2s"


def test_bounded_producer_counts_acknowledged_deliveries(make_topic, kafka_hook, consumer):
    topic = make_topic("produce_ok", partitions=1, with_dlq=False)
    producer = TopicProducer(kafka_hook.producer(), topic, queue_wait=5)
    for i in range(5):
        producer.produce(f"v{i}".encode(), f"k{i}".encode(), [("h", b"1")])

    assert producer.flush(30) == 0
    assert producer.report.as_dict() == {
        "topic": topic,
        "attempted": 5,
        "delivered": 5,
        "failed": 0,
        "first_error": None,
    }
    reader = SnapshotReader(consumer, topic, {0: (0, high(consumer, topic, 0))}, idle_timeout=20)
    assert [value for _, _, value in read_all(reader)] == [f"v{i}".encode() for i in range(5)]
