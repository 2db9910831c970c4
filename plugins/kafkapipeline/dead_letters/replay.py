"""Replay dead letters: re-produce the messages of ``<topic>.dlq`` to the topic they failed on.

Once the cause is fixed, a run reads the DLQ with its own consumer group up to the end offsets seen at the
start and re-produces each letter to ``topic`` (never where a header says) with ``dlq.replay.count`` + 1.
A letter replayed ``max_replays`` times stays on the DLQ, so replays cannot loop. Offsets are committed only
after Kafka acknowledged every message (a retry re-sends, harmlessly: drain writes are upserts). Letters
without our headers, naming another topic, or cut to fit are counted and skipped; ``dry_run`` commits nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from pydantic import Field, validate_call

from kafkapipeline import settings
from kafkapipeline.dead_letters.contract import HEADER_REPLAY_COUNT, HEADER_TRUNCATED, DeadLetter
from kafkapipeline.kafka.hook import PipelineKafkaHook
from kafkapipeline.kafka.lag import partition_offsets, topic_partitions
from kafkapipeline.kafka.messages import received_headers
from kafkapipeline.kafka.produce import QueueFull, TopicProducer
from kafkapipeline.kafka.retry import kafka_retriable
from kafkapipeline.kafka.roles import KafkaRole
from kafkapipeline.kafka.snapshot import SnapshotReader, SnapshotReadError

log = logging.getLogger(__name__)

DEFAULT_MAX_REPLAYS = 1
#: Default of the DAG's ``max_messages`` Param: most dead letters one run reads.
DEFAULT_MAX_MESSAGES = 10_000
DEFAULT_KAFKA_TIMEOUT_SECONDS = 30.0
#: How long to wait for a message the end offsets say exists before stopping the read.
DEFAULT_IDLE_TIMEOUT_SECONDS = 15.0
CONSUME_BATCH = 500
#: Distinct error reasons listed in the summary (longer ones are cut); all are counted.
MAX_REASONS_LISTED = 20
MAX_REASON_LENGTH = 200
OTHER_REASONS = "(other reasons)"
#: Most seconds one re-produce waits for room in a full local producer queue.
REPLAY_QUEUE_WAIT_SECONDS = 60.0
COMMIT_ATTEMPTS = 60
#: Offsets of dead letters naming another source topic, listed in the summary (all are counted).
MAX_WRONG_TOPIC_LISTED = 50
#: A Kafka topic name whose ``.dlq`` topic is also valid (Kafka allows 249 characters).
TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,245}")


class ReplayError(RuntimeError):
    """The replay could not be completed; the DLQ offsets were not committed, so a retry reads the same."""


@dataclass
class ReplaySummary:
    """What a replay run did (or, in a dry run, would do)."""

    topic: str
    dead_letter_topic: str
    group_id: str
    dry_run: bool
    max_replays: int
    read: int = 0
    replayed: int = 0
    gave_up: int = 0
    unreadable: int = 0
    wrong_topic: int = 0
    truncated: int = 0
    committed: bool = False
    stopped_early: str | None = None
    replayed_to: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, dict[str, int]] = field(default_factory=dict)
    #: ``<dlq>[partition]@offset`` of the dead letters that name another source topic.
    wrong_topic_offsets: list[str] = field(default_factory=list)

    def count_reason(self, reason: str, outcome: str) -> None:
        text = reason.strip()[:MAX_REASON_LENGTH] or "(no reason given)"
        if text not in self.by_reason and len(self.by_reason) >= MAX_REASONS_LISTED:
            text = OTHER_REASONS
        counts = self.by_reason.setdefault(text, {"replay": 0, "gave_up": 0})
        counts[outcome] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "dead_letter_topic": self.dead_letter_topic,
            "group_id": self.group_id,
            "dry_run": self.dry_run,
            "max_replays": self.max_replays,
            "read": self.read,
            "replayed": self.replayed,
            "gave_up": self.gave_up,
            "unreadable": self.unreadable,
            "wrong_topic": self.wrong_topic,
            "wrong_topic_offsets": self.wrong_topic_offsets,
            "truncated": self.truncated,
            "committed": self.committed,
            "stopped_early": self.stopped_early,
            "replayed_to": self.replayed_to,
            "by_reason": self.by_reason,
        }

    def describe(self) -> str:
        verb = "would replay" if self.dry_run else "replayed"
        lines = [
            f"{self.dead_letter_topic} (group {self.group_id}): read {self.read}, {verb} {self.replayed}, "
            f"gave up on {self.gave_up} (replay count >= {self.max_replays}), {self.unreadable} unreadable, "
            f"{self.wrong_topic} naming another source topic and {self.truncated} cut to fit (not replayed); "
            f"offsets committed: {'yes' if self.committed else 'no'}"
        ]
        for reason, counts in sorted(self.by_reason.items(), key=lambda item: -sum(item[1].values())):
            lines.append(f"  {counts['replay']:6d} {verb:<12} {counts['gave_up']:6d} gave up   {reason}")
        if self.wrong_topic_offsets:
            lines.append(f"  naming another source topic: {', '.join(self.wrong_topic_offsets)}")
        if self.stopped_early:
            lines.append(f"  stopped early: {self.stopped_early}")
        return "\n".join(lines)


def replay_headers(
    message_headers: list[tuple[str, bytes | None]] | None, replay_count: int
) -> list[tuple[str, bytes]]:
    """Headers of the re-produced message: the original's own headers and the new replay count.

    The ``dlq.*`` headers describe the failure and are dropped (the drain writes fresh ones if
    the message fails again); only the replay count travels, incremented.
    """
    kept = [(key, value or b"") for key, value in message_headers or [] if not key.startswith("dlq.")]
    return [*kept, (HEADER_REPLAY_COUNT, str(replay_count).encode())]


@validate_call
def replay_dead_letters(
    topic: str,
    *,
    max_messages: Annotated[int, Field(strict=True, ge=1)],
    max_replays: Annotated[int, Field(strict=True, ge=1)] = DEFAULT_MAX_REPLAYS,
    dry_run: bool = False,
    kafka_config_id: str = KafkaRole.REPLAY.conn_id,
    kafka_timeout: float = DEFAULT_KAFKA_TIMEOUT_SECONDS,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
) -> ReplaySummary:
    """Replay up to ``max_messages`` dead letters of ``topic``; see the module docstring.

    :param topic: the source topic (e.g. ``tweets``); its dead letters are on ``<topic>.dlq``
    :param max_messages: most dead letters read in this run (>= 1)
    :param max_replays: a dead letter already replayed this many times is not replayed again (>= 1)
    :param dry_run: report only; produce and commit nothing
    :param kafka_config_id: Airflow connection with the librdkafka settings
    :param kafka_timeout: seconds for each Kafka metadata, offset, flush and commit request
    :param idle_timeout: seconds without a message before the read stops short of the end offsets
    :raises ReplayError: reading, producing or committing failed; nothing was committed
    """
    if not isinstance(topic, str) or not TOPIC_NAME.fullmatch(topic) or topic in {".", ".."}:
        raise ValueError(
            f"topic must be a Kafka topic name (1 to 245 of a-z, A-Z, 0-9, '.', '_', '-'), got {topic!r}"
        )
    if topic.endswith(settings.DEAD_LETTER_SUFFIX):
        raise ValueError(f"give the source topic, not its dead-letter topic: {topic!r}")
    dlq = settings.dead_letter_topic(topic)
    group_id = settings.consumer_group("dlq-replay", topic)
    summary = ReplaySummary(
        topic=topic, dead_letter_topic=dlq, group_id=group_id, dry_run=dry_run, max_replays=max_replays
    )
    hook = PipelineKafkaHook(kafka_config_id=kafka_config_id)
    consumer = hook.consumer(group_id)
    try:
        ranges = _plan(consumer, dlq, kafka_timeout)
        if not ranges:
            log.info("%s: nothing to replay", dlq)
            return summary
        producer = (
            None if dry_run else TopicProducer(hook.producer(), topic, queue_wait=REPLAY_QUEUE_WAIT_SECONDS)
        )
        reader = SnapshotReader(
            consumer,
            dlq,
            ranges,
            max_messages=max_messages,
            idle_timeout=idle_timeout,
            chunk=CONSUME_BATCH,
            eof_closes=True,
        )
        next_offsets = _read(reader, producer, summary)
        if dry_run:
            log.info("dry run: nothing produced, nothing committed")
            return summary
        _confirm(producer, summary, kafka_timeout)
        if next_offsets:
            _commit(consumer, dlq, next_offsets, kafka_timeout)
            summary.committed = True
    finally:
        consumer.close()
        log.info("%s", summary.describe())
    return summary


def _plan(consumer: Consumer, dlq: str, timeout: float) -> dict[int, tuple[int, int]]:
    """The DLQ's partitions that have something pending: their start and end offsets."""
    try:
        partitions = topic_partitions(consumer, dlq, timeout)
        offsets = partition_offsets(consumer, dlq, partitions, timeout)
    except Exception as err:
        raise ReplayError(f"could not read the offsets of {dlq}: {err}") from err
    return {p.partition: (p.start, p.high) for p in offsets if p.lag > 0}


