"""The drain's tuning knobs and their defaults."""

from __future__ import annotations

from dataclasses import dataclass

from kafkapipeline.cassandra.writer import DEFAULT_CONCURRENCY, DEFAULT_MAX_BATCH_ROWS

#: Messages asked from librdkafka per ``consume`` call: large enough to amortise the call,
#: small enough that rows reach Cassandra while the next chunk is decoded.
DEFAULT_CONSUME_BATCH = 2_000
#: How long the drain waits for a message that the watermarks say exists before giving up on
#: that partition for this batch (it commits what it has; the rest waits for the next batch).
DEFAULT_IDLE_TIMEOUT_SECONDS = 30.0
DEFAULT_KAFKA_TIMEOUT_SECONDS = 30.0


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
