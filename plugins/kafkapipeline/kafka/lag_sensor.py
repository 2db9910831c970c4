"""A deferrable sensor that waits, in the triggerer, until a drain has a micro-batch to do.

It defers at once to :class:`~kafkapipeline.kafka.lag_trigger.ConsumerLagTrigger`, so it holds no worker
slot while waiting, and never consumes or commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context

from kafkapipeline.kafka.lag import DEFAULT_TIMEOUT_SECONDS
from kafkapipeline.kafka.lag_trigger import (
    STATUS_ERROR,
    STATUS_READY,
    ConsumerLagTrigger,
    is_template,
    thresholds_of,
)
from kafkapipeline.kafka.roles import KafkaRole


class ConsumerLagError(RuntimeError):
    """The trigger could not read the lag. Not an ``AirflowException`` on purpose: ``soft_fail``
    turns a quiet topic (the sensor timing out) into a skip, but must not hide a broken Kafka."""


def ready_event(event: dict[str, Any] | None, topic: str) -> dict[str, Any]:
    """The lag trigger's ``ready`` event; any other ending of the trigger a :class:`ConsumerLagError`.

    :param topic: the topic waited on, for the messages
    """
    if not event:
        raise ConsumerLagError(f"the lag trigger for {topic} ended without an event")
    status = event.get("status")
    if status == STATUS_ERROR:
        raise ConsumerLagError(event.get("message") or f"the lag trigger for {topic} failed")
    if status != STATUS_READY:
        raise ConsumerLagError(f"unexpected event from the lag trigger: {event!r}")
    return event


def describe_ready(event: dict[str, Any]) -> str:
    """One line for the task log: which topic, why it fired, how much is pending and how old."""
    lag = event.get("lag") or {}
    age = lag.get("oldest_age_seconds")
    return (
        f"Micro-batch ready on {event.get('topic')} ({event.get('reason')}): {lag.get('total_lag')} "
        f"messages pending, oldest {None if age is None else round(age, 1)} s old"
    )


class WaitForConsumerLagSensor(BaseSensorOperator):
    """Wait until ``group_id`` is at least ``min_batch`` messages behind on ``topic``, or has any
    message pending for ``max_wait_seconds``.

    The trigger's event payload (lag per partition, why it fired) is returned to XCom.

    :param topic: topic the drain reads (templated)
    :param group_id: the drain's consumer group (templated)
    :param min_batch: pending messages that make a batch worth draining (templated, >= 1)
    :param max_wait_seconds: longest a pending message waits below ``min_batch`` (templated, > 0)
    :param poll_interval: seconds between two offset readings in the triggerer
    :param kafka_config_id: Airflow connection with the librdkafka settings
    :param kafka_timeout: seconds each Kafka request may take before the sensor fails
    :param timeout: seconds the sensor may wait in total; with ``soft_fail=True`` an idle topic ends
        the wait as skipped instead of failed
    """

    template_fields: Sequence[str] = ("topic", "group_id", "min_batch", "max_wait_seconds")
    ui_color = "#d9f0e3"

    def __init__(
        self,
        *,
        topic: str,
        group_id: str,
        min_batch: int | str = 500,
        max_wait_seconds: float | str = 60.0,
        poll_interval: float = 5.0,
        kafka_config_id: str = KafkaRole.DRAIN.conn_id,
        kafka_timeout: float = DEFAULT_TIMEOUT_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not topic:
            raise ValueError("topic must not be empty")
        if not group_id:
            raise ValueError("group_id must not be empty")
        if not kafka_config_id:
            raise ValueError("kafka_config_id must not be empty")
        if kafka_timeout <= 0:
            raise ValueError(f"kafka_timeout must be positive, got {kafka_timeout!r}")
        self.topic = topic
        self.group_id = group_id
        self.min_batch = min_batch
        self.max_wait_seconds = max_wait_seconds
        self.poll_interval = poll_interval
        self.kafka_config_id = kafka_config_id
        self.kafka_timeout = kafka_timeout
        # Values known now are checked now (a DAG with a bad literal fails to parse); templated
        # ones are checked in execute(), once rendered.
        self._validated_thresholds(allow_templates=True)

    def _validated_thresholds(self, allow_templates: bool) -> tuple[int, float]:
        if allow_templates and (is_template(self.min_batch) or is_template(self.max_wait_seconds)):
            return 1, 1.0
        # Whatever they rendered to: text that does not read as a number in range is refused.
        return thresholds_of(self.min_batch, self.max_wait_seconds, self.poll_interval)

    def execute(self, context: Context) -> None:
        min_batch, max_wait = self._validated_thresholds(allow_templates=False)
        if not self.topic or not self.group_id:
            raise ValueError(
                f"topic and group_id must render to non-empty text: {self.topic!r}, {self.group_id!r}"
            )
        self.log.info(
            "Deferring until group %s has %d messages pending on %s, or any for %.0fs",
            self.group_id,
            min_batch,
            self.topic,
            max_wait,
        )
        self.defer(
            trigger=ConsumerLagTrigger(
                topic=self.topic,
                group_id=self.group_id,
                min_batch=min_batch,
                max_wait_seconds=max_wait,
                poll_interval=self.poll_interval,
                kafka_config_id=self.kafka_config_id,
                kafka_timeout=self.kafka_timeout,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        ready = ready_event(event, self.topic)
        self.log.info("%s", describe_ready(ready))
        return ready
