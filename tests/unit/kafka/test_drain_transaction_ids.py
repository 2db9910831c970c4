"""Each partition group's drain has its own Kafka transactional id, the same on every retry.

Two mapped drains with one transactional id would fence each other (the second
``init_transactions`` aborts the first's transaction); a retry with another id would not fence
the killed try it replaces. These tests pin both through what the drain DAGs run: the groups
``wait_for_batch`` returns from its trigger's event, then ``drain_task`` per group. Kafka itself is
replaced by a recorder of the producer's configuration (its ``init_transactions`` then fails, so nothing
is read); the real broker path is in tests/integration/test_drain_dags.py.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from confluent_kafka import KafkaError, KafkaException

from kafkapipeline.drain import drainer
from kafkapipeline.drain import task as drain
from kafkapipeline.drain.task import partition_groups
from kafkapipeline.drain.wait import groups_of
from kafkapipeline.kafka.transaction import DrainError, transactional_id_for

PARTITIONS = list(range(6))
#: The lag trigger's ready event for a topic of six partitions (only two of them lagging).
READY = {
    "status": "ready",
    "topic": "tweets_ids_test",
    "lag": {"partitions": [{"partition": p, "lag": 5 if p in (1, 4) else 0} for p in reversed(PARTITIONS)]},
}


@pytest.mark.parametrize("groups", range(1, len(PARTITIONS) + 1))
def test_the_groups_of_a_topic_have_distinct_ids_none_the_whole_topics(groups):
    ids = [transactional_id_for("g", "tweets", group) for group in partition_groups(PARTITIONS, groups)]
    assert len(ids) == groups and len(set(ids)) == groups
    assert transactional_id_for("g", "tweets", None) not in ids


def test_an_id_depends_on_the_partition_set_only_not_its_order_and_names_group_and_topic():
    assert transactional_id_for("g", "tweets", [3, 0]) == transactional_id_for("g", "tweets", [0, 3, 3])
    assert transactional_id_for("g", "tweets", [0, 3]) != transactional_id_for("g", "weather", [0, 3])
    assert transactional_id_for("g", "tweets", [0, 3]) != transactional_id_for("h", "tweets", [0, 3])
    # Not a mere concatenation: partitions 1 + 12 and 11 + 2 are different sets.
    assert transactional_id_for("g", "t", [1, 12]) != transactional_id_for("g", "t", [11, 2])


class _RecordingHook:
    """Stands in for PipelineKafkaHook: records each producer's config, refuses transactions."""

    producers: list[dict] = []

    def __init__(self, kafka_config_id: str | None = None) -> None:
        pass

    def consumer(self, group_id: str, **settings: object) -> _RecordingHook:
        return self

    def close(self) -> None:
        pass

    def producer_config(self) -> dict:
        return {}

    def producer(self, **config: object) -> _RecordingHook:
        self.producers.append(config)
        return self

    def init_transactions(self, timeout: float) -> None:
        raise KafkaException(KafkaError(KafkaError._TRANSPORT))

    def abort_transaction(self, timeout: float | None = None) -> None:
        pass

    def flush(self, timeout: float | None = None) -> int:
        return 0


@pytest.fixture
def recorded(monkeypatch) -> list[dict]:
    @contextmanager
    def no_cassandra(conn_id: str, **options):
        yield None

    _RecordingHook.producers = []
    monkeypatch.setenv("KAFKAPIPELINE_TWEETS_TOPIC", "tweets_ids_test")
    monkeypatch.setattr(drainer, "PipelineKafkaHook", _RecordingHook)
    monkeypatch.setattr(drainer, "cassandra_session", no_cassandra)
    return _RecordingHook.producers


def _transactional_ids_of(groups: list[list[int]], recorded: list[dict]) -> list[str]:
    for group in groups:
        with pytest.raises(DrainError, match="could not start the Kafka transaction"):
            drain.drain_task("tweets", 100, group)
    assert len(recorded) == len(groups)
    return [str(config["transactional.id"]) for config in recorded]


def test_each_mapped_drain_of_a_run_gets_its_own_transactional_id(recorded):
    groups = groups_of(READY, 3)
    assert groups == [[0, 3], [1, 4], [2, 5]]  # every partition, lagging or not
    ids = _transactional_ids_of(groups, recorded)
    assert len(set(ids)) == 3, ids
    group_id = drain.drain_group("tweets_ids_test")
    assert ids == [transactional_id_for(group_id, "tweets_ids_test", group) for group in groups]


def test_a_retried_drain_uses_the_same_transactional_id_so_it_fences_the_killed_try(recorded):
    groups = groups_of(READY, 3)
    first, retry = _transactional_ids_of([groups[1], groups[1]], recorded)
    assert first == retry
    # The next run plans the same groups, so its drains reuse the same ids too.
    assert groups_of(READY, 3) == groups
