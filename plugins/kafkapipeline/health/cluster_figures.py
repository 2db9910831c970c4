"""Cluster figures: Kafka partitions short of replicas or leaders, offline brokers, down Cassandra nodes.

They show a lost broker or node while QUORUM writes still go on, before a second failure loses data, read
from the clients' own metadata (no JMX or nodetool). A count within its threshold is ``warn``, above it
``fail``; a leaderless partition is ``fail`` from the first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from kafkapipeline.health.report import (
    EXPECTED_BROKERS_ENV,
    EXPECTED_NODES_ENV,
    FAIL,
    KAFKA_TIMEOUT_SECONDS,
    METRIC_DOWN_NODES,
    METRIC_LEADERLESS,
    METRIC_OFFLINE_BROKERS,
    METRIC_UNDER_REPLICATED,
    OK,
    WARN,
    HealthFigure,
    HealthThresholds,
    detail_text,
    error_text,
)
from kafkapipeline.kafka.roles import KafkaRole

#: Kafka's own topics the drain depends on (offset commits and transactions), checked when present.
INTERNAL_TOPICS = ("__consumer_offsets", "__transaction_state")
KAFKA_SUBJECT = "kafka"
CASSANDRA_SUBJECT = "cassandra"


def _status(count: int, limit: int) -> str:
    if count > limit:
        return FAIL
    return WARN if count else OK


def _ids(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in sorted(values)) or "none"


def classify_kafka_metadata(
    metadata: Any, topics: Sequence[str], thresholds: HealthThresholds
) -> list[HealthFigure]:
    """Figures from a ``ClusterMetadata`` (``brokers`` by id, ``topics`` by name with ``partitions``
    holding ``id``, ``leader``, ``replicas``, ``isrs``): per topic, then the brokers."""
    live = set(metadata.brokers)
    figures = []
    checked = list(dict.fromkeys(topics)) + [t for t in INTERNAL_TOPICS if t in metadata.topics]
    for topic in checked:
        meta = metadata.topics.get(topic)
        if meta is None or getattr(meta, "error", None) is not None:
            why = "does not exist" if meta is None else f"metadata error: {meta.error}"
            for metric in (METRIC_UNDER_REPLICATED, METRIC_LEADERLESS):
                figures.append(HealthFigure(metric, topic, 0.0, WARN, f"topic {why}"))
            continue
        partitions = sorted(meta.partitions.values(), key=lambda p: p.id)
        under = [p for p in partitions if len(p.isrs) < len(p.replicas)]
        leaderless = [p for p in partitions if p.leader < 0]
        detail = f"{len(under)} of {len(partitions)} partitions with fewer in-sync replicas than replicas"
        if under:
            detail += ": " + "; ".join(f"{p.id} in sync {_ids(p.isrs)} of {_ids(p.replicas)}" for p in under)
        status = _status(len(under), thresholds.max_under_replicated_partitions)
        if status == FAIL:
            detail += f" (above max_under_replicated_partitions {thresholds.max_under_replicated_partitions})"
        figures.append(
            HealthFigure(METRIC_UNDER_REPLICATED, topic, float(len(under)), status, detail_text(detail))
        )
        detail = f"{len(leaderless)} of {len(partitions)} partitions without a leader"
        if leaderless:
            detail += f": {_ids(p.id for p in leaderless)} (unavailable for reads and writes)"
        figures.append(
            HealthFigure(
                METRIC_LEADERLESS,
                topic,
                float(len(leaderless)),
                FAIL if leaderless else OK,
                detail_text(detail),
            )
        )
    figures.append(offline_brokers_figure(metadata, live, thresholds))
    return figures


def offline_brokers_figure(metadata: Any, live: set[int], thresholds: HealthThresholds) -> HealthFigure:
    """``offline_brokers``: expected minus live, or the replicas' brokers missing from the metadata."""
    assigned = {
        broker
        for meta in metadata.topics.values()
        for partition in getattr(meta, "partitions", {}).values()
        for broker in partition.replicas
    }
    unlisted = assigned - live
    expected = thresholds.expected_brokers
    offline = max(len(unlisted), (expected or len(live)) - len(live), 0)
    detail = f"{len(live)} brokers live (ids {_ids(live)})"
    if expected is None:
        detail += f", expected: those live (set {EXPECTED_BROKERS_ENV} or the expected_brokers Param)"
    else:
        detail += f" of {expected} expected"
    if unlisted:
        detail += f"; replicas assigned to brokers not live: {_ids(unlisted)}"
    status = _status(offline, thresholds.max_offline_brokers)
    if status == FAIL:
        detail += f" (above max_offline_brokers {thresholds.max_offline_brokers})"
    return HealthFigure(METRIC_OFFLINE_BROKERS, KAFKA_SUBJECT, float(offline), status, detail_text(detail))


