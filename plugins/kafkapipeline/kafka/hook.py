"""Kafka clients built from a connection (``kafka_default`` or a role's), with the pipeline's safety settings.

The connection extra is the confluent-kafka configuration, read like the Kafka provider reads it:
a callback option (``error_cb``, ``oauth_cb`` ...) may name a dotted path, resolved only when
``[apache_kafka] callback_allowlist`` lists it. On top go what the pipeline needs: idempotent,
fully acknowledged producers and consumers that never auto-commit.
"""

from __future__ import annotations

import json
from typing import Any

from airflow.providers.apache.kafka.hooks.base import (
    CALLBACK_ALLOWLIST_CONFIG_OPTION,
    CALLBACK_CONFIG_KEYS,
    KAFKA_COMMON_CONFIG_SECTION,
)
from airflow.sdk import BaseHook, conf
from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.sdk.module_loading import import_string
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from kafkapipeline import settings
from kafkapipeline.errors import ConfigurationError, missing_connection
from kafkapipeline.kafka.roles import ROLE_CONN_IDS

KAFKA_CONN_EXAMPLE = json.dumps({"conn_type": "kafka", "extra": {"bootstrap.servers": "127.0.0.1:9092"}})

#: Settings every producer gets: no record is acknowledged before all in-sync replicas
#: have it, and retries cannot duplicate or reorder records.
PRODUCER_SAFETY = {
    "enable.idempotence": True,
    "acks": "all",
    "max.in.flight.requests.per.connection": 5,
    "compression.type": "lz4",
    "linger.ms": 20,
}

#: Settings every consumer gets: offsets move only when the pipeline commits them,
#: after the batch they cover is safely written.
CONSUMER_SAFETY = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",
    "enable.partition.eof": True,
    "isolation.level": "read_committed",
}

#: Keys that only make sense for one client type; dropped when building the others so a
#: connection extra shared by producers and consumers does not produce warnings.
_CONSUMER_ONLY = {"group.id", "auto.offset.reset", "enable.auto.commit", "enable.auto.offset.store"}
_PRODUCER_ONLY = {"acks", "enable.idempotence", "linger.ms", "compression.type"}


def callback_allowlist() -> frozenset[str]:
    """The dotted paths ``[apache_kafka] callback_allowlist`` trusts."""
    value = conf.get(KAFKA_COMMON_CONFIG_SECTION, CALLBACK_ALLOWLIST_CONFIG_OPTION, fallback="") or ""
    return frozenset(path.strip() for path in value.split(",") if path.strip())


def resolve_callbacks(conn_id: str, extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` with each dotted-path callback option replaced by the callable, if allow-listed."""
    config = dict(extra)
    for key in CALLBACK_CONFIG_KEYS:
        path = config.get(key)
        if not isinstance(path, str):
            continue
        allowed = callback_allowlist()
        if path not in allowed:
            raise ConfigurationError(
                f"Airflow connection '{conn_id}' names callback {key}={path!r}, which "
                f"[{KAFKA_COMMON_CONFIG_SECTION}] {CALLBACK_ALLOWLIST_CONFIG_OPTION} does not list "
                f"({', '.join(sorted(allowed)) or 'it is empty'}). Add the full dotted path to trust it."
            )
        config[key] = import_string(path)
    return config


class PipelineKafkaHook(BaseHook):
    """
    Build confluent-kafka producers, consumers and admin clients from one Airflow connection.

    The connection is read lazily, on the first client built, never in ``__init__``, so
    creating the hook at DAG parse time costs nothing.

    :param kafka_config_id: Airflow connection whose extra holds the librdkafka settings
        (at least ``bootstrap.servers``).
    """

    def __init__(self, kafka_config_id: str = settings.KAFKA_CONN_ID) -> None:
        if not kafka_config_id:
            raise ValueError("kafka_config_id must be a non-empty connection id")
        super().__init__()
        self.kafka_config_id = kafka_config_id
        self._base_config: dict[str, Any] | None = None

    def base_config(self) -> dict[str, Any]:
        """The connection extra as a librdkafka configuration, checked for ``bootstrap.servers``."""
        if self._base_config is None:
            try:
                conn = self.get_connection(self.kafka_config_id)
            except AirflowNotFoundException as err:
                if self.kafka_config_id not in ROLE_CONN_IDS:
                    raise missing_connection(self.kafka_config_id, KAFKA_CONN_EXAMPLE) from err
                # A role (kafka_drain, ...) without a connection of its own uses the pipeline's.
                self.log.info("connection %r not set; using %r", self.kafka_config_id, settings.KAFKA_CONN_ID)
                self.kafka_config_id = settings.KAFKA_CONN_ID
                return self.base_config()
            if not conn.extra_dejson.get("bootstrap.servers"):
                raise ConfigurationError(
                    f"Airflow connection '{self.kafka_config_id}' has no 'bootstrap.servers' in its extra. "
                    f"Set it, for example: {KAFKA_CONN_EXAMPLE}"
                )
            self._base_config = resolve_callbacks(self.kafka_config_id, conn.extra_dejson)
        return dict(self._base_config)

    def producer_config(self, **overrides: Any) -> dict[str, Any]:
        config = {k: v for k, v in self.base_config().items() if k not in _CONSUMER_ONLY}
        config.update(PRODUCER_SAFETY)
        config.update(overrides)
        return config

    def consumer_config(self, group_id: str, **overrides: Any) -> dict[str, Any]:
        if not group_id:
            raise ValueError("a consumer needs a group_id: one consumer group per role")
        config = {k: v for k, v in self.base_config().items() if k not in _PRODUCER_ONLY}
        config.update(CONSUMER_SAFETY)
        config["group.id"] = group_id
        config.update(overrides)
        return config

    def admin_config(self) -> dict[str, Any]:
        return {
            k: v for k, v in self.base_config().items() if k not in _CONSUMER_ONLY and k not in _PRODUCER_ONLY
        }

    def producer(self, **overrides: Any) -> Producer:
        """An idempotent producer with ``acks=all``. Call ``flush()`` before dropping it."""
        return Producer(self.producer_config(**overrides))

    def consumer(self, group_id: str, **overrides: Any) -> Consumer:
        """A consumer in ``group_id`` that never commits on its own. Always ``close()`` it."""
        return Consumer(self.consumer_config(group_id, **overrides))

    def admin(self) -> AdminClient:
        return AdminClient(self.admin_config())

    def get_conn(self) -> AdminClient:
        """The hook's one client for ``BaseHook`` users: an admin client."""
        return self.admin()
