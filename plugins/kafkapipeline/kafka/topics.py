"""Create the pipeline's Kafka topics and bring their partitions and retention to the wanted values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ClusterMetadata,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
    TopicMetadata,
)

from kafkapipeline.errors import ConfigurationError
from kafkapipeline.kafka.retry import until_known

ADMIN_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class TopicSpec:
    """What a topic should look like.

    :param name: topic name
    :param partitions: partition count; an existing topic is grown to it, never shrunk
    :param retention_ms: ``retention.ms``; -1 keeps messages forever
    :param replication_factor: replicas of each partition when created (3 on a cluster); an
        existing topic with fewer gets a warning (raising it is a partition reassignment)
    """

    name: str
    partitions: int
    retention_ms: int
    replication_factor: int = 1

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("topic name must not be empty")
        if self.partitions < 1:
            raise ValueError(f"{self.name}: partitions must be at least 1, got {self.partitions}")
        if self.retention_ms < -1 or self.retention_ms == 0:
            raise ValueError(f"{self.name}: retention_ms must be -1 or positive, got {self.retention_ms}")
        if self.replication_factor < 1:
            raise ValueError(f"{self.name}: replication_factor must be >= 1, got {self.replication_factor}")


@dataclass
class TopicReport:
    created: list[str] = field(default_factory=list)
    partitions_increased: list[str] = field(default_factory=list)
    retention_changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.partitions_increased or self.retention_changed)

    def summary(self) -> str:
        parts = []
        for label, names in (
            ("created", self.created),
            ("partitions increased", self.partitions_increased),
            ("retention changed", self.retention_changed),
            ("unchanged", self.unchanged),
        ):
            if names:
                parts.append(f"{label}: {', '.join(names)}")
        parts.extend(self.warnings)
        return "; ".join(parts) or "no topics requested"


def _wait(futures: dict, what: str) -> None:
    for name, future in futures.items():
        try:
            future.result(timeout=ADMIN_TIMEOUT_SECONDS)
        except KafkaException as err:
            raise RuntimeError(f"could not {what} {name}: {err.args[0]}") from err


def _under_replicated(metadata: ClusterMetadata, present: list[TopicSpec]) -> list[str]:
    """A warning per existing topic with fewer replicas than asked (Kafka never adds them itself)."""
    warnings = []
    for spec in present:
        replicas = min((len(p.replicas) for p in metadata.topics[spec.name].partitions.values()), default=0)
        if replicas < spec.replication_factor:
            warnings.append(
                f"{spec.name} has {replicas} replica(s) per partition, fewer than {spec.replication_factor} "
                "asked; raise it with kafka-reassign-partitions (README, Running on a cluster)"
            )
    return warnings


def ensure_topics(admin: AdminClient, specs: list[TopicSpec]) -> TopicReport:
    """Create missing topics, grow partition counts and align retention; report every change."""
    report = TopicReport()
    metadata = admin.list_topics(timeout=ADMIN_TIMEOUT_SECONDS)
    existing = {name: len(topic.partitions) for name, topic in metadata.topics.items() if topic.error is None}

    missing = [spec for spec in specs if spec.name not in existing]
    raced: list[str] = []
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    s.name,
                    num_partitions=s.partitions,
                    replication_factor=s.replication_factor,
                    config={"retention.ms": str(s.retention_ms)},
                )
                for s in missing
            ],
            operation_timeout=ADMIN_TIMEOUT_SECONDS,
        )
        for name, future in futures.items():
            try:
                future.result(timeout=ADMIN_TIMEOUT_SECONDS)
                report.created.append(name)
            except KafkaException as err:
                if err.args[0].code() != err.args[0].TOPIC_ALREADY_EXISTS:
                    raise RuntimeError(f"could not create topic {name}: {err.args[0]}") from err
                raced.append(name)  # created concurrently by someone else

    for name in raced:
        # Created by someone else since the metadata above was read (or it was read from a broker
        # that had not learnt of the topic yet): read it again, so it is checked and reported like
        # the others, once.
        known = cast(
            TopicMetadata,
            until_known(ADMIN_TIMEOUT_SECONDS, f"topic {name}")(
                lambda name=name: admin.list_topics(name, timeout=ADMIN_TIMEOUT_SECONDS).topics.get(name)
            ),
        )  # until_known returns only a topic the broker knows
        metadata.topics[name] = known
        existing[name] = len(known.partitions)
    present = [spec for spec in specs if spec.name in existing]
    report.warnings.extend(_under_replicated(metadata, present))
    grow = {s.name: NewPartitions(s.name, s.partitions) for s in present if existing[s.name] < s.partitions}
    for spec in present:
        if existing[spec.name] > spec.partitions:
            report.warnings.append(
                f"{spec.name} has {existing[spec.name]} partitions, more than the {spec.partitions} asked; "
                "Kafka cannot shrink a topic, left as is"
            )
    if grow:
        _wait(admin.create_partitions(list(grow.values()), operation_timeout=ADMIN_TIMEOUT_SECONDS), "grow")
        report.partitions_increased.extend(grow)

    if present:
        resources = [ConfigResource(ResourceType.TOPIC, s.name) for s in present]
        described = admin.describe_configs(resources)
        for spec, resource in zip(present, resources, strict=True):
            configs = described[resource].result(timeout=ADMIN_TIMEOUT_SECONDS)
            current = configs.get("retention.ms")
            if current is None or current.value != str(spec.retention_ms):
                change = ConfigResource(
                    ResourceType.TOPIC,
                    spec.name,
                    incremental_configs=[
                        ConfigEntry(
                            "retention.ms",
                            str(spec.retention_ms),
                            incremental_operation=AlterConfigOpType.SET,
                        )
                    ],
                )
                _wait(admin.incremental_alter_configs([change]), "set retention on")
                report.retention_changed.append(spec.name)
            elif spec.name not in grow:
                report.unchanged.append(spec.name)
    return report


def require_topic(admin: AdminClient, topic: str) -> None:
    """Fail with what to do when ``topic`` does not exist, instead of relying on auto-creation.

    A broker's ``auto.create.topics.enable`` would create it with the broker's default of
    partitions and retention (one partition here, and it is off in most production clusters);
    the bootstrap DAG creates it with the partitions and retention chosen in its Params.
    """
    metadata = admin.list_topics(timeout=ADMIN_TIMEOUT_SECONDS)
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        raise ConfigurationError(
            f"Kafka topic {topic!r} does not exist. Trigger the bootstrap DAG, which creates the "
            "pipeline's topics with the partitions and retention chosen in its Params (or create "
            "the topic yourself); nothing was fetched or produced."
        )