def _read(reader: SnapshotReader, producer: TopicProducer | None, summary: ReplaySummary) -> dict[int, int]:
    """Read up to the end offsets (or ``max_messages``), re-producing as it goes.

    Returns the offset to commit per partition: after the last message handled, or the end
    offset when Kafka reported the end of the partition with every message before it handled
    (the drain's transaction markers take offsets but are never delivered).
    """
    try:
        for messages in reader.chunks():
            for message in messages:
                summary.read += 1
                _handle(message, producer, summary)
    except SnapshotReadError as err:
        raise ReplayError(f"{err}; nothing committed") from err
    summary.stopped_early = reader.stopped_early
    return {p.partition: p.commit_offset for p in reader.progress.values() if p.commit_offset is not None}


def _handle(message: Message, producer: TopicProducer | None, summary: ReplaySummary) -> None:
    headers = received_headers(message)
    try:
        letter = DeadLetter.from_headers(headers)
    except ValueError as err:
        summary.unreadable += 1
        log.warning(
            "%s[%d]@%d cannot be replayed: %s",
            summary.dead_letter_topic,
            message.partition(),
            message.offset(),
            err,
        )
        return
    where = f"{summary.dead_letter_topic}[{message.partition()}]@{message.offset()}"
    if letter.source_topic != summary.topic:
        # Only the topic the caller named is written to, whatever the header says.
        summary.wrong_topic += 1
        if len(summary.wrong_topic_offsets) < MAX_WRONG_TOPIC_LISTED:
            summary.wrong_topic_offsets.append(where)
        log.warning(
            "%s names source topic %r, not %r: not replayed", where, letter.source_topic[:300], summary.topic
        )
        return
    if any(name == HEADER_TRUNCATED for name, _ in headers):
        # Its value was cut to fit on the DLQ: re-sending it would not re-send the original.
        summary.truncated += 1
        log.warning("%s was cut to fit the dead-letter topic: not replayed", where)
        return
    if letter.replay_count >= summary.max_replays:
        summary.gave_up += 1
        summary.count_reason(letter.error, "gave_up")
        return
    summary.replayed += 1
    summary.count_reason(letter.error, "replay")
    summary.replayed_to[summary.topic] = summary.replayed_to.get(summary.topic, 0) + 1
    if producer is None:
        return
    try:
        producer.produce(message.value(), message.key(), replay_headers(headers, letter.replay_count + 1))
    except (KafkaException, QueueFull) as err:
        raise ReplayError(
            f"could not re-produce {where} to {summary.topic}: {err}; nothing committed"
        ) from err


