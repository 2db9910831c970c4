"""Replication follows the mode: keyspace replication, write consistency, topic replication factor."""

from __future__ import annotations

import pytest
from cassandra import ConsistencyLevel

from kafkapipeline import settings
from kafkapipeline.cassandra.replication import replication_factor, write_consistency
from kafkapipeline.kafka.topics import TopicSpec
from kafkapipeline.maintenance.bootstrap import pipeline_topic_specs

RF3 = "{'class': 'SimpleStrategy', 'replication_factor': 3}"


@pytest.fixture
def clean_env(monkeypatch):
    for name in settings.ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("replication", "factor"),
    [
        (settings.DEFAULT_REPLICATION, 1),
        (RF3, 3),
        ("{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}", 3),
        ("{'class': 'NetworkTopologyStrategy', 'dc1': '2'}", 2),
    ],
)
def test_replication_factor_of_a_map(replication, factor):
    assert replication_factor(replication) == factor


@pytest.mark.parametrize(
    "bad",
    ["banana", "{'replication_factor': 3}", "{'class': 'SimpleStrategy'}", "{'class': 'X', 'dc1': 'three'}"],
)
def test_a_bad_replication_map_names_the_variable(clean_env, bad):
    clean_env.setenv("KAFKAPIPELINE_REPLICATION", bad)
    with pytest.raises(settings.SettingsError, match="KAFKAPIPELINE_REPLICATION"):
        settings.current()


def test_defaults_are_single_node(clean_env):
    current = settings.current()
    assert current.write_consistency == "LOCAL_QUORUM"
    assert current.topic_replication_factor == 1
    assert write_consistency() == ConsistencyLevel.LOCAL_QUORUM


def test_consistency_is_read_case_insensitively_and_checked(clean_env):
    clean_env.setenv("KAFKAPIPELINE_WRITE_CONSISTENCY", " quorum ")
    assert write_consistency() == ConsistencyLevel.QUORUM
    clean_env.setenv("KAFKAPIPELINE_WRITE_CONSISTENCY", "LOCAL_SERIAL")
    with pytest.raises(settings.SettingsError, match="KAFKAPIPELINE_WRITE_CONSISTENCY"):
        settings.current()


@pytest.mark.parametrize("weak", ["ONE", "local_one", "ANY"])
def test_single_replica_writes_are_refused_at_rf_3(clean_env, weak):
    clean_env.setenv("KAFKAPIPELINE_WRITE_CONSISTENCY", weak)
    assert settings.current().write_consistency == weak.upper()  # fine with RF 1
    clean_env.setenv("KAFKAPIPELINE_REPLICATION", RF3)
    with pytest.raises(settings.SettingsError, match=r"CONSISTENCY=.*factor 3.*LOCAL_QUORUM"):
        settings.current()


def test_topic_replication_factor_reaches_the_specs(clean_env):
    partitions = {"tweets": 3, "weather": 3}
    assert {s.replication_factor for s in pipeline_topic_specs(partitions, 1, 1)} == {1}
    assert {s.replication_factor for s in pipeline_topic_specs(partitions, 1, 1, 3)} == {3}
    clean_env.setenv("KAFKAPIPELINE_TOPIC_REPLICATION_FACTOR", "0")
    with pytest.raises(settings.SettingsError, match="KAFKAPIPELINE_TOPIC_REPLICATION_FACTOR"):
        settings.current()
    with pytest.raises(ValueError, match="replication_factor"):
        TopicSpec("t", 1, 1000, 0)
