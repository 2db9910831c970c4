"""Turn records into table rows and write them to Cassandra fast, idempotently, and loudly on failure.

Rows are idempotent upserts keyed by natural ids (a tweet by city, day, created_at and
tweet id; a weather report by city, day and observed_at), so writing the same message twice
writes the same row. ``ingested_at`` is the time of the drain that wrote the row last: a
replay overwrites it, which is the only difference a replay makes.

Nulls: a field the record does not have is bound as "unset", not as null. Binding null writes a
tombstone per empty cell, and reads of a busy (city, day) partition would then scan (and past
100,000, refuse) tombstones. Unset leaves the cell alone, which for a replayed message (the only
way a row is written twice) is the same value.

Speed: statements are prepared once, rows are grouped by partition into UNLOGGED batches of
up to 64 rows (a single-partition batch is one mutation on one replica set: atomic, no batch
log, and one request instead of many), and requests run with a bounded number in flight.
The driver encodes and decodes in Python, so per-request overhead, not Cassandra, is what
limits a Python writer: on the 2-core target machine one row per request costs the client
about 140 us of CPU, a 64-row batch about 30 us per row.

Failure: a request is retried by the driver (the statements are marked idempotent, and
:class:`IdempotentRetryPolicy` retries timeouts and unavailable errors a few times). A request
that still fails is counted; no new requests start after a failure, the ones in flight are
awaited, and :meth:`ConcurrentRowWriter.flush` reports what failed so the caller can refuse to
commit its Kafka offsets.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import ResponseFuture, Session
from cassandra.policies import RetryPolicy
from cassandra.query import UNSET_VALUE, BatchStatement, BatchType, PreparedStatement

from kafkapipeline.records import TweetRecord, WeatherRecord
from kafkapipeline.sentiment import Sentiment, score_text

#: In-flight requests per writer. Enough to keep Cassandra's native-transport threads busy on
#: a small machine; more only adds queueing and memory.
DEFAULT_CONCURRENCY = 64
#: Rows per single-partition batch, and a rough cap on its size. Cassandra's batch size
#: warning and failure thresholds do not apply to single-partition batches (CASSANDRA-10876):
#: such a batch is one mutation. The cap keeps each mutation small next to the commit log
#: segment and the native protocol frame limits, and keeps one slow request from holding
#: many rows.
DEFAULT_MAX_BATCH_ROWS = 64
DEFAULT_MAX_BATCH_BYTES = 64 * 1024
DEFAULT_WRITE_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class TableSpec:
    """A target table: its columns in insert order and which of them form the partition key."""

    table: str
    columns: tuple[str, ...]
    partition_key_width: int
    #: Index of the text column whose length dominates the row size (for batch sizing).
    size_column: int | None = None

    def insert_cql(self, keyspace: str) -> str:
        names = ", ".join(self.columns)
        marks = ", ".join("?" for _ in self.columns)
        return f"INSERT INTO {keyspace}.{self.table} ({names}) VALUES ({marks})"


TWEETS = TableSpec(
    table="tweets",
    columns=(
        "city",
        "day",
        "created_at",
        "tweet_id",
        "text",
        "lang",
        "author_id",
        "retweet_count",
        "reply_count",
        "like_count",
        "quote_count",
        "place_id",
        "source",
        "sentiment_score",
        "sentiment_label",
        "ingested_at",
    ),
    partition_key_width=2,
    size_column=4,
)

WEATHER_REPORTS = TableSpec(
    table="weather_reports",
    columns=(
        "city",
        "day",
        "observed_at",
        "description",
        "temperature_c",
        "feels_like_c",
        "temp_min_c",
        "temp_max_c",
        "pressure_hpa",
        "humidity_pct",
        "wind_speed_ms",
        "sunrise",
        "sunset",
        "provider",
        "ingested_at",
    ),
    partition_key_width=2,
)


def tweet_row(
    record: TweetRecord, ingested_at: datetime | None, *, sentiment: Sentiment | None = None
) -> tuple[Any, ...]:
    """The ``tweets`` row of a tweet, with its VADER sentiment (columns in :data:`TWEETS` order).

    ``sentiment`` is given only when restoring a row whose sentiment was already computed
    (the CSV import of an export); otherwise the text is scored here.
    """
    if sentiment is None:
        sentiment = score_text(record.text)
    return (
        record.city,
        record.day,
        record.created_at,
        record.tweet_id,
        record.text,
        record.lang,
        record.author_id,
        record.retweet_count,
        record.reply_count,
        record.like_count,
        record.quote_count,
        record.place_id,
        record.source,
        sentiment.score,
        sentiment.label,
        ingested_at,
    )


def weather_row(record: WeatherRecord, ingested_at: datetime | None) -> tuple[Any, ...]:
    """The ``weather_reports`` row of an observation, as it is (columns in :data:`WEATHER_REPORTS` order)."""
    return (
        record.city,
        record.day,
        record.observed_at,
        record.description,
        record.temperature_c,
        record.feels_like_c,
        record.temp_min_c,
        record.temp_max_c,
        record.pressure_hpa,
        record.humidity_pct,
        record.wind_speed_ms,
        record.sunrise,
        record.sunset,
        record.provider,
        ingested_at,
    )


def unset_nulls(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """``row`` with every None replaced by the driver's UNSET_VALUE (no tombstone for an empty field)."""
    if None not in row:
        return row
    return tuple(UNSET_VALUE if value is None else value for value in row)