def _confirm(producer: TopicProducer | None, summary: ReplaySummary, timeout: float) -> None:
    if producer is None or summary.replayed == 0:
        return
    remaining = producer.flush(timeout)
    report = producer.report
    if remaining or report.failed or report.delivered != summary.replayed:
        first = (
            report.first_error
            if report.first_error
            else f"{remaining} still unacknowledged after {timeout:.0f}s"
        )
        raise ReplayError(
            f"{summary.replayed - report.delivered} of {summary.replayed} replayed messages were not "
            f"acknowledged by Kafka ({first}); the offsets of {summary.dead_letter_topic} were not "
            "committed, so a retry replays them again (the drain's writes are idempotent upserts)"
        )


def _commit(consumer: Consumer, dlq: str, next_offsets: dict[int, int], timeout: float) -> None:
    offsets = [TopicPartition(dlq, partition, offset) for partition, offset in sorted(next_offsets.items())]
    try:
        result: list[TopicPartition] | None = kafka_retriable(
            timeout, f"{dlq}: commit", log, attempts=COMMIT_ATTEMPTS
        )(consumer.commit, offsets=offsets, asynchronous=False)
    except KafkaException as err:
        raise ReplayError(
            f"the messages were replayed but committing the offsets of {dlq} failed: {err}; a retry "
            "replays them again (harmless: the drain's writes are idempotent upserts)"
        ) from err
    for tp in result or []:
        if tp.error is not None:
            raise ReplayError(f"committing {dlq}[{tp.partition}] failed: {tp.error.str()}")


def replay_dead_letters_task(
    *, topic: str, max_messages: int, max_replays: int, dry_run: bool
) -> dict[str, Any]:
    """The ``replay_dead_letters`` DAG's task: replay and return the summary (XCom)."""
    summary = replay_dead_letters(topic, max_messages=max_messages, max_replays=max_replays, dry_run=dry_run)
    return summary.as_dict()
