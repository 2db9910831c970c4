"""The drain DAGs' shape: a micro-batch is the sensor, started in the triggerer, then the drain.

No planning task: ``wait_for_batch`` returns the partition groups from its trigger's event and the
mapped ``drain`` expands over that XCom, so with one group (the default) a batch starts two tasks on
the workers (the sensor's resumption, the drain). The sensor starts from the trigger the way Airflow
3.3 does it: the serialized DAG holds the trigger's kwargs, the triggerer renders the templated
thresholds from the run's Params. Retries of a drain come within seconds, with a bounded backoff.
"""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest

from kafkapipeline import settings
from kafkapipeline.drain.dag import MAX_RETRY_DELAY, SENSOR_TIMEOUT
from kafkapipeline.drain.wait import LAG_EVENT_KEY, DrainBatchTrigger

DRAIN_DAGS = ["drain_tweets", "drain_weather"]
STREAM_OF = {"drain_tweets": "tweets", "drain_weather": "weather"}


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dag_integrity import DAGS_FOLDER

    return DagBag(dag_folder=str(DAGS_FOLDER))


def serialized(dag):
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


def ready_event(partitions: int, topic: str) -> dict:
    return {
        "status": "ready",
        "reason": "min_batch",
        "topic": topic,
        "lag": {
            "total_lag": 10 * partitions,
            "oldest_age_seconds": 1.5,
            "partitions": [{"partition": p, "lag": 10} for p in range(partitions)],
        },
    }


class RecordingTI:
    """The one thing ``execute_complete`` asks of its task instance: pushing the event's XCom."""

    def __init__(self) -> None:
        self.pushed: dict = {}

    def xcom_push(self, key: str, value) -> None:
        self.pushed[key] = value


def rendered_sensor(dag, conf: dict | None = None):
    """``wait_for_batch`` with its templates rendered as a worker renders them for a run."""
    sensor = copy.copy(dag.get_task("wait_for_batch"))
    params = {name: dag.params[name] for name in dag.params} | (conf or {})
    sensor.render_template_fields({"params": params})
    return sensor


@pytest.mark.parametrize("dag_id", DRAIN_DAGS)
def test_a_batch_is_the_sensor_then_the_drain_mapped_over_its_output(dag_bag, dag_id):
    dag = dag_bag.dags[dag_id]
    assert sorted(dag.task_dict) == ["drain", "wait_for_batch"]
    drain = dag.get_task("drain")
    assert drain.upstream_task_ids == {"wait_for_batch"}
    # What the expansion waits for, and what makes the sensor's worker record the map length.
    assert [op.task_id for op in drain.iter_mapped_dependencies()] == ["wait_for_batch"]
    assert [op.task_id for op in dag.get_task("wait_for_batch").iter_mapped_dependants()] == ["drain"]


@pytest.mark.parametrize("dag_id", DRAIN_DAGS)
def test_the_sensor_starts_in_the_triggerer_with_templates_the_triggerer_can_render(dag_bag, dag_id):
    """What the scheduler and the triggerer of Airflow 3.3 do with a ``start_from_trigger`` task:
    the trigger row from the serialized DAG's kwargs, then the trigger built from them, given its
    task instance, and its template fields rendered with the run's Params (no DAG macros there)."""
    from airflow.models.trigger import Trigger
    from airflow.sdk._shared.module_loading import import_string
    from airflow.serialization.decoders import smart_decode_trigger_kwargs

    task = serialized(dag_bag.dags[dag_id]).get_task("wait_for_batch")
    assert task.start_from_trigger is True
    args = task.start_trigger_args
    assert (args.trigger_cls, args.next_method, args.timeout) == (
        "kafkapipeline.drain.wait.DrainBatchTrigger",
        "execute_complete",
        SENSOR_TIMEOUT,
    )
    # No execution_timeout on the sensor: the scheduler would cut its trigger's wait to it.
    assert task.execution_timeout is None

    row = Trigger(classpath=args.trigger_cls, kwargs=args.trigger_kwargs)
    kwargs = {
        k: smart_decode_trigger_kwargs(v) for k, v in Trigger._decrypt_kwargs(row.encrypted_kwargs).items()
    }
    trigger = import_string(row.classpath)(**kwargs)
    trigger.task_instance = SimpleNamespace(task_id=task.task_id, task=task)
    assert set(trigger.template_fields) == {"min_batch", "max_wait_seconds"}
    trigger.render_template_fields({"params": {"min_batch": 250, "max_wait_seconds": 12.5}})

    assert trigger.thresholds() == (250, 12.5)
    topic = getattr(settings.current(), f"{STREAM_OF[dag_id]}_topic")
    assert (trigger.topic, trigger.group_id) == (topic, settings.consumer_group("drain", topic))


def test_the_trigger_reads_its_topic_when_the_triggerer_builds_it(dag_bag, monkeypatch):
    task = serialized(dag_bag.dags["drain_tweets"]).get_task("wait_for_batch")
    monkeypatch.setenv("KAFKAPIPELINE_TWEETS_TOPIC", "tweets_moved")  # after the DAG was parsed
    trigger = DrainBatchTrigger(**{**task.start_trigger_args.trigger_kwargs["__var"]})
    assert (trigger.topic, trigger.group_id) == (
        "tweets_moved",
        settings.consumer_group("drain", "tweets_moved"),
    )
    assert trigger.serialize()[1]["stream"] == "tweets"


@pytest.mark.parametrize("dag_id", DRAIN_DAGS)
def test_one_group_by_default_so_one_drain_and_no_plan_task(dag_bag, dag_id):
    dag = dag_bag.dags[dag_id]
    assert dag.params["partition_groups"] == 1
    sensor = rendered_sensor(dag)
    ti = RecordingTI()
    topic = getattr(settings.current(), f"{STREAM_OF[dag_id]}_topic")
    event = ready_event(partitions=3, topic=topic)

    groups = sensor.execute_complete({"ti": ti}, event)

    assert groups == [[0, 1, 2]]  # one mapped drain reading every partition
    assert ti.pushed == {LAG_EVENT_KEY: event}


def test_more_groups_fan_the_drain_out_over_disjoint_partitions(dag_bag):
    sensor = rendered_sensor(dag_bag.dags["drain_tweets"], {"partition_groups": 3})
    event = ready_event(partitions=5, topic=settings.tweets_topic())
    assert sensor.execute_complete({"ti": RecordingTI()}, event) == [[0, 3], [1, 4], [2]]


@pytest.mark.parametrize("dag_id", DRAIN_DAGS)
def test_a_drain_is_retried_within_seconds_and_its_backoff_is_bounded(dag_bag, dag_id):
    """Airflow's own retry arithmetic (``TaskInstance.next_retry_datetime``, jitter included)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk import timezone

    task = serialized(dag_bag.dags[dag_id]).get_task("drain")
    assert task.retries >= 3
    ended = timezone.utcnow()
    waits = []
    for try_number in range(1, task.retries + 1):
        ti = TaskInstance(task=task, run_id=f"manual__{try_number}", map_index=0, dag_version_id=uuid.uuid4())
        ti.try_number, ti.end_date = try_number, ended
        waits.append(ti.next_retry_datetime() - ended)
    assert waits[0] <= timedelta(seconds=15), waits
    assert max(waits) <= MAX_RETRY_DELAY, waits
    assert sum(waits, timedelta()) <= timedelta(minutes=3), waits  # the old 30 s doubling took 7 min
