"""Produce to one topic with a bounded back-pressure wait, and count every delivery report.

``Producer.produce()`` only queues a message; librdkafka refuses with :class:`BufferError` while
its local queue is full, and whether the broker took a message is known later, from its
delivery report. :class:`BoundedProducer` is the one place the pipeline handles both: a full
queue is waited on (serving delivery reports, which makes room) for at most ``queue_wait``
seconds in all, then :class:`QueueFull` says so; every report is counted in a
:class:`DeliveryReport` (delivered, failed, the first error); ``flush`` waits at most its
deadline and counts what is still unacknowledged as failed.

The ingest (:mod:`kafkapipeline.kafka.producing`), the drain's dead letters (inside its transaction,
:mod:`kafkapipeline.kafka.transaction`) and the dead-letter replay all produce through it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from kafkapipeline.kafka.retry import queue_full

Headers = Sequence[tuple[str, bytes | None]]


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


def error_text(error: KafkaError, _message: Message | None) -> str:
    """The default description of a failed delivery: Kafka's own text."""
    return str(error.str())


class BoundedProducer:
    """``produce`` to ``topic`` with a bounded wait for room, counting deliveries in ``report``.

    :param producer: a confluent-kafka producer (transactional or not; transactions stay the caller's)
    :param topic: where every message goes
    :param queue_wait: most seconds one ``produce`` waits for room in a full local queue
    :param describe: how a failed delivery is described in ``report.first_error``
    """

    def __init__(
        self,
        producer: Producer,
        topic: str,
        *,
        queue_wait: float,
        describe: Callable[[KafkaError, Message | None], str] = error_text,
    ) -> None:
        if queue_wait <= 0:
            raise ValueError(f"queue_wait must be positive, got {queue_wait}")
        self.producer = producer
        self.topic = topic
        self.queue_wait = queue_wait
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
