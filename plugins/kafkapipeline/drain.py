"""Drain one Kafka topic into Cassandra in a bounded micro-batch, with no loss and no duplicates.

The contract, in order:

1. Snapshot the end of every partition (its high watermark) when the drain starts. The batch
   is everything from the group's committed offset up to that snapshot, capped by
   ``max_messages``; messages produced while the drain runs belong to the next batch, so a
   busy topic cannot keep a drain running forever.
2. Read with one consumer that is *assigned* its partitions (no group membership, no
   rebalance) and fetches in bulk with ``consume(num_messages=...)``. One consumer reads
   all partitions: on the 2-core target machine one process per partition was no faster
   (see ``bench/drain_benchmark.py --per-partition``); ``partitions=`` still allows one
   mapped task per partition where there are cores to spare.
3. Decode and validate each value with :mod:`kafkapipeline.records`. A value that cannot
   become a row (any exception while decoding, validating, scoring or building its row: one
   try per message, nothing more on good data) goes to ``<topic>.dlq`` with the original key
   and value and headers naming the error and the source topic, partition and offset; the
   batch goes on (:mod:`kafkapipeline.drain_transaction`, which cuts a copy too large for Kafka).
4. Write rows with prepared statements, grouped into single-partition batches, many in
   flight (:mod:`kafkapipeline.cassandra_writer`). Rows are upserts keyed by natural ids,
   so a batch that is read and written twice leaves the same rows. Each row travels with its
   message: a row Cassandra or its driver refuses on its own (found by writing a refused
   request's rows one by one) is dead-lettered with that message, and the rest is committed.
5. Only when every write is acknowledged (or refused on its own), commit ``last offset + 1``
   per partition. The dead letters and the offsets go to Kafka in **one transaction** (a
   transactional producer, ``send_offsets_to_transaction``): both land or neither does. If
   anything failed, the transaction is aborted, so a retry re-reads the batch and its dead
   letters are not doubled for ``read_committed`` readers (the replay DAG, the health check).

A crash anywhere before step 5 therefore re-reads the batch (at-least-once delivery), and the
idempotent upserts turn that into exactly-once rows; the transaction makes the dead letters
exactly-once too. The transactional id is fixed per consumer group, topic and partition set,
so a new drain's ``init_transactions`` aborts whatever a killed one left open and fences it if
it is still alive. Two drains must never work on the same partition at once; the DAGs run with
``max_active_runs=1`` for that reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from kafkapipeline import settings
from kafkapipeline.cassandra_session import cassandra_session
from kafkapipeline.cassandra_writer import (
    ConcurrentRowWriter,
)
from kafkapipeline.drain_transaction import (
    BatchTransaction,
    DrainError,
    max_message_bytes,
    transactional_id_for,
)
from kafkapipeline.drain_types import (
    DEFAULT_CONSUME_BATCH,
    KIND_TWEET,
    KIND_WEATHER,
    KINDS,
    RECORD_KINDS,
    DrainOptions,
    DrainSummary,
    PartitionRange,
    RecordKind,
    batch_id_for,
    decode,
    drain_default_args,
    drain_group,
    drain_params,
    positive_int,
    record_kind,
)
from kafkapipeline.kafka_hook import PipelineKafkaHook
from kafkapipeline.lag import partition_offsets, topic_partitions
from kafkapipeline.records import InvalidRecord

__all__ = [
    "DEFAULT_CONSUME_BATCH",
    "KINDS",
    "KIND_TWEET",
    "KIND_WEATHER",
    "RECORD_KINDS",
    "DrainError",
    "DrainOptions",
    "DrainSummary",
    "PartitionRange",
    "RecordKind",
    "batch_id_for",
    "decode",
    "drain_default_args",
    "drain_group",
    "drain_params",
    "drain_task",
    "drain_topic",
    "record_kind",
    "topic_for_kind",
    "transactional_id_for",
]

log = logging.getLogger(__name__)

#: Consumer settings for draining a backlog: fetch large chunks per partition per request.
DRAIN_CONSUMER_SETTINGS = {
    "fetch.min.bytes": 1,
    "fetch.wait.max.ms": 100,
    "max.partition.fetch.bytes": 8 * 1024 * 1024,
    "fetch.max.bytes": 64 * 1024 * 1024,
    "queued.min.messages": 20_000,
}


def _start_offsets(
    consumer: Consumer, topic: str, partitions: Sequence[int], timeout: float
) -> list[PartitionRange]:
    ranges = []
    for lag in partition_offsets(consumer, topic, partitions, timeout):
        if 0 <= lag.committed < lag.low:
            log.warning(
                "%s[%d]: committed offset %d is below the low watermark %d; messages %d..%d were deleted by "
                "retention before they were drained",
                topic,
                lag.partition,
                lag.committed,
                lag.low,
                lag.committed,
                lag.low - 1,
            )
        ranges.append(PartitionRange(partition=lag.partition, start_offset=lag.start, end_offset=lag.high))
    return ranges


def drain_topic(
    topic: str,
    kind: str,
    group_id: str,
    max_messages: int,
    *,
    partitions: Sequence[int] | None = None,
    keyspace: str | None = None,
    kafka_config_id: str = settings.KAFKA_CONN_ID,
    cassandra_conn_id: str = settings.CASSANDRA_CONN_ID,
    options: DrainOptions | None = None,
    record_batch: bool = True,
    on_rows_acknowledged: Callable[[int], None] | None = None,
) -> DrainSummary:
    """
    Drain up to ``max_messages`` pending messages of ``topic`` into Cassandra; see the module docstring.

    :param topic: topic to drain
    :param kind: ``tweet`` (into ``tweets``, with sentiment) or ``weather`` (into ``weather_reports``)
    :param group_id: consumer group whose committed offsets mark what is done
    :param max_messages: most messages in this batch (>= 1)
    :param partitions: drain only these partitions (one mapped task per partition); all when None
    :param keyspace: target keyspace; ``settings.keyspace()`` when None
    :param kafka_config_id: Airflow connection with the librdkafka settings
    :param cassandra_conn_id: Airflow connection of the Cassandra cluster
    :param options: tuning, see :class:`DrainOptions`
    :param record_batch: insert a row into ``<keyspace>.drain_batches`` after committing
    :param on_rows_acknowledged: called (from the Cassandra driver's thread) with the number of
        rows of every acknowledged write
    :raises DrainError: when reading, any write or any dead letter failed; nothing was committed
    """
    spec = record_kind(kind)
    if not topic:
        raise ValueError("topic must not be empty")
    if not group_id:
        raise ValueError("group_id must not be empty")
    if isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 1:
        raise ValueError(f"max_messages must be an integer >= 1, got {max_messages!r}")
    options = options or DrainOptions()
    keyspace = keyspace or settings.keyspace()
    summary = DrainSummary(topic=topic, kind=kind, group_id=group_id)
    started = time.monotonic()

    hook = PipelineKafkaHook(kafka_config_id=kafka_config_id)
    with ExitStack() as cleanup:
        try:
            session = cleanup.enter_context(cassandra_session(cassandra_conn_id))
        except Exception as err:
            raise DrainError(
                f"could not connect to Cassandra (connection {cassandra_conn_id!r}): {type(err).__name__}: "
                f"{err}; nothing was read or committed"
            ) from err
        consumer = hook.consumer(group_id, **DRAIN_CONSUMER_SETTINGS)
        cleanup.callback(consumer.close)
        batch = _MicroBatch(consumer, spec, summary, options, max_messages)
        try:
            # Before the committed offsets are read: this fences a predecessor that is still alive.
            transaction = BatchTransaction(
                hook.producer,
                topic,
                transactional_id_for(group_id, topic, partitions),
                options.kafka_timeout,
                max_message_bytes(hook.producer_config()),
            )
            cleanup.callback(transaction.close)
            if batch.plan(partitions):
                writer = ConcurrentRowWriter(
                    session,
                    keyspace,
                    spec.table,
                    concurrency=options.concurrency,
                    max_batch_rows=options.max_batch_rows,
                    on_rows_acknowledged=on_rows_acknowledged,
                )
                batch.read_and_write(writer, transaction)
                batch.commit(writer, transaction)
        finally:
            summary.seconds = time.monotonic() - started
        if record_batch and summary.committed:
            _record_batch(session, keyspace, summary)
    log.info("%s", summary.describe())
    return summary


class _MicroBatch:
    """One bounded batch: plan the offset ranges, read and write them, then commit (or refuse to)."""

    def __init__(
        self,
        consumer: Consumer,
        spec: RecordKind,
        summary: DrainSummary,
        options: DrainOptions,
        max_messages: int,
    ) -> None:
        self.consumer = consumer
        self.spec = spec
        self.summary = summary
        self.options = options
        self.topic = summary.topic
        self.budget = max_messages
        self.ingested_at = datetime.now(UTC)
        self.pending: dict[int, PartitionRange] = {}
        self.open_partitions: set[int] = set()

    def plan(self, partitions: Sequence[int] | None) -> bool:
        """Fix the batch's ranges: committed offsets to the current ends. False when nothing is pending."""
        topic, timeout = self.topic, self.options.kafka_timeout
        try:
            available = topic_partitions(self.consumer, topic, timeout)
            wanted = list(available) if partitions is None else sorted(set(partitions))
            unknown = sorted(set(wanted) - set(available))
            if unknown:
                raise DrainError(f"topic {topic!r} has no partitions {unknown} (it has {available})")
            ranges = _start_offsets(self.consumer, topic, wanted, timeout)
        except DrainError:
            raise
        except Exception as err:
            raise DrainError(
                f"could not read the offsets of {topic!r} for group {self.summary.group_id!r}: {err}"
            ) from err
        self.summary.partitions = ranges
        self.pending = {r.partition: r for r in ranges if r.end_offset > r.start_offset}
        for r in ranges:
            r.done = r.partition not in self.pending
        if not self.pending:
            self.summary.lag_after = 0
            return False
        self.open_partitions = set(self.pending)
        self.consumer.assign([TopicPartition(topic, p, r.start_offset) for p, r in self.pending.items()])
        return True

    def read_and_write(self, writer: ConcurrentRowWriter, dead_letters: BatchTransaction) -> None:
        """Consume in bulk up to the planned ends (or the budget), handing rows to the writer as they come."""
        consumer, options = self.consumer, self.options
        last_message_at = time.monotonic()
        while self.open_partitions and self.budget > 0:
            messages = consumer.consume(num_messages=min(options.consume_batch, self.budget), timeout=1.0)
            if not messages:
                if time.monotonic() - last_message_at > options.idle_timeout:
                    self.summary.stopped_early = (
                        f"no message for {options.idle_timeout:.0f}s while partitions "
                        f"{sorted(self.open_partitions)} had not reached their end offsets"
                    )
                    log.warning("%s: %s", self.topic, self.summary.stopped_early)
                    break
                continue
            last_message_at = time.monotonic()
            rows, sources = self._rows_of(messages, dead_letters)
            if rows:
                writer.write(rows, sources)
            if writer.outcome.first_error is not None:
                break  # no point reading more: this batch will not be committed
        self.summary.messages_read = sum(r.messages for r in self.summary.partitions)
        self.summary.dead_lettered = dead_letters.sent

    def _rows_of(
        self, messages: list[Message], dead_letters: BatchTransaction
    ) -> tuple[list[tuple[Any, ...]], list[Message]]:
        """The rows of ``messages`` and, in the same order, the message each row came from.

        Values are decoded one by one (a bad one is dead-lettered alone), then the decoded
        records become rows in one call, so tweets are scored as a batch.
        """
        spec, pending = self.spec, self.pending
        records: list[Any] = []
        sources: list[Message] = []
        for message in messages:
            error = message.error()
            if error is not None:
                self._on_error(message, error)
                continue
            r = pending.get(message.partition())
            if r is None or r.done:
                continue  # end or budget already reached on this partition: the next batch reads it
            offset = message.offset()
            if offset >= r.end_offset or self.budget <= 0:
                self._close(r)
                continue
            self.budget -= 1
            if r.first_offset is None:
                r.first_offset = offset
            r.last_offset = offset
            r.messages += 1
            try:
                records.append(decode(spec, message.value()))
            except Exception as err:  # whatever one message does, only it is dead-lettered
                # InvalidRecord (a ValueError) carries the reason; anything else (RecursionError on
                # deeply nested JSON, OverflowError...) is named by its type.
                dead_letters.send(message, _reason(err))
            else:
                sources.append(message)
            if offset + 1 >= r.end_offset:
                self._close(r)
        if not records:
            return [], []
        try:
            return spec.to_rows(records, self.ingested_at), sources
        except Exception:  # one record broke the batch call: find it by building rows one by one
            return self._rows_one_by_one(records, sources, dead_letters)

    def _rows_one_by_one(
        self, records: list[Any], sources: list[Message], dead_letters: BatchTransaction
    ) -> tuple[list[tuple[Any, ...]], list[Message]]:
        rows: list[tuple[Any, ...]] = []
        kept: list[Message] = []
        for record, message in zip(records, sources, strict=True):
            try:
                rows.extend(self.spec.to_rows([record], self.ingested_at))
            except Exception as err:
                dead_letters.send(message, _reason(err))
            else:
                kept.append(message)
        return rows, kept

    def _on_error(self, message: Message, error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            # The end of the log. Transaction markers and compaction gaps take offsets but are never
            # delivered, so the last message may sit below the snapshot end: commit up to that end,
            # unless the budget ran out (then messages before the end were skipped, not handled).
            r = self.pending.get(message.partition())
            if r is not None and message.offset() >= r.end_offset:
                if not r.done and self.budget > 0:
                    r.reached_end = True
                self._close(r)
            return
        if error.fatal() or not error.retriable():
            raise DrainError(f"Kafka error while reading {self.topic}: {error.str()}; offsets not committed")
        log.warning("%s: transient Kafka error while reading: %s", self.topic, error.str())

    def _close(self, r: PartitionRange) -> None:
        if r.done:
            return
        r.done = True
        self.open_partitions.discard(r.partition)
        # Stop fetching a finished partition so its prefetch does not compete with the others.
        self.consumer.pause([TopicPartition(self.topic, r.partition)])

    def commit(self, writer: ConcurrentRowWriter, dead_letters: BatchTransaction) -> None:
        """Wait for every write and dead letter; commit only if all of them succeeded."""
        summary, timeout = self.summary, self.options.kafka_timeout
        outcome = writer.flush()
        summary.rows_written = outcome.rows_written
        if not outcome.complete:
            raise DrainError(
                f"Cassandra write failed for {outcome.describe_failure()}; offsets not committed, "
                f"the batch will be re-read on retry ({self.topic}, {summary.messages_read} messages read)"
            )
        # Rows Cassandra (or the driver) refused one by one: dead-lettered in this transaction.
        for rejected in outcome.rejected:
            dead_letters.send(rejected.source, rejected.reason)
        summary.rows_rejected = len(outcome.rejected)
        summary.dead_lettered = dead_letters.sent
        offsets = [
            TopicPartition(self.topic, r.partition, r.commit_offset)
            for r in summary.partitions
            if r.commit_offset is not None
        ]
        if offsets:
            dead_letters.commit(self.consumer, offsets)
            summary.committed = True
        summary.batch_id = batch_id_for(self.topic, summary.partitions)
        try:
            after = partition_offsets(
                self.consumer, self.topic, [r.partition for r in summary.partitions], timeout
            )
            summary.lag_after = sum(p.lag for p in after)
        except Exception as err:  # the batch is committed; a missing figure must not fail it
            log.warning("%s: could not read the lag after the commit: %s", self.topic, err)


def _reason(err: BaseException) -> str:
    """The dead-letter reason for an exception; never raises, whatever the exception holds."""
    try:
        text = str(err)
    except Exception:  # a broken __str__ must not stop the drain
        text = "(the error could not be described)"
    return text if isinstance(err, InvalidRecord) else f"{type(err).__name__}: {text}"


def _record_batch(session: Any, keyspace: str, summary: DrainSummary) -> None:
    finished_at = datetime.now(UTC)
    try:
        session.execute(
            f"INSERT INTO {keyspace}.drain_batches (day, finished_at, topic, batch_id, messages_read, "
            "rows_written, dead_lettered, lag_after, seconds) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                finished_at.date(),
                finished_at,
                summary.topic,
                summary.batch_id,
                summary.messages_read,
                summary.rows_written,
                summary.dead_lettered,
                summary.lag_after,
                summary.seconds,
            ),
            timeout=30,
        )
    except Exception as err:  # the rows and offsets are safe; only the audit row is missing
        log.warning("%s: could not record the batch in %s.drain_batches: %s", summary.topic, keyspace, err)


def topic_for_kind(kind: str) -> str:
    """The topic a kind is drained from, read from the environment now (at run time, not parse time)."""
    record_kind(kind)
    return settings.tweets_topic() if kind == KIND_TWEET else settings.weather_topic()


def drain_task(kind: str, max_messages: int | str) -> dict[str, Any]:
    """The drain DAGs' task: resolve topic and consumer group now, drain one micro-batch, return its summary.

    ``max_messages`` arrives rendered from ``{{ params.max_messages }}`` (text), so it is
    validated here as well as by the Param. The summary dict goes to XCom; it holds offsets
    and counts, never message contents or connection settings.
    """
    limit = positive_int("max_messages", max_messages)
    topic = topic_for_kind(kind)
    summary = drain_topic(topic, kind, drain_group(topic), limit)
    return summary.to_dict()
