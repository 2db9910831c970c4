"""The drain's types and settings: record kinds, tuning options, the batch summary (its offset
ranges are :class:`~kafkapipeline.kafka.snapshot.PartitionProgress`), and the drain DAGs'
defaults and Params.

Split out of :mod:`kafkapipeline.drain.task` (which explains the contract) to keep modules small;
``kafkapipeline.drain.task`` re-exports every name here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kafkapipeline import settings, streams
from kafkapipeline.cassandra.writer import DEFAULT_CONCURRENCY, DEFAULT_MAX_BATCH_ROWS
from kafkapipeline.cassandra_rows import TableSpec, tweet_row, tweet_rows, weather_row, weather_rows
from kafkapipeline.kafka.snapshot import PartitionProgress
from kafkapipeline.records import TweetRecord, WeatherRecord, decode_record

KIND_TWEET = streams.TWEETS.kind
KIND_WEATHER = streams.WEATHER.kind
KINDS = tuple(streams.BY_KIND)


@dataclass(frozen=True)
class RecordKind:
    """How one stream's messages become rows: one at a time, or a micro-batch at once (the drain)."""

    stream: streams.Stream
    name: str
    record_type: type[TweetRecord] | type[WeatherRecord]
    table: TableSpec
    to_row: Callable[[Any, datetime | None], tuple[Any, ...]]
    to_rows: Callable[[Sequence[Any], datetime | None], list[tuple[Any, ...]]]


def _record_kind(
    stream: streams.Stream, to_row: Callable[..., Any], to_rows: Callable[..., Any]
) -> RecordKind:
    return RecordKind(stream, stream.kind, stream.record_type, stream.table.drain_spec, to_row, to_rows)


#: The drain's view of each stream (:data:`kafkapipeline.streams.STREAMS`), by record kind.
RECORD_KINDS: dict[str, RecordKind] = {
    KIND_TWEET: _record_kind(streams.TWEETS, tweet_row, tweet_rows),
    KIND_WEATHER: _record_kind(streams.WEATHER, weather_row, weather_rows),
}


def record_kind(kind: str) -> RecordKind:
    try:
        return RECORD_KINDS[kind]
    except KeyError:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}") from None


def decode(kind: RecordKind, value: bytes | None) -> TweetRecord | WeatherRecord:
    """Decode and validate one message value; :class:`InvalidRecord` says why it cannot be a row."""
    return decode_record(kind.record_type, value)


#: Messages asked from librdkafka per ``consume`` call: large enough to amortise the call,
#: small enough that rows reach Cassandra while the next chunk is decoded.
DEFAULT_CONSUME_BATCH = 2_000
#: How long the drain waits for a message that the watermarks say exists before giving up on
#: that partition for this batch (it commits what it has; the rest waits for the next batch).
DEFAULT_IDLE_TIMEOUT_SECONDS = 30.0
DEFAULT_KAFKA_TIMEOUT_SECONDS = 30.0


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
    #: Rows Cassandra or its driver refused one by one (dead-lettered, counted in ``dead_lettered``).
    rows_rejected: int = 0
    lag_after: int | None = None
    seconds: float = 0.0
    committed: bool = False
    stopped_early: str | None = None
    #: What the batch covered on each partition (the reader's own progress records).
    partitions: list[PartitionProgress] = field(default_factory=list)
    #: Seconds spent per stage, timed per consumed chunk (not per message, which would cost more
    #: than some stages): ``consume`` (librdkafka), ``decode`` (decode and validate, with the
    #: offset bookkeeping), ``rows`` (scoring and building rows), ``write`` (binding and sending;
    #: it blocks while the in-flight window is full), ``flush`` (awaiting the last writes) and
    #: ``commit`` (dead letters and offsets in the Kafka transaction).
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def messages_per_second(self) -> float:
        return self.messages_read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["messages_per_second"] = round(self.messages_per_second, 1)
        out["seconds"] = round(self.seconds, 3)
        out["stage_seconds"] = {stage: round(seconds, 4) for stage, seconds in self.stage_seconds.items()}
        return out

    def stage_microseconds_per_message(self) -> dict[str, float]:
        """Each stage's time divided by the messages read: where a message's cost goes."""
        if not self.messages_read:
            return {}
        return {stage: seconds * 1e6 / self.messages_read for stage, seconds in self.stage_seconds.items()}

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
            f"{self.dead_lettered} dead-lettered ({self.rows_rejected} refused by Cassandra), "
            f"{self.messages_per_second:.0f} messages/s",
            f"  offsets committed: {'yes' if self.committed else 'no (nothing to commit)'}; "
            f"lag after: {self.lag_after}",
            f"  ranges: {ranges}",
        ]
        stages = self.stage_microseconds_per_message()
        if stages:
            lines.append("  per message: " + ", ".join(f"{k} {v:.1f} us" for k, v in stages.items()))
        if self.stopped_early:
            lines.append(f"  stopped early: {self.stopped_early}")
        return "\n".join(lines)


def batch_id_for(topic: str, ranges: Sequence[PartitionProgress]) -> str:
    """A stable id for the offsets a batch covered: re-draining the same range gives the same id."""
    text = ";".join(f"p{r.partition}:{r.first_offset}-{r.last_offset}" for r in ranges if r.messages)
    if len(text) <= 120:
        return text
    return hashlib.sha256(f"{topic}|{text}".encode()).hexdigest()[:32]


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


def positive_int(name: str, value: Any) -> int:
    """``value`` when it is an integer >= 1 (a Param rendered natively is one); else a clear error."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


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
            settings.drain_setting("max_messages", 50_000),
            type="integer",
            minimum=1,
            maximum=1_000_000,
            description="Most messages drained per run by each partition group",
        ),
        "partition_groups": Param(
            settings.current().drain_partition_groups,
            type="integer",
            minimum=1,
            maximum=64,
            description="Drain tasks per run, each with its own partitions, transaction and commits "
            "(more than the topic's partitions: one per partition)",
        ),
    }


def partition_groups(partitions: Sequence[int], groups: int) -> list[list[int]]:
    """Split ``partitions`` round-robin into at most ``groups`` disjoint, non-empty groups.

    Round-robin keeps the groups within one partition of each other in size; the same inputs
    always give the same groups, so a retried task owns the same partitions (and transactional id).
    """
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"partition_groups must be an integer >= 1, got {groups!r}")
    ordered = sorted(set(partitions))
    count = min(groups, len(ordered))
    return [ordered[n::count] for n in range(count)] if count else []