def _as_is(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row


class IdempotentRetryPolicy(RetryPolicy):
    """Retry timeouts and unavailable errors of idempotent upserts a few times on the same host.

    The driver's default policy does not retry a timed-out plain write, because it cannot know
    the write is safe to repeat. Ours are upserts of identical values, so repeating is safe.
    """

    def __init__(self, max_retries: int = 3) -> None:
        self.max_retries = max_retries

    def _retry(self, consistency: int, retry_num: int) -> tuple[int, int | None]:
        if retry_num < self.max_retries:
            return self.RETRY, consistency
        return self.RETHROW, None

    def on_write_timeout(  # noqa: PLR0917 - the driver's RetryPolicy signature
        self, query, consistency, write_type, required_responses, received_responses, retry_num
    ):
        return self._retry(consistency, retry_num)

    def on_read_timeout(  # noqa: PLR0917 - the driver's RetryPolicy signature
        self, query, consistency, required_responses, received_responses, data_retrieved, retry_num
    ):
        return self._retry(consistency, retry_num)

    def on_unavailable(self, query, consistency, required_replicas, alive_replicas, retry_num):
        if retry_num < self.max_retries:
            return self.RETRY_NEXT_HOST, None
        return self.RETHROW, None

    def on_request_error(self, query, consistency, error, retry_num):
        if retry_num < self.max_retries:
            return self.RETRY_NEXT_HOST, None
        return self.RETHROW, None


@dataclass
class WriteOutcome:
    """What a writer did: rows handed to it, rows acknowledged, rows failed or never sent."""

    rows_submitted: int = 0
    rows_written: int = 0
    rows_failed: int = 0
    rows_not_attempted: int = 0
    requests: int = 0
    first_error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.rows_failed == 0 and self.rows_not_attempted == 0 and self.first_error is None

    def describe_failure(self) -> str:
        error = self.first_error
        error_text = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
        skipped = (
            f" ({self.rows_not_attempted} not attempted after the first failure)"
            if self.rows_not_attempted
            else ""
        )
        failed = self.rows_failed + self.rows_not_attempted
        return f"{failed} of {self.rows_submitted} rows{skipped}: {error_text}"


class CassandraWriteError(RuntimeError):
    """Some rows of a batch were not written; the caller must not commit the offsets they came from."""


class ConcurrentRowWriter:
    """
    Write rows of one table with prepared statements and a bounded number of requests in flight.

    Call :meth:`write` as often as needed (it blocks only while the window is full), then
    :meth:`flush` once: it waits for every request and returns the :class:`WriteOutcome`.

    :param session: connected Cassandra session
    :param keyspace: keyspace of the table
    :param spec: the target table
    :param concurrency: most requests in flight at once
    :param max_batch_rows: most rows per single-partition UNLOGGED batch; 1 writes row by row
    :param max_batch_bytes: rough cap on a batch's size (the size column's length is summed)
    :param timeout: seconds per request, driver retries included
    :param on_rows_acknowledged: called from the driver's thread with the row count of every
        acknowledged request (progress reporting and the crash tests use it)
    """

    def __init__(
        self,
        session: Session,
        keyspace: str,
        spec: TableSpec,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        timeout: float = DEFAULT_WRITE_TIMEOUT_SECONDS,
        consistency_level: int = ConsistencyLevel.LOCAL_QUORUM,
        on_rows_acknowledged: Callable[[int], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if max_batch_rows < 1:
            raise ValueError(f"max_batch_rows must be at least 1, got {max_batch_rows}")
        if max_batch_bytes < 1:
            raise ValueError(f"max_batch_bytes must be positive, got {max_batch_bytes}")
        self.session = session
        self.spec = spec
        self.concurrency = concurrency
        self.max_batch_rows = max_batch_rows
        self.max_batch_bytes = max_batch_bytes
        self.timeout = timeout
        self.consistency_level = consistency_level
        self.on_rows_acknowledged = on_rows_acknowledged
        self.retry_policy = IdempotentRetryPolicy()
        self.statement: PreparedStatement = session.prepare(spec.insert_cql(keyspace))
        self.statement.is_idempotent = True
        self.statement.consistency_level = consistency_level
        self.statement.retry_policy = self.retry_policy
        # Unset values need native protocol v4+ (Cassandra 2.2+); on older ones nulls are bound.
        self._prepare_row = unset_nulls if session.cluster.protocol_version >= 4 else _as_is
        self.outcome = WriteOutcome()
        self._in_flight = 0
        self._window = threading.Condition()

    # -- submitting ------------------------------------------------------------------------

    def write(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Queue ``rows`` for writing; returns once they are all sent (not yet acknowledged).

        After a failure nothing more is sent: the remaining rows count as not attempted.
        """
        self.outcome.rows_submitted += len(rows)
        sent = 0
        try:
            for statement, row_count in self._requests(rows):
                if self.outcome.first_error is not None:
                    break  # stop adding load to a failing cluster: the batch will not be committed
                self._send(statement, row_count)
                sent += row_count
        except Exception as err:  # a row the driver cannot encode: a bug, reported like a failed write
            with self._window:
                if self.outcome.first_error is None:
                    self.outcome.first_error = err
        self.outcome.rows_not_attempted += len(rows) - sent

    def _requests(self, rows: Sequence[tuple[Any, ...]]) -> Iterator[tuple[Any, int]]:
        if self.max_batch_rows == 1:
            return ((self.statement.bind(self._prepare_row(row)), 1) for row in rows)
        return self._batches(rows)

    def _send(self, statement: Any, row_count: int) -> None:
        self._acquire_slot()
        try:
            future: ResponseFuture = self.session.execute_async(statement, timeout=self.timeout)
        except Exception as err:  # the driver normally reports through the errback; be safe anyway
            self._on_failure(err, row_count)
            return
        self.outcome.requests += 1
        future.add_callbacks(
            self._on_success, self._on_failure, callback_args=(row_count,), errback_args=(row_count,)
        )

    def _batches(self, rows: Sequence[tuple[Any, ...]]) -> Iterator[tuple[Any, int]]:
        width = self.spec.partition_key_width
        size_column = self.spec.size_column
        by_partition: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        for row in rows:
            key = row[:width]
            group = by_partition.get(key)
            if group is None:
                by_partition[key] = [row]
            else:
                group.append(row)
        statement = self.statement
        prepare_row = self._prepare_row
        max_rows = self.max_batch_rows
        max_bytes = self.max_batch_bytes
        for group in by_partition.values():
            if len(group) == 1:
                yield statement.bind(prepare_row(group[0])), 1
                continue
            batch = self._new_batch()
            count = 0
            size = 0
            for row in group:
                row_size = 200 + (len(row[size_column] or "") * 2 if size_column is not None else 0)
                if count and (count >= max_rows or size + row_size > max_bytes):
                    yield batch, count
                    batch = self._new_batch()
                    count = 0
                    size = 0
                batch.add(statement, prepare_row(row))
                count += 1
                size += row_size
            if count:
                yield batch, count

    def _new_batch(self) -> BatchStatement:
        batch = BatchStatement(
            batch_type=BatchType.UNLOGGED,
            consistency_level=self.consistency_level,
            retry_policy=self.retry_policy,
        )
        batch.is_idempotent = True
        return batch

    def _acquire_slot(self) -> None:
        with self._window:
            while self._in_flight >= self.concurrency:
                self._window.wait()
            self._in_flight += 1

    # -- callbacks (driver thread) ------------------------------------------------------------

    def _on_success(self, _result: Any, row_count: int) -> None:
        with self._window:
            self.outcome.rows_written += row_count
            self._in_flight -= 1
            self._window.notify_all()
        if self.on_rows_acknowledged is not None:
            self.on_rows_acknowledged(row_count)

    def _on_failure(self, error: BaseException, row_count: int) -> None:
        with self._window:
            self.outcome.rows_failed += row_count
            if self.outcome.first_error is None:
                self.outcome.first_error = error
            self._in_flight -= 1
            self._window.notify_all()

    # -- finishing ----------------------------------------------------------------------------

    def flush(self) -> WriteOutcome:
        """Wait for every request in flight and return the outcome.

        The driver answers every request (result, error or its own timeout); the deadline
        here only guards against a callback that never comes.
        """
        deadline = time.monotonic() + self.timeout * (self.retry_policy.max_retries + 1) + 30
        with self._window:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if self.outcome.first_error is None:
                        self.outcome.first_error = TimeoutError(
                            f"{self._in_flight} requests still unanswered ({self.timeout}s timeout each)"
                        )
                    self.outcome.rows_failed += (
                        self.outcome.rows_submitted
                        - self.outcome.rows_written
                        - (self.outcome.rows_failed + self.outcome.rows_not_attempted)
                    )
                    break
                self._window.wait(remaining)
        return self.outcome
