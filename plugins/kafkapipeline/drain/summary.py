"""What one drain micro-batch came to: the summary returned to XCom and recorded in ``drain_batches``
(its offset ranges are :class:`~kafkapipeline.kafka.snapshot.PartitionProgress`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from kafkapipeline.kafka.snapshot import PartitionProgress

#: Why a drain dead-lettered a message, by the step that refused it (a bounded set: metric labels).
DEAD_LETTER_INVALID = "invalid_value"  # the decoder refused the value (not JSON, a field wrong or missing)
DEAD_LETTER_VERSION = "unsupported_version"  # a schema_version this drain does not read
DEAD_LETTER_ROW = "row_failed"  # scoring or building its row raised
DEAD_LETTER_CASSANDRA = "cassandra_refused"  # Cassandra or its driver refused the row alone
DEAD_LETTER_REASONS = (DEAD_LETTER_INVALID, DEAD_LETTER_VERSION, DEAD_LETTER_ROW, DEAD_LETTER_CASSANDRA)


@dataclass
class DrainSummary:
    """The outcome of one micro-batch, returned to XCom and recorded in ``drain_batches``."""

    topic: str
    stream: str
    group_id: str
    batch_id: str = ""
    messages_read: int = 0
    rows_written: int = 0
    dead_lettered: int = 0
    #: Rows Cassandra or its driver refused one by one (dead-lettered, counted in ``dead_lettered``).
    rows_rejected: int = 0
    #: Requests the rows took (single-partition batches mostly): rows per request is the write's shape.
    write_requests: int = 0
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
    #: The UTC days (ISO dates) the batch's rows fall on: the table partitions it touched.
    days: list[str] = field(default_factory=list)
    #: ``dead_lettered`` by reason (one of :data:`DEAD_LETTER_REASONS`).
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    #: Produce-to-readable seconds of the oldest message sampled (the first and last of each chunk
    #: read): from its Kafka timestamp to the acknowledgement of the batch's last write.
    freshness_seconds: float | None = None
    #: Micro-batches this summary covers: more than one for a drain task that follows on
    #: (:mod:`kafkapipeline.drain.follow`), each committed on its own.
    batches: int = 1

    @property
    def messages_per_second(self) -> float:
        return self.messages_read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["messages_per_second"] = round(self.messages_per_second, 1)
        out["seconds"] = round(self.seconds, 3)
        out["stage_seconds"] = {stage: round(seconds, 4) for stage, seconds in self.stage_seconds.items()}
        if self.freshness_seconds is not None:
            out["freshness_seconds"] = round(self.freshness_seconds, 3)
        return out

    def then(self, later: DrainSummary) -> DrainSummary:
        """This batch and the ``later`` one of the same task as one summary (a drain that follows on):
        counts and stage times added, each partition's range from this one's start to ``later``'s end,
        the lag and batch id of ``later``, the worse freshness; ``committed`` if either committed."""
        ranges = {p.partition: p for p in self.partitions}
        merged: list[PartitionProgress] = []
        for after in later.partitions:
            before = ranges.pop(after.partition, None)
            if before is None or not before.messages:
                merged.append(after)
            elif not after.messages:
                merged.append(before)
            else:
                merged.append(
                    replace(
                        after,
                        start_offset=before.start_offset,
                        first_offset=before.first_offset,
                        messages=before.messages + after.messages,
                    )
                )
        merged.extend(ranges.values())
        stages = dict(self.stage_seconds)
        for stage, seconds in later.stage_seconds.items():
            stages[stage] = stages.get(stage, 0.0) + seconds
        reasons = dict(self.dead_letter_reasons)
        for reason, count in later.dead_letter_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
        return replace(
            later,
            messages_read=self.messages_read + later.messages_read,
            rows_written=self.rows_written + later.rows_written,
            dead_lettered=self.dead_lettered + later.dead_lettered,
            rows_rejected=self.rows_rejected + later.rows_rejected,
            write_requests=self.write_requests + later.write_requests,
            seconds=self.seconds + later.seconds,
            committed=self.committed or later.committed,
            stopped_early=later.stopped_early or self.stopped_early,
            partitions=sorted(merged, key=lambda p: p.partition),
            stage_seconds=stages,
            days=sorted(set(self.days) | set(later.days)),
            dead_letter_reasons=reasons,
            batch_id=later.batch_id or self.batch_id,
            freshness_seconds=max(
                (f for f in (self.freshness_seconds, later.freshness_seconds) if f is not None),
                default=None,
            ),
            batches=self.batches + later.batches,
        )

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
            f"Drained {self.topic} ({self.stream}) for group {self.group_id} in {self.seconds:.2f}s: "
            f"{self.messages_read} messages read, {self.rows_written} rows written, "
            f"{self.dead_lettered} dead-lettered ({self.rows_rejected} refused by Cassandra), "
            f"{self.messages_per_second:.0f} messages/s",
            f"  offsets committed: {'yes' if self.committed else 'no (nothing to commit)'}; "
            f"lag after: {self.lag_after}; {self.write_requests} Cassandra requests",
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
