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
3. Decode and validate each value with its stream's record type (:mod:`kafkapipeline.streams`).
   A value that cannot become a row (any exception while decoding, validating, scoring or
   building its row: one try per message, nothing more on good data) goes to ``<topic>.dlq``
   with the original key and value and headers naming the error and the source topic,
   partition and offset; the batch goes on (:mod:`kafkapipeline.kafka.transaction`, which cuts
   a copy too large for Kafka).
4. Write rows with prepared statements, grouped into single-partition batches, many in
   flight (:mod:`kafkapipeline.cassandra.writer`). Rows are upserts keyed by natural ids,
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
from typing import Annotated, Any

from cassandra.query import SimpleStatement
from pydantic import Field, validate_call

from kafkapipeline import settings
from kafkapipeline.cassandra.replication import write_consistency
from kafkapipeline.cassandra.session import cassandra_session
from kafkapipeline.cassandra.writer import ConcurrentRowWriter
from kafkapipeline.drain.batch import MicroBatch
from kafkapipeline.drain.earlier_tries import JOIN_SECONDS, start_reporting
from kafkapipeline.drain.follow import Follower
from kafkapipeline.drain.metrics import report_batch
from kafkapipeline.drain.options import DrainOptions
from kafkapipeline.drain.summary import DrainSummary
from kafkapipeline.kafka.hook import PipelineKafkaHook
from kafkapipeline.kafka.lag import LagReader
from kafkapipeline.kafka.roles import KafkaRole
from kafkapipeline.kafka.transaction import (
    BatchTransaction,
    DrainError,
    max_message_bytes,
    transactional_id_for,
)
from kafkapipeline.streams.base import Stream
from kafkapipeline.streams.registry import by_name

log = logging.getLogger(__name__)

#: Consumer settings for draining a backlog: fetch large chunks per partition per request.
DRAIN_CONSUMER_SETTINGS = {
    "fetch.min.bytes": 1,
    "fetch.wait.max.ms": 100,
    "max.partition.fetch.bytes": 8 * 1024 * 1024,
    "fetch.max.bytes": 64 * 1024 * 1024,
    "queued.min.messages": 20_000,
}

#: A count a DAG's Param schema limits to whole numbers from 1; checked again for direct calls.
Count = Annotated[int, Field(strict=True, ge=1)]


def drain_topic(
    topic: str,
    stream: Stream,
    group_id: str,
    max_messages: int,
    *,
    partitions: Sequence[int] | None = None,
    keyspace: str | None = None,
    kafka_config_id: str = KafkaRole.DRAIN.conn_id,
    cassandra_conn_id: str = settings.CASSANDRA_CONN_ID,
    options: DrainOptions | None = None,
    record_batch: bool = True,
    on_rows_acknowledged: Callable[[int], None] | None = None,
) -> DrainSummary:
    """
    Drain up to ``max_messages`` pending messages of ``topic`` into Cassandra; see the module docstring.

    :param topic: topic to drain
    :param stream: whose records the topic holds (its table is written)
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
    if not topic:
        raise ValueError("topic must not be empty")
    if not group_id:
        raise ValueError("group_id must not be empty")
    if isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 1:
        raise ValueError(f"max_messages must be an integer >= 1, got {max_messages!r}")
    options = options or DrainOptions()
    keyspace = settings.keyspace(keyspace)
    summary = DrainSummary(topic=topic, stream=stream.name, group_id=group_id)
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
        batch = MicroBatch(consumer, stream, summary, options, max_messages)
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
                    stream.table.drain_spec,
                    concurrency=options.concurrency,
                    max_batch_rows=options.max_batch_rows,
                    on_rows_acknowledged=on_rows_acknowledged,
                    consistency_level=write_consistency(),  # KAFKAPIPELINE_WRITE_CONSISTENCY
                )
                batch.read_and_write(writer, transaction)
                batch.commit(writer, transaction)
        except Exception:
            report_batch(summary, stream, failed=True)
            raise
        finally:
            summary.seconds = time.monotonic() - started
        if record_batch and summary.committed:
            _record_batch(session, keyspace, summary)
    report_batch(summary, stream, lag_after=batch.lag_after, freshness=batch.freshness)
    log.info("%s", summary.describe())
    return summary


def _record_batch(session: Any, keyspace: str, summary: DrainSummary) -> None:
    finished_at = datetime.now(UTC)
    try:
        insert = SimpleStatement(
            f"INSERT INTO {keyspace}.drain_batches (day, finished_at, topic, batch_id, messages_read, "
            "rows_written, dead_lettered, lag_after, seconds) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            consistency_level=write_consistency(),
        )
        session.execute(
            insert,
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


@validate_call
def drain_task(
    stream: str,
    max_messages: Count,
    partitions: list[int] | None = None,
    *,
    min_batch: Count | None = None,
    max_wait_seconds: Annotated[float, Field(gt=0)] | None = None,
    ti: Any = None,
) -> dict[str, Any]:
    """The drain DAGs' task: resolve topic and consumer group now, drain a micro-batch, return its summary.

    ``stream`` is the stream's name (task arguments must serialise). ``partitions`` is one of the
    partition groups ``wait_for_batch`` returned (a mapped task); None drains them all.
    ``max_messages``, ``min_batch`` and ``max_wait_seconds`` are the Params rendered natively (checked
    before anything connects). With ``KAFKAPIPELINE_DRAIN_FOLLOW_SECONDS`` set, the task then drains
    each next batch as it becomes ready (:mod:`kafkapipeline.drain.follow`) and returns them as one
    summary. ``ti`` is Airflow's task instance (from the context): a retry logs how the tries before it
    ended (:mod:`kafkapipeline.drain.earlier_tries`) while it drains. The summary dict goes to XCom; it
    holds offsets and counts, never message contents or settings.
    """
    started = time.monotonic()
    drained = by_name(stream)
    topic = drained.topic()
    group = drain_group(topic)
    reporter = start_reporting(ti)

    def one_batch() -> DrainSummary:
        return drain_topic(topic, drained, group, max_messages, partitions=partitions)

    try:
        summary = one_batch()
        follow_seconds = settings.current().drain_follow_seconds
        if follow_seconds and min_batch is not None and max_wait_seconds is not None:
            with LagReader(topic, group, kafka_config_id=KafkaRole.DRAIN.conn_id) as reader:
                follower = Follower(
                    reader,
                    partitions,
                    min_batch=min_batch,
                    max_wait_seconds=max_wait_seconds,
                    poll_seconds=settings.drain_setting("poll_seconds", 5),
                )
                summary = follower.follow(summary, one_batch, until=started + follow_seconds)
    finally:
        if reporter is not None:
            reporter.join(JOIN_SECONDS)
    return summary.to_dict()


def drain_group(topic: str) -> str:
    """The drain's consumer group on ``topic``: its committed offsets mark what is in Cassandra."""
    return settings.consumer_group("drain", topic)


@validate_call
def partition_groups(partitions: Sequence[int], groups: Count) -> list[list[int]]:
    """Split ``partitions`` round-robin into at most ``groups`` disjoint, non-empty groups.

    Round-robin keeps the groups within one partition of each other in size; the same inputs
    always give the same groups, so a retried task owns the same partitions (and transactional id).
    """
    ordered = sorted(set(partitions))
    count = min(groups, len(ordered))
    return [ordered[n::count] for n in range(count)] if count else []
