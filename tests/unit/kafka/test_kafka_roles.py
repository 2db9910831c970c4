"""The Kafka roles' ACLs: each role reaches its own consumer groups and transactional ids, and no more."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType

from kafkapipeline import settings
from kafkapipeline.kafka.roles import KafkaRole, role_grants
from kafkapipeline.kafka.transaction import transactional_id_for


def allowed(role: KafkaRole, kind: ResourceType, name: str) -> set[AclOperation]:
    """What ``role`` may do on resource ``name``, by Kafka's matching of literal ``*`` and prefixes."""
    grants = next(g for g in role_grants("kafkapipeline") if g.role is role)
    ops: set[AclOperation] = set()
    for binding in grants.bindings():
        if binding.restype != kind:
            continue
        if binding.resource_pattern_type == ResourcePatternType.PREFIXED:
            matches = name.startswith(binding.name)
        else:
            matches = binding.name in ("*", name)
        if matches:
            ops.add(binding.operation)
    return ops


def may(role: KafkaRole, kind: ResourceType, name: str, op: AclOperation) -> bool:
    ops = allowed(role, kind, name)
    return op in ops or AclOperation.ALL in ops


@pytest.fixture(autouse=True)
def _prefix(monkeypatch):
    monkeypatch.delenv("KAFKAPIPELINE_GROUP_PREFIX", raising=False)


def test_the_drain_reads_its_group_and_owns_its_transactional_ids():
    group = settings.consumer_group("drain", "tweets")
    assert may(KafkaRole.DRAIN, ResourceType.GROUP, group, AclOperation.READ)
    txn = transactional_id_for(group, "tweets", [0, 1])
    assert may(KafkaRole.DRAIN, ResourceType.TRANSACTIONAL_ID, txn, AclOperation.WRITE)
    assert may(KafkaRole.DRAIN, ResourceType.TOPIC, "tweets", AclOperation.READ)
    assert may(KafkaRole.DRAIN, ResourceType.TOPIC, "tweets.dlq", AclOperation.WRITE)


def test_no_role_but_the_owner_creates_deletes_or_alters_topics():
    for role in KafkaRole:
        for op in (AclOperation.CREATE, AclOperation.DELETE, AclOperation.ALTER, AclOperation.ALTER_CONFIGS):
            assert may(role, ResourceType.TOPIC, "tweets", op) is (role is KafkaRole.PIPELINE), (role, op)
            assert not may(role, ResourceType.BROKER, "kafka-cluster", op), (role, op)


def test_a_role_cannot_join_or_fence_another_roles_groups():
    drain_group = settings.consumer_group("drain", "tweets")
    replay_group = settings.consumer_group("dlq-replay", "tweets")
    assert not may(KafkaRole.REPLAY, ResourceType.GROUP, drain_group, AclOperation.READ)
    assert not may(KafkaRole.DRAIN, ResourceType.GROUP, replay_group, AclOperation.READ)
    assert not may(KafkaRole.INGEST, ResourceType.GROUP, drain_group, AclOperation.READ)
    assert not may(
        KafkaRole.REPLAY,
        ResourceType.TRANSACTIONAL_ID,
        transactional_id_for(drain_group, "tweets", None),
        AclOperation.WRITE,
    )
    # Health looks at both (offsets) but joins neither.
    for group in (drain_group, replay_group):
        assert may(KafkaRole.HEALTH, ResourceType.GROUP, group, AclOperation.DESCRIBE)
        assert not may(KafkaRole.HEALTH, ResourceType.GROUP, group, AclOperation.READ)
    assert may(
        KafkaRole.HEALTH, ResourceType.GROUP, settings.consumer_group("health-count", "t"), AclOperation.READ
    )


def test_ingest_writes_but_never_reads():
    assert may(KafkaRole.INGEST, ResourceType.TOPIC, "tweets", AclOperation.WRITE)
    assert not may(KafkaRole.INGEST, ResourceType.TOPIC, "tweets", AclOperation.READ)


def test_grants_follow_the_group_prefix_setting():
    grants = next(g for g in role_grants("other") if g.role is KafkaRole.DRAIN)
    names = {b.name for b in grants.bindings() if b.restype == ResourceType.GROUP}
    assert names == {"other.drain."}


def test_every_role_but_the_owner_has_its_own_connection_id():
    assert KafkaRole.PIPELINE.conn_id == "kafka_default"
    ids = [role.conn_id for role in KafkaRole]
    assert len(set(ids)) == len(ids)
