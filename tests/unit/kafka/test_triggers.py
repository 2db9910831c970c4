"""The lag trigger and the deferrable sensor without Kafka: arguments, serialisation, decisions, events."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from kafkapipeline.kafka.lag import PartitionLag, TopicLag
from kafkapipeline.kafka.lag_sensor import ConsumerLagError, WaitForConsumerLagSensor
from kafkapipeline.kafka.lag_trigger import REASON_MAX_WAIT, REASON_MIN_BATCH, ConsumerLagTrigger

NOW = 1_700_000_000.0


def trigger(**overrides) -> ConsumerLagTrigger:
    kwargs = {
        "topic": "tweets",
        "group_id": "kafkapipeline.drain.tweets",
        "min_batch": 100,
        "max_wait_seconds": 30,
    }
    return ConsumerLagTrigger(**(kwargs | overrides))


def lag(*partitions: tuple[int, int, int | None]) -> TopicLag:
    """(committed, high, oldest age in seconds) per partition."""
    return TopicLag(
        topic="tweets",
        group_id="g",
        partitions=tuple(
            PartitionLag(
                partition=i,
                committed=committed,
                low=0,
                high=high,
                oldest_timestamp_ms=None if age is None else int((NOW - age) * 1000),
            )
            for i, (committed, high, age) in enumerate(partitions)
        ),
        measured_at=NOW,
    )


def test_serialize_round_trips_through_the_import_path():
    original = trigger(poll_interval=0.5, kafka_config_id="kafka_other", kafka_timeout=3)
    classpath, kwargs = original.serialize()
    assert classpath == "kafkapipeline.kafka.lag_trigger.ConsumerLagTrigger"
    module_name, class_name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module_name), class_name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs["poll_interval"] == 0.5 and kwargs["kafka_config_id"] == "kafka_other"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_batch": 0}, "min_batch"),
        ({"min_batch": "10"}, "min_batch"),
        ({"max_wait_seconds": 0}, "max_wait_seconds"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"topic": ""}, "topic"),
        ({"group_id": ""}, "group_id"),
        ({"kafka_timeout": 0}, "kafka_timeout"),
    ],
)
def test_trigger_refuses_bad_arguments(overrides, message):
    with pytest.raises(ValueError, match=message):
        trigger(**overrides)


def test_fires_when_lag_reaches_min_batch():
    assert (
        trigger(min_batch=100)._ready_reason(lag((50, 120, 1.0), (-1001, 30, 1.0)), NOW) == REASON_MIN_BATCH
    )


def test_waits_below_min_batch_while_messages_are_young():
    assert trigger(min_batch=100, max_wait_seconds=30)._ready_reason(lag((0, 10, 29.0)), NOW) is None


def test_fires_on_age_below_min_batch():
    assert (
        trigger(min_batch=100, max_wait_seconds=30)._ready_reason(lag((0, 10, 31.0)), NOW) == REASON_MAX_WAIT
    )


def test_never_fires_on_age_without_lag():
    # A drained partition may still have an old message *before* its committed offset.
    assert trigger(max_wait_seconds=1)._ready_reason(lag((10, 10, None)), NOW) is None


def test_unknown_timestamps_only_count_towards_min_batch():
    assert trigger(min_batch=100, max_wait_seconds=1)._ready_reason(lag((0, 5, None)), NOW) is None


def sensor(**overrides) -> WaitForConsumerLagSensor:
    kwargs = {
        "task_id": "wait_for_batch",
        "topic": "tweets",
        "group_id": "kafkapipeline.drain.tweets",
        "min_batch": 10,
        "max_wait_seconds": 5,
        "poll_interval": 1,
        "timeout": 600,
    }
    return WaitForConsumerLagSensor(**(kwargs | overrides))


def test_sensor_template_fields_cover_topic_group_and_thresholds():
    assert set(WaitForConsumerLagSensor.template_fields) == {
        "topic",
        "group_id",
        "min_batch",
        "max_wait_seconds",
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_batch": 0}, "min_batch"),
        ({"min_batch": "lots"}, "min_batch"),
        ({"min_batch": 2.5}, "min_batch"),
        ({"max_wait_seconds": -1}, "max_wait_seconds"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"topic": ""}, "topic"),
        ({"kafka_timeout": 0}, "kafka_timeout"),
    ],
)
def test_sensor_refuses_bad_literal_arguments(overrides, message):
    with pytest.raises(ValueError, match=message):
        sensor(**overrides)


def test_sensor_checks_templated_thresholds_once_rendered():
    templated = sensor(min_batch="{{ params.min_batch }}", max_wait_seconds="{{ params.max_wait_seconds }}")
    templated.min_batch, templated.max_wait_seconds = "0", "60"  # what a bad param renders to
    with pytest.raises(ValueError, match="min_batch"):
        templated.execute({})


def test_sensor_defers_at_once_to_the_lag_trigger():
    waiting = sensor(min_batch="250", max_wait_seconds="12.5")
    with pytest.raises(TaskDeferred) as deferred:
        waiting.execute({})
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=600)
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "kafkapipeline.kafka.lag_trigger.ConsumerLagTrigger"
    assert kwargs["min_batch"] == 250 and kwargs["max_wait_seconds"] == 12.5
    assert kwargs["topic"] == "tweets" and kwargs["group_id"] == "kafkapipeline.drain.tweets"


def test_sensor_returns_the_ready_event():
    event = {"status": "ready", "reason": "min_batch", "lag": {"total_lag": 12, "oldest_age_seconds": 3.2}}
    assert sensor().execute_complete({}, event) == event


def test_sensor_fails_with_the_triggers_error_message_even_with_soft_fail():
    event = {"status": "error", "message": "could not read the lag of group 'g' on topic 'tweets': boom"}
    with pytest.raises(ConsumerLagError, match="boom"):
        sensor(soft_fail=True).execute_complete({}, event)
    # Not an AirflowException, so soft_fail (meant for a quiet topic timing out) cannot turn it into a skip.
    assert not issubclass(ConsumerLagError, AirflowException)


def test_sensor_refuses_unexpected_events():
    with pytest.raises(ConsumerLagError, match="unexpected event"):
        sensor().execute_complete({}, {"status": "weird"})
    with pytest.raises(ConsumerLagError, match="without an event"):
        sensor().execute_complete({}, None)


def test_trigger_takes_templates_for_the_triggerer_to_render_then_checks_them():
    templated = trigger(min_batch="{{ params.min_batch | pprint }}", max_wait_seconds="{{ params.wait }}")
    with pytest.raises(ValueError, match="never rendered"):
        templated.thresholds()
    templated.min_batch, templated.max_wait_seconds = "250", "12.5"  # a plain Jinja environment renders text
    assert templated.thresholds() == (250, 12.5)
    templated.min_batch = "2.5"
    with pytest.raises(ValueError, match="min_batch"):
        templated.thresholds()
