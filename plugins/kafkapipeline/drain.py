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
   become a row goes to ``<topic>.dlq`` with the original key and value and headers naming
   the error and the source topic, partition and offset; the batch goes on.
4. Write rows with prepared statements, grouped into single-partition batches, many in
   flight (:mod:`kafkapipeline.cassandra_writer`). Rows are upserts keyed by natural ids,
   so a batch that is read and written twice leaves the same rows.
5. Only when every write is acknowledged, commit ``last offset + 1`` per partition. The
   dead letters and the offsets go to Kafka in **one transaction** (a transactional producer,
   ``send_offsets_to_transaction``): both land or neither does. If anything failed, the
   transaction is aborted, so a retry re-reads the batch and its dead letters are not doubled
   for ``read_committed`` readers (the replay DAG, the health check).

A crash anywhere before step 5 therefore re-reads the batch (at-least-once delivery), and the
idempotent upserts turn that into exactly-once rows; the transaction makes the dead letters
exactly-once too. The transactional id is fixed per consumer group, topic and partition set,
so a new drain's ``init_transactions`` aborts whatever a killed one left open and fences it if
it is still alive. Two drains must never work on the same partition at once; the DAGs run with
``max_active_runs=1`` for that reason.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from kafkapipeline import settings
from kafkapipeline.cassandra_session import cassandra_session
from kafkapipeline.cassandra_writer import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_BATCH_ROWS,
    TWEETS,
    WEATHER_REPORTS,
    ConcurrentRowWriter,
    TableSpec,
    tweet_row,
    weather_row,
)
from kafkapipeline.dead_letters import DeadLetter, replay_count_of
from kafkapipeline.kafka_hook import PipelineKafkaHook
from kafkapipeline.lag import partition_offsets, topic_partitions
from kafkapipeline.records import InvalidRecord, TweetRecord, WeatherRecord, decode_json_object

log = logging.getLogger(__name__)

KIND_TWEET = "tweet"
KIND_WEATHER = "weather"
KINDS = (KIND_TWEET, KIND_WEATHER)

#: Messages asked from librdkafka per ``consume`` call: large enough to amortise the call,
#: small enough that rows reach Cassandra while the next chunk is decoded.
DEFAULT_CONSUME_BATCH = 2_000
#: How long the drain waits for a message that the watermarks say exists before giving up on
#: that partition for this batch (it commits what it has; the rest waits for the next batch).
DEFAULT_IDLE_TIMEOUT_SECONDS = 30.0
DEFAULT_KAFKA_TIMEOUT_SECONDS = 30.0
#: A batch's transaction may stay open this long (the broker's transaction.max.timeout.ms
#: defaults to 15 minutes); a drain killed mid-batch leaves it to be aborted by the next one.
TRANSACTION_TIMEOUT_MS = 10 * 60 * 1000

#: Consumer settings for draining a backlog: fetch large chunks per partition per request.
DRAIN_CONSUMER_SETTINGS = {
    "fetch.min.bytes": 1,
    "fetch.wait.max.ms": 100,
    "max.partition.fetch.bytes": 8 * 1024 * 1024,
    "fetch.max.bytes": 64 * 1024 * 1024,
    "queued.min.messages": 20_000,
}


class DrainError(RuntimeError):
    """The batch could not be completed; its offsets were not committed, so a retry re-reads it."""


@dataclass(frozen=True)
class RecordKind:
    """How one kind of message becomes a row."""

    name: str
    record_type: type[TweetRecord] | type[WeatherRecord]
    table: TableSpec
    to_row: Callable[[Any, datetime | None], tuple[Any, ...]]


RECORD_KINDS: dict[str, RecordKind] = {
    KIND_TWEET: RecordKind(KIND_TWEET, TweetRecord, TWEETS, tweet_row),
    KIND_WEATHER: RecordKind(KIND_WEATHER, WeatherRecord, WEATHER_REPORTS, weather_row),
}


def record_kind(kind: str) -> RecordKind:
    try:
        return RECORD_KINDS[kind]
    except KeyError:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}") from None


def decode(kind: RecordKind, value: bytes | None) -> TweetRecord | WeatherRecord:
    """Decode and validate one message value; :class:`InvalidRecord` says why it cannot be a row."""
    payload = decode_json_object(value)
    declared = payload.get("kind")
    if declared is not None and declared != kind.record_type.kind:
        raise InvalidRecord(
            f"kind {declared!r} does not belong on this topic (expected {kind.record_type.kind!r})"
        )
    return kind.record_type.from_dict(payload)


@dataclass
class PartitionRange:
    """What the batch covered on one partition."""

    partition: int
    start_offset: int
    end_offset: int
    first_offset: int | None = None
    last_offset: int | None = None
    messages: int = 0
    done: bool = False
    #: Kafka said end-of-partition at or past ``end_offset`` with every message before it
    #: handled: offsets with no message (transaction markers) up to the end are done too.
    reached_end: bool = False

    @property
    def commit_offset(self) -> int | None:
        if self.reached_end:
            return self.end_offset
        return None if self.last_offset is None else self.last_offset + 1