def kafka_cluster_figures(
    topics: Sequence[str], thresholds: HealthThresholds, kafka_config_id: str = KafkaRole.HEALTH.conn_id
) -> list[HealthFigure]:
    """The Kafka figures of this module, from one metadata request; ``fail`` when it cannot be made."""
    from kafkapipeline.kafka.hook import PipelineKafkaHook

    try:
        metadata = (
            PipelineKafkaHook(kafka_config_id=kafka_config_id)
            .admin()
            .list_topics(timeout=KAFKA_TIMEOUT_SECONDS)
        )
    except Exception as err:
        return [
            HealthFigure(
                METRIC_OFFLINE_BROKERS,
                KAFKA_SUBJECT,
                0.0,
                FAIL,
                detail_text(f"cluster metadata unreadable: {error_text(err)}"),
            )
        ]
    return classify_kafka_metadata(metadata, topics, thresholds)


def _host_name(host: Any) -> str:
    where = "/".join(str(part) for part in (host.datacenter, host.rack) if part)
    name = str(getattr(host, "endpoint", None) or host.address)
    return f"{name} ({where})" if where else name


def classify_cassandra_hosts(hosts: Iterable[Any], thresholds: HealthThresholds) -> HealthFigure:
    """``down_cassandra_nodes`` from the driver's hosts (``is_up`` True, False or None: not known yet).

    Nodes the driver does not know at all count as down when fewer than the expected number are
    known. A node whose state is not known (the driver keeps no pool to hosts its load-balancing
    policy ignores, such as another datacenter's) is named in the detail but not counted.
    """
    hosts = list(hosts)
    down = [h for h in hosts if h.is_up is False]
    unknown = [h for h in hosts if h.is_up is None]
    expected = thresholds.expected_cassandra_nodes
    missing = max(0, (expected or len(hosts)) - len(hosts))
    value = len(down) + missing
    up = len(hosts) - len(down) - len(unknown)
    detail = f"{up} of {len(hosts)} known nodes up"
    if expected is None:
        detail += f", expected: those known (set {EXPECTED_NODES_ENV} or the expected_cassandra_nodes Param)"
    else:
        detail += f", {expected} expected"
        if missing:
            detail += f" ({missing} not known to the driver)"
    if down:
        detail += f"; down: {', '.join(sorted(_host_name(h) for h in down))}"
    if unknown:
        detail += f"; state not known yet: {', '.join(sorted(_host_name(h) for h in unknown))}"
    status = _status(value, thresholds.max_down_cassandra_nodes)
    if status == FAIL:
        detail += f" (above max_down_cassandra_nodes {thresholds.max_down_cassandra_nodes})"
    return HealthFigure(METRIC_DOWN_NODES, CASSANDRA_SUBJECT, float(value), status, detail_text(detail))


def cassandra_node_figures(session: Any, thresholds: HealthThresholds) -> list[HealthFigure]:
    """``down_cassandra_nodes`` for the cluster ``session`` is connected to."""
    return [classify_cassandra_hosts(session.cluster.metadata.all_hosts(), thresholds)]
