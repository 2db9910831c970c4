"""``wait_for_batch`` without Kafka: its trigger, its deferral from a worker, and the groups it returns."""

from __future__ import annotations

import asyncio
import importlib
from datetime import timedelta

import pytest
from airflow.sdk.exceptions import TaskDeferred

from kafkapipeline import settings
from kafkapipeline.drain.wait import LAG_EVENT_KEY, DrainBatchTrigger, WaitForDrainBatchSensor, groups_of
from kafkapipeline.kafka.lag_sensor import ConsumerLagError


class RecordingTI:
    def __init__(self) -> None:
        self.pushed: dict = {}

    def xcom_push(self, key: str, value) -> None:
        self.pushed[key] = value


def sensor(**overrides) -> WaitForDrainBatchSensor:
    kwargs = {
        "task_id": "wait_for_batch",
        "stream": "tweets",
        "min_batch": 10,
        "max_wait_seconds": 5,
        "poll_interval": 1,
        "timeout": 600,
    }
    return WaitForDrainBatchSensor(**(kwargs | overrides))


def event(*partitions: int) -> dict:
    return {
        "status": "ready",
        "reason": "max_wait",
        "topic": "tweets",
        "lag": {"partitions": [{"partition": p} for p in partitions]},
    }


def test_the_trigger_serializes_the_stream_not_its_topic(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_TWEETS_TOPIC", "posts")
    trigger = DrainBatchTrigger("tweets", min_batch=100, max_wait_seconds=30, poll_interval=0.5)
    classpath, kwargs = trigger.serialize()
    assert classpath == "kafkapipeline.drain.wait.DrainBatchTrigger"
    assert kwargs == {
        "stream": "tweets",
        "min_batch": 100,
        "max_wait_seconds": 30,
        "poll_interval": 0.5,
        "kafka_config_id": "kafka_drain",
        "kafka_timeout": 10.0,
    }
    assert (trigger.topic, trigger.group_id) == ("posts", settings.consumer_group("drain", "posts"))
    module_name, class_name = classpath.rsplit(".", 1)
    assert getattr(importlib.import_module(module_name), class_name)(**kwargs).serialize() == (
        classpath,
        kwargs,
    )


def test_an_unknown_stream_fails_at_parse_time():
    with pytest.raises(Exception, match="nope"):
        sensor(stream="nope")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_batch": 0}, "min_batch"),
        ({"min_batch": "lots"}, "min_batch"),
        ({"max_wait_seconds": -1}, "max_wait_seconds"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"kafka_timeout": 0}, "kafka_timeout"),
    ],
)
def test_bad_literal_arguments_fail_at_parse_time(overrides, message):
    with pytest.raises(ValueError, match=message):
        sensor(**overrides)


def test_it_starts_from_the_trigger_unless_told_not_to():
    assert sensor().start_from_trigger is True
    args = sensor(min_batch="{{ params.min_batch | pprint }}").start_trigger_args
    assert args.trigger_kwargs["min_batch"] == "{{ params.min_batch | pprint }}"  # the triggerer renders it
    assert args.timeout == timedelta(seconds=600)
    assert sensor(start_from_trigger=False).start_from_trigger is False


def test_from_a_worker_it_defers_to_the_drain_trigger_with_rendered_thresholds():
    waiting = sensor(min_batch="250", max_wait_seconds="12.5", start_from_trigger=False)
    with pytest.raises(TaskDeferred) as deferred:
        waiting.execute({})
    assert (deferred.value.method_name, deferred.value.timeout) == (
        "execute_complete",
        timedelta(seconds=600),
    )
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "kafkapipeline.drain.wait.DrainBatchTrigger"
    assert (kwargs["stream"], kwargs["min_batch"], kwargs["max_wait_seconds"]) == ("tweets", 250, 12.5)


def test_it_returns_the_groups_and_keeps_the_event():
    ti = RecordingTI()
    ready = event(4, 0, 2, 1, 3)
    assert sensor(partition_groups=2).execute_complete({"ti": ti}, ready) == [[0, 2, 4], [1, 3]]
    assert ti.pushed == {LAG_EVENT_KEY: ready}


def test_groups_never_outnumber_partitions():
    assert groups_of(event(0, 1), 5) == [[0], [1]]


def test_a_failed_trigger_fails_the_task_even_with_soft_fail():
    failed = {"status": "error", "message": "could not read the lag of group 'g' on topic 'tweets': boom"}
    with pytest.raises(ConsumerLagError, match="boom"):
        sensor(soft_fail=True).execute_complete({"ti": RecordingTI()}, failed)
    with pytest.raises(ConsumerLagError, match="without an event"):
        sensor().execute_complete({"ti": RecordingTI()}, None)


def first_event(trigger) -> dict:
    async def first():
        async for fired in trigger.run():
            return fired.payload
        return None

    return asyncio.run(first())


def test_a_trigger_whose_thresholds_rendered_badly_fails_naming_them():
    trigger = DrainBatchTrigger("tweets", min_batch="{{ params.min_batch | pprint }}", max_wait_seconds=30)
    trigger.min_batch = "0"  # what a bad Param renders to in the triggerer
    fired = first_event(trigger)
    assert fired["status"] == "error" and "min_batch" in fired["message"]


def test_a_trigger_never_rendered_fails_instead_of_polling():
    trigger = DrainBatchTrigger("tweets", min_batch="{{ params.min_batch | pprint }}", max_wait_seconds=30)
    fired = first_event(trigger)
    assert fired["status"] == "error" and "never rendered" in fired["message"]
