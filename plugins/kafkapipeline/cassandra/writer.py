"""Write table rows to Cassandra fast, idempotently, and loudly on failure.

Rows are idempotent upserts keyed by natural ids (the table's primary key, see
:mod:`kafkapipeline.streams`), so writing the same message twice writes the same row.

Nulls: a field the record does not have is bound as "unset", not as null. Binding null writes a
tombstone per empty cell, and reads of a busy (city, day) partition would then scan (and past
100,000, refuse) tombstones. Unset leaves the cell alone, which for a replayed message (the only
way a row is written twice) is the same value.

Speed: statements are prepared once, rows are grouped by partition into UNLOGGED batches of
up to 64 rows (a single-partition batch is one mutation on one replica set: atomic, no batch
log, and one request instead of many), and requests run with a bounded number in flight.
A partition's last, partial batch of a :meth:`~ConcurrentRowWriter.write` is held back and
filled by the next one (sent at :meth:`~ConcurrentRowWriter.flush` at the latest): a caller
writing chunk by chunk, such as the drain one Kafka partition at a time, sends full batches
instead of one remnant per partition and chunk.
The driver encodes and decodes in Python, so per-request overhead, not Cassandra, is what
limits a Python writer; rows are serialised by :class:`kafkapipeline.cassandra.bind.RowEncoder`
(the driver's bytes, cheaper; the driver still binds whatever the encoder is unsure of).
docs/benchmarks.md has the figures.

Failure: a request is retried by the driver (the statements are marked idempotent, and
:class:`IdempotentRetryPolicy` retries timeouts and unavailable errors a few times). A request
that still fails is counted; no new requests start after a failure, the ones in flight are
awaited, and :meth:`ConcurrentRowWriter.flush` reports what failed so the caller can refuse to
commit its Kafka offsets.

One bad row: a request that fails for a reason about its rows (Cassandra's ``InvalidRequest``
such as a partition key over 64 KiB, or the driver failing to encode an int or a text while
binding; see :func:`kafkapipeline.cassandra.outcome.is_row_specific`) does not fail the batch.
Its rows are written again one by one at :meth:`~ConcurrentRowWriter.flush`; those still refused
are listed in :attr:`WriteOutcome.rejected` with the message and the *source* the caller gave
for them (the drain gives each row's Kafka message and dead-letters it). As a check that the
statement itself still works, a row written earlier is written again after such a refusal: if
that fails too, the whole batch fails. Good data pays nothing for this: sources ride along
with each request and are dropped when it is acknowledged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from cassandra.cluster import ResponseFuture, Session
from cassandra.query import UNSET_VALUE, BatchStatement, BatchType, BoundStatement, PreparedStatement

from kafkapipeline.cassandra.bind import RowEncoder
from kafkapipeline.cassandra.outcome import (
    ROW_ENCODE_ERRORS,
    IdempotentRetryPolicy,
    RejectedRow,
    WriteOutcome,
    is_row_specific,
    rejection_reason,
)
from kafkapipeline.cassandra.replication import write_consistency
from kafkapipeline.streams.base import TableSpec

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
#: Rows that may wait for their batch to fill, in full batches' worth: past it (many partitions
#: with few rows each) the held rows are sent at once.
HELD_BATCHES = DEFAULT_CONCURRENCY


def unset_nulls(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """``row`` with every None replaced by the driver's UNSET_VALUE (no tombstone for an empty field)."""
    if None not in row:
        return row
    return tuple(UNSET_VALUE if value is None else value for value in row)


