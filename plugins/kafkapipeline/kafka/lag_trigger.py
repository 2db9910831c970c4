"""A trigger that fires when a consumer group has a micro-batch worth of messages waiting.

Unlike the provider's ``AwaitMessageTrigger`` it only reads offsets, never consumes or commits, so no
message is taken from the drain and there is one DAG run per batch. It fires at ``min_batch`` pending, or
on any lag older than ``max_wait_seconds``; a Kafka failure is an ``error`` event that fails the task.

Its ``ready`` event carries the lag of every partition (offsets, lag, oldest pending age), so the
task it wakes needs no Kafka call of its own to know which partitions there are.

A trigger started by the scheduler itself (the sensor's ``start_from_trigger``) is built from the
thresholds as the serialized DAG holds them, Jinja templates such as ``{{ params.min_batch | pprint }}``,
and Airflow renders them in the triggerer (a plain environment: text, not native values) before
``run``; so a template is accepted here and the thresholds are checked in ``run``, where a bad one is
an ``error`` event naming it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, cast

from airflow.triggers.base import BaseTrigger, TriggerEvent
from pydantic import ConfigDict, Field, validate_call

from kafkapipeline.kafka.lag import DEFAULT_TIMEOUT_SECONDS, LagReader, TopicLag
from kafkapipeline.kafka.roles import KafkaRole
from kafkapipeline.metrics.statsd import emitting

STATUS_READY = "ready"
STATUS_ERROR = "error"
REASON_MIN_BATCH = "min_batch"
REASON_MAX_WAIT = "max_wait"


def ready_reason(lag: TopicLag, min_batch: int, max_wait_seconds: float, now: float) -> str | None:
    """Why ``lag`` is a micro-batch (``min_batch`` pending, or the oldest pending older than
    ``max_wait_seconds`` at ``now``), or None: the rule of the trigger and of a drain that follows on."""
    if lag.total >= min_batch:
        return REASON_MIN_BATCH
    age = lag.oldest_age_seconds(now)
    if lag.total > 0 and age is not None and age >= max_wait_seconds:
        return REASON_MAX_WAIT
    return None


@validate_call(config=ConfigDict(strict=True))
def checked_thresholds(
    min_batch: Annotated[int, Field(ge=1)],
    max_wait_seconds: Annotated[float, Field(gt=0)],
    poll_interval: Annotated[float, Field(gt=0)],
) -> tuple[int, float, float]:
    """The thresholds, refused (a ``ValueError`` naming each) unless numbers in range, never bools.

    The drain DAGs' Params already hold them to their schema; the trigger is also built from
    its serialized form and the sensor from literals, so both check through this.
    """
    return min_batch, max_wait_seconds, poll_interval


@validate_call
def rendered_thresholds(min_batch: int, max_wait_seconds: float) -> tuple[int, float]:
    """Literal or rendered thresholds as numbers: ``"250"`` is 250, ``2.5`` or ``"lots"`` a ``ValueError``."""
    return min_batch, max_wait_seconds


def thresholds_of(min_batch: Any, max_wait_seconds: Any, poll_interval: float) -> tuple[int, float]:
    """Rendered thresholds as checked numbers: numbers, or the text a template rendered to.

    :raises ValueError: naming the threshold that is not a number in range, or still a template
    """
    if is_template(min_batch) or is_template(max_wait_seconds):
        raise ValueError(
            f"min_batch={min_batch!r} / max_wait_seconds={max_wait_seconds!r} were never rendered"
        )
    if isinstance(min_batch, str) or isinstance(max_wait_seconds, str):
        min_batch, max_wait_seconds = rendered_thresholds(
            min_batch=min_batch, max_wait_seconds=max_wait_seconds
        )
    checked_batch, checked_wait, _ = checked_thresholds(
        min_batch=min_batch, max_wait_seconds=max_wait_seconds, poll_interval=poll_interval
    )
    return checked_batch, checked_wait


def is_template(value: Any) -> bool:
    """Whether ``value`` is still a Jinja template (rendered later, on a worker or in the triggerer)."""
    return isinstance(value, str) and any(mark in value for mark in ("{{", "{%", "{#"))


class ConsumerLagTrigger(BaseTrigger):
    """Wait until a consumer group's lag on a topic is worth a micro-batch.

    :param topic: topic the drain reads
    :param group_id: the drain's consumer group (its committed offsets define "pending")
    :param min_batch: fire as soon as this many messages are pending (or its template, rendered
        in the triggerer; then checked when the trigger runs)
    :param max_wait_seconds: fire when any message is pending and the oldest one is at least
        this old, even below ``min_batch`` (or its template, as ``min_batch``)
    :param poll_interval: seconds between two offset readings
    :param kafka_config_id: Airflow connection with the librdkafka settings
    :param kafka_timeout: seconds each Kafka request may take before the trigger reports an error
    """

    def __init__(
        self,
        topic: str,
        group_id: str,
        *,
        min_batch: int | str,
        max_wait_seconds: float | str,
        poll_interval: float = 5.0,
        kafka_config_id: str = KafkaRole.DRAIN.conn_id,
        kafka_timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__()
        if not topic:
            raise ValueError("topic must not be empty")
        if not group_id:
            raise ValueError("group_id must not be empty")
        if is_template(min_batch) or is_template(max_wait_seconds):
            checked_thresholds(min_batch=1, max_wait_seconds=1.0, poll_interval=poll_interval)
        else:  # strictly numbers: literal text such as "10" is refused here
            min_batch, max_wait_seconds, poll_interval = checked_thresholds(
                min_batch=cast(int, min_batch),
                max_wait_seconds=cast(float, max_wait_seconds),
                poll_interval=poll_interval,
            )
        if kafka_timeout <= 0:
            raise ValueError(f"kafka_timeout must be positive, got {kafka_timeout!r}")
        self.topic = topic
        self.group_id = group_id
        self.min_batch: int | str = min_batch
        self.max_wait_seconds: float | str = max_wait_seconds
        self.poll_interval = poll_interval
        self.kafka_config_id = kafka_config_id
        self.kafka_timeout = kafka_timeout

    def thresholds(self) -> tuple[int, float]:
        """``min_batch`` and ``max_wait_seconds`` as checked numbers (see :func:`thresholds_of`)."""
        return thresholds_of(self.min_batch, self.max_wait_seconds, self.poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "kafkapipeline.kafka.lag_trigger.ConsumerLagTrigger",
            {
                "topic": self.topic,
                "group_id": self.group_id,
                "min_batch": self.min_batch,
                "max_wait_seconds": self.max_wait_seconds,
                "poll_interval": self.poll_interval,
                "kafka_config_id": self.kafka_config_id,
                "kafka_timeout": self.kafka_timeout,
            },
        )

    def _ready_reason(self, lag: TopicLag, now: float) -> str | None:
        return ready_reason(lag, *self.thresholds(), now)

    def _event(self, status: str, lag: TopicLag | None = None, **extra: Any) -> TriggerEvent:
        payload: dict[str, Any] = {"status": status, "topic": self.topic, "group_id": self.group_id}
        if lag is not None:
            payload["lag"] = lag.to_dict()
        payload.update(extra)
        return TriggerEvent(payload)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            min_batch, _ = self.thresholds()
        except ValueError as err:
            message = (
                f"the lag trigger of group {self.group_id!r} on topic {self.topic!r} cannot start: {err}"
            )
            self.log.error(message)
            yield self._event(STATUS_ERROR, message=message)
            return
        reader = LagReader(
            self.topic, self.group_id, kafka_config_id=self.kafka_config_id, timeout=self.kafka_timeout
        )
        try:
            readings = 0
            while True:
                try:
                    # Offsets first; the oldest message is only fetched when the count is not enough.
                    lag = await asyncio.to_thread(reader.read, False)
                    if 0 < lag.total < min_batch:
                        lag = await asyncio.to_thread(reader.with_ages, lag)
                except Exception as err:  # reported to the task, which fails with this message
                    message = (
                        f"could not read the lag of group {self.group_id!r} on topic {self.topic!r} "
                        f"(connection {self.kafka_config_id!r}): {type(err).__name__}: {err}"
                    )
                    self.log.error(message)
                    yield self._event(STATUS_ERROR, message=message)
                    return
                readings += 1
                with emitting() as out:  # every reading: the lag series between two drains
                    lag.report(out)
                reason = self._ready_reason(lag, time.time())
                if reason is not None:
                    self.log.info(
                        "Micro-batch ready (%s) after %d readings: %s", reason, readings, lag.describe()
                    )
                    yield self._event(STATUS_READY, lag, reason=reason)
                    return
                self.log.debug("Waiting for a micro-batch: %s", lag.describe())
                await asyncio.sleep(self.poll_interval)
        finally:
            await asyncio.to_thread(reader.close)
