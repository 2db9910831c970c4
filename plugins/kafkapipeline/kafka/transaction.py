"""The drain batch's Kafka transaction: its dead letters and, at the end, its consumer offsets.

The drain's contract is in :mod:`kafkapipeline.drain.task`. The rule here: producing a dead letter cannot
fail on the message's content (an oversized copy is cut to fit, a full queue waited on); any other refusal
is a :class:`DrainError`, and the uncommitted batch is re-read by its retry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from kafkapipeline import settings
from kafkapipeline.dead_letters.contract import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DeadLetter,
    Headers,
    fit_dead_letter,
    parse_int,
    replay_count_of,
)
from kafkapipeline.kafka.messages import position, received_headers
from kafkapipeline.kafka.produce import QueueFull, TopicProducer
from kafkapipeline.kafka.retry import kafka_retriable, message_too_large

log = logging.getLogger(__name__)

#: A batch's transaction may stay open this long (the broker's transaction.max.timeout.ms
#: defaults to 15 minutes); a drain killed mid-batch leaves it to be aborted by the next one.
TRANSACTION_TIMEOUT_MS = 10 * 60 * 1000
#: Smallest size a dead-letter copy is cut to when Kafka keeps saying "too large".
MIN_DEAD_LETTER_BYTES = 16 * 1024


class DrainError(RuntimeError):
    """The batch could not be completed; its offsets were not committed, so a retry re-reads it."""


def transactional_id_for(group_id: str, topic: str, partitions: Sequence[int] | None) -> str:
    """Stable per group, topic and partition set: a retry of the same work fences its predecessor."""
    which = "all" if partitions is None else "p" + "-".join(str(p) for p in sorted(set(partitions)))
    return f"{group_id}.{topic}.{which}"


def max_message_bytes(producer_config: dict) -> int:
    """The producer's ``message.max.bytes`` (librdkafka's default when not set or not a number)."""
    value = producer_config.get("message.max.bytes")
    number = parse_int(str(value), DEFAULT_MAX_MESSAGE_BYTES) if value is not None else 0
    return number if number > 0 else DEFAULT_MAX_MESSAGE_BYTES


class BatchTransaction:
    """The batch's Kafka transaction: its dead letters and, at the end, its offsets, committed together.

    ``init_transactions`` on the fixed ``transactional.id`` aborts a transaction a killed drain left open;
    ``close`` aborts whatever was not committed. One producer serves batch after batch, each in a
    transaction of its own; ``sent`` and ``truncated`` count over all of them.
    """

    def __init__(
        self,
        producer_factory: Callable[..., Producer],
        source_topic: str,
        transactional_id: str,
        timeout: float,
        max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.source_topic = source_topic
        self.topic = settings.dead_letter_topic(source_topic)
        self.transactional_id = transactional_id
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.sent = 0
        self.truncated = 0
        self._open = False
        self._producer = producer_factory(
            **{"transactional.id": transactional_id, "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS}
        )
        #: Dead letters go through it: a full local queue is waited on for ``timeout`` at most.
        self._letters = TopicProducer(self._producer, self.topic, queue_wait=timeout, describe=self._describe)
        try:
            self._producer.init_transactions(timeout)
        except KafkaException as err:
            if err.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
                hint = "the connection's Kafka user may not WRITE this TransactionalId"
            else:
                hint = "the broker needs transaction.state.log.replication.factor <= its broker count"
            raise DrainError(
                f"could not start the Kafka transaction {transactional_id!r} for {source_topic}: {err} "
                f"({hint}); nothing was read or committed"
            ) from err

    def _begin(self) -> None:
        if not self._open:
            self._producer.begin_transaction()
            self._open = True

    def _describe(self, error: KafkaError, _message: Message | None) -> str:
        if error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            return (
                f"{error.str()} (the broker refused a copy of at most {self.max_bytes} bytes: "
                f"{self.topic}'s max.message.bytes is below the producer's message.max.bytes; "
                "raise it to at least that)"
            )
        return str(error.str())

    def send(self, message: Message, reason: str) -> None:
        """Produce one dead letter (inside the transaction); delivery is checked in ``commit``."""
        try:
            source = position(message)
        except ValueError as err:
            raise DrainError(f"{err}: it cannot be dead-lettered; offsets not committed") from err
        self._begin()
        original_headers = received_headers(message)
        letter = DeadLetter.for_failure(
            error=reason,
            source_topic=source.topic,
            source_partition=source.partition,
            source_offset=source.offset,
            replay_count=replay_count_of(original_headers),
        )
        headers: Headers = letter.headers() + [
            (k, v) for k, v in original_headers if not str(k).startswith("dlq.")
        ]
        key, value = message.key(), message.value()
        fitted = fit_dead_letter(key, value, headers, self.max_bytes)
        if fitted[1] is not value or fitted[0] is not key:
            self.truncated += 1
        self._produce(*fitted, where=f"{source.topic}[{source.partition}]@{source.offset}")
        self.sent += 1

    def _produce(self, key: bytes | None, value: bytes | None, headers: Headers, *, where: str) -> None:
        limit = self.max_bytes

        def can_cut() -> bool:
            return limit > MIN_DEAD_LETTER_BYTES

        def cut() -> None:
            # The producer's limit is lower than we were told: cut harder and try again.
            nonlocal limit, key, value, headers
            limit = max(MIN_DEAD_LETTER_BYTES, limit // 2)
            key, value, headers = fit_dead_letter(key, value, headers, limit)
            self.truncated += 1

        # Each refusal halves the limit down to MIN_DEAD_LETTER_BYTES: bounded.
        retrying = message_too_large(can_cut, cut, attempts=self.max_bytes.bit_length())
        try:
            retrying(lambda: self._letters.produce(value, key, headers))
        except QueueFull as err:
            raise DrainError(
                f"the dead letter of {where} could not be queued for {self.topic}: {err}; offsets not "
                "committed, the batch will be re-read on retry"
            ) from err
        except KafkaException as err:
            raise DrainError(
                f"the dead letter of {where} could not be produced to {self.topic}: {err}; offsets not "
                "committed, the batch will be re-read on retry"
            ) from err

    def commit(self, consumer: Consumer, offsets: list[TopicPartition]) -> None:
        """Check every dead letter was acknowledged, then commit them and ``offsets`` atomically."""
        timeout = self.timeout
        remaining = self._letters.flush(timeout)
        if remaining:
            raise DrainError(
                f"{remaining} dead letters to {self.topic} were not acknowledged within {timeout:.0f}s; "
                "offsets not committed, the batch will be re-read on retry"
            )
        report = self._letters.report
        if report.failed:
            raise DrainError(
                f"{report.failed} dead letters could not be written to {self.topic}: {report.first_error} "
                f"(does the topic exist?); offsets not committed, the batch will be re-read on retry"
            )
        self._begin()
        self._retry(
            "sending the offsets to the transaction",
            lambda left: self._producer.send_offsets_to_transaction(
                offsets, consumer.consumer_group_metadata(), left
            ),
        )
        self._retry("committing the transaction", self._producer.commit_transaction)
        self._open = False

    def _retry(self, what: str, call: Callable[[float], None]) -> None:
        """``call(seconds left)`` under the ``kafka_retriable`` policy, for ``timeout`` seconds at most."""
        retrying = kafka_retriable(self.timeout, f"{self.source_topic}: {what}", log)
        started = time.monotonic()
        try:
            retrying(lambda: call(max(1.0, self.timeout - (time.monotonic() - started))))
        except KafkaException as err:
            raise DrainError(
                f"rows were written but {what} for {self.source_topic} failed: {err}; the transaction "
                "is aborted (no dead letter kept, no offset committed), so the batch will be re-read "
                "on retry and its rows rewritten (idempotent upserts, no duplicates)"
            ) from err

    def close(self) -> None:
        """Abort an open transaction: its dead letters are dropped and no offset moves."""
        if not self._open:
            return
        self._open = False
        try:
            self._producer.abort_transaction(self.timeout)
        except KafkaException as err:
            # The coordinator aborts it anyway after transaction.timeout.ms, or the next drain's
            # init_transactions with the same transactional.id does.
            log.warning("%s: could not abort the transaction: %s", self.source_topic, err)