def _as_is(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row


class CassandraWriteError(RuntimeError):
    """Some rows of a batch were not written; the caller must not commit the offsets they came from."""


class ConcurrentRowWriter:
    """
    Write rows of one table with prepared statements and a bounded number of requests in flight.

    Call :meth:`write` as often as needed (it blocks only while the window is full), then
    :meth:`flush` once: it sends the rows held for fuller batches, waits for every request,
    writes the rows of requests refused for a row-specific reason one by one, and returns the
    :class:`WriteOutcome`.

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
        consistency_level: int | None = None,
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
        if consistency_level is None:  # KAFKAPIPELINE_WRITE_CONSISTENCY, never the driver's LOCAL_ONE
            consistency_level = write_consistency()
        self.consistency_level = consistency_level
        self.on_rows_acknowledged = on_rows_acknowledged
        self.retry_policy = IdempotentRetryPolicy()
        self.statement: PreparedStatement = session.prepare(spec.insert_cql(keyspace))
        self.statement.is_idempotent = True
        self.statement.consistency_level = consistency_level
        self.statement.retry_policy = self.retry_policy
        # Unset values need native protocol v4+ (Cassandra 2.2+); on older ones nulls are bound.
        self._prepare_row = unset_nulls if session.cluster.protocol_version >= 4 else _as_is
        #: The driver's bind of ``unset_nulls(row)``, cheaper: same bytes, or None to bind with the driver.
        self._encoder = RowEncoder(self.statement)
        self.outcome = WriteOutcome()
        self._in_flight = 0
        self._window = threading.Condition()
        #: Rows (with their sources) of requests refused for a row-specific reason: rewritten alone.
        self._suspects: list[tuple[tuple[Any, ...], Any]] = []
        #: A row Cassandra acknowledged: written again to check the statement after a refusal.
        self._known_good: tuple[Any, ...] | None = None
        self._server_refused = False
        self._bind_rejected = 0
        #: Per partition key, the unsent rows (with their sources) of its last partial batch.
        self._held: dict[tuple[Any, ...], list[tuple[tuple[Any, ...], Any]]] = {}
        self._held_rows = 0
        self._max_held_rows = max_batch_rows * HELD_BATCHES

    # -- submitting ------------------------------------------------------------------------

    def write(self, rows: Sequence[tuple[Any, ...]], sources: Sequence[Any] | None = None) -> None:
        """Queue ``rows`` for writing; returns once they are sent or held (not yet acknowledged).

        ``sources`` (same length and order as ``rows``) names where each row came from; a row
        refused on its own is reported in :attr:`WriteOutcome.rejected` with it (the row itself
        when not given). After a failure nothing more is sent: the remaining rows, held ones
        included, count as not attempted.
        """
        if sources is None:
            sources = rows
        elif len(sources) != len(rows):
            raise ValueError(f"{len(rows)} rows but {len(sources)} sources")
        self.outcome.rows_submitted += len(rows)
        self._submit(self._requests(rows, sources), len(rows) + self._held_rows)

    def _submit(self, requests: Iterator[tuple[Any, list]], offered: int) -> None:
        """Send ``requests``, made from ``offered`` rows (new and held); count those neither sent nor held."""
        bind_rejected_before = self._bind_rejected
        sent = 0
        try:
            for statement, pairs in requests:
                if self.outcome.first_error is not None:
                    break  # stop adding load to a failing cluster: the batch will not be committed
                count = len(pairs)  # before sending: a callback may run (and release pairs) at once
                self._send(statement, pairs, self._on_failure)
                sent += count
        except Exception as err:  # not a row's fault (those are rejected at bind): reported as a failed write
            with self._window:
                if self.outcome.first_error is None:
                    self.outcome.first_error = err
        rejected = self._bind_rejected - bind_rejected_before
        self.outcome.rows_not_attempted += offered - sent - rejected - self._held_rows

    def _requests(
        self, rows: Sequence[tuple[Any, ...]], sources: Sequence[Any]
    ) -> Iterator[tuple[Any, list]]:
        if self.max_batch_rows == 1:
            return self._singles(rows, sources)
        return self._batches(rows, sources)

    def _bind(self, row: tuple[Any, ...], source: Any) -> Any:
        """The bound statement of one row, or None when the driver cannot encode it (rejected)."""
        values = self._encoder.values(row)
        if values is not None:
            bound = BoundStatement(self.statement)
            bound.raw_values, bound.values = row, values
            return bound
        try:
            return self.statement.bind(self._prepare_row(row))
        except ROW_ENCODE_ERRORS as err:
            self._reject(source, err)
            return None

    def _reject(self, source: Any, error: BaseException) -> None:
        """A row the driver could not bind (called from the submitting thread only)."""
        with self._window:
            self.outcome.rejected.append(RejectedRow(source, rejection_reason(error)))
        self._bind_rejected += 1

    def _singles(self, rows: Sequence[tuple[Any, ...]], sources: Sequence[Any]) -> Iterator[tuple[Any, list]]:
        for row, source in zip(rows, sources, strict=True):
            bound = self._bind(row, source)
            if bound is not None:
                yield bound, [(row, source)]

    def _send(self, statement: Any, pairs: list, errback: Callable[[BaseException, list], None]) -> None:
        self._acquire_slot()
        try:
            future: ResponseFuture = self.session.execute_async(statement, timeout=self.timeout)
        except Exception as err:  # e.g. a routing key the driver cannot pack: reported like the server's
            errback(err, pairs)
            return
        self.outcome.requests += 1
        future.add_callbacks(
            self._finished,
            self._finished,
            callback_args=(pairs, statement, self._on_success),
            errback_args=(pairs, statement, errback),
        )

    @staticmethod
    def _finished(result: Any, pairs: list, statement: Any, handler: Callable[[Any, list], None]) -> None:
        """Run ``handler``, then let go of the request's rows, sources and serialised values.

        The driver's ResponseFuture sits in a reference cycle (its timer and callbacks point back
        at it) that only the cyclic GC frees. Whatever it holds, rows and Kafka messages included,
        would wait for a collection and be traversed by each GC generation on the way (a large
        share of the drain's CPU). Emptied here, they are freed at once. The request is over: the
        driver calls back only after its last retry.
        """
        try:
            handler(result, pairs)
        finally:
            pairs.clear()
            if isinstance(statement, BatchStatement):
                statement.clear()

    def _batches(self, rows: Sequence[tuple[Any, ...]], sources: Sequence[Any]) -> Iterator[tuple[Any, list]]:
        """Batches of ``rows`` and their partitions' held rows; each partition's last partial one is held."""
        width = self.spec.partition_key_width
        size_column = self.spec.size_column
        held = self._held
        by_partition: dict[tuple[Any, ...], list[tuple[tuple[Any, ...], Any]]] = {}
        for row, source in zip(rows, sources, strict=True):
            key = row[:width]
            group = by_partition.get(key)
            if group is None:
                group = by_partition[key] = held.pop(key, [])
                self._held_rows -= len(group)
            group.append((row, source))
        max_rows = self.max_batch_rows
        max_bytes = self.max_batch_bytes
        for key, group in by_partition.items():
            pairs: list[tuple[tuple[Any, ...], Any]] = []
            size = 0
            for pair in group:
                row_size = 200 + (len(pair[0][size_column] or "") * 2 if size_column is not None else 0)
                if pairs and (len(pairs) >= max_rows or size + row_size > max_bytes):
                    yield from self._batch_of(pairs)
                    pairs = []
                    size = 0
                pairs.append(pair)
                size += row_size
            if len(pairs) >= max_rows:
                yield from self._batch_of(pairs)
            else:  # filled by the next write, or sent at flush
                held[key] = pairs
                self._held_rows += len(pairs)
        if self._held_rows > self._max_held_rows:
            yield from self._release_held()

    def _release_held(self) -> Iterator[tuple[Any, list]]:
        """The requests of every held row (the held rows are forgotten as soon as this starts)."""
        held, self._held = self._held, {}
        self._held_rows = 0
        for pairs in held.values():
            yield from self._batch_of(pairs)

    def _batch_of(self, pairs: list[tuple[tuple[Any, ...], Any]]) -> Iterator[tuple[Any, list]]:
        """The request of one partition's rows (a batch, or a lone row's statement), less rejected rows."""
        if len(pairs) == 1:
            row, source = pairs[0]
            bound = self._bind(row, source)
            if bound is not None:
                yield bound, pairs
            return
        batch = self._new_batch()
        # The rows after a batch's first reach it through one reused BoundStatement: ``add`` keeps the
        # values, not the statement, so a fresh one per row would only cost its construction.
        carrier = BoundStatement(self.statement)
        encode = self._encoder.values
        kept: list[tuple[tuple[Any, ...], Any]] = []
        for pair in pairs:
            values = encode(pair[0]) if kept else None  # a first row goes through add(): routing key
            if values is not None:
                carrier.values = values
                batch.add(carrier)
            else:
                bound = self._bind(*pair)
                if bound is None:  # this row only (rejected); the batch is left as it was
                    continue
                batch.add(bound)
            kept.append(pair)
        if kept:
            yield batch, kept

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

    def _on_success(self, _result: Any, pairs: list) -> None:
        with self._window:
            self.outcome.rows_written += len(pairs)
            if self._known_good is None:
                self._known_good = pairs[0][0]
            self._in_flight -= 1
            self._window.notify_all()
        if self.on_rows_acknowledged is not None:
            self.on_rows_acknowledged(len(pairs))

    def _on_failure(self, error: BaseException, pairs: list) -> None:
        """A first-pass request failed: its rows are suspects if the error is about rows."""
        with self._window:
            if is_row_specific(error):
                self._server_refused = self._server_refused or not isinstance(error, ROW_ENCODE_ERRORS)
                if len(pairs) == 1:
                    self.outcome.rejected.append(RejectedRow(pairs[0][1], rejection_reason(error)))
                else:
                    self._suspects.extend(pairs)
            else:
                self._fail(error, len(pairs))
            self._in_flight -= 1
            self._window.notify_all()

    def _on_rewrite_failure(self, error: BaseException, pairs: list) -> None:
        """A row written alone failed: refused if the error is about it, otherwise the batch fails."""
        with self._window:
            if is_row_specific(error):
                self._server_refused = self._server_refused or not isinstance(error, ROW_ENCODE_ERRORS)
                self.outcome.rejected.append(RejectedRow(pairs[0][1], rejection_reason(error)))
            else:
                self._fail(error, len(pairs))
            self._in_flight -= 1
            self._window.notify_all()

    def _fail(self, error: BaseException, row_count: int) -> None:
        self.outcome.rows_failed += row_count
        if self.outcome.first_error is None:
            self.outcome.first_error = error

    # -- finishing ----------------------------------------------------------------------------

    def flush(self) -> WriteOutcome:
        """Send the held rows, wait for every request, rewrite the suspects one by one, return the outcome.

        The driver answers every request (result, error or its own timeout); the deadline
        here only guards against a callback that never comes.
        """
        self._submit(self._release_held(), self._held_rows)
        deadline = time.monotonic() + self.timeout * (self.retry_policy.max_retries + 1) + 30
        self._wait(deadline)
        suspects, self._suspects = self._suspects, []
        if suspects:
            self._rewrite(suspects, deadline + self.timeout * (self.retry_policy.max_retries + 1))
        if self._server_refused and self.outcome.first_error is None:
            self._check_statement()
        return self.outcome

    def _wait(self, deadline: float) -> None:
        with self._window:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if self.outcome.first_error is None:
                        self.outcome.first_error = TimeoutError(
                            f"{self._in_flight} requests still unanswered ({self.timeout}s timeout each)"
                        )
                    self.outcome.rows_failed += self.outcome.unanswered - len(self._suspects)
                    break
                self._window.wait(remaining)

    def _rewrite(self, suspects: list[tuple[tuple[Any, ...], Any]], deadline: float) -> None:
        """Each row of the refused requests alone: the good ones land, the bad ones are rejected."""
        for position, (row, source) in enumerate(suspects):
            if self.outcome.first_error is not None:
                self.outcome.rows_not_attempted += len(suspects) - position
                break
            bound = self._bind(row, source)
            if bound is not None:
                self._send(bound, [(row, source)], self._on_rewrite_failure)
        self._wait(deadline)

    def _check_statement(self) -> None:
        """After Cassandra refused rows, write an accepted row again: if that fails too, the batch fails."""
        known_good = self._known_good
        if known_good is None:
            return
        try:
            self.session.execute(self.statement.bind(self._prepare_row(known_good)), timeout=self.timeout)
        except Exception as err:  # any failure here fails the batch
            with self._window:
                refused = len(self.outcome.rejected)
                self.outcome.rejected.clear()
                self._fail(err, refused)
