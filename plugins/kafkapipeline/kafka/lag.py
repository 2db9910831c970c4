"""How far a consumer group is behind on a topic, read without consuming or committing anything.

Per partition: ``high - max(committed, low)``, and, for lagging partitions only (it costs a fetch), the
age of the oldest pending message. The consumer never subscribes (no rebalance of the group) and never
commits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    OFFSET_INVALID,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from kafkapipeline.kafka.hook import PipelineKafkaHook
from kafkapipeline.kafka.roles import KafkaRole
from kafkapipeline.kafka.snapshot import SnapshotReader, SnapshotReadError
from kafkapipeline.metrics.names import CONSUMER_LAG_MESSAGES, CONSUMER_LAG_SECONDS
from kafkapipeline.metrics.statsd import Batch

DEFAULT_TIMEOUT_SECONDS = 10.0


class LagReadError(RuntimeError):
    """Offsets could not be read from Kafka; the message says which topic, group and why."""


@dataclass(frozen=True)
class PartitionLag:
    """Offsets of one partition for one consumer group.

    :param committed: the group's committed offset, negative when nothing is committed
    :param low: first offset still in the log
    :param high: offset the next produced message will get (the end of the log)
    :param oldest_timestamp_ms: timestamp of the first pending message, when it was read
    """

    partition: int
    committed: int
    low: int
    high: int
    oldest_timestamp_ms: int | None = None

    @property
    def start(self) -> int:
        """Where the group will resume: the committed offset, or the low watermark."""
        if self.committed < 0:
            return self.low
        return max(self.committed, self.low)

    @property
    def lag(self) -> int:
        return max(0, self.high - self.start)

    def to_dict(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "committed": self.committed,
            "low": self.low,
            "high": self.high,
            "lag": self.lag,
            "oldest_timestamp_ms": self.oldest_timestamp_ms,
        }


@dataclass(frozen=True)
class TopicLag:
    """The lag of one consumer group on every partition of one topic, at ``measured_at``."""

    topic: str
    group_id: str
    partitions: tuple[PartitionLag, ...]
    measured_at: float = field(default_factory=time.time)

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def oldest_timestamp_ms(self) -> int | None:
        stamps = [p.oldest_timestamp_ms for p in self.partitions if p.lag and p.oldest_timestamp_ms]
        return min(stamps) if stamps else None

    def oldest_age_seconds(self, now: float | None = None) -> float | None:
        """Age of the oldest message the group has not committed yet; None when nothing is pending."""
        oldest = self.oldest_timestamp_ms
        if oldest is None:
            return None
        return max(0.0, (now if now is not None else self.measured_at) - oldest / 1000.0)

    def describe(self) -> str:
        age = self.oldest_age_seconds()
        age_text = "no pending messages" if age is None else f"oldest pending {age:.1f}s old"
        per_partition = ", ".join(f"p{p.partition}={p.lag}" for p in self.partitions)
        return f"{self.topic} / group {self.group_id}: lag {self.total} ({per_partition}); {age_text}"

    def report(self, out: Batch) -> None:
        """Per partition, the lag in messages and, where known, in seconds (0 when nothing is pending)."""
        for p in self.partitions:
            tags = {"topic": self.topic, "group": self.group_id, "partition": p.partition}
            out.gauge(CONSUMER_LAG_MESSAGES, p.lag, **tags)
            if not p.lag:
                out.gauge(CONSUMER_LAG_SECONDS, 0, **tags)
            elif p.oldest_timestamp_ms:
                age = max(0.0, self.measured_at - p.oldest_timestamp_ms / 1000.0)
                out.gauge(CONSUMER_LAG_SECONDS, age, **tags)

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "group_id": self.group_id,
            "total_lag": self.total,
            "oldest_age_seconds": self.oldest_age_seconds(),
            "measured_at": self.measured_at,
            "partitions": [p.to_dict() for p in self.partitions],
        }


def _error_text(err: BaseException) -> str:
    if isinstance(err, KafkaException) and err.args and isinstance(err.args[0], KafkaError):
        return err.args[0].str()
    return str(err) or type(err).__name__


def topic_partitions(consumer: Consumer, topic: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> list[int]:
    """Partition ids of ``topic``; a clear error when the topic does not exist."""
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
    except KafkaException as err:
        raise LagReadError(f"could not read the metadata of topic {topic!r}: {_error_text(err)}") from err
    described = metadata.topics.get(topic)
    if described is None or described.error is not None:
        reason = described.error.str() if described is not None and described.error else "not in the metadata"
        raise LagReadError(f"topic {topic!r} cannot be read: {reason}")
    if not described.partitions:
        raise LagReadError(f"topic {topic!r} has no partitions")
    return sorted(described.partitions)


def partition_offsets(
    consumer: Consumer,
    topic: str,
    partitions: Iterable[int],
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> list[PartitionLag]:
    """Committed offset (of ``consumer``'s group) and watermarks of each partition."""
    wanted = [TopicPartition(topic, p) for p in partitions]
    try:
        committed = consumer.committed(wanted, timeout=timeout)
    except KafkaException as err:
        # librdkafka reports a group its user may not DESCRIBE as a timeout, not as an authorization error.
        timed_out = err.args[0].code() == KafkaError._TIMED_OUT
        hint = " (or the connection's Kafka user may not describe the consumer group)" if timed_out else ""
        raise LagReadError(
            f"could not read the committed offsets of topic {topic!r}: {_error_text(err)}{hint}"
        ) from err
    lags = []
    for tp in committed:
        if tp.error is not None:
            raise LagReadError(f"committed offset of {topic}[{tp.partition}] is unreadable: {tp.error.str()}")
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, tp.partition), timeout=timeout, cached=False
            )
        except KafkaException as err:
            raise LagReadError(
                f"could not read the watermarks of {topic}[{tp.partition}]: {_error_text(err)}"
            ) from err
        committed_offset = tp.offset if tp.offset >= 0 else OFFSET_INVALID
        lags.append(PartitionLag(partition=tp.partition, committed=committed_offset, low=low, high=high))
    return sorted(lags, key=lambda p: p.partition)


