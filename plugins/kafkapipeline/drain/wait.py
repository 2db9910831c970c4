"""How a drain run waits for its micro-batch: ``wait_for_batch``, started in the triggerer.

The scheduler creates the sensor's trigger itself (Airflow's ``start_from_trigger``), so no worker
runs the sensor just to defer it. The trigger (:class:`DrainBatchTrigger`, a
:class:`~kafkapipeline.kafka.lag_trigger.ConsumerLagTrigger` on the stream's drain group) reads
the topic and the group from the settings when it starts in the triggerer, and its ``ready`` event
lists every partition of the topic. The sensor then resumes on a worker once, to turn that event
into the run's partition groups (its XCom, which the mapped ``drain`` expands over): no Kafka call
and no task of its own to plan them.

Why it resumes on a worker rather than ending in the triggerer (a ``TaskSuccessEvent`` with the
groups as XCom, which Airflow 3.3 supports): a mapped task expands over the length Airflow records
when a *worker* pushes the upstream's XCom (the execution API's ``mapped_length``). An XCom pushed
from the triggerer records none, so ``drain`` would be marked ``upstream_failed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

from airflow.sdk import BaseSensorOperator, Context
from airflow.triggers.base import StartTriggerArgs

from kafkapipeline.drain.task import drain_group, partition_groups
from kafkapipeline.kafka.lag import DEFAULT_TIMEOUT_SECONDS
from kafkapipeline.kafka.lag_sensor import describe_ready, ready_event
from kafkapipeline.kafka.lag_trigger import ConsumerLagTrigger, is_template, thresholds_of
from kafkapipeline.kafka.roles import KafkaRole
from kafkapipeline.streams.registry import by_name

#: The XCom key of the trigger's ``ready`` event (why the run fired, the lag per partition).
LAG_EVENT_KEY = "lag_event"


class DrainBatchTrigger(ConsumerLagTrigger):
    """The lag trigger of ``stream``'s drain group; topic and group are read from the settings when
    it is built (in the triggerer), not stored, so they follow the environment as the drain does.

    :param stream: name of the stream whose topic is drained
    :param min_batch: see :class:`ConsumerLagTrigger` (a number, or a template the triggerer renders)
    :param max_wait_seconds: see :class:`ConsumerLagTrigger` (as ``min_batch``)
    :param poll_interval: seconds between two offset readings
    :param kafka_config_id: Airflow connection with the librdkafka settings
    :param kafka_timeout: seconds each Kafka request may take
    """

    def __init__(
        self,
        stream: str,
        *,
        min_batch: int | str,
        max_wait_seconds: float | str,
        poll_interval: float = 5.0,
        kafka_config_id: str = KafkaRole.DRAIN.conn_id,
        kafka_timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        topic = by_name(stream).topic()
        super().__init__(
            topic,
            drain_group(topic),
            min_batch=min_batch,
            max_wait_seconds=max_wait_seconds,
            poll_interval=poll_interval,
            kafka_config_id=kafka_config_id,
            kafka_timeout=kafka_timeout,
        )
        self.stream = stream

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        del kwargs["topic"], kwargs["group_id"]
        return f"{__name__}.{type(self).__name__}", {"stream": self.stream, **kwargs}


def groups_of(event: dict[str, Any], groups: int) -> list[list[int]]:
    """The run's partition groups from the trigger's ``ready`` event: every partition it measured,
    split round-robin into ``groups`` (the same inputs give the same groups, so a retried drain
    owns the same partitions and transactional id)."""
    measured = (event.get("lag") or {}).get("partitions") or []
    return partition_groups([int(p["partition"]) for p in measured], groups)


class WaitForDrainBatchSensor(BaseSensorOperator):
    """Wait, in the triggerer, until ``stream``'s drain group has a micro-batch; return the run's
    partition groups (the mapped ``drain`` expands over them).

    The event (why it fired, the lag per partition) is kept as the XCom ``lag_event``.

    :param stream: name of the stream whose topic is drained
    :param min_batch: pending messages that make a batch (templated, >= 1)
    :param max_wait_seconds: longest a pending message waits below ``min_batch`` (templated, > 0)
    :param partition_groups: drain tasks of the run, each with its own partitions (templated, >= 1)
    :param poll_interval: seconds between two offset readings in the triggerer
    :param kafka_config_id: Airflow connection with the librdkafka settings
    :param kafka_timeout: seconds each Kafka request may take before the sensor fails
    :param start_from_trigger: start in the triggerer (the default); False defers from a worker,
        which is also what ``dag.test()`` does
    :param timeout: seconds the sensor may wait in total (with ``soft_fail=True``: then skipped)
    """

    template_fields: Sequence[str] = ("min_batch", "max_wait_seconds", "partition_groups")
    ui_color = "#d9f0e3"

    def __init__(
        self,
        *,
        stream: str,
        min_batch: int | str,
        max_wait_seconds: float | str,
        partition_groups: int | str = 1,
        poll_interval: float = 5.0,
        kafka_config_id: str = KafkaRole.DRAIN.conn_id,
        kafka_timeout: float = DEFAULT_TIMEOUT_SECONDS,
        start_from_trigger: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        by_name(stream)  # an unknown stream fails the DAG file, naming the known ones
        if not kafka_config_id:
            raise ValueError("kafka_config_id must not be empty")
        if kafka_timeout <= 0:
            raise ValueError(f"kafka_timeout must be positive, got {kafka_timeout!r}")
        self.stream = stream
        self.min_batch = min_batch
        self.max_wait_seconds = max_wait_seconds
        self.partition_groups = partition_groups
        self.poll_interval = poll_interval
        self.kafka_config_id = kafka_config_id
        self.kafka_timeout = kafka_timeout
        if not (is_template(min_batch) or is_template(max_wait_seconds)):
            thresholds_of(min_batch, max_wait_seconds, poll_interval)  # a bad literal fails the parse
        self.start_from_trigger = start_from_trigger
        if start_from_trigger:
            # Plain data only: the serialized DAG holds it, the scheduler creates the trigger from it,
            # and the triggerer renders the templated thresholds (listed in template_fields).
            self.start_trigger_args = StartTriggerArgs(
                trigger_cls=f"{__name__}.{DrainBatchTrigger.__name__}",
                trigger_kwargs=self._trigger_kwargs(min_batch, max_wait_seconds),
                next_method="execute_complete",
                next_kwargs=None,
                timeout=timedelta(seconds=self.timeout),
            )

    def _trigger_kwargs(self, min_batch: int | str, max_wait_seconds: float | str) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "min_batch": min_batch,
            "max_wait_seconds": max_wait_seconds,
            "poll_interval": self.poll_interval,
            "kafka_config_id": self.kafka_config_id,
            "kafka_timeout": self.kafka_timeout,
        }

    def execute(self, context: Context) -> None:
        """Defer from a worker (without ``start_from_trigger``, and in ``dag.test()``)."""
        min_batch, max_wait = thresholds_of(self.min_batch, self.max_wait_seconds, self.poll_interval)
        self.defer(
            trigger=DrainBatchTrigger(**self._trigger_kwargs(min_batch, max_wait)),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> list[list[int]]:
        """The run's partition groups from the trigger's event (a failed trigger fails the task)."""
        ready = ready_event(event, by_name(self.stream).topic())
        groups = groups_of(ready, cast(int, self.partition_groups))  # rendered natively; checked there
        self.log.info("%s; %d partition group(s): %s", describe_ready(ready), len(groups), groups)
        context["ti"].xcom_push(key=LAG_EVENT_KEY, value=ready)
        return groups
