"""The connections a drain drains with, opened once for every batch it drains.

A :class:`TopicDrainer` holds one Cassandra session, one assigned consumer and one transactional
producer; each :meth:`TopicDrainer.drain` is one micro-batch (:class:`~kafkapipeline.drain.batch.MicroBatch`)
in a transaction of its own. Why: opening them costs a drain about 0.6 s (logins, schema metadata,
``init_transactions``), which a task that follows on (:mod:`kafkapipeline.drain.follow`) would
otherwise pay again for every batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from cassandra.query import SimpleStatement

from kafkapipeline import settings
from kafkapipeline.cassandra.replication import write_consistency
from kafkapipeline.cassandra.session import cassandra_session
from kafkapipeline.cassandra.writer import ConcurrentRowWriter
from kafkapipeline.drain.batch import MicroBatch
from kafkapipeline.drain.metrics import report_batch
from kafkapipeline.drain.options import DrainOptions
from kafkapipeline.drain.summary import DrainSummary
from kafkapipeline.kafka.hook import PipelineKafkaHook
from kafkapipeline.kafka.roles import KafkaRole
from kafkapipeline.kafka.transaction import (
    BatchTransaction,
    DrainError,
    max_message_bytes,
    transactional_id_for,
)
from kafkapipeline.streams.base import Stream

log = logging.getLogger(__name__)

#: Consumer settings for draining a backlog: fetch large chunks per partition per request.
DRAIN_CONSUMER_SETTINGS = {
    "fetch.min.bytes": 1,
    "fetch.wait.max.ms": 100,
    "max.partition.fetch.bytes": 8 * 1024 * 1024,
    "fetch.max.bytes": 64 * 1024 * 1024,
    "queued.min.messages": 20_000,
}


class TopicDrainer:
    """Drains micro-batches of one topic's partitions into Cassandra; a context manager.

    Connections open on the first :meth:`drain` and close on exit, whatever happens. After a
    failed batch, leave the context: the next one must start from fresh connections.

    :param topic: topic to drain
    :param stream: whose records the topic holds (its table is written)
    :param group_id: consumer group whose committed offsets mark what is done
    :param partitions: drain only these partitions (one mapped task per partition group); all when None
    :param keyspace: target keyspace; ``settings.keyspace()`` when None
    :param kafka_config_id: Airflow connection with the librdkafka settings
    :param cassandra_conn_id: Airflow connection of the Cassandra cluster
    :param options: tuning, see :class:`DrainOptions`
    :param record_batch: insert a row into ``<keyspace>.drain_batches`` after each commit
    :param on_rows_acknowledged: called (from the Cassandra driver's thread) with the number of
        rows of every acknowledged write
    """

    def __init__(
        self,
        topic: str,
        stream: Stream,
        group_id: str,
        *,
        partitions: Sequence[int] | None = None,
        keyspace: str | None = None,
        kafka_config_id: str = KafkaRole.DRAIN.conn_id,
        cassandra_conn_id: str = settings.CASSANDRA_CONN_ID,
        options: DrainOptions | None = None,
        record_batch: bool = True,
        on_rows_acknowledged: Callable[[int], None] | None = None,
    ) -> None:
        if not topic:
            raise ValueError("topic must not be empty")
        if not group_id:
            raise ValueError("group_id must not be empty")
        self.topic = topic
        self.stream = stream
        self.group_id = group_id
        self.partitions = partitions
        self.keyspace = settings.keyspace(keyspace)
        self.kafka_config_id = kafka_config_id
        self.cassandra_conn_id = cassandra_conn_id
        self.options = options or DrainOptions()
        self.record_batch = record_batch
        self.on_rows_acknowledged = on_rows_acknowledged
        self._cleanup = ExitStack()
        self._opened: tuple[Any, Any, BatchTransaction] | None = None

    def __enter__(self) -> TopicDrainer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._opened = None
        self._cleanup.close()

    def _open(self) -> tuple[Any, Any, BatchTransaction]:
        """The session, consumer and transaction, opened on the first call."""
        if self._opened is not None:
            return self._opened
        try:
            session = self._cleanup.enter_context(
                cassandra_session(self.cassandra_conn_id, schema_metadata=False)
            )
        except Exception as err:
            raise DrainError(
                f"could not connect to Cassandra (connection {self.cassandra_conn_id!r}): "
                f"{type(err).__name__}: {err}; nothing was read or committed"
            ) from err
        hook = PipelineKafkaHook(kafka_config_id=self.kafka_config_id)
        consumer = hook.consumer(self.group_id, **DRAIN_CONSUMER_SETTINGS)
        self._cleanup.callback(consumer.close)
        # Before the committed offsets are read: this fences a predecessor that is still alive.
        transaction = BatchTransaction(
            hook.producer,
            self.topic,
            transactional_id_for(self.group_id, self.topic, self.partitions),
            self.options.kafka_timeout,
            max_message_bytes(hook.producer_config()),
        )
        self._cleanup.callback(transaction.close)
        self._opened = (session, consumer, transaction)
        return self._opened

    def drain(self, max_messages: int) -> DrainSummary:
        """Drain up to ``max_messages`` pending messages as one batch; see :mod:`kafkapipeline.drain.task`.

        :param max_messages: most messages in this batch (>= 1)
        :raises DrainError: when reading, any write or any dead letter failed; nothing was committed
        """
        if isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 1:
            raise ValueError(f"max_messages must be an integer >= 1, got {max_messages!r}")
        stream = self.stream
        summary = DrainSummary(topic=self.topic, stream=stream.name, group_id=self.group_id)
        started = time.monotonic()
        try:
            session, consumer, transaction = self._open()
            batch = MicroBatch(consumer, stream, summary, self.options, max_messages)
            if batch.plan(self.partitions):
                writer = ConcurrentRowWriter(
                    session,
                    self.keyspace,
                    stream.table.drain_spec,
                    concurrency=self.options.concurrency,
                    max_batch_rows=self.options.max_batch_rows,
                    on_rows_acknowledged=self.on_rows_acknowledged,
                    consistency_level=write_consistency(),  # KAFKAPIPELINE_WRITE_CONSISTENCY
                )
                batch.read_and_write(writer, transaction)
                batch.commit(writer, transaction)
                consumer.unassign()  # no fetching past the batch while the next one is awaited
        except Exception:
            report_batch(summary, stream, failed=True)
            raise
        finally:
            summary.seconds = time.monotonic() - started
        if self.record_batch and summary.committed:
            insert_batch_row(session, self.keyspace, summary)
        report_batch(summary, stream, lag_after=batch.lag_after, freshness=batch.freshness)
        log.info("%s", summary.describe())
        return summary


def insert_batch_row(session: Any, keyspace: str, summary: DrainSummary) -> None:
    """Insert ``summary`` into ``<keyspace>.drain_batches``; a failure is logged, never raised."""
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