@dataclass
class DrainSummary:
    """The outcome of one micro-batch, returned to XCom and recorded in ``drain_batches``."""

    topic: str
    kind: str
    group_id: str
    batch_id: str = ""
    messages_read: int = 0
    rows_written: int = 0
    dead_lettered: int = 0
    lag_after: int | None = None
    seconds: float = 0.0
    committed: bool = False
    stopped_early: str | None = None
    partitions: list[PartitionRange] = field(default_factory=list)

    @property
    def messages_per_second(self) -> float:
        return self.messages_read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["messages_per_second"] = round(self.messages_per_second, 1)
        out["seconds"] = round(self.seconds, 3)
        return out

    def describe(self) -> str:
        ranges = (
            ", ".join(
                f"p{p.partition} {p.first_offset}..{p.last_offset} ({p.messages})"
                for p in self.partitions
                if p.messages
            )
            or "nothing pending"
        )
        lines = [
            f"Drained {self.topic} ({self.kind}) for group {self.group_id} in {self.seconds:.2f}s: "
            f"{self.messages_read} messages read, {self.rows_written} rows written, "
            f"{self.dead_lettered} dead-lettered, {self.messages_per_second:.0f} messages/s",
            f"  offsets committed: {'yes' if self.committed else 'no (nothing to commit)'}; "
            f"lag after: {self.lag_after}",
            f"  ranges: {ranges}",
        ]
        if self.stopped_early:
            lines.append(f"  stopped early: {self.stopped_early}")
        return "\n".join(lines)


def batch_id_for(topic: str, ranges: Sequence[PartitionRange]) -> str:
    """A stable id for the offsets a batch covered: re-draining the same range gives the same id."""
    text = ";".join(f"p{r.partition}:{r.first_offset}-{r.last_offset}" for r in ranges if r.messages)
    if len(text) <= 120:
        return text
    return hashlib.sha256(f"{topic}|{text}".encode()).hexdigest()[:32]


