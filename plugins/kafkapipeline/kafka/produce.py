"""Produce to one topic with a bounded back-pressure wait, and account for every delivery.

``Producer.produce()`` only queues a message: librdkafka refuses with :class:`BufferError` while
its local queue is full, and whether the broker took a message is known later, from its delivery
report. :class:`TopicProducer` is the one place the pipeline handles both: a full queue is waited
on (serving delivery reports, which makes room) for at most ``queue_wait`` seconds, then
:class:`QueueFull` says so; every report is counted in a :class:`DeliveryReport`; ``flush`` counts
what is still unacknowledged at its deadline as failed, and ``confirm`` raises
:class:`DeliveryFailed` if anything failed.

The ingest (records, as a context manager that always confirms), the drain's dead letters
(inside its transaction, :mod:`kafkapipeline.kafka.transaction`) and the dead-letter replay
all produce through it. The producer comes from
:class:`~kafkapipeline.kafka.hook.PipelineKafkaHook`: idempotent with ``acks=all``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from kafkapipeline.kafka.retry import queue_full

Headers = Sequence[tuple[str, bytes | None]]

log = logging.getLogger(__name__)

#: How long one ``produce`` waits for room when the local queue is full.
QUEUE_FULL_WAIT_SECONDS = 30.0
#: How long ``confirm`` waits for outstanding delivery reports before counting them as failed.
DEFAULT_FLUSH_TIMEOUT_SECONDS = 60.0


class KafkaRecord(Protocol):
    """What :meth:`TopicProducer.send` needs from a record (``TweetRecord`` and ``WeatherRecord`` have it)."""

    @property
    def key(self) -> bytes: ...

    def to_json(self) -> bytes: ...


class QueueFull(RuntimeError):
    """librdkafka's local queue stayed full for the whole back-pressure wait (is Kafka reachable?)."""


@dataclass
class DeliveryReport:
    """Counts of one topic's deliveries: queued (``attempted``), acknowledged, failed and why."""

    topic: str
    attempted: int = 0
    delivered: int = 0
    failed: int = 0
    first_error: str | None = None

    @property
    def pending(self) -> int:
        return self.attempted - self.delivered - self.failed

    def fail(self, reason: str, count: int = 1) -> None:
        """Count ``count`` failures; the first reason is kept."""
        self.failed += count
        if self.first_error is None:
            self.first_error = reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "attempted": self.attempted,
            "delivered": self.delivered,
            "failed": self.failed,
            "first_error": self.first_error,
        }


class DeliveryFailed(RuntimeError):
    """Some messages were not acknowledged by Kafka; the message says how many and why."""

    def __init__(self, report: DeliveryReport) -> None:
        self.report = report
        super().__init__(
            f"{report.failed} of {report.attempted} records to topic '{report.topic}' were not "
            f"acknowledged by Kafka; first error: {report.first_error}"
        )


def describe_failure(error: KafkaError, message: Message | None) -> str:
    """The default description of a failed delivery: Kafka's text, its code and the message key."""
    key = message.key() if message is not None else None
    return f"{error.str()} (code {error.name()}, key {key!r})"


class TopicProducer:
    """Produce to ``topic`` with a bounded wait for room, counting deliveries in ``report``.

    As a context manager, leaving the block always confirms: it raises :class:`DeliveryFailed`
    if any message was not acknowledged, unless the block is already raising (that error wins
    and the failure is logged).

    :param producer: a confluent-kafka producer (transactional or not; transactions stay the caller's)
    :param topic: where every message goes
    :param queue_wait: most seconds one ``produce`` waits for room in a full local queue
    :param flush_timeout: seconds ``confirm`` waits for outstanding delivery reports
    :param describe: how a failed delivery is described in ``report.first_error``
    """

    def __init__(
        self,
        producer: Producer,
        topic: str,
        *,
        queue_wait: float = QUEUE_FULL_WAIT_SECONDS,
        flush_timeout: float = DEFAULT_FLUSH_TIMEOUT_SECONDS,
        describe: Callable[[KafkaError, Message | None], str] = describe_failure,
    ) -> None:
        if not topic:
            raise ValueError("topic must not be empty")
        if queue_wait <= 0 or flush_timeout <= 0:
            raise ValueError(
                f"queue_wait and flush_timeout must be positive, got {queue_wait}, {flush_timeout}"
            )
        self.producer = producer
        self.topic = topic
        self.queue_wait = queue_wait
        self.flush_timeout = flush_timeout
        self.describe = describe
        self.report = DeliveryReport(topic=topic)

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.report.delivered += 1
        else:
            self.report.fail(self.describe(error, message))

    def produce(self, value: bytes | None, key: bytes | None = None, headers: Headers | None = None) -> None:
        """Queue one message (then counted in ``report.attempted``).

        :raises QueueFull: the local queue stayed full for ``queue_wait`` seconds; nothing queued
        :raises KafkaException: refused before sending (e.g. over ``message.max.bytes``); nothing queued
        """
        kwargs: dict[str, Any] = {"value": value, "key": key, "on_delivery": self._on_delivery}
        if headers is not None:
            kwargs["headers"] = headers
        try:
            self.producer.produce(self.topic, **kwargs)
        except BufferError:  # local queue full: serve delivery reports to make room, then retry
            try:
                queue_full(self.producer, self.queue_wait)(self.producer.produce, self.topic, **kwargs)
            except BufferError as err:
                raise QueueFull(
                    f"the local producer queue stayed full for {self.queue_wait:.0f}s (is Kafka reachable?)"
                ) from err
        self.report.attempted += 1
        self.producer.poll(0)

    def send(self, records: Iterable[KafkaRecord]) -> int:
        """Queue ``records`` (JSON values keyed by ``record.key``); return how many were queued.

        A record refused locally (larger than ``message.max.bytes``, or no room in time) is counted
        as failed, not raised, so ``confirm`` reports every failure of the batch at once.
        """
        queued = 0
        for record in records:
            key = record.key
            try:
                self.produce(record.to_json(), key)
                queued += 1
            except (KafkaException, QueueFull) as err:
                reason = err.args[0].str() if isinstance(err, KafkaException) else str(err)
                self.report.attempted += 1
                self.report.fail(f"{reason} (key {key!r})")
        return queued

    def confirm(self) -> DeliveryReport:
        """Wait ``flush_timeout`` for every delivery report; raise :class:`DeliveryFailed` if any failed."""
        self.flush(self.flush_timeout)
        if self.report.failed:
            raise DeliveryFailed(self.report)
        return self.report

    def __enter__(self) -> TopicProducer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.confirm()
            return
        try:
            self.confirm()
        except DeliveryFailed as failure:
            if failure.report is not getattr(exc, "report", None):  # not the error already raised
                log.error("while handling another error: %s", failure)

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for every delivery report; return how many are still missing.

        The missing ones are counted as failed (after a deadline they can no longer be counted on).
        """
        remaining = int(self.producer.flush(timeout))
        if remaining > 0 and self.report.pending > 0:
            self.report.fail(
                f"no delivery report within {timeout} s (is Kafka reachable?)", count=self.report.pending
            )
        return remaining
