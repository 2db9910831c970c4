"""The producer helper's bounded back-pressure wait and the named Kafka retry policies.

The producer is a real confluent-kafka producer pointed at a loopback port nobody listens on,
so its local queue fills and its deliveries fail, which is what these tests need. The reader's
fatal-error path uses a stand-in consumer: a broker cannot be made to send a fatal error on demand.
"""

from __future__ import annotations

import logging
import time

import pytest
from confluent_kafka import KafkaError, KafkaException

from kafkapipeline.kafka.hook import PipelineKafkaHook
from kafkapipeline.kafka.produce import BoundedProducer, QueueFull
from kafkapipeline.kafka.retry import kafka_retriable
from kafkapipeline.kafka.snapshot import SnapshotReader, SnapshotReadError

DEAD_END = {"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 1500, "log_level": 0}


def dead_end_producer(**overrides):
    return PipelineKafkaHook().producer(**(DEAD_END | overrides))


def test_a_full_local_queue_is_waited_on_for_a_bounded_time_then_named():
    raw = dead_end_producer(**{"queue.buffering.max.messages": 2, "message.timeout.ms": 60_000})
    producer = BoundedProducer(raw, "nowhere", queue_wait=1.0)
    producer.produce(b"a")
    producer.produce(b"b")

    started = time.monotonic()
    with pytest.raises(QueueFull, match=r"local producer queue stayed full for 1s"):
        producer.produce(b"c")

    assert 1.0 <= time.monotonic() - started < 5
    assert producer.report.attempted == 2  # the refused one was never queued
    raw.purge()


def test_failed_deliveries_are_counted_with_the_first_error_described():
    producer = BoundedProducer(
        dead_end_producer(), "nowhere", queue_wait=5, describe=lambda error, _m: f"described: {error.name()}"
    )
    for value in (b"a", b"b", b"c"):
        producer.produce(value, b"k", [("h", None)])

    remaining = producer.flush(20)

    assert remaining == 0
    report = producer.report
    assert (report.attempted, report.delivered, report.failed, report.pending) == (3, 0, 3, 0)
    assert report.first_error == "described: _MSG_TIMED_OUT"


def test_flush_deadline_counts_what_is_still_unacknowledged_as_failed():
    raw = dead_end_producer(**{"message.timeout.ms": 60_000})
    producer = BoundedProducer(raw, "nowhere", queue_wait=5)
    producer.produce(b"a")
    producer.produce(b"b")

    assert producer.flush(0.5) == 2
    assert (producer.report.failed, producer.report.first_error) == (
        2,
        "no delivery report within 0.5 s (is Kafka reachable?)",
    )
    raw.purge()


def test_queue_wait_must_be_positive():
    with pytest.raises(ValueError, match="queue_wait"):
        BoundedProducer(dead_end_producer(), "t", queue_wait=0)


def retriable(name: str = "coordinator moving") -> KafkaException:
    return KafkaException(KafkaError(KafkaError.COORDINATOR_NOT_AVAILABLE, name, retriable=True))


def test_kafka_retriable_retries_retriable_errors_then_returns(caplog):
    caplog.set_level(logging.WARNING)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise retriable()
        return "done"

    assert kafka_retriable(10, "t: committing", logging.getLogger("t"))(flaky) == "done"
    assert len(calls) == 3
    assert caplog.text.count("t: committing failed (coordinator moving), retrying") == 2


def test_kafka_retriable_raises_a_non_retriable_error_at_once():
    calls = []

    def broken() -> None:
        calls.append(1)
        raise KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "denied"))

    with pytest.raises(KafkaException, match="denied"):
        kafka_retriable(10, "t", logging.getLogger("t"))(broken)
    assert len(calls) == 1


@pytest.mark.parametrize(("timeout", "attempts", "most_calls"), [(1.2, None, 4), (30, 2, 2)])
def test_kafka_retriable_gives_up_after_its_time_or_attempts(timeout, attempts, most_calls):
    calls = []

    def always() -> None:
        calls.append(1)
        raise retriable("still moving")

    with pytest.raises(KafkaException, match="still moving"):
        kafka_retriable(timeout, "t", logging.getLogger("t"), attempts=attempts)(always)
    assert 2 <= len(calls) <= most_calls


class _ErrorMessage:
    def __init__(self, error: KafkaError) -> None:
        self._error = error

    def error(self) -> KafkaError:
        return self._error

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 0


class _Consumer:
    """Stands in for a consumer whose broker reports ``errors`` (one per consume call)."""

    def __init__(self, errors: list[KafkaError]) -> None:
        self.errors = errors

    def assign(self, _partitions) -> None:
        pass

    def pause(self, _partitions) -> None:
        pass

    def consume(self, num_messages: int, timeout: float) -> list[_ErrorMessage]:
        return [_ErrorMessage(self.errors.pop(0))] if self.errors else []


def test_a_fatal_kafka_error_stops_the_read_with_a_clear_error_and_a_retriable_one_does_not(caplog):
    caplog.set_level(logging.WARNING)
    errors = [
        KafkaError(KafkaError._TRANSPORT, "broker went away", retriable=True),
        KafkaError(KafkaError._FATAL, "producer fenced", fatal=True),
    ]
    reader = SnapshotReader(_Consumer(errors), "t", {0: (0, 5)}, idle_timeout=5)  # type: ignore[arg-type]

    with pytest.raises(SnapshotReadError, match=r"^Kafka error while reading t: producer fenced$"):
        list(reader.chunks())
    assert "transient Kafka error while reading: broker went away" in caplog.text


def test_reader_arguments_are_checked():
    with pytest.raises(ValueError, match="chunk"):
        SnapshotReader(_Consumer([]), "t", {}, idle_timeout=1, chunk=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_messages"):
        SnapshotReader(_Consumer([]), "t", {}, idle_timeout=1, max_messages=-1)  # type: ignore[arg-type]
