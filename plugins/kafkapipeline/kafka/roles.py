"""The pipeline's Kafka users: one per role, each with its own connection and only the ACLs it needs.

``scripts/services`` creates the users (SCRAM-SHA-512) and grants these ACLs on every start; the broker
refuses the rest (``allow.everyone.if.no.acl.found=false``). Topics are matched by name ``*``: users name
their own topics and the tests make one per test. Consumer groups and transactional ids are matched by
the role's prefix (``<group prefix>.<role>.``), so no role can join, reset or fence another's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from kafkapipeline import settings

Grant = tuple[ResourceType, str, ResourcePatternType, tuple[AclOperation, ...]]


class KafkaRole(StrEnum):
    """Who talks to Kafka. ``PIPELINE`` (``kafka_default``) owns the topics: bootstrap, maintenance, tests."""

    PIPELINE = "pipeline"
    INGEST = "ingest"
    DRAIN = "drain"
    REPLAY = "replay"
    HEALTH = "health"

    @property
    def conn_id(self) -> str:
        """The role's Airflow connection; a role without its own falls back to ``kafka_default``."""
        return settings.KAFKA_CONN_ID if self is KafkaRole.PIPELINE else f"kafka_{self.value}"

    @property
    def username(self) -> str:
        return f"kafkapipeline-{self.value}"


#: Connection ids that fall back to ``kafka_default`` when they are not defined.
ROLE_CONN_IDS = frozenset(role.conn_id for role in KafkaRole if role is not KafkaRole.PIPELINE)


@dataclass(frozen=True)
class RoleGrants:
    role: KafkaRole
    grants: tuple[Grant, ...]

    def bindings(self) -> list[AclBinding]:
        """The role's ACLs as confluent-kafka bindings (ALLOW, from any host)."""
        principal = f"User:{self.role.username}"
        return [
            AclBinding(kind, name, pattern, principal, "*", op, AclPermissionType.ALLOW)
            for kind, name, pattern, ops in self.grants
            for op in ops
        ]


def role_grants(group_prefix: str | None = None) -> list[RoleGrants]:
    """Every role's ACLs; consumer groups and transactional ids under ``group_prefix`` (the setting)."""
    prefix = group_prefix or settings.current().group_prefix
    topic, group, txn = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID
    cluster = ResourceType.BROKER
    literal, prefixed = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
    op = AclOperation

    def own(role: str) -> str:
        return f"{prefix}.{role}."

    return [
        RoleGrants(
            KafkaRole.PIPELINE,
            (
                (topic, "*", literal, (op.ALL,)),
                (group, "*", literal, (op.ALL,)),
                (txn, "*", literal, (op.ALL,)),
                (cluster, "kafka-cluster", literal, (op.DESCRIBE, op.DESCRIBE_CONFIGS)),
            ),
        ),
        RoleGrants(KafkaRole.INGEST, ((topic, "*", literal, (op.WRITE, op.DESCRIBE)),)),
        RoleGrants(
            KafkaRole.DRAIN,
            (
                # READ the stream, WRITE its dead letters (Kafka has no suffix pattern for `.dlq`).
                (topic, "*", literal, (op.READ, op.WRITE, op.DESCRIBE)),
                (group, own("drain"), prefixed, (op.READ, op.DESCRIBE)),
                (txn, own("drain"), prefixed, (op.WRITE, op.DESCRIBE)),
            ),
        ),
        RoleGrants(
            KafkaRole.REPLAY,
            (
                (topic, "*", literal, (op.READ, op.WRITE, op.DESCRIBE)),
                (group, own("dlq-replay"), prefixed, (op.READ, op.DESCRIBE)),
            ),
        ),
        RoleGrants(
            KafkaRole.HEALTH,
            (
                (topic, "*", literal, (op.READ, op.DESCRIBE, op.DESCRIBE_CONFIGS)),
                (group, f"{prefix}.", prefixed, (op.DESCRIBE,)),
                (group, own("health-count"), prefixed, (op.READ,)),
                (cluster, "kafka-cluster", literal, (op.DESCRIBE,)),
            ),
        ),
    ]
