"""One micro-batch of the drain: plan its offset ranges, read and turn them into rows, write, commit.

:mod:`kafkapipeline.drain.task`'s module docstring states the contract this class keeps (snapshot
the ends, dead-letter what cannot be a row, commit only after every write).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, Message, TopicPartition

from kafkapipeline.cassandra.writer import ConcurrentRowWriter
from kafkapipeline.drain.options import DrainOptions
from kafkapipeline.drain.summary import (
    DEAD_LETTER_CASSANDRA,
    DEAD_LETTER_INVALID,
    DEAD_LETTER_ROW,
    DEAD_LETTER_VERSION,
    DrainSummary,
    batch_id_for,
)
from kafkapipeline.kafka.lag import PartitionLag, partition_offsets, topic_partitions
from kafkapipeline.kafka.snapshot import SnapshotReader, SnapshotReadError
from kafkapipeline.kafka.transaction import BatchTransaction, DrainError
from kafkapipeline.streams.base import InvalidRecord, Stream, reason_for, record_decoder, unsupported_version

log = logging.getLogger(__name__)

#: The column of a stream's table holding the row's UTC day (with the city, its partition key).
DAY_COLUMN = "day"
#: Allocations between young GC collections while a batch is read and written (Python's default
#: is 700; docs/benchmarks.md has the GC time it saves).
GC_YOUNG_THRESHOLD = 20_000


def _start_offsets(
    consumer: Consumer, topic: str, partitions: Sequence[int], timeout: float
) -> dict[int, tuple[int, int]]:
    """Per partition, the group's start offset and the end offset now: the batch's ranges."""
    ranges = {}
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
        ranges[lag.partition] = (lag.start, lag.high)
    return ranges


class MicroBatch:
    """One bounded batch: plan the offset ranges, read and write them, then commit (or refuse to)."""

    def __init__(
        self,
        consumer: Consumer,
        stream: Stream,
        summary: DrainSummary,
        options: DrainOptions,
        max_messages: int,
    ) -> None:
        self.consumer = consumer
        self.stream = stream
        self.summary = summary
        self.options = options
        self.topic = summary.topic
        self.max_messages = max_messages
        self.ingested_at = datetime.now(UTC)
        #: Reads the planned ranges and keeps the batch's progress on each (``summary.partitions``);
        #: made by ``plan``.
        self.reader: SnapshotReader
        #: The summary's per-stage seconds, filled as the batch goes.
        self.stages: dict[str, float] = summary.stage_seconds
        #: The days of the rows handed to the writer (the ``day`` column: one set update a chunk).
        self.days: set[date] = set()
        self._day = itemgetter(stream.table.drain_columns.index(DAY_COLUMN))
        #: Kafka timestamps (ms) of the first and last message of every chunk read: two calls a chunk.
        self.produced_ms: list[int] = []
        #: Produce-to-readable seconds of those messages, once the batch's writes are acknowledged.
        self.freshness: list[float] = []
        #: Each partition's offsets after the commit (the lag the batch left behind).
        self.lag_after: list[PartitionLag] = []

    def _dead_lettered(self, reason: str, count: int = 1) -> None:
        reasons = self.summary.dead_letter_reasons
        reasons[reason] = reasons.get(reason, 0) + count

    def _sample_timestamps(self, messages: list[Message]) -> None:
        for message in (messages[0], messages[-1]) if messages else ():
            kind, stamp = message.timestamp()
            if kind != TIMESTAMP_NOT_AVAILABLE:
                self.produced_ms.append(stamp)

    def _spent(self, stage: str, since: float) -> float:
        """Add the time since ``since`` to ``stage``; return now."""
        now = time.perf_counter()
        self.stages[stage] = self.stages.get(stage, 0.0) + now - since
        return now

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
        self.reader = SnapshotReader(
            self.consumer,
            topic,
            ranges,
            max_messages=self.max_messages,
            idle_timeout=self.options.idle_timeout,
            chunk=self.options.consume_batch,
        )
        # The reader's progress records are the summary's ranges: one bookkeeping, not two.
        self.summary.partitions = list(self.reader.progress.values())
        if not self.reader.open_partitions:  # an empty range is done before anything is read
            self.summary.lag_after = 0
            return False
        self.reader.assign()
        return True

    def read_and_write(self, writer: ConcurrentRowWriter, dead_letters: BatchTransaction) -> None:
        """Consume in bulk up to the planned ends (or the budget), handing rows to the writer as they come.

        The cyclic GC is tuned for the loop, and restored at the end whatever happens (nothing
        is kept longer than until the next collection after the batch):

        * the objects that exist before it (Airflow, the driver, numpy...) are frozen out of it:
          every full collection would traverse them all, while only the batch's own objects can
          become garbage;
        * young collections run every :data:`GC_YOUNG_THRESHOLD` allocations instead of 700: a
          chunk's records, rows and messages die when its writes are acknowledged, and with 700
          each of them was traversed by a few collections first.
        """
        thresholds = gc.get_threshold()
        gc.freeze()
        if thresholds[0]:  # 0 means automatic collection is off: leave it off
            gc.set_threshold(max(thresholds[0], GC_YOUNG_THRESHOLD), *thresholds[1:])
        try:
            self._read_and_write(writer, dead_letters)
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()

    def _read_and_write(self, writer: ConcurrentRowWriter, dead_letters: BatchTransaction) -> None:
        reader = self.reader
        started = time.perf_counter()
        try:
            for messages in reader.chunks():
                self._spent("consume", started)
                self._sample_timestamps(messages)
                rows, sources = self._rows_of(messages, dead_letters)
                if rows:
                    started = time.perf_counter()
                    self.days.update(map(self._day, rows))
                    writer.write(rows, sources)
                    self._spent("write", started)
                if writer.outcome.first_error is not None:
                    break  # no point reading more: this batch will not be committed
                started = time.perf_counter()
            else:
                self._spent("consume", started)  # the last call, which found the ends
        except SnapshotReadError as err:
            raise DrainError(f"{err}; offsets not committed") from err
        self.summary.stopped_early = reader.stopped_early
        self.summary.days = sorted(day.isoformat() for day in self.days)
        self.summary.messages_read = sum(r.messages for r in self.summary.partitions)
        self.summary.dead_lettered = sum(self.summary.dead_letter_reasons.values())

    def _rows_of(
        self, messages: list[Message], dead_letters: BatchTransaction
    ) -> tuple[list[tuple[Any, ...]], list[Message]]:
        """The rows of ``messages`` and, in the same order, the message each row came from.

        Values are decoded one by one (a bad one is dead-lettered alone) with the stream's msgspec
        decoder, called here directly (the common valid value costs one call); then the decoded
        records become rows in one call, so tweets are scored as a batch.
        """
        record_type = self.stream.record_type
        decode = record_decoder(record_type).decode
        started = time.perf_counter()
        records: list[Any] = []
        sources: list[Message] = []
        for message in messages:  # inside the planned ranges and the budget (the reader counted them)
            value = message.value()
            try:
                record = decode(value)  # type: ignore[arg-type] # None: TypeError, a null message
            except Exception as err:  # whatever one message does, only it is dead-lettered
                dead_letters.send(message, _decode_reason(record_type, value, err))
                self._dead_lettered(DEAD_LETTER_INVALID)
                continue
            if type(record) is not record_type:  # the placeholder of another schema_version
                dead_letters.send(message, unsupported_version(0))
                self._dead_lettered(DEAD_LETTER_VERSION)
                continue
            records.append(record)
            sources.append(message)
        decoded = self._spent("decode", started)
        if not records:
            return [], []
        try:
            return self.stream.rows(records, self.ingested_at), sources
        except Exception:  # one record broke the batch call: find it by building rows one by one
            return self._rows_one_by_one(records, sources, dead_letters)
        finally:
            self._spent("rows", decoded)

    def _rows_one_by_one(
        self, records: list[Any], sources: list[Message], dead_letters: BatchTransaction
    ) -> tuple[list[tuple[Any, ...]], list[Message]]:
        rows: list[tuple[Any, ...]] = []
        kept: list[Message] = []
        for record, message in zip(records, sources, strict=True):
            try:
                rows.extend(self.stream.rows([record], self.ingested_at))
            except Exception as err:
                dead_letters.send(message, _reason(err))
                self._dead_lettered(DEAD_LETTER_ROW)
            else:
                kept.append(message)
        return rows, kept

    def commit(self, writer: ConcurrentRowWriter, dead_letters: BatchTransaction) -> None:
        """Wait for every write and dead letter; commit only if all of them succeeded."""
        summary, timeout = self.summary, self.options.kafka_timeout
        started = time.perf_counter()
        outcome = writer.flush()
        self._spent("flush", started)
        if outcome.rows_written:  # readable now: every write is acknowledged
            readable_at = time.time()
            self.freshness = [max(0.0, readable_at - stamp / 1000.0) for stamp in self.produced_ms]
            summary.freshness_seconds = max(self.freshness, default=None)
        summary.rows_written = outcome.rows_written
        summary.write_requests = outcome.requests
        if not outcome.complete:
            raise DrainError(
                f"Cassandra write failed for {outcome.describe_failure()}; offsets not committed, "
                f"the batch will be re-read on retry ({self.topic}, {summary.messages_read} messages read)"
            )
        # Rows Cassandra (or the driver) refused one by one: dead-lettered in this transaction.
        for rejected in outcome.rejected:
            dead_letters.send(rejected.source, rejected.reason)
        if outcome.rejected:
            self._dead_lettered(DEAD_LETTER_CASSANDRA, len(outcome.rejected))
        summary.rows_rejected = len(outcome.rejected)
        summary.dead_lettered = sum(summary.dead_letter_reasons.values())
        offsets = [
            TopicPartition(self.topic, r.partition, r.commit_offset)
            for r in summary.partitions
            if r.commit_offset is not None
        ]
        if offsets:
            started = time.perf_counter()
            dead_letters.commit(self.consumer, offsets)
            self._spent("commit", started)
            summary.committed = True
        summary.batch_id = batch_id_for(self.topic, summary.partitions)
        try:
            after = partition_offsets(
                self.consumer, self.topic, [r.partition for r in summary.partitions], timeout
            )
            summary.lag_after = sum(p.lag for p in after)
            self.lag_after = after
        except Exception as err:  # the batch is committed; a missing figure must not fail it
            log.warning("%s: could not read the lag after the commit: %s", self.topic, err)


def _reason(err: BaseException) -> str:
    """The dead-letter reason for an exception; never raises, whatever the exception holds."""
    try:
        text = str(err)
    except Exception:  # a broken __str__ must not stop the drain
        text = "(the error could not be described)"
    return text if isinstance(err, InvalidRecord) else f"{type(err).__name__}: {text}"


def _decode_reason(record_type: type[Any], value: bytes | None, err: BaseException) -> str:
    """The dead-letter reason of a value the decoder refused; never raises."""
    try:
        return reason_for(record_type, value, err)
    except Exception:  # a reason must never stop the drain
        return _reason(err)
