"""Kafka figures: ``consumer_lag`` of the drain groups and ``dlq_messages`` of the dead-letter topics."""

from __future__ import annotations

from collections.abc import Sequence

from kafkapipeline import settings
from kafkapipeline.health.report import (
    DLQ_COUNT_LIMIT,
    FAIL,
    KAFKA_TIMEOUT_SECONDS,
    METRIC_DLQ,
    METRIC_LAG,
    OK,
    WARN,
    HealthFigure,
    HealthThresholds,
    detail_text,
    error_text,
)
from kafkapipeline.kafka.roles import KafkaRole


def lag_figures(
    topics: Sequence[str], thresholds: HealthThresholds, kafka_config_id: str = KafkaRole.HEALTH.conn_id
) -> list[HealthFigure]:
    """``consumer_lag`` per partition of each topic, for the topic's drain group."""
    from kafkapipeline.kafka.lag import read_lag

    figures = []
    for topic in topics:
        group = settings.consumer_group("drain", topic)
        try:
            lag = read_lag(
                topic, group, kafka_config_id=kafka_config_id, with_age=True, timeout=KAFKA_TIMEOUT_SECONDS
            )
        except Exception as err:
            figures.append(
                HealthFigure(
                    METRIC_LAG,
                    topic,
                    0.0,
                    FAIL,
                    detail_text(f"lag of group {group} unreadable: {error_text(err)}"),
                )
            )
            continue
        for partition in lag.partitions:
            committed = partition.committed if partition.committed >= 0 else "nothing"
            detail = f"group {group}: committed {committed}, end {partition.high}"
            if partition.lag and partition.oldest_timestamp_ms:
                age = max(0.0, lag.measured_at - partition.oldest_timestamp_ms / 1000.0)
                detail += f", oldest pending {age:.0f}s old"
            status = FAIL if partition.lag > thresholds.max_lag else OK
            if status == FAIL:
                detail += f" (above max_lag {thresholds.max_lag})"
            figures.append(
                HealthFigure(
                    METRIC_LAG, f"{topic}/{partition.partition}", float(partition.lag), status, detail
                )
            )
    return figures


def dlq_figures(topics: Sequence[str], kafka_config_id: str = KafkaRole.HEALTH.conn_id) -> list[HealthFigure]:
    """``dlq_messages`` per dead-letter topic: messages held, and how many are not replayed yet.

    Counted by reading when the topic spans at most ``DLQ_COUNT_LIMIT`` offsets (transaction markers make
    the watermark span overstate it), else that span, said in the detail.
    """
    from kafkapipeline.kafka.lag import read_lag

    figures = []
    for topic in topics:
        dlq = settings.dead_letter_topic(topic)
        group = settings.consumer_group("dlq-replay", topic)
        try:
            lag = read_lag(
                dlq, group, kafka_config_id=kafka_config_id, with_age=False, timeout=KAFKA_TIMEOUT_SECONDS
            )
        except Exception as err:
            figures.append(
                HealthFigure(METRIC_DLQ, dlq, 0.0, WARN, detail_text(f"unreadable: {error_text(err)}"))
            )
            continue
        span = sum(max(0, p.high - p.low) for p in lag.partitions)
        detail = f"{lag.total} offsets not replayed yet (group {group})"
        held = span
        if 0 < span <= DLQ_COUNT_LIMIT:
            try:
                held = count_messages(
                    dlq, {p.partition: (p.low, p.high) for p in lag.partitions}, kafka_config_id
                )
            except Exception as err:
                detail += f"; counted as offsets, the messages could not be read: {error_text(err)}"
        elif span:
            detail += f"; counted as offsets (over {DLQ_COUNT_LIMIT}), transaction markers included"
        figures.append(HealthFigure(METRIC_DLQ, dlq, float(held), WARN if held else OK, detail))
    return figures


def count_messages(
    topic: str,
    ranges: dict[int, tuple[int, int]],
    kafka_config_id: str = KafkaRole.HEALTH.conn_id,
    timeout: float = KAFKA_TIMEOUT_SECONDS,
) -> int:
    """Committed messages in ``[low, high)`` per partition, read without a consumer group's commit.

    Transaction markers and aborted messages take offsets but are not delivered to a
    ``read_committed`` consumer, so this is the number a reader of the topic really sees.
    """
    from kafkapipeline.kafka.hook import PipelineKafkaHook
    from kafkapipeline.kafka.snapshot import SnapshotReader

    pending = {partition: (low, high) for partition, (low, high) in ranges.items() if high > low}
    if not pending:
        return 0
    consumer = PipelineKafkaHook(kafka_config_id=kafka_config_id).consumer(
        settings.consumer_group("health-count", topic)
    )
    try:
        reader = SnapshotReader(
            consumer, topic, pending, idle_timeout=timeout, max_seconds=timeout, chunk=1000
        )
        counted = sum(len(messages) for messages in reader.chunks())
        if reader.stopped_early:
            raise TimeoutError(reader.stopped_early)
        return counted
    finally:
        consumer.close()