class _BatchTransaction:
    """The batch's Kafka transaction: its dead letters and, at the end, its offsets.

    The producer is transactional (``transactional.id`` fixed per group, topic and partitions),
    created and initialised before anything is read; ``init_transactions`` aborts a transaction
    a killed drain left open. Dead letters are produced inside the transaction; ``commit`` adds
    the consumer offsets and commits both at once. ``close`` aborts whatever was not committed.
    """

    def __init__(
        self,
        producer_factory: Callable[..., Producer],
        source_topic: str,
        transactional_id: str,
        timeout: float,
    ) -> None:
        self.source_topic = source_topic
        self.topic = settings.dead_letter_topic(source_topic)
        self.transactional_id = transactional_id
        self.timeout = timeout
        self.sent = 0
        self.delivered = 0
        self.errors: list[str] = []
        self._open = False
        self._producer = producer_factory(
            **{"transactional.id": transactional_id, "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS}
        )
        try:
            self._producer.init_transactions(timeout)
        except KafkaException as err:
            raise DrainError(
                f"could not start the Kafka transaction {transactional_id!r} for {source_topic}: {err} "
                "(the broker needs transaction.state.log.replication.factor <= its broker count); "
                "nothing was read or committed"
            ) from err

    def _begin(self) -> None:
        if not self._open:
            self._producer.begin_transaction()
            self._open = True

    def _on_delivery(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self.errors.append(error.str())
        else:
            self.delivered += 1

    def send(self, message: Message, reason: str) -> None:
        """Produce one dead letter (inside the transaction); delivery is checked in ``commit``."""
        self._begin()
        original_headers = message.headers() or []
        letter = DeadLetter.for_failure(
            error=reason,
            source_topic=message.topic(),
            source_partition=message.partition(),
            source_offset=message.offset(),
            replay_count=replay_count_of(original_headers),
        )
        headers = letter.headers() + [(k, v) for k, v in original_headers if not k.startswith("dlq.")]
        while True:
            try:
                self._producer.produce(
                    self.topic,
                    value=message.value(),
                    key=message.key(),
                    headers=headers,
                    on_delivery=self._on_delivery,
                )
                break
            except BufferError:
                self._producer.poll(0.5)  # local queue full: let deliveries drain, then retry
        self._producer.poll(0)
        self.sent += 1

    def commit(self, consumer: Consumer, offsets: list[TopicPartition]) -> None:
        """Check every dead letter was acknowledged, then commit them and ``offsets`` atomically."""
        timeout = self.timeout
        remaining = self._producer.flush(timeout)
        if remaining:
            raise DrainError(
                f"{remaining} dead letters to {self.topic} were not acknowledged within {timeout:.0f}s; "
                "offsets not committed, the batch will be re-read on retry"
            )
        if self.errors:
            raise DrainError(
                f"{len(self.errors)} dead letters could not be written to {self.topic}: {self.errors[0]} "
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
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                call(max(1.0, deadline - time.monotonic()))
                return
            except KafkaException as err:
                error = err.args[0] if err.args else None
                retriable = isinstance(error, KafkaError) and error.retriable()
                if retriable and time.monotonic() < deadline:
                    log.warning("%s: %s failed (%s), retrying", self.source_topic, what, error.str())
                    time.sleep(0.5)
                    continue
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


def transactional_id_for(group_id: str, topic: str, partitions: Sequence[int] | None) -> str:
    """Stable per group, topic and partition set: a retry of the same work fences its predecessor."""
    which = "all" if partitions is None else "p" + "-".join(str(p) for p in sorted(set(partitions)))
    return f"{group_id}.{topic}.{which}"


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


@dataclass(frozen=True)
class DrainOptions:
    """Tuning knobs of a drain; the defaults are what benchmarked best on the 2-core target machine.

    :param consume_batch: messages per ``consume`` call
    :param concurrency: Cassandra requests in flight
    :param max_batch_rows: rows per single-partition Cassandra batch (1 writes row by row)
    :param idle_timeout: seconds without any message before the drain stops reading and commits
        what it has written (the watermarks said more was there; the next batch gets it)
    :param kafka_timeout: seconds for each Kafka metadata, offset and commit request, and for
        the dead-letter flush
    """

    consume_batch: int = DEFAULT_CONSUME_BATCH
    concurrency: int = DEFAULT_CONCURRENCY
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT_SECONDS
    kafka_timeout: float = DEFAULT_KAFKA_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        for name in ("consume_batch", "concurrency", "max_batch_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("idle_timeout", "kafka_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")


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
            transaction = _BatchTransaction(
                hook.producer,
                topic,
                transactional_id_for(group_id, topic, partitions),
                options.kafka_timeout,
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

    def read_and_write(self, writer: ConcurrentRowWriter, dead_letters: _BatchTransaction) -> None:
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
            rows = self._rows_of(messages, dead_letters)
            if rows:
                writer.write(rows)
            if writer.outcome.first_error is not None:
                break  # no point reading more: this batch will not be committed
        self.summary.messages_read = sum(r.messages for r in self.summary.partitions)
        self.summary.dead_lettered = dead_letters.sent

    def _rows_of(self, messages: list[Message], dead_letters: _BatchTransaction) -> list[tuple[Any, ...]]:
        spec, ingested_at, pending = self.spec, self.ingested_at, self.pending
        rows: list[tuple[Any, ...]] = []
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
                rows.append(spec.to_row(decode(spec, message.value()), ingested_at))
            except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as err:
                # InvalidRecord (a ValueError) carries the reason; anything else is named by its type.
                reason = str(err) if isinstance(err, InvalidRecord) else f"{type(err).__name__}: {err}"
                dead_letters.send(message, reason)
            if offset + 1 >= r.end_offset:
                self._close(r)
        return rows

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

    def commit(self, writer: ConcurrentRowWriter, dead_letters: _BatchTransaction) -> None:
        """Wait for every write and dead letter; commit only if all of them succeeded."""
        summary, timeout = self.summary, self.options.kafka_timeout
        outcome = writer.flush()
        summary.rows_written = outcome.rows_written
        if not outcome.ok:
            raise DrainError(
                f"Cassandra write failed for {outcome.describe_failure()}; offsets not committed, "
                f"the batch will be re-read on retry ({self.topic}, {summary.messages_read} messages read)"
            )
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


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}") from err
    if number < 1 or (isinstance(value, float) and number != value):
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return number


def drain_group(topic: str) -> str:
    """The drain's consumer group on ``topic``: its committed offsets mark what is in Cassandra."""
    return settings.consumer_group("drain", topic)


def drain_default_args() -> dict[str, Any]:
    """Task defaults of both drain DAGs: a failed batch commits nothing, so retrying it is safe."""
    return {
        "owner": "data-platform",
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(minutes=30),
    }


def drain_task(kind: str, max_messages: int | str) -> dict[str, Any]:
    """The drain DAGs' task: resolve topic and consumer group now, drain one micro-batch, return its summary.

    ``max_messages`` arrives rendered from ``{{ params.max_messages }}`` (text), so it is
    validated here as well as by the Param. The summary dict goes to XCom; it holds offsets
    and counts, never message contents or connection settings.
    """
    limit = _positive_int("max_messages", max_messages)
    topic = topic_for_kind(kind)
    summary = drain_topic(topic, kind, drain_group(topic), limit)
    return summary.to_dict()


def drain_params(min_batch: int, max_wait_seconds: int) -> dict[str, Any]:
    """The Params both drain DAGs expose, with per-topic defaults.

    ``KAFKAPIPELINE_DRAIN_MIN_BATCH`` / ``KAFKAPIPELINE_DRAIN_MAX_WAIT_SECONDS`` override the
    defaults (read at parse time from the environment only).
    """
    from airflow.sdk import Param

    return {
        "min_batch": Param(
            settings.drain_setting("min_batch", min_batch),
            type="integer",
            minimum=1,
            maximum=1_000_000,
            description="Messages that make a batch",
        ),
        "max_wait_seconds": Param(
            settings.drain_setting("max_wait_seconds", max_wait_seconds),
            type="number",
            minimum=1,
            maximum=86_400,
            description="Longest a pending message waits for a batch",
        ),
        "max_messages": Param(
            50_000, type="integer", minimum=1, maximum=1_000_000, description="Most messages drained per run"
        ),
    }
