"""Produce records to Kafka and make sure every one of them was acknowledged.

confluent-kafka's ``produce()`` only queues a message: whether the broker took it is
known later, from the delivery report. :class:`RecordProducer` checks every report, and
on ``flush()`` raises :class:`DeliveryFailed` saying how many records failed out of how
many (with the first error) if any was not acknowledged. The producer comes from
:class:`~kafkapipeline.kafka.hook.PipelineKafkaHook`, so it is idempotent with
``acks=all``: a retried send can neither duplicate nor reorder records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from kafkapipeline.kafka.produce import BoundedProducer, DeliveryReport, QueueFull

if TYPE_CHECKING:
    from types import TracebackType

    from confluent_kafka import KafkaError, Message, Producer

    from kafkapipeline.kafka.hook import PipelineKafkaHook

__all__ = ["DeliveryFailed", "DeliveryReport", "KafkaRecord", "RecordProducer", "produce_records"]

log = logging.getLogger(__name__)

#: How long ``flush()`` waits for outstanding delivery reports before counting them as failed.
DEFAULT_FLUSH_TIMEOUT_SECONDS = 60.0
#: How long ``produce()`` waits for room when the local queue is full, in all (per record).
QUEUE_FULL_WAIT_SECONDS = 30.0


class KafkaRecord(Protocol):
    """What the producer needs from a record (``TweetRecord`` and ``WeatherRecord`` have it)."""

    @property
    def key(self) -> bytes: ...

    def to_json(self) -> bytes: ...


class DeliveryFailed(RuntimeError):
    """Some records were not acknowledged by Kafka; the message says how many and why."""

    def __init__(self, report: DeliveryReport) -> None:
        self.report = report
        super().__init__(
            f"{report.failed} of {report.attempted} records to topic '{report.topic}' were not "
            f"acknowledged by Kafka; first error: {report.first_error}"
        )


class RecordProducer:
    """Send records to one topic, JSON values keyed by ``record.key``, and account for each.

    Use it as a context manager: leaving the block always flushes, and raises
    :class:`DeliveryFailed` if any record was not acknowledged (unless the block is
    already raising, in which case that error wins and the failure is logged).

    :param producer: a confluent-kafka producer (``PipelineKafkaHook().producer()``)
    :param topic: topic every record goes to
    :param flush_timeout: seconds ``flush()`` waits for outstanding delivery reports
    """

    def __init__(
        self, producer: Producer, topic: str, flush_timeout: float = DEFAULT_FLUSH_TIMEOUT_SECONDS
    ) -> None:
        if not topic:
            raise ValueError("topic must not be empty")
        if flush_timeout <= 0:
            raise ValueError(f"flush_timeout must be positive, got {flush_timeout}")
        self._producer = producer
        self.topic = topic
        self.flush_timeout = flush_timeout
        self._bounded = BoundedProducer(
            producer, topic, queue_wait=QUEUE_FULL_WAIT_SECONDS, describe=_describe_failure
        )
        self.report = self._bounded.report

    def produce(self, records: Iterable[KafkaRecord]) -> int:
        """Queue ``records``; return how many were queued.

        A record rejected locally (e.g. larger than ``message.max.bytes``) is counted as
        failed, not raised, so ``flush()`` reports every failure of the batch at once.
        """
        from confluent_kafka import KafkaException

        queued = 0
        for record in records:
            key, value = record.key, record.to_json()
            try:
                self._bounded.produce(value, key)
                queued += 1
            except (KafkaException, QueueFull) as err:
                # Rejected before sending (e.g. larger than message.max.bytes), or no room in time.
                reason = err.args[0].str() if isinstance(err, KafkaException) else str(err)
                self.report.attempted += 1
                self.report.fail(f"{reason} (key {key!r})")
        return queued

    def flush(self) -> DeliveryReport:
        """Wait for every outstanding delivery report; raise :class:`DeliveryFailed` if any record failed."""
        self._bounded.flush(self.flush_timeout)
        if self.report.failed:
            raise DeliveryFailed(self.report)
        return self.report

    def __enter__(self) -> RecordProducer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.flush()
            return
        try:
            self.flush()
        except DeliveryFailed as failure:
            if failure.report is not getattr(exc, "report", None):  # not the error already raised
                log.error("while handling another error: %s", failure)


def _describe_failure(error: KafkaError, message: Message | None) -> str:
    key = message.key() if message is not None else None
    return f"{error.str()} (code {error.name()}, key {key!r})"


def produce_records(
    records: Iterable[KafkaRecord],
    topic: str,
    hook: PipelineKafkaHook | None = None,
    flush_timeout: float = DEFAULT_FLUSH_TIMEOUT_SECONDS,
    **producer_overrides: Any,
) -> DeliveryReport:
    """Produce ``records`` to ``topic``, flush, and return the counts; raise if any was not acknowledged."""
    from kafkapipeline.kafka.hook import PipelineKafkaHook

    hook = hook or PipelineKafkaHook()
    with RecordProducer(hook.producer(**producer_overrides), topic, flush_timeout) as producer:
        producer.produce(records)
    return producer.report
