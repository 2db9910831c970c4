"""What one drain batch reports to StatsD: its counts, size, speed, dead letters by reason, freshness and
the lag it left behind; one datagram a batch, so the cost does not grow with the messages."""

from __future__ import annotations

from collections.abc import Sequence

from kafkapipeline.drain.summary import DrainSummary
from kafkapipeline.kafka.lag import PartitionLag, TopicLag
from kafkapipeline.metrics import names
from kafkapipeline.metrics.statsd import emitting
from kafkapipeline.streams.base import Stream

OUTCOME_COMMITTED = "committed"
OUTCOME_EMPTY = "empty"
OUTCOME_FAILED = "failed"


def report_batch(
    summary: DrainSummary,
    stream: Stream,
    *,
    lag_after: Sequence[PartitionLag] = (),
    freshness: Sequence[float] = (),
    failed: bool = False,
) -> None:
    """Send the batch's figures; a failed batch sends only its outcome (nothing of it was committed)."""
    topic = summary.topic
    with emitting() as out:
        if failed:
            out.count(names.DRAIN_BATCHES, topic=topic, outcome=OUTCOME_FAILED)
            return
        outcome = OUTCOME_COMMITTED if summary.committed else OUTCOME_EMPTY
        out.count(names.DRAIN_BATCHES, topic=topic, outcome=outcome)
        out.count(names.DRAIN_MESSAGES_READ, summary.messages_read, topic=topic)
        out.count(names.DRAIN_ROWS_WRITTEN, summary.rows_written, topic=topic, table=stream.table.name)
        for reason, count in summary.dead_letter_reasons.items():
            out.count(names.DRAIN_DEAD_LETTERS, count, topic=topic, reason=reason)
        if summary.messages_read:
            out.observe(names.DRAIN_BATCH_MESSAGES, summary.messages_read, topic=topic)
            out.observe(names.DRAIN_BATCH_SECONDS, summary.seconds, topic=topic)
            out.gauge(names.DRAIN_MESSAGES_PER_SECOND, summary.messages_per_second, topic=topic)
        for seconds in freshness:
            out.observe(names.DRAIN_FRESHNESS_SECONDS, seconds, topic=topic)
        if summary.rows_written and stream.scoring_model is not None:
            model, version = stream.scoring_model()
            out.count(names.SCORED_ROWS, summary.rows_written, model=model, version=version)
        if lag_after:
            TopicLag(topic, summary.group_id, tuple(lag_after)).report(out)
