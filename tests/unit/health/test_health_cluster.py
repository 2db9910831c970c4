"""Classifying the clusters' state: Kafka metadata and the Cassandra driver's hosts, as fake objects
shaped like confluent-kafka's ClusterMetadata and the driver's Host."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from kafkapipeline.health.cluster_figures import classify_cassandra_hosts, classify_kafka_metadata
from kafkapipeline.health.report import FAIL, OK, WARN, HealthReport, HealthThresholds


@dataclass
class Partition:
    id: int
    leader: int
    replicas: list[int]
    isrs: list[int]


@dataclass
class Topic:
    partitions: dict[int, Partition]
    error: object = None


@dataclass
class Metadata:
    brokers: dict[int, object]
    topics: dict[str, Topic] = field(default_factory=dict)


@dataclass
class Host:
    address: str
    is_up: bool | None
    datacenter: str = "datacenter1"
    rack: str = "rack1"


def topic(*partitions: tuple[int, list[int], list[int]]) -> Topic:
    """Partitions as (leader, replicas, in-sync replicas), numbered from 0."""
    return Topic(
        {n: Partition(n, leader, replicas, isrs) for n, (leader, replicas, isrs) in enumerate(partitions)}
    )


def by_key(figures):
    return {(f.metric, f.subject): f for f in figures}


HEALTHY_3 = topic((1, [1, 2, 3], [1, 2, 3]), (2, [2, 3, 1], [2, 3, 1]))


def test_a_healthy_single_node_cluster_is_all_ok():
    metadata = Metadata(
        brokers={1: "b1"},
        topics={"tweets": topic((1, [1], [1])), "__consumer_offsets": topic((1, [1], [1]))},
    )
    figures = by_key(classify_kafka_metadata(metadata, ["tweets"], HealthThresholds()))
    assert {key: (f.value, f.status) for key, f in figures.items()} == {
        ("under_replicated_partitions", "tweets"): (0, OK),
        ("leaderless_partitions", "tweets"): (0, OK),
        ("under_replicated_partitions", "__consumer_offsets"): (0, OK),
        ("leaderless_partitions", "__consumer_offsets"): (0, OK),
        ("offline_brokers", "kafka"): (0, OK),
    }
    assert (
        "expected: those live (set KAFKAPIPELINE_EXPECTED_BROKERS"
        in figures[("offline_brokers", "kafka")].detail
    )


def test_under_replicated_partitions_warn_then_fail_past_the_threshold():
    metadata = Metadata(
        brokers={1: "b1", 2: "b2", 3: "b3"},
        topics={"tweets": topic((1, [1, 2, 3], [1, 2]), (2, [2, 3, 1], [2]), (3, [3, 1, 2], [3, 1, 2]))},
    )
    (under, leaderless, brokers) = classify_kafka_metadata(
        metadata, ["tweets"], HealthThresholds(max_under_replicated_partitions=2)
    )
    assert (under.metric, under.value, under.status) == ("under_replicated_partitions", 2, WARN)
    assert under.detail == (
        "2 of 3 partitions with fewer in-sync replicas than replicas: "
        "0 in sync 1, 2 of 1, 2, 3; 1 in sync 2 of 1, 2, 3"
    )
    assert (leaderless.value, leaderless.status, brokers.status) == (0, OK, OK)

    (under, *_) = classify_kafka_metadata(
        metadata, ["tweets"], HealthThresholds(max_under_replicated_partitions=1)
    )
    assert under.status == FAIL and under.detail.endswith("(above max_under_replicated_partitions 1)")


def test_a_partition_without_leader_fails_whatever_the_thresholds():
    metadata = Metadata(
        brokers={1: "b1", 2: "b2"}, topics={"tweets": topic((-1, [3], []), (1, [1, 2], [1, 2]))}
    )
    figures = by_key(
        classify_kafka_metadata(
            metadata, ["tweets"], HealthThresholds(max_under_replicated_partitions=5, max_offline_brokers=5)
        )
    )
    leaderless = figures[("leaderless_partitions", "tweets")]
    assert (leaderless.value, leaderless.status) == (1, FAIL)
    assert leaderless.detail == "1 of 2 partitions without a leader: 0 (unavailable for reads and writes)"
    assert figures[("under_replicated_partitions", "tweets")].status == WARN  # 1, within 5
    # Broker 3 holds a replica but is not in the metadata: it is offline though no count was expected.
    offline = figures[("offline_brokers", "kafka")]
    assert (offline.value, offline.status) == (1, WARN)
    assert "replicas assigned to brokers not live: 3" in offline.detail
    report = HealthReport(datetime.now(UTC), HealthThresholds(), figures=list(figures.values()))
    assert [(f.metric, f.subject) for f in report.failures] == [("leaderless_partitions", "tweets")]


def test_offline_brokers_count_against_the_expected_number():
    metadata = Metadata(brokers={1: "b1", 3: "b3"}, topics={"tweets": HEALTHY_3})
    offline = classify_kafka_metadata(metadata, [], HealthThresholds(expected_brokers=3))[-1]
    # Broker 2 is also missing from the replicas: counted once, not twice.
    assert (offline.metric, offline.value, offline.status) == ("offline_brokers", 1, FAIL)
    assert offline.detail == (
        "2 brokers live (ids 1, 3) of 3 expected; replicas assigned to brokers not live: 2 "
        "(above max_offline_brokers 0)"
    )
    lonely = Metadata(brokers={1: "b1"})
    offline = classify_kafka_metadata(
        lonely, [], HealthThresholds(expected_brokers=3, max_offline_brokers=1)
    )[-1]
    assert (offline.value, offline.status) == (2, FAIL)
    offline = classify_kafka_metadata(
        lonely, [], HealthThresholds(expected_brokers=3, max_offline_brokers=2)
    )[-1]
    assert (offline.value, offline.status) == (2, WARN)


def test_a_missing_topic_is_a_warning_and_absent_internal_topics_are_skipped():
    metadata = Metadata(brokers={1: "b1"}, topics={"other": topic((1, [1], [1]))})
    figures = classify_kafka_metadata(metadata, ["tweets.dlq"], HealthThresholds())
    assert [(f.metric, f.subject, f.status, f.detail) for f in figures[:2]] == [
        ("under_replicated_partitions", "tweets.dlq", WARN, "topic does not exist"),
        ("leaderless_partitions", "tweets.dlq", WARN, "topic does not exist"),
    ]
    assert [f.metric for f in figures[2:]] == ["offline_brokers"]


def test_down_cassandra_nodes_from_the_driver_hosts():
    up = [Host("127.0.0.1", True), Host("127.0.0.2", True)]
    figure = classify_cassandra_hosts([Host("127.0.0.1", True)], HealthThresholds())
    assert (figure.metric, figure.subject, figure.value, figure.status) == (
        "down_cassandra_nodes",
        "cassandra",
        0,
        OK,
    )
    assert figure.detail.startswith("1 of 1 known nodes up, expected: those known")

    figure = classify_cassandra_hosts([*up, Host("127.0.0.3", False)], HealthThresholds())
    assert (figure.value, figure.status) == (1, FAIL)
    assert "down: 127.0.0.3 (datacenter1/rack1)" in figure.detail
    figure = classify_cassandra_hosts(
        [*up, Host("127.0.0.3", False)], HealthThresholds(max_down_cassandra_nodes=1)
    )
    assert (figure.value, figure.status) == (1, WARN)

    # The driver knows two nodes, three are expected: the third counts as down.
    figure = classify_cassandra_hosts(up, HealthThresholds(expected_cassandra_nodes=3))
    assert (figure.value, figure.status) == (1, FAIL)
    assert "2 of 2 known nodes up, 3 expected (1 not known to the driver)" in figure.detail

    # A node whose state the driver does not track is named, not counted down.
    figure = classify_cassandra_hosts([*up, Host("127.0.0.3", None, "dc2")], HealthThresholds())
    assert (figure.value, figure.status) == (0, OK)
    assert figure.detail.endswith("; state not known yet: 127.0.0.3 (dc2/rack1)")


def test_cluster_thresholds_come_from_the_params_then_the_environment(monkeypatch):
    for name in (
        "KAFKAPIPELINE_HEALTH_MAX_UNDER_REPLICATED_PARTITIONS",
        "KAFKAPIPELINE_HEALTH_MAX_OFFLINE_BROKERS",
        "KAFKAPIPELINE_HEALTH_MAX_DOWN_CASSANDRA_NODES",
        "KAFKAPIPELINE_EXPECTED_BROKERS",
        "KAFKAPIPELINE_EXPECTED_CASSANDRA_NODES",
    ):
        monkeypatch.delenv(name, raising=False)
    defaults = HealthThresholds.from_env()
    assert (defaults.max_under_replicated_partitions, defaults.max_offline_brokers) == (0, 0)
    assert (defaults.expected_brokers, defaults.expected_cassandra_nodes) == (None, None)

    monkeypatch.setenv("KAFKAPIPELINE_EXPECTED_BROKERS", "3")
    monkeypatch.setenv("KAFKAPIPELINE_HEALTH_MAX_DOWN_CASSANDRA_NODES", "1")
    chosen = HealthThresholds.from_env(
        expected_cassandra_nodes=3, expected_brokers=None, max_offline_brokers=""
    )
    assert (chosen.expected_brokers, chosen.expected_cassandra_nodes) == (3, 3)
    assert (chosen.max_down_cassandra_nodes, chosen.max_offline_brokers) == (1, 0)

    monkeypatch.setenv("KAFKAPIPELINE_EXPECTED_BROKERS", "three")
    with pytest.raises(ValueError, match="KAFKAPIPELINE_EXPECTED_BROKERS='three'"):
        HealthThresholds.from_env()
    monkeypatch.setenv("KAFKAPIPELINE_EXPECTED_BROKERS", "0")
    with pytest.raises(ValueError, match=r"KAFKAPIPELINE_EXPECTED_BROKERS='0'.*>= 1"):
        HealthThresholds.from_env()
    with pytest.raises(ValueError, match=r"max_offline_brokers\s+Input should be greater than or equal to 0"):
        HealthThresholds(max_offline_brokers=-1)
    with pytest.raises(TypeError, match="unknown health thresholds"):
        HealthThresholds.from_env(max_brokers=1)
