"""Read partitions up to the end offsets seen at the start: the one place that knows how.

The drain, the replay, the health count and the lag's peek all read "from these offsets to those ends,
then stop". The subtle part: an end-of-partition event at or past the end finishes a partition even below
it (transaction markers take offsets but are never delivered), so it may be committed up to the end
unless the message budget ran out first. An idle or overlong read stops with ``stopped_early``; a fatal
Kafka error raises :class:`SnapshotReadError`, a retriable one is logged and the read goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from kafkapipeline.kafka.messages import MessagePosition, position

log = logging.getLogger(__name__)

#: Seconds one ``consume`` call waits for messages.
POLL_SECONDS = 1.0


class SnapshotReadError(RuntimeError):
    """A fatal or non-retriable Kafka error stopped the read; the message names the topic and error."""


@dataclass
class PartitionProgress:
    """How far a read got on one partition: every reader's, and the drain's batch summary (XCom).

    The drain returns these fields as they are (``dataclasses.asdict``), so their names and
    order are the summary's shape: tests and the dashboard read it.
    """

    partition: int
    #: The first offset to read (a consumer group's committed offset, or the low watermark).
    start_offset: int
    #: The snapshot end (exclusive): the high watermark when the read was planned.
    end_offset: int
    #: Offsets of the first and last message handed out; None while none was.
    first_offset: int | None = None
    last_offset: int | None = None
    #: Messages handed out.
    messages: int = 0
    done: bool = False
    #: Kafka said end-of-partition at or past ``end_offset`` with every message before it handed
    #: out: offsets with no message (transaction markers) up to the end are done too.
    reached_end: bool = False

    @property
    def next_offset(self) -> int | None:
        """The offset after the last message handed out; None while none was."""
        return None if self.last_offset is None else self.last_offset + 1

    @property
    def commit_offset(self) -> int | None:
        """Where a reader that handled every message handed out may commit: the end, or after the last one."""
        return self.end_offset if self.reached_end else self.next_offset


class SnapshotReader:
    """Yield the messages of ``ranges`` (partition -> (start, end)) in chunks, then stop.

    :param consumer: a consumer with auto-commit off; :meth:`chunks` assigns it the open
        partitions (and pauses each one as it finishes); the caller closes it
    :param topic: the topic read
    :param ranges: per partition, the first offset to read and the snapshot end (exclusive)
    :param max_messages: most messages handed out in all (None: no budget)
    :param idle_timeout: seconds without any message before the read stops short of the ends
    :param max_seconds: most seconds the whole read may take (None: no limit but the idle timeout)
    :param chunk: most messages asked of each ``consume`` call
    :param eof_closes: an end-of-partition below the snapshot end also finishes the partition
        (without ``reached_end``): for a reader that must not wait out an open transaction
    """

    def __init__(
        self,
        consumer: Consumer,
        topic: str,
        ranges: Mapping[int, tuple[int, int]],
        *,
        max_messages: int | None = None,
        idle_timeout: float,
        max_seconds: float | None = None,
        chunk: int = 500,
        eof_closes: bool = False,
    ) -> None:
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        if max_messages is not None and max_messages < 0:
            raise ValueError(f"max_messages must be >= 0, got {max_messages}")
        self.consumer = consumer
        self.topic = topic
        self.budget: int | None = max_messages
        self.idle_timeout = idle_timeout
        self.max_seconds = max_seconds
        self.chunk = chunk
        self.eof_closes = eof_closes
        self.progress: dict[int, PartitionProgress] = {}
        for partition, (start, end) in sorted(ranges.items()):
            # An empty range is done at once, with nothing to commit (its start already is its end).
            self.progress[partition] = PartitionProgress(partition, start, end, done=end <= start)
        self.open_partitions: set[int] = {p for p, r in self.progress.items() if not r.done}
        #: Why the read stopped short of the ends (idle timeout); None when it did not.
        self.stopped_early: str | None = None
        self._assigned = False

    @property
    def read(self) -> int:
        """Messages handed out so far."""
        return sum(r.messages for r in self.progress.values())

    def _left(self) -> int:
        return self.chunk if self.budget is None else min(self.chunk, self.budget)

    def assign(self) -> None:
        """Assign the consumer the open partitions at their start offsets (done by :meth:`chunks` too)."""
        starts = {p: self.progress[p].start_offset for p in sorted(self.open_partitions)}
        assigned = [TopicPartition(self.topic, p, start) for p, start in starts.items()]
        self.consumer.assign(assigned)
        # A consumer that read an earlier batch keeps the pause of each partition that batch finished.
        self.consumer.resume(assigned)
        self._assigned = True

    def chunks(self) -> Iterator[list[Message]]:
        """Each consumed chunk's messages inside the ranges and the budget (possibly none), in order."""
        if not self.open_partitions:
            return
        if not self._assigned:
            self.assign()
        last_message_at = started = time.monotonic()
        while self.open_partitions and self._left() > 0:
            if self.max_seconds is not None and time.monotonic() - started > self.max_seconds:
                self.stopped_early = (
                    f"partitions {sorted(self.open_partitions)} of {self.topic} not read to their end "
                    f"in {self.max_seconds:.0f}s"
                )
                log.warning("%s", self.stopped_early)
                return
            messages = self.consumer.consume(num_messages=self._left(), timeout=POLL_SECONDS)
            if not messages:
                if time.monotonic() - last_message_at > self.idle_timeout:
                    self.stopped_early = (
                        f"no message for {self.idle_timeout:.0f}s while partitions "
                        f"{sorted(self.open_partitions)} of {self.topic} had not reached their end offsets"
                    )
                    log.warning("%s", self.stopped_early)
                    return
                continue
            last_message_at = time.monotonic()
            yield self._inside(messages)

    def _inside(self, messages: list[Message]) -> list[Message]:
        kept: list[Message] = []
        keep = kept.append
        progress = self.progress
        for message in messages:  # once per message a drain reads: plain calls and attributes only
            error = message.error()
            if error is not None:
                self._on_error(message, error)
                continue
            partition, offset = message.partition(), message.offset()
            if partition is None or offset is None or message.topic() is None:
                self._position(message)  # raises: without a position no range can be advanced
                continue
            r = progress.get(partition)
            if r is None or r.done:
                continue  # end or budget already reached on this partition: the next reader reads it
            if offset >= r.end_offset or self.budget == 0:
                self.finish(r.partition)
                continue
            if self.budget is not None:
                self.budget -= 1
            if r.first_offset is None:
                r.first_offset = offset
            r.last_offset = offset
            r.messages += 1
            keep(message)
            if offset + 1 >= r.end_offset:
                self.finish(r.partition)
        return kept

    def _position(self, message: Message) -> MessagePosition:
        """A message's (or end event's) position; without one no range can be advanced or closed."""
        try:
            return position(message)
        except ValueError as err:
            raise SnapshotReadError(f"reading {self.topic}: {err}") from err

    def _on_error(self, message: Message, error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            _, partition, offset = self._position(message)  # where the partition ends
            r = self.progress.get(partition)
            if r is None:
                return
            if offset >= r.end_offset:
                if not r.done and self.budget != 0:
                    r.reached_end = True
                self.finish(r.partition)
            elif self.eof_closes:
                self.finish(r.partition)
            return
        if error.fatal() or not error.retriable():
            raise SnapshotReadError(f"Kafka error while reading {self.topic}: {error.str()}")
        log.warning("%s: transient Kafka error while reading: %s", self.topic, error.str())

    def finish(self, partition: int) -> None:
        """Stop reading ``partition``: later messages of it are not handed out, and its fetching is paused."""
        r = self.progress[partition]
        if r.done:
            return
        r.done = True
        self.open_partitions.discard(partition)
        self.consumer.pause([TopicPartition(self.topic, partition)])
