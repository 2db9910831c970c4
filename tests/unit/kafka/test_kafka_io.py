"""The named Kafka retry policies and the snapshot reader's error handling.

The reader's fatal-error path uses a stand-in consumer: a broker cannot be made to send a fatal
error on demand.
"""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError, KafkaException

from kafkapipeline.kafka.retry import kafka_retriable
from kafkapipeline.kafka.snapshot import SnapshotReader, SnapshotReadError


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

    def resume(self, _partitions) -> None:
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
