"""The drain's dead-letter transaction when Kafka refuses a dead letter (drain_transaction.py).

A copy refused as too large is cut and sent again; any other ``KafkaException`` from
``produce`` must become a :class:`DrainError`: the batch fails, its transaction is aborted and no
offset is committed, so the retry re-reads it. The producer here is a stand-in that records
calls (the real broker's side is in tests/integration/test_poison_messages.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from kafkapipeline.drain.batch import MicroBatch
from kafkapipeline.drain.options import DrainOptions
from kafkapipeline.drain.summary import DrainSummary
from kafkapipeline.kafka.transaction import BatchTransaction, DrainError
from kafkapipeline.streams.tweets import TWEETS


class RefusingProducer:
    """A transactional producer whose ``produce`` raises the queued errors, then accepts."""

    def __init__(self, *errors: KafkaException, **config: Any) -> None:
        self.config = config
        self.errors = list(errors)
        self.produced: list[tuple[str, bytes | None]] = []
        self.calls: list[str] = []

    def init_transactions(self, _timeout: float) -> None:
        self.calls.append("init")

    def begin_transaction(self) -> None:
        self.calls.append("begin")

    def produce(self, topic: str, *, value=None, key=None, on_delivery=None, headers=None) -> None:
        self.calls.append("produce")
        if self.errors:
            raise self.errors.pop(0)
        self.produced.append((topic, value))
        if on_delivery is not None:
            on_delivery(None, None)

    def poll(self, _timeout: float) -> int:
        return 0

    def flush(self, _timeout: float) -> int:
        return 0

    def send_offsets_to_transaction(self, *_args) -> None:
        self.calls.append("send_offsets")

    def commit_transaction(self, *_args) -> None:
        self.calls.append("commit")

    def abort_transaction(self, *_args) -> None:
        self.calls.append("abort")


def transaction_on(producer: RefusingProducer) -> BatchTransaction:
    def factory(**config: Any) -> RefusingProducer:
        producer.config.update(config)
        return producer

    return BatchTransaction(factory, "tweets", "drain.tweets.all", timeout=5, max_bytes=100_000)


def bad_message(offset: int = 5, value: bytes = b"{not json") -> Message:
    return Message(topic="tweets", partition=0, offset=offset, key=b"k", value=value)


@pytest.mark.parametrize(
    "code",
    [KafkaError._UNKNOWN_TOPIC, KafkaError._FENCED, KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError._STATE],
)
def test_a_dead_letter_kafka_refuses_for_another_reason_fails_the_batch_and_commits_nothing(code):
    producer = RefusingProducer(KafkaException(KafkaError(code, "refused by the test")))
    transaction = transaction_on(producer)

    with pytest.raises(DrainError) as raised:
        transaction.send(bad_message(), "value is not JSON")
    transaction.close()

    assert "the dead letter of tweets[0]@5 could not be produced to tweets.dlq" in str(raised.value)
    assert "refused by the test" in str(raised.value) and "offsets not committed" in str(raised.value)
    assert producer.calls == ["init", "begin", "produce", "abort"]  # not retried, not committed
    assert (transaction.sent, producer.produced) == (0, [])


def test_a_dead_letter_refused_as_too_large_is_cut_and_sent_instead():
    """The contrast: only a size refusal is retried (with a smaller copy), and the batch goes on."""
    producer = RefusingProducer(KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)))
    transaction = transaction_on(producer)
    value = b"x" * 90_000

    transaction.send(bad_message(value=value), "value is not JSON")
    transaction.commit(consumer=_Consumer(), offsets=[TopicPartition("tweets", 0, 6)])

    [(topic, sent)] = producer.produced
    assert topic == "tweets.dlq" and 0 < len(sent) < len(value) and value.startswith(sent)
    assert producer.calls == ["init", "begin", "produce", "produce", "send_offsets", "commit"]
    assert (transaction.sent, transaction.truncated) == (1, 1)


def test_the_row_step_lets_a_failed_dead_letter_fail_the_batch():
    """The per-message catch-all of the decode step must not swallow the dead letter's own failure."""
    producer = RefusingProducer(KafkaException(KafkaError(KafkaError._UNKNOWN_TOPIC, "no such topic")))
    transaction = transaction_on(producer)
    summary = DrainSummary(topic="tweets", stream="tweets", group_id="g")
    batch = MicroBatch(None, TWEETS, summary, DrainOptions(), max_messages=10)

    with pytest.raises(DrainError, match="no such topic"):
        batch._rows_of([bad_message(offset=0), bad_message(offset=1)], transaction)
    transaction.close()

    assert producer.calls.count("produce") == 1  # the first bad message stops the batch
    assert "commit" not in producer.calls and producer.calls[-1] == "abort"


class _Consumer:
    def consumer_group_metadata(self) -> object:
        return object()
