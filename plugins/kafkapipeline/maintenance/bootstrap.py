"""Tasks of the ``bootstrap`` DAG: bring Cassandra's schema and Kafka's topics to the wanted state.

Each task is idempotent and reports what it changed, so running bootstrap again is always safe.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kafkapipeline import settings
from kafkapipeline.cassandra.migrations import align_replication, apply_pending
from kafkapipeline.kafka.topics import TopicSpec, ensure_topics
from kafkapipeline.streams.registry import STREAMS

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000


def apply_cql_migrations(alter_keyspace_replication: bool = False) -> dict[str, Any]:
    """Apply pending include/cql migrations to the pipeline's keyspace and say which ran.

    With ``alter_keyspace_replication`` an existing keyspace whose replication differs from
    ``KAFKAPIPELINE_REPLICATION`` is altered to it (then run a repair: see the README).
    """
    from kafkapipeline.cassandra.session import cassandra_session

    keyspace = settings.keyspace()
    replication = settings.current().replication
    with cassandra_session() as session:
        report = apply_pending(session, keyspace, replication=replication)
        altered = None
        if alter_keyspace_replication:
            altered = align_replication(session, keyspace, replication)
    log.info("%s", report.summary())
    if altered:
        log.warning("%s", altered)
    return {
        "keyspace": keyspace,
        "applied": report.applied,
        "already_applied": len(report.already_applied),
        "replication_altered": altered,
        "changed": report.changed or bool(altered),
    }


def pipeline_topic_specs(
    partitions: Mapping[str, int],
    retention_hours: int,
    dead_letter_retention_hours: int,
    replication_factor: int = 1,
) -> list[TopicSpec]:
    """The topics the pipeline uses: one per stream (``partitions``: by stream name) and its dead letters.

    :raises ValueError: ``partitions`` misses a stream or names one the registry does not have
    """
    rf = int(replication_factor)
    if set(partitions) != set(STREAMS):
        raise ValueError(
            f"partitions must name every stream ({', '.join(STREAMS)}) and no other, got {sorted(partitions)}"
        )
    specs = []
    for stream in STREAMS.values():
        specs.append(TopicSpec(stream.topic(), partitions[stream.name], retention_hours * HOUR_MS, rf))
        specs.append(TopicSpec(stream.dlq_topic(), 1, dead_letter_retention_hours * HOUR_MS, rf))
    return specs


def create_kafka_topics(
    partitions: Mapping[str, int],
    retention_hours: int,
    dead_letter_retention_hours: int,
    replication_factor: int | None = None,
) -> dict[str, Any]:
    """Create missing topics, grow partitions and align retention; say what changed.

    Takes the ``bootstrap`` DAG's Params; ``replication_factor`` None reads
    ``KAFKAPIPELINE_TOPIC_REPLICATION_FACTOR``.
    """
    from kafkapipeline.kafka.hook import PipelineKafkaHook

    specs = pipeline_topic_specs(
        partitions,
        retention_hours,
        dead_letter_retention_hours,
        settings.param_or_setting(replication_factor, "topic_replication_factor"),
    )
    report = ensure_topics(PipelineKafkaHook().admin(), specs)
    log.info("Kafka topics: %s", report.summary())
    return {
        "created": report.created,
        "partitions_increased": report.partitions_increased,
        "retention_changed": report.retention_changed,
        "unchanged": report.unchanged,
        "warnings": report.warnings,
        "changed": report.changed,
    }


def report_bootstrap(schema: dict[str, Any], topics: dict[str, Any]) -> str:
    """One readable line for the log and XCom: what bootstrap changed, or that it changed nothing."""
    if not schema["changed"] and not topics["changed"]:
        message = (
            f"Nothing to do: keyspace {schema['keyspace']} is up to date "
            f"({schema['already_applied']} migrations) and all {len(topics['unchanged'])} topics "
            "exist as configured."
        )
    else:
        changes = []
        if schema["applied"]:
            changes.append(f"applied migrations {', '.join(schema['applied'])} to {schema['keyspace']}")
        if schema.get("replication_altered"):
            changes.append(schema["replication_altered"])
        for label in ("created", "partitions_increased", "retention_changed"):
            if topics[label]:
                changes.append(f"topics {label.replace('_', ' ')}: {', '.join(topics[label])}")
        message = "Bootstrap changed: " + "; ".join(changes)
    for warning in topics.get("warnings", []):
        message += f" Warning: {warning}"
    log.info("%s", message)
    return message