def peek_oldest_timestamps(
    consumer: Consumer,
    topic: str,
    lags: Iterable[PartitionLag],
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> dict[int, int | None]:
    """Timestamp (ms) of the message at each lagging partition's start offset, read without committing.

    The consumer is assigned the lagging partitions only for the peek and unassigned
    afterwards, so it does not keep fetching in the background.
    """
    pending = {p.partition: (p.start, p.high) for p in lags if p.lag > 0}
    found: dict[int, int | None] = {}
    if not pending:
        return found
    # End-of-partition closes a partition even below its end: nothing readable is pending there
    # (the lag is transaction markers or an open transaction), so no age, and no point waiting.
    reader = SnapshotReader(
        consumer,
        topic,
        pending,
        idle_timeout=timeout,
        max_seconds=timeout,
        chunk=len(pending),
        eof_closes=True,
    )
    try:
        for messages in reader.chunks():
            for message in messages:
                partition: int = message.partition()  # type: ignore[assignment]
                kind, stamp = message.timestamp()
                found[partition] = None if kind == TIMESTAMP_NOT_AVAILABLE else stamp
                reader.finish(partition)  # one message per partition is all a peek needs
    except SnapshotReadError as err:
        raise LagReadError(f"could not read the oldest pending message of {topic}: {err}") from err
    finally:
        # The consumer lives on (the trigger's): leave no partition paused for its next peek.
        consumer.resume([TopicPartition(topic, partition) for partition in pending])
        consumer.unassign()
    for partition, progress in reader.progress.items():
        if progress.done:
            found.setdefault(partition, None)
    return found


class LagReader:
    """Read a consumer group's lag on a topic repeatedly with one long-lived consumer (for the trigger).

    :param topic: topic to measure
    :param group_id: consumer group whose committed offsets count as "done"
    :param kafka_config_id: Airflow connection with the librdkafka settings
    :param timeout: seconds each Kafka request may take
    """

    def __init__(
        self,
        topic: str,
        group_id: str,
        kafka_config_id: str = KafkaRole.HEALTH.conn_id,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        if not topic:
            raise ValueError("topic must not be empty")
        if not group_id:
            raise ValueError("group_id must not be empty")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.topic = topic
        self.group_id = group_id
        self.kafka_config_id = kafka_config_id
        self.timeout = timeout
        self._consumer: Consumer | None = None
        # read() runs in a worker thread under the trigger; close() may come from another
        # thread while a read is in progress and must wait for it instead of closing under it.
        self._lock = threading.Lock()

    def _get_consumer(self) -> Consumer:
        if self._consumer is None:
            hook = PipelineKafkaHook(kafka_config_id=self.kafka_config_id)
            # Small fetches: a peek needs one message per partition, not a prefetch queue.
            self._consumer = hook.consumer(
                self.group_id,
                **{"fetch.max.bytes": 1_048_576, "queued.max.messages.kbytes": 1024},
            )
        return self._consumer

    def read(self, with_age: bool = True) -> TopicLag:
        """Offsets and lag of every partition; with ``with_age``, also the oldest pending timestamps."""
        with self._lock:
            consumer = self._get_consumer()
            # Partitions are listed on every reading so a topic that grew is measured completely.
            partitions = topic_partitions(consumer, self.topic, self.timeout)
            lags = partition_offsets(consumer, self.topic, partitions, self.timeout)
            if with_age:
                lags = self._with_ages(consumer, lags)
            return TopicLag(topic=self.topic, group_id=self.group_id, partitions=tuple(lags))

    def with_ages(self, lag: TopicLag) -> TopicLag:
        """``lag`` with the oldest pending timestamps filled in (one fetch per lagging partition)."""
        with self._lock:
            lags = self._with_ages(self._get_consumer(), list(lag.partitions))
            return TopicLag(
                topic=lag.topic, group_id=lag.group_id, partitions=tuple(lags), measured_at=time.time()
            )

    def _with_ages(self, consumer: Consumer, lags: list[PartitionLag]) -> list[PartitionLag]:
        if not any(p.lag for p in lags):
            return lags
        stamps = peek_oldest_timestamps(consumer, self.topic, lags, self.timeout)
        return [PartitionLag(p.partition, p.committed, p.low, p.high, stamps.get(p.partition)) for p in lags]

    def close(self) -> None:
        with self._lock:
            consumer, self._consumer = self._consumer, None
            if consumer is not None:
                consumer.close()

    def __enter__(self) -> LagReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_lag(
    topic: str,
    group_id: str,
    kafka_config_id: str = KafkaRole.HEALTH.conn_id,
    with_age: bool = True,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> TopicLag:
    """One-off lag reading; the consumer is closed before returning."""
    with LagReader(topic, group_id, kafka_config_id=kafka_config_id, timeout=timeout) as reader:
        return reader.read(with_age=with_age)
